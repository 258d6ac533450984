# The fingerprint filter of a big volume (issue 18). Bounded memory: with
# `filter_max=` (or the superblock's default) the filter stops growing at
# the cap; blocks stored past it are not recorded (not offered for
# sharing), writes go on, nothing is lost, and the counters show it.
# Mount without waiting: past `filter_sync_blocks` the mount returns at
# once and the filter is built in the background; writes meanwhile are
# stored without deduplication and counted, and everything is found again
# once it is built.
VOL=$(disk vol)
DEV=${VOL#/dev/}
M=/mnt/a
S=/sys/fs/livedfs/$DEV
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount -o filter_max=128K" mount -t livedfs -o filter_max=128K "$VOL" $M
check "/proc/mounts shows it" grep -q "$M livedfs rw,relatime,filter_max=128K" /proc/mounts
check_eq "the cap in sysfs" 131072 "$(cat $S/filter_max_bytes)"
dd if=/dev/urandom of=/tmp/early bs=1M count=1 2>/dev/null
check "1 MiB written first" sh -c "cp /tmp/early $M/early && sync"
check_eq "nothing dropped yet" 0 "$(cat $S/filter_dropped)"
check "then 256 MiB of unique data" sh -c "dd if=/dev/urandom of=$M/big bs=1M count=256 2>/dev/null && sync"
check "the filter stayed under its cap (and one chain's growth)" test "$(cat $S/filter_bytes)" -lt $((131072 + 16384))
check "blocks past the cap were not recorded" test "$(cat $S/filter_dropped)" -gt 0
check "livedfs stats shows it" sh -c "livedfs stats $M | grep -q 'stored blocks not recorded'"
hits=$(cat $S/duplicate_hits)
check "a copy of the early data" sh -c "cp /tmp/early $M/early2 && sync"
check_eq "still shared (recorded before the cap)" $((hits + 256)) "$(cat $S/duplicate_hits)"
check "drop caches" sh -c "echo 3 > /proc/sys/vm/drop_caches"
check_eq "the data reads back" "$(md5sum < /tmp/early)" "$(md5sum < $M/early2)"
check "umount" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"
check "mount without the cap" mount -t livedfs "$VOL" $M
check_eq "no cap" 0 "$(cat $S/filter_max_bytes)"
check_eq "every stored block is recorded again" "$(cat $S/physical_blocks_used)" "$(cat $S/filter_entries)"
check "umount" umount $M

# --- background build
check "mount with filter_sync_blocks=0 and a slow build (test hook)" \
    mount -t livedfs -o filter_rebuild,filter_sync_blocks=0,test_rebuild_delay_ms=1500 $VOL $M
check_eq "the mount returned before the filter was built" 0 "$(cat $S/filter_ready)"
check "livedfs stats shows the build's progress" sh -c "livedfs stats $M | grep -q 'filter being built'"
dd if=/dev/urandom of=/tmp/during bs=64k count=4 2>/dev/null
check "a write during the build" sh -c "cp /tmp/during $M/during && sync"
check "it was stored without dedup and counted" test "$(cat $S/writes_during_filter_build)" -gt 0
check "the data is readable" sh -c "cmp /tmp/during $M/during"
i=0
while [ "$(cat $S/filter_ready)" != 1 ] && [ $i -lt 120 ]; do sleep 1; i=$((i + 1)); done
check_eq "the build finished" 1 "$(cat $S/filter_ready)"
check_eq "it read every group" "$(cat $S/group_count)" "$(cat $S/filter_build_groups_done)"
hits=$(cat $S/duplicate_hits)
check "a copy of data stored before the mount" sh -c "cp /tmp/early $M/early3 && sync"
check_eq "is shared once the filter is built" $((hits + 256)) "$(cat $S/duplicate_hits)"
check "umount (a background build is waited for)" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"
check "mount again with a slow build and unmount at once" sh -c "
    mount -t livedfs -o filter_rebuild,filter_sync_blocks=0,test_rebuild_delay_ms=3000 $VOL $M && umount $M"
check "rmmod (nothing left running)" rmmod livedfs
