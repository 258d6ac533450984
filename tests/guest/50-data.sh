# Data integrity: a large file of random data (size: the first argument,
# default 1G; scripts/test.sh --long uses 4G), and sparse files with data
# past 4 GiB (double indirect) and past the triple-indirect boundary
# (12 + 1024 + 1024^2 blocks of 4 KiB, about 4.004 GiB), read back
# bit-exact after unmount and mount.
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
check "umount" umount $M
check "mount again" mount -t livedfs "$VOL" $M
datatest verify --seed 7 --size $SIZE $M/big
check "the $SIZE file reads back bit-exact" test $? -eq 0
datatest sparse-verify --seed 9 $M/sparse 0 1M 4G 4100M 5G 16G 100G
check "sparse file reads back bit-exact, holes as zeros" test $? -eq 0
blocks=$(stat -c %b $M/sparse)
check "sparse file takes few blocks (st_blocks $blocks)" test "$blocks" -lt 1000
check "umount" umount $M
