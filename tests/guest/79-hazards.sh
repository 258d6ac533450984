# Hazards a dedup file system must refuse or get right (issue 16):
# swap files (swap writes go straight to possibly shared blocks), a
# read-write mount of a volume left unclean by a mount without journal
# (store entries may be ahead of their data), byte comparison (`verify`)
# against what is on the medium, not a stale cached copy, and (issue 17)
# a fingerprint store being formatted must not stop allocation elsewhere,
# nor the formatting of a store in another shard of groups.
VOL=$(disk vol)
DEV=${VOL#/dev/}
CUT=$(disk cut)
M=/mnt/a
S=/sys/fs/livedfs/$DEV
mkdir -p $M /mnt/e

# --- swap
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check "a 16 MiB file" dd if=/dev/urandom of=$M/swap bs=1M count=16
chmod 600 $M/swap
check "mkswap on it" mkswap $M/swap
mark
check_fails "swapon of a livedfs file is refused" swapon $M/swap
check_dmesg "and says why" "swap file (inode [0-9]*) refused"
check "control: swapon works for a file on ext4" sh -c "
    mount -t ext4 $(disk ext4) /mnt/e && dd if=/dev/zero of=/mnt/e/swap bs=1M count=16 2>/dev/null &&
    chmod 600 /mnt/e/swap && mkswap /mnt/e/swap >/dev/null && swapon /mnt/e/swap && swapoff /mnt/e/swap;
    rc=\$?; rm -f /mnt/e/swap; umount /mnt/e; exit \$rc"
check "umount" umount $M

# --- formatting a store (a group's first use, hundreds of blocks) holds
# no lock that allocating or freeing in other groups needs: it once ran
# under the volume's allocation lock. A test delay holds the formatting
# for 6 s while another writer creates files and preallocates: that must
# take well under those 6 s (under the old lock it waited them out). 1 KiB
# blocks: groups of 8 MiB, so a 12 MiB file reaches a group never used.
check "mkfs (1 KiB blocks)" mkfs.livedfs -q -F -m 0 -b 1024 "$VOL"
check "mount (no timed commit during the test)" mount -t livedfs -o commit=60 "$VOL" $M
check "a first file formats group 0's store" sh -c "head -c 65536 /dev/urandom > $M/first && sync"
check "arm: 6 s before a store is formatted" sh -c "echo 6000 > $S/test_delay_store_format_ms"
head -c 12582912 /dev/urandom > /tmp/far.data
t0=$(cut -d' ' -f1 /proc/uptime)
dd if=/tmp/far.data of=$M/far bs=1M conv=fsync 2>/dev/null &
far=$!
sleep 1
ta=$(cut -d' ' -f1 /proc/uptime)
check "meanwhile: 20 files created" sh -c "for i in \$(seq 20); do echo \$i > $M/a\$i || exit 1; done"
check "meanwhile: 1 MiB preallocated" fsops fallocate $M/pre 0 0 1048576
tb=$(cut -d' ' -f1 /proc/uptime)
echo "other writer: $(awk -v a="$ta" -v b="$tb" 'BEGIN { print b - a }') s"
check "the other writer did not wait for the formatting (under 3 s)" awk -v a="$ta" -v b="$tb" 'BEGIN { exit !(b - a < 3) }'
check "the write that formatted it completes" wait $far
t1=$(cut -d' ' -f1 /proc/uptime)
echo "the formatting write: $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s"
check "and it did wait for the formatting (its group was new)" awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a >= 6) }'
check "disarm" sh -c "echo 0 > $S/test_delay_store_format_ms"
check "its data" cmp /tmp/far.data $M/far
check "umount" umount $M
check_exit "fsck -fn clean" 0 fsck.livedfs -fn "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check "data after remount" cmp /tmp/far.data $M/far
check "umount" umount $M

# --- first touches of stores in different groups run side by side: each
# shard of groups has its own formatting lock (groups.rs); there was one
# for the volume. Two writers, 1 s apart, each reach a group never used,
# with 6 s held in each formatting: the second must finish about 6 s after
# it starts (under one lock it also waited for the first: 11 s or more).
check "mkfs (1 KiB blocks)" mkfs.livedfs -q -F -m 0 -b 1024 "$VOL"
check "mount (no timed commit during the test)" mount -t livedfs -o commit=60 "$VOL" $M
check "two directories, placed in two groups" mkdir $M/d1 $M/d2
ipg=$(livedfs info -s inodes_per_group "$VOL")
g1=$(( ($(stat -c %i $M/d1) - 1) / ipg ))
g2=$(( ($(stat -c %i $M/d2) - 1) / ipg ))
echo "d1 in group $g1, d2 in group $g2"
check "in different groups, whose stores are in different shards" test $g1 != $g2
head -c 1048576 /dev/urandom > /tmp/one.data
head -c 1048576 /dev/urandom > /tmp/two.data
check "arm: 6 s before each store is formatted" sh -c "echo 6000 > $S/test_delay_store_format_ms"
dd if=/tmp/one.data of=$M/d1/one bs=1M conv=fsync 2>/dev/null &
one=$!
sleep 1
ta=$(cut -d' ' -f1 /proc/uptime)
check "the second writer (its own new group)" dd if=/tmp/two.data of=$M/d2/two bs=1M conv=fsync
tb=$(cut -d' ' -f1 /proc/uptime)
echo "second writer: $(awk -v a="$ta" -v b="$tb" 'BEGIN { print b - a }') s"
check "it did not wait for the first formatting (under 10 s)" awk -v a="$ta" -v b="$tb" 'BEGIN { exit !(b - a < 10) }'
check "and it did format its own group (6 s or more)" awk -v a="$ta" -v b="$tb" 'BEGIN { exit !(b - a >= 6) }'
check "the first writer completes" wait $one
check "disarm" sh -c "echo 0 > $S/test_delay_store_format_ms"
check "data of the first" cmp /tmp/one.data $M/d1/one
check "data of the second" cmp /tmp/two.data $M/d2/two
check "umount" umount $M
check_exit "fsck -fn clean" 0 fsck.livedfs -fn "$VOL"
rm -f /tmp/one.data /tmp/two.data

# --- orphans left by a shutdown, mounted read-only, then remounted
# read-write (fstests generic/417): the remount must finish them. It
# runs before the VFS clears the read-only flag, and evicting a file
# unlinked while open did nothing on a read-only volume: the remount
# failed with EUCLEAN ("orphan inode N could not be released").
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
free_before=$(stat -f -c %f $M)
inodes_before=$(stat -f -c %d $M)
holders=""
for i in 1 2 3 4 5 6 7 8; do
    sh -c "exec 3<>$M/o$i; head -c 65536 /dev/urandom >&3; rm $M/o$i; exec sleep 1000" &
    holders="$holders $!"
done
sleep 1
check "sync: 8 files unlinked while open, on the orphan list" sync
check "FS_IOC_SHUTDOWN (no journal flush)" fsops shutdown $M 2
kill $holders; wait $holders 2>/dev/null
check "umount after the shutdown" umount $M
check "mount -o ro" mount -t livedfs -o ro "$VOL" $M
check "umount" umount $M
check "the orphans are still listed" sh -c "[ \"\$(livedfs info -s orphan_head $VOL)\" != 0 ]"
check "mount -o ro" mount -t livedfs -o ro "$VOL" $M
mark
check "mount -o remount,rw finishes them" mount -o remount,rw $M
check_dmesg "dmesg counts them" "livedfs ($DEV): processed 8 orphan inode(s)"
check_eq "their blocks are free again" "$free_before" "$(stat -f -c %f $M)"
check_eq "their inodes are free again" "$inodes_before" "$(stat -f -c %d $M)"
check "umount" umount $M
check_eq "no orphan left" 0 "$(livedfs info -s orphan_head $VOL)"
check_exit "fsck -fn clean" 0 fsck.livedfs -fn "$VOL"

# --- verify compares with the medium
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount -o verify" mount -t livedfs -o verify "$VOL" $M
dd if=/dev/urandom of=/tmp/x bs=4k count=1 2>/dev/null
dd if=/dev/urandom of=/tmp/y bs=4k count=1 2>/dev/null
check "write X" sh -c "cp /tmp/x $M/f1 && sync"
check "write X again (verify reads the first copy)" sh -c "cp /tmp/x $M/f2 && sync"
check_eq "X stored once" 1 "$(cat $S/physical_blocks_used)"
check "delete both" sh -c "rm $M/f1 $M/f2 && sync && sync"
check_eq "nothing stored" 0 "$(cat $S/physical_blocks_used)"
check "write Y (into X's freed block)" sh -c "cp /tmp/y $M/f3 && sync"
hits=$(cat $S/duplicate_hits)
check "write Y again" sh -c "cp /tmp/y $M/f4 && sync"
check_eq "Y is found as a duplicate (compared with the disk, not a stale X)" $((hits + 1)) "$(cat $S/duplicate_hits)"
check_eq "Y stored once" 1 "$(cat $S/physical_blocks_used)"
check "umount" umount $M
check "MD5 volume" mkfs.livedfs -q -F -m 0 -O md5 "$VOL"
check "mount it" mount -t livedfs "$VOL" $M
check "write X twice" sh -c "cp /tmp/x $M/f1 && sync && cp /tmp/x $M/f2 && sync"
check_eq "an MD5 volume byte-compares by default (a read per candidate)" 1 "$(cat $S/duplicate_hits)"
check "umount" umount $M

# --- unclean without a journal
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount -o nojournal" mount -t livedfs -o nojournal "$VOL" $M
check "write and sync" sh -c "dd if=/dev/urandom of=$M/f bs=1M count=2 2>/dev/null && sync"
check "copy the mounted volume (as a power cut leaves it)" dd if="$VOL" of="$CUT" bs=1M
check "umount" umount $M
mark
check_err "a read-write mount of the unclean copy is refused" "Structure needs cleaning" \
    mount -t livedfs "$CUT" $M
check_dmesg "with the reason" "not cleanly unmounted (mounted without a journal): run fsck.livedfs"
check "read-only works" sh -c "mount -t livedfs -o ro $CUT $M && umount $M"
check "fsck -p" sh -c "fsck.livedfs -p $CUT; [ \$? -le 1 ]"
check "then read-write works" mount -t livedfs "$CUT" $M
check "umount" umount $M

# --- a journal that needs recovery: norecovery, read-only devices, nojournal
# Committed changes sit in the journal after a shutdown without a flush.
# Before the fix a mount on a read-only device replayed the journal onto it
# (the block layer only warns: "Trying to write to read-only block-device"),
# and there was no norecovery (10 of these checks failed).
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
mkdir -p $M/cut
xattrtest powercut $M/cut > /tmp/powercut.log 2>&1
check "changes committed, then a shutdown without a journal flush" test $? -eq 0
check "umount" umount $M
check_eq "the journal holds transactions" yes \
    "$(livedfs info -s journal.log_start "$VOL" | awk '{ print ($1 > 0) ? "yes" : "no" }')"
mark
check_fails "-o nojournal is refused" mount -t livedfs -o nojournal "$VOL" $M
check_dmesg "with the reason" "the journal needs recovery: mount without nojournal once"
check_fails "-o norecovery without ro is refused" mount -t livedfs -o norecovery "$VOL" $M
check_dmesg "with the reason" "norecovery needs a read-only mount"
check "-o ro,norecovery mounts" mount -t livedfs -o ro,norecovery "$VOL" $M
check_dmesg "and warns" "not replayed (norecovery)"
check "/proc/mounts shows norecovery" grep -q "^$VOL $M livedfs ro,.*norecovery" /proc/mounts
check_fails "a remount read-write is refused" mount -o remount,rw $M
check_dmesg "with the reason" "mounted with norecovery: unmount"
check "umount" umount $M
check_eq "the journal still holds them" yes \
    "$(livedfs info -s journal.log_start "$VOL" | awk '{ print ($1 > 0) ? "yes" : "no" }')"
check "blockdev --setro" blockdev --setro "$VOL"
mark
check_err "on a read-only device a mount that must replay is refused" "Read-only file system" \
    mount -t livedfs -o ro "$VOL" $M
check_dmesg "with the reason" "needs recovery but the device is read-only"
check "-o ro,norecovery works on the read-only device" sh -c "mount -t livedfs -o ro,norecovery $VOL $M && ls $M/cut >/dev/null && umount $M"
if dmesg | sed -n "/LIVEDFS-MARK $MARK/,\$p" | grep -q "Trying to write to read-only block-device"; then
    fail "nothing written to the read-only device" "the kernel says something was"
else
    pass "nothing written to the read-only device"
fi
check "blockdev --setrw" blockdev --setrw "$VOL"
check "mount replays the journal" mount -t livedfs "$VOL" $M
xattrtest powercut-check $M/cut > /tmp/powercut-check.log 2>&1
rc=$?
[ $rc -eq 0 ] || cat /tmp/powercut-check.log
check "every committed change is there" test $rc -eq 0
check "umount" umount $M
check_exit "fsck -fn clean" 0 fsck.livedfs -fn "$VOL"
