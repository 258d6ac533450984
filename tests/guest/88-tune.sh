# livedfs tune (label, UUID, errors behaviour, check schedule, default
# mount options) on a real volume holding data, mkfs -T and -e, livedfs
# info's identification for scripts, and livedfs du as a user without
# root (FIEMAP), compared with root's.
#
# Workload (4 KiB blocks, random data):
#   A  16 blocks            B  a copy of A (shares A's 16)
#   C  A's first 4 blocks + 4 new (those 4 have refcount 3)
#   R  one block written 10 times (refcount 10, only R holds it)
VOL=$(disk vol)
M=/mnt/tune
mkdir -p $M
NEW=0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0
squash() { tr -d ' \n'; }
# jget KEY FILE: the first numeric value of "KEY" in a JSON file.
jget() { squash < "$2" | grep -o "\"$1\":[-0-9]*" | head -n 1 | cut -d: -f2; }
# jtotal KEY FILE: KEY's value in the "total" object.
jtotal() { squash < "$2" | sed 's/.*"total"://' | grep -o "\"$1\":[-0-9a-z]*" | head -n 1 | cut -d: -f2; }
# fsck_clean NAME: fsck -fn finds nothing.
fsck_clean() { check_exit "$1: fsck -fn clean" 0 fsck.livedfs -fn "$VOL"; }

# --- mkfs -T and -e ----------------------------------------------------
check "mkfs -T largefile" mkfs.livedfs -q -F -T largefile "$VOL"
check_eq "mkfs -T largefile: one inode per MiB (256)" 256 "$(livedfs info -s inodes_count "$VOL")"
check "mkfs -T largefile4" mkfs.livedfs -q -F -T largefile4 "$VOL"
check_eq "mkfs -T largefile4: 64 inodes (whole table blocks)" 64 "$(livedfs info -s inodes_count "$VOL")"
check "mkfs -T largefile4 volume mounts" mount -t livedfs "$VOL" $M
check "... and takes files" sh -c "echo x > $M/f && umount $M"
check "mkfs -e continue -L before" mkfs.livedfs -q -F -T largefile -e continue -L before "$VOL"
check_eq "info -s errors: Continue" "Continue" "$(livedfs info -s errors "$VOL")"
check_eq "info -s LABEL" "before" "$(livedfs info -s LABEL "$VOL")"
OLD=$(livedfs info -s UUID "$VOL")
check "info --export: UUID= and TYPE=livedfs" sh -c "livedfs info --export $VOL | grep -qx 'UUID=$OLD' && livedfs info --export $VOL | grep -qx TYPE=livedfs"
check "info --udev: ID_FS_UUID and ID_FS_TYPE" sh -c "livedfs info --udev $VOL | grep -qx 'ID_FS_UUID=$OLD' && livedfs info --udev $VOL | grep -qx ID_FS_TYPE=livedfs"
check_eq "info -s journal.errno (signed)" 0 "$(livedfs info -s journal.errno "$VOL")"

# --- data -------------------------------------------------------------
check "mount" mount -t livedfs "$VOL" $M
dd if=/dev/urandom of=/tmp/A bs=4096 count=16 2>/dev/null
dd if=/dev/urandom of=/tmp/new4 bs=4096 count=4 2>/dev/null
dd if=/dev/urandom of=/tmp/blk bs=4096 count=1 2>/dev/null
dd if=/dev/urandom of=/tmp/N bs=4096 count=4 2>/dev/null
check "write A, B, C, R, dir/N" sh -c "cp /tmp/A $M/A && cp /tmp/A $M/B && \
    { dd if=/tmp/A bs=4096 count=4 2>/dev/null; cat /tmp/new4; } > $M/C && \
    for i in 1 2 3 4 5 6 7 8 9 10; do cat /tmp/blk; done > $M/R && mkdir $M/dir && cp /tmp/N $M/dir/N"
cat $M/A $M/B $M/C $M/R $M/dir/N > /tmp/all.before
sync

# --- du as a user without root ------------------------------------------
echo "tester:x:1000:1000:tester:/tmp:/bin/sh" >> /etc/passwd
echo "tester:x:1000:" >> /etc/group
# The initramfs is unpacked from root-only directories: let the user in.
chmod a+rx / /bin /sbin /usr /usr/bin /usr/sbin /bin/busybox /sbin/livedfs /mnt 2>/dev/null
chmod 600 "$VOL"
asuser() { su -s /bin/sh tester -c "$*"; }
check_eq "su runs commands as uid 1000" 1000 "$(asuser id -u)"
check_fails "the user cannot read the device" su -s /bin/sh tester -c "head -c 1 $VOL > /dev/null"
livedfs du --json $M/A $M/C $M/R $M > /tmp/du.root 2>&1
asuser "livedfs du --json $M/A $M/C $M/R $M" > /tmp/du.user 2>/tmp/du.user.err
check "du as the user runs" test -s /tmp/du.user
check_eq "du as root: refcounts from the device" device "$(squash < /tmp/du.root | grep -o '"refcounts":"[a-z]*"' | cut -d'"' -f4)"
check_eq "du as the user: refcounts from FIEMAP" fiemap "$(squash < /tmp/du.user | grep -o '"refcounts":"[a-z]*"' | cut -d'"' -f4)"
check "du as the user says why (the device is not readable)" grep -q "Permission denied" /tmp/du.user
check_eq "du as the user leaves out lost+found (0700), and says so" "\"skipped\":[\"$M/lost+found\"]" \
    "$(squash < /tmp/du.user | grep -o '"skipped":\[[^]]*\]')"
check_eq "du as the user: blocks mapped with FIEMAP" fiemap "$(squash < /tmp/du.user | grep -o '"method":"[a-z]*"' | cut -d'"' -f4)"
# Per entry and in total, every figure but exclusive equals root's.
strip_excl() { squash < "$1" | sed 's/"exclusive_[a-z_]*":[0-9a-z]*,\{0,1\}//g; s/"refcounts[a-z_]*":"[^"]*",//g; s/,"skipped":\[[^]]*\]//'; }
check_eq "du: size, mapped, shared, unique, distinct agree with root's" "$(strip_excl /tmp/du.root)" "$(strip_excl /tmp/du.user)"
# entry N: the Nth entry's squashed object.
entry() { squash < "$2" | sed 's/.*"entries":\[//; s/\],"total".*//; s/},{/}\n{/g' | sed -n "${1}p"; }
case "$(entry 1 /tmp/du.user)" in
    *'"shared_blocks":16,"unique_blocks":0,"unknown_blocks":0,"distinct_blocks":16,"exclusive_blocks":0,'*) pass "du A as the user: 16 shared, exclusive exactly 0" ;;
    *) fail "du A as the user" "$(entry 1 /tmp/du.user)" ;;
esac
case "$(entry 2 /tmp/du.user)" in
    *'"shared_blocks":4,"unique_blocks":4,"unknown_blocks":0,"distinct_blocks":8,"exclusive_blocks":4,'*) pass "du C as the user: 4 shared, 4 unique, exclusive exactly 4" ;;
    *) fail "du C as the user" "$(entry 2 /tmp/du.user)" ;;
esac
case "$(entry 3 /tmp/du.user)" in
    *'"exclusive_blocks":null,'*'"exclusive_min_blocks":0,"exclusive_max_blocks":1,'*) pass "du R as the user: exclusive unknown, between 0 and 1 block" ;;
    *) fail "du R as the user" "$(entry 3 /tmp/du.user)" ;;
esac
case "$(entry 3 /tmp/du.root)" in
    *'"exclusive_blocks":1,'*) pass "du R as root: exclusive exactly 1 block" ;;
    *) fail "du R as root" "$(entry 3 /tmp/du.root)" ;;
esac
# The whole volume: root's exact figure lies within the user's bounds.
RX=$(entry 4 /tmp/du.root | grep -o '"exclusive_blocks":[0-9]*' | cut -d: -f2)
UMIN=$(entry 4 /tmp/du.user | grep -o '"exclusive_min_blocks":[0-9]*' | cut -d: -f2)
UMAX=$(entry 4 /tmp/du.user | grep -o '"exclusive_max_blocks":[0-9]*' | cut -d: -f2)
check "du of the volume: root's exclusive ($RX) within the user's bounds ($UMIN..$UMAX)" \
    test "${UMIN:-x}" -le "${RX:-y}" -a "${RX:-y}" -le "${UMAX:-x}"
livedfs du --json --no-device $M/A $M/C $M/R $M > /tmp/du.nodev 2>&1
strip_note() { squash < "$1" | sed 's/"refcounts_note":"[^"]*",//; s/,"skipped":\[[^]]*\]//'; }
check_eq "du --no-device as root gives the user's report" "$(strip_note /tmp/du.user)" "$(strip_note /tmp/du.nodev)"
asuser "livedfs du $M/R" > /tmp/du.text 2>&1
check "du text as the user: a lower bound and why" sh -c "grep -q '>=0 B *$M/R' /tmp/du.text && grep -q 'Run as root for the exact figure' /tmp/du.text"
asuser "livedfs du -b $M/C" > /tmp/du.text 2>&1
check "du text as the user: exact where it can be" grep -q "32768 *32768 *16384 *16384 *16384 *$M/C" /tmp/du.text

# --- tune refuses a mounted volume ----------------------------------------
check_err "tune refuses a mounted volume" "is mounted on $M" livedfs tune -L x "$VOL"
check_eq "... and changed nothing" "before" "$(livedfs info -s LABEL "$VOL" 2>/dev/null)"
check "umount" umount $M
fsck_clean "before tune"

# --- tune: label, UUID, errors, schedule, options --------------------------
check "tune -n writes nothing" sh -c "livedfs tune -n -L images -U $NEW $VOL | grep -q 'not written' && [ \"\$(livedfs info -s UUID $VOL)\" = $OLD ]"
livedfs tune -L images -U $NEW -e remount-ro -c 30 -i 1w -o noprefetch "$VOL" > /tmp/tune.out 2>/tmp/tune.err
check_eq "tune -L -U -e -c -i -o exits 0" 0 $?
cat /tmp/tune.out /tmp/tune.err
check "tune says the checksums were rewritten" grep -q "checksums rewritten" /tmp/tune.out
check "tune has no note on default mount options (the module applies them)" sh -c "! grep -q 'default mount options' /tmp/tune.err"
check_eq "info: new UUID" $NEW "$(livedfs info -s UUID "$VOL")"
check_eq "info: new label" images "$(livedfs info -s LABEL "$VOL")"
check_eq "info: errors" "Remount read-only" "$(livedfs info -s errors "$VOL")"
check_eq "info: max mount count" 30 "$(livedfs info -s max_mount_count "$VOL")"
check_eq "info: check interval" 604800 "$(livedfs info -s checkinterval "$VOL")"
check "info text: default mount options" sh -c "livedfs info $VOL | grep -q 'Default mount options: *noprefetch'"
fsck_clean "after the UUID change"
check "mount after the UUID change" mount -t livedfs "$VOL" $M
cat $M/A $M/B $M/C $M/R $M/dir/N > /tmp/all.after
check "every file reads back as written" cmp /tmp/all.before /tmp/all.after
check "writes and deduplicates after the UUID change" sh -c "cp /tmp/A $M/D && sync"
livedfs stats --json $M > /tmp/stats.json
check_eq "stats: D shared A's blocks (stored blocks unchanged: 16 + 4 + 1 + 4)" 25 "$(jget physical_blocks_used /tmp/stats.json)"
check "remove and recreate after the change" sh -c "rm $M/B && mkdir $M/d2 && echo y > $M/d2/y && sync"
check "umount" umount $M
fsck_clean "after writing under the new UUID"
check "tune -U random" sh -c "livedfs tune -U random $VOL > /dev/null"
check "mount after -U random" mount -t livedfs "$VOL" $M
check "files read back after -U random" sh -c "cat $M/A $M/C $M/R > /tmp/x && cmp /tmp/A $M/D"
check "umount" umount $M
fsck_clean "after -U random"

# --- the kernel applies the superblock's default mount options ---------------
used() { livedfs stats --json $M > /tmp/stats.json && jget physical_blocks_used /tmp/stats.json; }
check "tune -o nodedup" livedfs tune -o nodedup "$VOL"
check "mount without options" mount -t livedfs "$VOL" $M
check "/proc/mounts shows no nodedup (the volume's default)" sh -c "! grep ' $M ' /proc/mounts | grep -q dedup"
U0=$(used)
check "copy A again" sh -c "cp /tmp/A $M/E && sync"
check_eq "nodedup from the superblock: E's 16 blocks stored, not shared" $((U0 + 16)) "$(used)"
check "umount" umount $M
check "mount -o dedup overrides the volume's default" mount -t livedfs -o dedup "$VOL" $M
check "/proc/mounts shows dedup (differs from the default)" sh -c "grep ' $M ' /proc/mounts | grep -q ',dedup'"
U0=$(used)
check "copy A once more" sh -c "cp /tmp/A $M/F && sync"
check_eq "dedup given at mount: F shares A's blocks" "$U0" "$(used)"
check "umount" umount $M
check "tune -o ^nodedup" livedfs tune -o ^nodedup "$VOL"
check "mount without options" mount -t livedfs "$VOL" $M
U0=$(used)
check "copy A a last time" sh -c "cp /tmp/A $M/G && sync && cmp /tmp/A $M/E && cmp /tmp/A $M/F"
check_eq "default dedup again: G shares A's blocks" "$U0" "$(used)"
check "umount" umount $M
fsck_clean "after the default-options round"

# --- the kernel applies the superblock's errors behaviour --------------------
# lost+found's size made huge: every use of it is an error the module
# detects. Mounted without errors=, the superblock's behaviour applies.
check "craft dir-size-huge on lost+found" livedfs debug craft "$VOL" dir-size-huge --ino 11
check "tune -e continue" livedfs tune -e continue "$VOL"
check "mount without errors=" mount -t livedfs "$VOL" $M
check "/proc/mounts shows no errors= (the volume's default applies)" sh -c "! grep ' $M ' /proc/mounts | grep -q errors="
check_err "a lookup in lost+found fails with EUCLEAN" "Structure needs cleaning" stat $M/lost+found/x
check "errors=continue from the superblock: still read-write" grep -q "^$VOL $M livedfs rw," /proc/mounts
check "... and writable" sh -c "echo z > $M/z && sync"
check "umount" umount $M
check_exit "fsck -fy repairs lost+found" 1 fsck.livedfs -fy "$VOL"
check "craft it again" livedfs debug craft "$VOL" dir-size-huge --ino 11
check "tune -e remount-ro" livedfs tune -e remount-ro "$VOL"
check "mount without errors=" mount -t livedfs "$VOL" $M
check_err "a lookup in lost+found fails with EUCLEAN" "Structure needs cleaning" stat $M/lost+found/x
check "errors=remount-ro from the superblock: read-only now" grep -q "^$VOL $M livedfs ro," /proc/mounts
check_err "... writes refused" "Read-only file system" touch $M/w
check "umount" umount $M
check_exit "fsck -fy repairs it" 1 fsck.livedfs -fy "$VOL"
fsck_clean "at the end"
