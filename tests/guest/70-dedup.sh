# Deduplication: identical data is stored once, and sharing never lets one
# file's change or deletion touch another (copy-on-write, refcounts).
VOL=$(disk vol)
M=/mnt/a
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
sync
free0=$(stat -f -c %f $M)
check "write A: 64 MiB of random data" dd if=/dev/urandom of=$M/A bs=1M count=64
sync
free1=$(stat -f -c %f $M)
usedA=$((free0 - free1))
check "A takes at least its 16384 data blocks" test $usedA -ge 16384
sumA=$(md5sum < $M/A)
check "copy A to B" cp $M/A $M/B
sync
free2=$(stat -f -c %f $M)
usedB=$((free1 - free2))
check "B (identical) takes only metadata: $usedB blocks" test $usedB -le 40
check_eq "B reads back identical" "$sumA" "$(md5sum < $M/B)"
check "dup within one file: 8 MiB of one repeated 4 KiB block" sh -c "dd if=/dev/urandom of=/tmp/blk bs=4k count=1 2>/dev/null; for i in \$(seq 2048); do cat /tmp/blk; done > $M/rep"
sync
free3=$(stat -f -c %f $M)
check "the repeated block is stored once ($((free2 - free3)) blocks used)" test $((free2 - free3)) -le 10
check "zero blocks take no space" dd if=/dev/zero of=$M/zero bs=1M count=32
sync
free4=$(stat -f -c %f $M)
check "32 MiB of zeros use $((free3 - free4)) blocks" test $((free3 - free4)) -le 2
check_eq "zeros read back" "$(dd if=/dev/zero bs=1M count=32 2>/dev/null | md5sum)" "$(md5sum < $M/zero)"
check "overwrite 1 MiB in the middle of B" dd if=/dev/urandom of=$M/B bs=1M count=1 seek=10 conv=notrunc
sync
check_eq "A is untouched by the write into B" "$sumA" "$(md5sum < $M/A)"
check "B differs from A now" sh -c "[ \"$sumA\" != \"\$(md5sum < $M/B)\" ]"
sumB=$(md5sum < $M/B)
check "delete A" rm $M/A
sync
check_eq "B is intact after A is gone" "$sumB" "$(md5sum < $M/B)"
check "umount" umount $M
check "mount again" mount -t livedfs "$VOL" $M
check_eq "B is intact after remount" "$sumB" "$(md5sum < $M/B)"
check "write C = B after remount (dedup against old data)" cp $M/B $M/C
sync
free5=$(stat -f -c %f $M)
check "remove B" rm $M/B
sync
free6=$(stat -f -c %f $M)
check "removing B frees only its metadata ($((free6 - free5)) blocks): C shares the data" test $((free6 - free5)) -le 40
check_eq "C is intact" "$sumB" "$(md5sum < $M/C)"
# Writeback hashes a batch of 32 folios on every CPU while it decides the
# batch before (aops::decide_while_hashing): files that end on either
# side of those boundaries, every other block a duplicate of R's block
# at the same offset and the rest new, must get each digest with its own
# block: exactly the new blocks stored, exactly the duplicates found.
S=/sys/fs/livedfs/${VOL#/dev/}
check "R: 128 blocks of random data" dd if=/dev/urandom of=$M/R bs=4k count=128
sync
p0=$(cat $S/physical_blocks_used) d0=$(cat $S/duplicate_hits)
want_new=0 want_dup=0 sizes="1 31 32 33 63 64 65 96 97 128"
for n in $sizes; do
    for i in $(seq 0 $((n - 1))); do
        if [ $((i % 2)) = 1 ]; then dd if=$M/R bs=4k skip=$i count=1 2>/dev/null
        else dd if=/dev/urandom bs=4k count=1 2>/dev/null; fi
    done > /tmp/x$n
    cp /tmp/x$n $M/x$n
    want_new=$((want_new + (n + 1) / 2)) want_dup=$((want_dup + n / 2))
done
sync
check_eq "across batch boundaries: the new blocks stored" "$want_new" "$(($(cat $S/physical_blocks_used) - p0))"
check_eq "across batch boundaries: the duplicates found" "$want_dup" "$(($(cat $S/duplicate_hits) - d0))"
echo 3 > /proc/sys/vm/drop_caches
for n in $sizes; do
    check_eq "x$n ($n blocks) reads back" "$(md5sum < /tmp/x$n)" "$(md5sum < $M/x$n)"
    rm -f /tmp/x$n $M/x$n
done
check "remove the rest" rm $M/C $M/rep $M/zero $M/R
sync
check_eq "free blocks back to fresh" "$free0" "$(stat -f -c %f $M)"
check "umount" umount $M
