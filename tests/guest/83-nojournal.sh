# Mounted without a journal (`nojournal`, the paper's LiveDFS-S): the
# volume is marked not clean while mounted, deduplication, copy-on-write
# and deletes keep exact counts, and a fingerprint-store update reaches
# the disk when it is made (the paper's variant writes fingerprints and
# refcounts to the stores directly), not at the next sync. After umount
# the volume checks clean and mounts with its journal again.
VOL=$(disk vol)
M=/mnt/a
S=/sys/fs/livedfs/${VOL#/dev/}
mkdir -p $M
squash() { tr -d ' \n'; }
stat_is() { check_eq "$1 = $2" "$2" "$(cat $S/$1)"; }

# Sectors written to the volume's disk so far.
sectors_written() { awk '{print $7}' /sys/block/${VOL#/dev/}/stat; }

check "mkfs" mkfs.livedfs -q -F "$VOL"
check "mount -o nojournal" mount -t livedfs -o nojournal "$VOL" $M
check_eq "/proc/mounts shows nojournal" "$M livedfs rw,relatime,nojournal" \
    "$(grep " $M livedfs " /proc/mounts | cut -d' ' -f2-4)"
check "info: not clean while mounted" sh -c "livedfs info $VOL 2>/dev/null | grep -q 'Filesystem state: *not clean'"

# No periodic writeback: only what the file system writes itself reaches
# the disk.
echo 0 > /proc/sys/vm/dirty_writeback_centisecs
echo 360000 > /proc/sys/vm/dirty_expire_centisecs
check "a first file, synced (group 0's store formatted on disk)" sh -c "echo hello > $M/first && sync"
dd if=/dev/urandom of=/tmp/A bs=1M count=16 2>/dev/null
before=$(sectors_written)
check "write A (16 MiB) with O_DIRECT: written back in the call, no sync" \
    dd if=/tmp/A of=$M/A bs=1M oflag=direct
written=$(( $(sectors_written) - before ))
stat_is unique_blocks_written 4097
# 32768 sectors of data, and each of the 4096 store updates written at
# once (8 sectors each): at least 65536. Left to writeback, the store
# blocks would not have been written yet (about 32768).
check "A's 4096 store updates reached the disk with its data ($written sectors >= 65536)" \
    test "$written" -ge 65536
check "copy A to B" cp $M/A $M/B
check "sync" sync
stat_is duplicate_hits 4096
stat_is physical_blocks_used 4097
check "overwrite B's first MiB (copy-on-write)" \
    dd if=/dev/urandom of=$M/B bs=1M count=1 conv=notrunc 2>/dev/null
check "sync" sync
stat_is physical_blocks_used $((4097 + 256))
check "delete A" rm $M/A
check "sync" sync
stat_is physical_blocks_used 4097
check_eq "A's data is still B's tail" "$(tail -c +1048577 /tmp/A | md5sum)" "$(tail -c +1048577 $M/B | md5sum)"
head -c 1048576 $M/B > /tmp/B1
check "umount" umount $M
check_exit "fsck -fn after umount (exit 0)" 0 fsck.livedfs -fn "$VOL"
check "info: clean after umount" sh -c "livedfs info $VOL | grep -q 'Filesystem state: *clean'"
check "mount with the journal" mount -t livedfs "$VOL" $M
check_eq "B reads back" "$( (cat /tmp/B1; tail -c +1048577 /tmp/A) | md5sum)" "$(md5sum < $M/B)"
check "rm B" rm $M/B
check "sync" sync
stat_is physical_blocks_used 1
check "umount" umount $M
finish
