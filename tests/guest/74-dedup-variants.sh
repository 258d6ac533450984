# The paper's variants: fingerprint stores all at the end of the device
# (no spatial locality), MD5 fingerprints, no prefetch, and byte-verified
# sharing: each deduplicates correctly and survives a remount.
VOL=$(disk vol)
DEV=${VOL#/dev/}
M=/mnt/a
S=/sys/fs/livedfs/$DEV
mkdir -p $M
dd if=/dev/urandom of=/tmp/A bs=1M count=8 2>/dev/null
sum=$(md5sum < /tmp/A)
variant() { # NAME MKFS-OPTIONS MOUNT-OPTIONS
    name=$1 mk=$2 mo=$3
    check "$name: mkfs $mk" mkfs.livedfs -q -F -m 0 $mk "$VOL"
    check "$name: mount ${mo:-(defaults)}" mount -t livedfs ${mo:+-o $mo} "$VOL" $M
    cp /tmp/A $M/a && cp /tmp/A $M/b && cp $M/b $M/c
    sync
    check_eq "$name: three copies, one stored" 2048 "$(cat $S/physical_blocks_used)"
    check_eq "$name: three references each" 6144 "$(cat $S/logical_blocks_referenced)"
    check "umount" umount $M
    check "$name: mount again" mount -t livedfs ${mo:+-o $mo} "$VOL" $M
    check_eq "$name: filter rebuilt from the stores" 2048 "$(cat $S/filter_entries)"
    cp /tmp/A $M/d
    sync
    check_eq "$name: dedup against old data after remount" 2048 "$(cat $S/physical_blocks_used)"
    check_eq "$name: data intact" "$sum" "$(md5sum < $M/a)"
    rm $M/a $M/b $M/c $M/d
    sync
    check_eq "$name: all freed" 0 "$(cat $S/physical_blocks_used)"
    check "umount" umount $M
}
variant "stores at end" "-O ^spatial_locality" ""
variant "md5" "-O md5" ""
variant "noprefetch" "" "noprefetch"
variant "verify" "" "verify"
check "mount -o noprefetch,verify" mount -t livedfs -o noprefetch,verify "$VOL" $M
check "/proc/mounts shows both options" grep -q "$M livedfs rw,.*noprefetch,verify" /proc/mounts
check "umount" umount $M

# 1 KiB blocks with a journal of 1024 blocks, the smallest mkfs makes: a
# 4 KiB page holds 4 blocks, and its writeback asked for 4 x 32 = 128
# journal credits where a handle holds 127; jbd2 refused the handle and
# the page was never written (the file read back empty).
check "1 KiB blocks: mkfs of 32 MiB with a 1 MiB journal" mkfs.livedfs -q -F -m 0 -b 1024 -J size=1 "$VOL" 32M
check "1 KiB blocks: mount" mount -t livedfs "$VOL" $M
check "1 KiB blocks: write 8 MiB and sync" sh -c "cp /tmp/A $M/a && sync"
check_eq "1 KiB blocks: every block stored" 8192 "$(cat $S/physical_blocks_used)"
check "1 KiB blocks: drop caches" sh -c "echo 3 > /proc/sys/vm/drop_caches"
check_eq "1 KiB blocks: data intact" "$sum" "$(md5sum < $M/a)"
check "1 KiB blocks: no handle refused" sh -c "! dmesg | grep -q 'journal credits, at most'"
check "umount" umount $M
check_exit "1 KiB blocks: fsck -fn clean" 0 fsck.livedfs -fn "$VOL"
