# A full disk: writers get ENOSPC (never a lost write in writeback), the
# volume stays consistent, and deleting everything gives back exactly the
# fresh free counts.
VOL=$(disk vol)
M=/mnt/a
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
free0=$(stat -f -c %f $M)
files0=$(stat -f -c %d $M)
i=0
while dd if=/dev/urandom of=$M/fill$i bs=1M count=16 2>/tmp/dd.err; do i=$((i + 1)); done
check "the disk filled up with ENOSPC" grep -q "No space left on device" /tmp/dd.err
check "sync after filling" sync
check_eq "statfs: no free blocks left" 0 "$(stat -f -c %a $M)"
check "no writeback errors in the kernel log" sh -c '! dmesg | grep -qiE "lost async page write|buffer i/o error|livedfs.*error"'
check "small writes fail with ENOSPC too" sh -c "! echo x > $M/one-more 2>/tmp/e; grep -q 'No space' /tmp/e"
check "umount" umount $M
check "mount the full volume" mount -t livedfs "$VOL" $M
n=0
for f in $M/fill*; do n=$((n + 1)); done
check "all $n files still there" test "$n" -ge 1
check "delete everything" sh -c "rm -f $M/fill* $M/one-more"
check "sync" sync
check_eq "free blocks back to fresh" "$free0" "$(stat -f -c %f $M)"
check_eq "free inodes back to fresh" "$files0" "$(stat -f -c %d $M)"
check "umount" umount $M
check "rmmod (nothing leaked)" rmmod livedfs
