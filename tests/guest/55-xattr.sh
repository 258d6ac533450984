# Extended attributes and POSIX ACLs (xattrtest, userspace/fstests; busybox
# has no setfattr, getfattr or setfacl): user., trusted. and security. on
# files, directories, symlinks and special files with ext4's exact errno
# values, values up to the block's room (ENOSPC past it, E2BIG past 64
# KiB), sharing of identical sets, ACLs enforced and inherited, a full
# volume; then a tree of attributes read back across umount/mount, fsck
# clean, noacl, a volume made without the feature, and every block given
# back when the files go.
VOL=$(disk vol)
M=/mnt/a
mkdir -p $M

# 1. A full volume: a 16 MiB volume at the start of the disk.
check "mkfs a 16 MiB volume" mkfs.livedfs -q -F -m 0 "$VOL" 16M
check "mount it" mount -t livedfs "$VOL" $M
mkdir -p $M/x
xattrtest enospc $M/x
check "xattrtest enospc exits 0" test $? -eq 0
check "umount" umount $M
check_exit "fsck -fn after the full volume" 0 fsck.livedfs -fn "$VOL"

# 2. The whole disk.
check "mkfs" mkfs.livedfs -q -F "$VOL"
check "the xattr feature is on by default" sh -c "livedfs info $VOL | grep -q xattr"
check "mount" mount -t livedfs "$VOL" $M
check "ACLs are on by default (no noacl in /proc/mounts)" sh -c "grep ' $M ' /proc/mounts | grep -vq noacl"
free0=$(stat -f -c %f $M)
inodes0=$(stat -f -c %d $M)
mkdir $M/checks $M/tree
xattrtest check $M/checks
check "xattrtest check exits 0" test $? -eq 0
mkdir $M/conc
xattrtest concurrent $M/conc
check "xattrtest concurrent exits 0" test $? -eq 0
xattrtest write $M/tree
check "xattrtest write exits 0" test $? -eq 0
INO=$(stat -c %i $M/tree/file)
ACLINO=$(stat -c %i $M/tree/acl)
check "umount" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"
check "debug inode shows the attributes" sh -c "livedfs debug inode $VOL $INO | grep -q 'user.small (5 bytes) = \"hello\"'"
check "debug inode shows an ACL" sh -c "livedfs debug inode $VOL $ACLINO | grep -q 'system.posix_acl_access.*user:1000:---'"
check "debug inode --json lists the attributes" sh -c "livedfs --json debug inode $VOL $INO | grep -q '\"trusted.t\"'"
check "mount again" mount -t livedfs "$VOL" $M
xattrtest verify $M/tree
check "xattrtest verify exits 0 after the remount" test $? -eq 0
# FIEMAP_FLAG_XATTR (filefrag -x, xfs_io fiemap -a; fstests generic/425):
# the attribute block, as one extent; nothing for a file without one.
check_eq "FIEMAP of the attributes: one block, the last extent" "0 4096 0x1 last" \
    "$(fsops fiemap --xattr $M/tree/file | awk '{print $1, $3, $4, $5}')"
check "... at a block address" test "$(fsops fiemap --xattr $M/tree/file | awk '{print $2}')" -gt 0
touch $M/noattr
check_eq "a file without attributes: no extent" "" "$(fsops fiemap --xattr $M/noattr)"
rm -f $M/noattr

# noacl, and back.
check "remount noacl" mount -o remount,noacl $M
check "noacl in /proc/mounts" sh -c "grep ' $M ' /proc/mounts | grep -q noacl"
xattrtest noacl $M/tree
check "xattrtest noacl exits 0" test $? -eq 0
check "remount acl" mount -o remount,acl $M
xattrtest verify $M/tree
check "xattrtest verify exits 0 after remount acl" test $? -eq 0

# A power cut is not needed for the journal: everything was committed;
# check the log for corruption reports.
check "no corruption reported" sh -c '! dmesg | grep -q "livedfs.*corrupted"'

# Deleting every file gives every block back.
check "delete everything" rm -rf $M/checks $M/tree $M/conc
check "sync" sync
check_eq "free blocks back to fresh" "$free0" "$(stat -f -c %f $M)"
check_eq "free inodes back to fresh" "$inodes0" "$(stat -f -c %d $M)"
check "umount" umount $M
check_exit "fsck -fn after deleting everything" 0 fsck.livedfs -fn "$VOL"

# 3. Changes cut off by a shutdown without a journal flush: after the
#    replay every file holds a set it went through, and fsck is clean.
check "mkfs" mkfs.livedfs -q -F "$VOL"
check "mount" mount -t livedfs "$VOL" $M
mkdir -p $M/cut
xattrtest powercut $M/cut
check "xattrtest powercut exits 0" test $? -eq 0
check "umount after the shutdown" umount $M
check "mount (journal replay)" mount -t livedfs "$VOL" $M
xattrtest powercut-check $M/cut
check "xattrtest powercut-check exits 0" test $? -eq 0
check "umount" umount $M
check_exit "fsck -fn after the cut" 0 fsck.livedfs -fn "$VOL"

# 4. Without a journal (metadata written in place).
check "mount -o nojournal" mount -t livedfs -o nojournal "$VOL" $M
mkdir -p $M/nj
xattrtest check $M/nj
check "xattrtest check exits 0 without a journal" test $? -eq 0
check "umount" umount $M
check_exit "fsck -fn after nojournal" 0 fsck.livedfs -fn "$VOL"

# 5. A volume made without extended attributes.
check "mkfs -O ^xattr" mkfs.livedfs -q -F -O ^xattr "$VOL"
check "no xattr feature" sh -c "! livedfs info $VOL | grep -q xattr"
check "mount" mount -t livedfs "$VOL" $M
mkdir -p $M/u
xattrtest unsupported $M/u
check "xattrtest unsupported exits 0" test $? -eq 0
check "umount" umount $M
check_exit "fsck -fn" 0 fsck.livedfs -fn "$VOL"
check "rmmod (nothing leaked)" rmmod livedfs
