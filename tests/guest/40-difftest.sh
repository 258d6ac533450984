# Differential random testing: the same seeded operations on livedfs and
# on tmpfs, by several processes, must give the same results and the same
# trees; then again after unmount and mount.
VOL=$(disk vol)
M=/mnt/a
mkdir -p $M /tmp/ref
check "mkfs" mkfs.livedfs -q -F "$VOL"
check "mount" mount -t livedfs "$VOL" $M
mkdir -p $M/t
difftest run --seed 42 --ops 20000 --procs 4 --dup-ratio 0.5 $M/t /tmp/ref
check "difftest: livedfs and tmpfs agree" test $? -eq 0
difftest manifest /tmp/ref > /tmp/ref.manifest
check "umount" umount $M
check "mount again" mount -t livedfs "$VOL" $M
difftest compare-manifest /tmp/ref.manifest $M/t
check "after remount the tree still matches tmpfs" test $? -eq 0
check "umount" umount $M
