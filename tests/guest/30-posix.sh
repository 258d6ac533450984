# The POSIX test program (userspace/fstests posix-test) on a livedfs
# volume: every operation with exact results and errno values. Each of its
# checks prints its own PASS/FAIL line, counted by the host.
VOL=$(disk vol)
M=/mnt/a
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F "$VOL"
check "mount" mount -t livedfs "$VOL" $M
mkdir -p $M/posix
posix-test $M/posix
check "posix-test exits 0" test $? -eq 0
check "umount" umount $M
