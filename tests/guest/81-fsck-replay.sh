# fsck.livedfs's journal replay gives the kernel's result on a journal the
# kernel wrote. The kernel builds a tree (dedup copies, reflinks, links,
# symlinks, devices, a directory of several blocks, renames, truncations,
# deletions), synced; then changes it with fsync and jbd2's 1-second
# commit timer only, with periodic writeback off: the journal holds the
# changes and needs recovery.
# The mounted, idle volume is copied with O_DIRECT: the image a power cut
# at that moment leaves. One copy is replayed by the kernel (mount -o ro,
# umount), the other by fsck.livedfs -E journal_only -y; every block must
# be equal except the superblock's block and the journal superblock (both
# empty; the kernel's s_sequence is one more, as jbd2 takes a new
# transaction id at unmount). Then both copies check clean with fsck -fn, and fsck -fy on a
# third copy (replay + full check) exits 0, as e2fsck after a replay.
VOL=$(disk vol)
KA=$(disk ka)
FA=$(disk fa)
M=/mnt/a
mkdir -p $M /mnt/k
check "mkfs" mkfs.livedfs -q -F "$VOL"
# commit=1: jbd2 commits every second.
check "mount" mount -t livedfs -o commit=1 "$VOL" $M

build_tree() {
    set -e
    mkdir -p $M/d1/d2/d3 $M/imgs $M/big
    dd if=/dev/urandom of=/tmp/base bs=4k count=300 2>/dev/null
    cp /tmp/base $M/imgs/a
    cp /tmp/base $M/imgs/b
    livedfs clone $M/imgs/a $M/imgs/c
    dd if=/dev/urandom of=$M/imgs/c bs=4k count=3 seek=10 conv=notrunc 2>/dev/null
    dd if=/dev/urandom of=$M/big/f bs=1M count=6 2>/dev/null
    printf 'x%.0s' $(seq 1 5000) > $M/d1/small
    ln -s small $M/d1/fastlink
    ln -s /a/very/long/target/path/that/does/not/fit/in/the/inode/block/array/$(seq 1 30 | tr -d '\n') $M/d1/slowlink
    for i in $(seq 1 300); do : > $M/d1/d2/entry-with-a-longish-name-$i; done
    set +e
}
check "the kernel builds a tree" build_tree
sync
# Then changes that are only committed to the journal: fsync and jbd2's
# commit timer write the log, but the metadata's home blocks stay dirty
# in the block device's cache (periodic writeback off; `sync` would
# write them).
echo 0 > /proc/sys/vm/dirty_writeback_centisecs
echo 360000 > /proc/sys/vm/dirty_expire_centisecs
change_tree() {
    set -e
    cp /tmp/base $M/imgs/d
    dd if=/tmp/base of=$M/imgs/e bs=4k count=100 conv=fsync 2>/dev/null
    dd if=/dev/urandom of=$M/big/h bs=1M count=3 conv=fsync 2>/dev/null
    md5sum < $M/big/h > /tmp/h.md5
    cp $M/big/f $M/big/g
    dd if=/dev/urandom of=$M/big/f bs=4k count=5 seek=7 conv=notrunc,fsync 2>/dev/null
    dd if=/dev/urandom of=$M/sparse bs=4k count=2 seek=5000 conv=fsync 2>/dev/null
    ln $M/d1/small $M/d1/d2/hard1
    ln -s small $M/d1/fastlink2
    mknod $M/d1/cdev c 4 64
    mkfifo $M/d1/fifo
    for i in $(seq 1 50 300); do rm $M/d1/d2/entry-with-a-longish-name-$i; done
    for i in $(seq 301 400); do : > $M/d1/d2/entry-with-a-longish-name-$i; done
    mv $M/d1/d2/d3 $M/d3moved
    rm $M/imgs/b
    truncate -s 50000 $M/imgs/e
    echo tail >> $M/imgs/a
    set +e
}
check "the kernel changes the tree" change_tree
sleep 3
# The mounted, idle volume as the disk holds it (O_DIRECT: not through
# the block device's cache): a crash image.
check "copy the mounted volume from the disk" dd if="$VOL" of="$KA" bs=1M iflag=direct 2>/dev/null
check "umount the original" umount $M
check "copy the crash image for fsck" dd if="$KA" of="$FA" bs=1M 2>/dev/null

info() { livedfs info "$1" | sed -n "s/^ *$2: *//p" | head -n 1; }
JSTART=$(info "$FA" "Journal start block")
BS=$(info "$FA" "Block size")
echo "journal at block $JSTART, block size $BS; log start $(info "$FA" "Journal log start")"
check "the crash image's journal needs recovery" sh -c "livedfs info $FA | grep -q 'Journal log start: *[1-9]'"
check "the crash image has needs_recovery set" sh -c "fsck.livedfs -n $FA | grep -q 'journal needs recovery'"
dd if="$KA" of=/tmp/third bs=1M 2>/dev/null

mark
check "the kernel replays (mount -o ro)" mount -t livedfs -o ro "$KA" /mnt/k
check_dmesg "the kernel says it recovered the journal" "journal recovered"
check "umount the kernel's copy" umount /mnt/k
fsck.livedfs -v -E journal_only -y "$FA" > /tmp/j.out 2>&1
rc=$?
check_eq "fsck.livedfs -E journal_only -y: exit 0" 0 $rc
check "fsck says it recovered the journal" grep -q "recovering journal" /tmp/j.out
cat /tmp/j.out
[ $rc -eq 0 ] || cat /tmp/j.out

# Blocks that differ, other than block 0 (superblock) and the journal's.
cmp -l "$KA" "$FA" 2> /dev/null | awk -v bs="$BS" -v j="$JSTART" '
    { b = int(($1 - 1) / bs); if (b != 0 && b != j && b != last) { print b; last = b } }' > /tmp/diff
n=$(wc -l < /tmp/diff)
check_eq "the kernel's and fsck's replays leave the same blocks" 0 "$n"
[ "$n" -eq 0 ] || head -n 20 /tmp/diff
# And the replay mattered: home blocks changed from the crash image.
changed=$(cmp -l /tmp/third "$FA" 2> /dev/null | awk -v bs="$BS" -v j="$JSTART" '
    { b = int(($1 - 1) / bs); if (b != 0 && b != j && b != last) { n++; last = b } } END { print n + 0 }')
# (Often 0 here: the kernel has written the home blocks back already,
# so this shows the replays agree on what the journal holds; the replay
# of stale home blocks is shown on a real power cut by
# scripts/bench-fsck.sh, and by fsck's own tests.)
echo "the replay changed $changed blocks outside the superblock and the journal superblock"
check_eq "kernel: journal empty afterwards" "0 (clean: nothing to replay)" "$(info "$KA" "Journal log start")"
check_eq "fsck: journal empty afterwards" "0 (clean: nothing to replay)" "$(info "$FA" "Journal log start")"
echo "journal sequence afterwards: kernel $(info "$KA" "Journal sequence"), fsck $(info "$FA" "Journal sequence")"
fsck.livedfs -fn "$KA" > /tmp/k.out 2>&1
check_eq "fsck -fn after the kernel's replay: exit 0" 0 $?
fsck.livedfs -fn "$FA" > /tmp/f.out 2>&1
rc=$?
check_eq "fsck -fn after fsck's replay: exit 0" 0 $rc
[ $rc -eq 0 ] || cat /tmp/f.out
dd if=/tmp/third of="$FA" bs=1M 2>/dev/null
fsck.livedfs -fy "$FA" > /tmp/y.out 2>&1
rc=$?
check_eq "fsck -fy on the crash image (replay + check): exit 0" 0 $rc
[ $rc -eq 0 ] || cat /tmp/y.out
check "the repaired copy mounts" mount -t livedfs "$FA" /mnt/k
check_eq "a file synced before the cut reads back" "$(cat /tmp/h.md5)" "$(md5sum < /mnt/k/big/h)"
check_eq "a file written before the sync reads back" "$(md5sum < /tmp/base)" "$(head -c 1228800 /mnt/k/imgs/a | md5sum)"
check "umount" umount /mnt/k
