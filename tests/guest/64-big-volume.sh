# A 1 TiB volume (a sparse virtual disk), as users make them for image
# stores. jbd2 numbers the log of a journal opened inside the device by
# absolute block, and sized its per-transaction overhead from the block
# where the log ends: on a 1 TiB volume (journal at block 134 million)
# the overhead (176879 blocks) outgrew the transaction limit (7936), jbd2
# refused every handle ("wants too many credits"), and no file could even
# be created. The limits are now computed from the log's real length.
VOL=$(disk vol)
DEV=${VOL#/dev/}
M=/mnt/a
S=/sys/fs/livedfs/$DEV
mkdir -p $M
check "mkfs of a 1 TiB volume" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
dd if=/dev/urandom of=/tmp/A bs=1M count=8 2>/dev/null
check "8 MiB written to two files and synced" sh -c "cp /tmp/A $M/a && cp /tmp/A $M/b && sync"
check_eq "stored once" 2048 "$(cat $S/physical_blocks_used)"
check "drop caches" sh -c "echo 3 > /proc/sys/vm/drop_caches"
check_eq "the data reads back" "$(md5sum < /tmp/A)" "$(md5sum < $M/b)"
check "no journal handle refused" sh -c "! dmesg | grep -q 'wants too many credits'"
check "umount" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"
rm -f /tmp/A
