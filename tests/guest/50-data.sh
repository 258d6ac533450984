# Data integrity: a large file of random data (size: the first argument,
# default 1G; scripts/test.sh --long uses 4G), and sparse files with data
# past 4 GiB (double indirect) and past the triple-indirect boundary
# (12 + 1024 + 1024^2 blocks of 4 KiB, about 4.004 GiB), read back
# bit-exact after unmount and mount. Then the quadruple-indirect map
# (huge_file, mkfs's default): a file with data past the triple-indirect
# range (12 + p + p^2 + p^3 blocks, about 4.004 TiB) up to the last block
# of the largest file (2^32 blocks, 16 TiB), checked by fsck, read back,
# truncated and deleted; and the 4 TiB limit of a ^huge_file volume,
# lifted by livedfs tune -O huge_file.
SIZE=${1:-1G}
VOL=$(disk vol)
M=/mnt/a
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F "$VOL"
check "mount" mount -t livedfs "$VOL" $M
datatest write --seed 7 --size $SIZE $M/big
check "write $SIZE of random data" test $? -eq 0
datatest sparse-write --seed 9 $M/sparse 0 1M 4G 4100M 5G 16G 100G
check "sparse writes past 4 GiB and into triple indirect" test $? -eq 0
# 4101G is block 1075052544, past the triple-indirect range's end
# (1074791436); 17592186040320 is 16 TiB - 4 KiB, block 2^32 - 1.
HUGE="1M 4T 4101G 8T 17592186040320"
sync
free_before=$(stat -f -c %f $M)
datatest sparse-write --seed 11 $M/huge $HUGE
check "sparse writes into quadruple indirect, up to block 2^32 - 1" test $? -eq 0
check_eq "the largest file: 16 TiB" 17592186044416 "$(stat -c %s $M/huge)"
check_err "a write at 16 TiB: EFBIG" "File too large" datatest sparse-write --seed 1 $M/toolarge 16T
check "umount" umount $M
check_exit "fsck -fn: clean with a quadruple-indirect tree" 0 fsck.livedfs -fn "$VOL"
check "mount again" mount -t livedfs "$VOL" $M
datatest sparse-verify --seed 11 $M/huge $HUGE
check "huge sparse file reads back bit-exact, holes as zeros" test $? -eq 0
# To the end of the 4101G chunk: the 8T and 16T chains go, the
# quadruple-indirect root stays.
check "truncate inside the quadruple-indirect range" truncate -s 4403415224320 $M/huge
datatest sparse-verify --seed 11 $M/huge 1M 4T 4101G
check "after the truncation: the data below it intact" test $? -eq 0
check "delete the huge file" rm $M/huge
check "umount" umount $M
check_exit "fsck -fn: clean after truncating and deleting it" 0 fsck.livedfs -fn "$VOL"
check "mount again" mount -t livedfs "$VOL" $M
free_after=$(stat -f -c %f $M)
check_eq "deleting it freed every block it took" "$free_before" "$free_after"

datatest verify --seed 7 --size $SIZE $M/big
check "the $SIZE file reads back bit-exact" test $? -eq 0
datatest sparse-verify --seed 9 $M/sparse 0 1M 4G 4100M 5G 16G 100G
check "sparse file reads back bit-exact, holes as zeros" test $? -eq 0
blocks=$(stat -c %b $M/sparse)
check "sparse file takes few blocks (st_blocks $blocks)" test "$blocks" -lt 1000
check "umount" umount $M
check "mkfs -O ^huge_file" mkfs.livedfs -q -F -O ^huge_file "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check "^huge_file: a write just below 4 TiB + 4 GiB" datatest sparse-write --seed 3 $M/f 4100G
check_err "^huge_file: a write past the triple-indirect range: EFBIG" "File too large" datatest sparse-write --seed 3 $M/g 4101G
check "umount" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"
check "livedfs tune -O huge_file" livedfs tune -O huge_file "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check "after tune -O huge_file: the write past it" datatest sparse-write --seed 3 $M/g 4101G 8T
check "umount" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check "and it reads back" datatest sparse-verify --seed 3 $M/g 4101G 8T
check "umount" umount $M
# Readahead maps a run of blocks per get_block call (inode::map_run). A
# file whose runs end at every kind of boundary reads back exactly with
# the caches dropped: the direct pointers' end (block 12), the first
# indirect block's end (block 1036), a block deduplicated against an
# earlier one (its pointer leads elsewhere), zeros (a hole) and
# preallocated blocks (unwritten); also from the middle of a run.
check "mount" mount -t livedfs "$VOL" $M
dd if=/dev/urandom of=/tmp/runs bs=4k count=1100 2>/dev/null
dd if=/tmp/runs of=/tmp/blk3 bs=4k skip=3 count=1 2>/dev/null
dd if=/tmp/blk3 of=/tmp/runs bs=4k seek=500 conv=notrunc 2>/dev/null
dd if=/dev/zero of=/tmp/runs bs=4k seek=600 count=10 conv=notrunc 2>/dev/null
dd if=/dev/zero of=/tmp/runs bs=4k seek=700 count=10 conv=notrunc 2>/dev/null
check "a file of 1100 blocks" cp /tmp/runs $M/runs
check "punch blocks 700..709" fsops fallocate $M/runs punch+keep 2867200 40960
check "preallocate them again (unwritten)" fsops fallocate $M/runs 0 2867200 40960
sync
check_eq "block 500 is deduplicated" 1 "$(cat /sys/fs/livedfs/${VOL#/dev/}/duplicate_hits)"
echo 3 > /proc/sys/vm/drop_caches
check_eq "it reads back, run by run" "$(md5sum < /tmp/runs)" "$(md5sum < $M/runs)"
echo 3 > /proc/sys/vm/drop_caches
check_eq "from the middle of a run, across block 1036" \
    "$(dd if=/tmp/runs bs=4k skip=1030 count=20 2>/dev/null | md5sum)" \
    "$(dd if=$M/runs bs=4k skip=1030 count=20 2>/dev/null | md5sum)"
check "umount" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"
