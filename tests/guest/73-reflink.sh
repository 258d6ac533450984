# FICLONE (reflink copies) and FIDEDUPERANGE (out-of-band dedup) on the
# same reference counts as inline deduplication.
VOL=$(disk vol)
DEV=${VOL#/dev/}
M=/mnt/a
S=/sys/fs/livedfs/$DEV
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check "write a 16 MiB image" dd if=/dev/urandom of=$M/img bs=1M count=16
sync
sum=$(md5sum < $M/img)
check_eq "4096 blocks stored" 4096 "$(cat $S/physical_blocks_used)"
check "livedfs clone (FICLONE)" livedfs clone $M/img $M/clone
check_eq "the clone reads the same" "$sum" "$(md5sum < $M/clone)"
check_eq "the clone has the same size" "$(stat -c %s $M/img)" "$(stat -c %s $M/clone)"
sync
check_eq "cloning stored nothing new" 4096 "$(cat $S/physical_blocks_used)"
check_eq "every block referenced twice" 8192 "$(cat $S/logical_blocks_referenced)"
check "write into the clone" dd if=/dev/urandom of=$M/clone bs=4k count=10 seek=5 conv=notrunc
sync
check_eq "the original is untouched" "$sum" "$(md5sum < $M/img)"
check_eq "10 blocks copied on write" 4106 "$(cat $S/physical_blocks_used)"
clone_sum=$(md5sum < $M/clone)
check "remove the original" rm $M/img
sync
check_eq "the clone's blocks stay" 4096 "$(cat $S/physical_blocks_used)"
check "make two equal files the slow way (no sharing)" sh -c "dd if=/dev/urandom of=/tmp/x bs=1M count=4 2>/dev/null; cp /tmp/x $M/x1"
sync
check "cp onto a livedfs file dedups inline anyway" cp /tmp/x $M/x2
sync
used=$(cat $S/physical_blocks_used)
check_eq "inline dedup already shares x1 and x2" $((4096 + 1024)) "$used"
check "livedfs dedupe of identical files succeeds" livedfs dedupe $M/x1 $M/x2
check_eq "still one copy" "$used" "$(cat $S/physical_blocks_used)"
check "files that differ are refused" sh -c "! livedfs dedupe $M/x1 $M/clone"
check "umount" umount $M
check "mount" mount -t livedfs "$VOL" $M
check_eq "after remount the clone is intact" "$clone_sum" "$(md5sum < $M/clone)"
check "remove everything" sh -c "rm -f $M/clone $M/x1 $M/x2"
sync
check_eq "nothing stored" 0 "$(cat $S/physical_blocks_used)"
check "umount" umount $M

# --- A reflink into a synchronous file (chattr +S; or opened O_SYNC) is
# durable when the call returns (fstests generic/628): a power cut right
# after it (FS_IOC_SHUTDOWN without a journal flush) keeps the sharing.
# Before the fix the destination came back empty.
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
head -c 1048576 /dev/urandom > /tmp/sa
check "a 1 MiB file, synced" sh -c "cp /tmp/sa $M/a && sync"
check "an empty file made synchronous (chattr +S), synced" sh -c "touch $M/b && fsops setflags $M/b 8 && sync"
check "livedfs clone a b" livedfs clone $M/a $M/b
check "power cut (shutdown without a journal flush)" fsops shutdown $M 2
check "umount" umount $M
check "mount (replays the journal)" mount -t livedfs "$VOL" $M
check_eq "b holds a's data" "$(md5sum < /tmp/sa)" "$(md5sum < $M/b)"
check "umount" umount $M
check_exit "fsck -fn clean" 0 fsck.livedfs -fn "$VOL"
