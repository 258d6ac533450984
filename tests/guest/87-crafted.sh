# Hostile volumes: each made from a fresh mkfs.livedfs volume by
# `livedfs debug craft` (every checksum right, one inconsistency). The
# kernel must refuse it cleanly: EUCLEAN and a dmesg line naming the
# device, never an oops or a huge allocation (vm.sh fails the run on any
# oops, BUG or WARN). fsck.livedfs -fn must report it (exit 4) and -fy
# repair it (exit 1), after which -fn is clean and the volume mounts.
# Disks: vol (256M).
VOL=$(disk vol) DEV=${VOL#/dev/}
M=/mnt/a
mkdir -p $M

# craft KIND [OPTIONS]: crafts vol; its JSON report in /tmp/craft.json.
craft() { livedfs --json debug craft "$VOL" "$@" > /tmp/craft.json; }
# field NAME: a number from that report.
field() { tr -d ' \n' < /tmp/craft.json | grep -o "\"$1\":[0-9]*" | head -n 1 | cut -d: -f2; }
# now: seconds since boot, to the hundredth.
now() { cut -d' ' -f1 /proc/uptime; }

# (lib.sh's helpers set $name and $text: these use names of their own.)

# refused NAME TEXT [MOUNT OPTIONS]: the mount fails with EUCLEAN and
# dmesg names the device and TEXT; nothing is left mounted.
refused() {
    r_name=$1 r_text=$2; shift 2
    mark
    check_err "$r_name: mount $* refused with EUCLEAN" "Structure needs cleaning" mount -t livedfs "$@" "$VOL" $M
    check_dmesg "$r_name: dmesg names the device and says: $r_text" "livedfs ($DEV): corrupted: $r_text"
    check "$r_name: nothing left mounted" sh -c "! grep -q ' $M ' /proc/mounts"
}

# fsck_repairs NAME TEXT: fsck -fn reports TEXT (exit 4) and writes
# nothing; -fy repairs (exit 1); -fn is then clean; the volume mounts.
fsck_repairs() {
    f_name=$1 f_text=$2
    f_before=$(md5sum < "$VOL")
    fsck.livedfs -fn "$VOL" > /tmp/fn.out 2>&1
    f_rc=$?
    check_eq "$f_name: fsck -fn reports it (exit 4)" 4 $f_rc
    [ $f_rc = 4 ] || tail -n 20 /tmp/fn.out
    check "$f_name: fsck -fn says: $f_text" grep -qF -- "$f_text" /tmp/fn.out
    check_eq "$f_name: fsck -fn wrote nothing" "$f_before" "$(md5sum < "$VOL")"
    check_exit "$f_name: fsck -fy repairs it (exit 1)" 1 fsck.livedfs -fy "$VOL"
    check_exit "$f_name: fsck -fn is then clean (exit 0)" 0 fsck.livedfs -fn "$VOL"
    check "$f_name: the repaired volume mounts" mount -t livedfs "$VOL" $M
    check_eq "$f_name: its root lists lost+found" "lost+found" "$(ls $M)"
    check "$f_name: umount" umount $M
}

# 1. A store entry in use for a metadata block: group 0's block bitmap.
check "store-entry-on-metadata: mkfs" mkfs.livedfs -q -F "$VOL"
check "store-entry-on-metadata: craft" craft store-entry-on-metadata
B=$(field block)
check_eq "store-entry-on-metadata: on group 0's block bitmap (block 2)" 2 "$B"
refused store-entry-on-metadata "fingerprint entry in use for block $B, which is metadata"
refused store-entry-on-metadata "fingerprint entry in use for block $B, which is metadata" -o ro
fsck_repairs store-entry-on-metadata "Metadata block $B (fixed metadata) has refcount 1, should be 0"

# ... and for a block of the inode table.
check "store-entry-on-metadata (inode table): mkfs" mkfs.livedfs -q -F "$VOL"
check "store-entry-on-metadata (inode table): craft" craft store-entry-on-metadata --block 100
refused "store-entry-on-metadata (inode table)" "fingerprint entry in use for block 100, which is metadata"
fsck_repairs "store-entry-on-metadata (inode table)" "Metadata block 100 (fixed metadata) has refcount 1, should be 0"

# 2. A store entry in use for a data block free in the bitmap.
check "store-entry-on-free: mkfs" mkfs.livedfs -q -F "$VOL"
check "store-entry-on-free: craft" craft store-entry-on-free
B=$(field block)
check_eq "store-entry-on-free: on group 0's last block" 32767 "$B"
refused store-entry-on-free "fingerprint entry in use for block $B, which is free"
fsck_repairs store-entry-on-free "Block $B holds data (refcount 1) but no file points to it"

# 3. A store entry in use in a group whose block bitmap was never written
#    (1 KiB blocks: 32 groups, group 1 untouched by mkfs).
check "store-entry-uninit-group: mkfs -b 1024" mkfs.livedfs -q -F -b 1024 "$VOL"
check "store-entry-uninit-group: craft" craft store-entry-uninit-group
G=$(field group) B=$(field block)
check_eq "store-entry-uninit-group: group 1's last block" "1 16384" "$G $B"
refused store-entry-uninit-group "group $G has fingerprints in use but no block allocated"
fsck_repairs store-entry-uninit-group "Block $B holds data (refcount 1) but no file points to it"

# 4. The root directory's size 2^40 (2^28 blocks) with its one block: the
#    mount succeeds (nothing reads the root's blocks); listing it fails
#    at once with EUCLEAN, with no 2^28-block scan or allocation: readdir
#    stops at the first block the size claims and the map lacks (block
#    1), a lookup (ls looks up what it lists) is refused by the size
#    check; errors=remount-ro (the default) then stops the volume.
check "dir-size-huge (root): mkfs" mkfs.livedfs -q -F "$VOL"
check "dir-size-huge (root): craft" craft dir-size-huge
check_eq "dir-size-huge (root): size 2^40" 1099511627776 "$(field size)"
check "dir-size-huge (root): mount" mount -t livedfs "$VOL" $M
mark
t0=$(now)
check_err "dir-size-huge (root): ls fails with EUCLEAN" "Structure needs cleaning" ls $M
t1=$(now)
check "dir-size-huge (root): ... within a second ($t0 to $t1)" awk "BEGIN { exit !($t1 - $t0 < 1) }"
check_dmesg "dir-size-huge (root): dmesg: readdir stops at block 1" \
    "livedfs ($DEV): corrupted: directory 2 has a hole at block 1"
check_dmesg "dir-size-huge (root): dmesg: the lookup is refused by the size check" \
    "livedfs ($DEV): corrupted: directory 2 has size 1099511627776 but maps 1 blocks"
check "dir-size-huge (root): the volume went read-only (errors=remount-ro)" grep -q "^$VOL $M livedfs ro," /proc/mounts
check_err "dir-size-huge (root): a lookup fails with EUCLEAN" "Structure needs cleaning" stat $M/lost+found
check_err "dir-size-huge (root): so does a create (its lookup first)" "Structure needs cleaning" touch $M/x
check "dir-size-huge (root): umount" umount $M
fsck_repairs "dir-size-huge (root)" "Inode 2, i_size is 1099511627776, should be 4096"

# ... lost+found (4 blocks), with errors=continue: every operation on it
#    fails, the rest of the volume works. (busybox ls ignores a readdir
#    error after the first entries: `livedfs du` reports it.)
check "dir-size-huge (lost+found): mkfs" mkfs.livedfs -q -F "$VOL"
check "dir-size-huge (lost+found): craft" craft dir-size-huge --ino 11
check "dir-size-huge (lost+found): mount -o errors=continue" mount -t livedfs -o errors=continue "$VOL" $M
check_eq "dir-size-huge (lost+found): the root lists" "lost+found" "$(ls $M)"
mark
check_err "dir-size-huge (lost+found): listing it fails with EUCLEAN" "Structure needs cleaning" livedfs du $M/lost+found
check_dmesg "dir-size-huge (lost+found): dmesg: readdir stops at block 4" \
    "livedfs ($DEV): corrupted: directory 11 has a hole at block 4"
mark
check_err "dir-size-huge (lost+found): a lookup in it fails with EUCLEAN" "Structure needs cleaning" stat $M/lost+found/x
check_dmesg "dir-size-huge (lost+found): dmesg: the size check names the directory" \
    "livedfs ($DEV): corrupted: directory 11 has size 1099511627776 but maps 4 blocks"
check_err "dir-size-huge (lost+found): creating in it fails with EUCLEAN" "Structure needs cleaning" touch $M/lost+found/x
check_err "dir-size-huge (lost+found): so does mkdir" "Structure needs cleaning" mkdir $M/lost+found/d
check "dir-size-huge (lost+found): the root still takes a file" sh -c "echo data > $M/f && [ \"\$(cat $M/f)\" = data ] && rm $M/f"
check "dir-size-huge (lost+found): still read-write (errors=continue)" grep -q "^$VOL $M livedfs rw," /proc/mounts
check "dir-size-huge (lost+found): umount" umount $M
fsck_repairs "dir-size-huge (lost+found)" "Inode 11, i_size is 1099511627776, should be 16384"

# 5. The orphan list with a loop: orphan_head -> 12 -> 13 -> 12. A
#    read-write mount (which processes the list) is refused; read-only
#    leaves the list alone.
check "orphan-loop: mkfs" mkfs.livedfs -q -F "$VOL"
check "orphan-loop: craft" craft orphan-loop
check_eq "orphan-loop: 12 -> 13 -> 12" '"orphans":[12,13,12]' "$(tr -d ' \n' < /tmp/craft.json | grep -o '"orphans":[[0-9,]*]')"
refused orphan-loop "orphan list broken at inode 12"
check "orphan-loop: mount -o ro succeeds (orphans are not processed)" mount -t livedfs -o ro "$VOL" $M
check_eq "orphan-loop: ... and lists the root" "lost+found" "$(ls $M)"
check "orphan-loop: umount" umount $M
fsck_repairs orphan-loop "Orphan list is broken at inode 12 (loop)"

# 6. A valid orphan list of 20000 inodes unlinked while open (32768
#    inodes: 16384 a group, the list spans two): fsck -n leaves it to the
#    kernel (exit 0); the mount loads it (O(n log n)) and releases every
#    inode. (The bound only catches a pathological mount: at 20000 the
#    release, not the load, takes the time; it grows faster than
#    linearly: 1.4, 3.4, 10.6, 21.6 s for 10000 to 60000 in TCG.)
check "orphan-long: mkfs -N 32768" mkfs.livedfs -q -F -N 32768 "$VOL"
check "orphan-long: craft" craft orphan-long
check_eq "orphan-long: 20000 orphans" 20000 "$(field orphan_count)"
fsck.livedfs -fn "$VOL" > /tmp/fn.out 2>&1
check_eq "orphan-long: fsck -fn: a valid list is no error (exit 0)" 0 $?
check "orphan-long: fsck -fn says the kernel finishes them" grep -q "Inode 20011 is on the orphan list (unlinked while open): the kernel finishes it at mount" /tmp/fn.out
mark
t0=$(now)
check "orphan-long: mount" mount -t livedfs "$VOL" $M
t1=$(now)
secs=$(awk "BEGIN { print $t1 - $t0 }")
echo "orphan-long: mount with 20000 orphans took $secs s"
# (3.3 s in TCG on the base kernel, 30 s with KASAN and lockdep.)
check "orphan-long: the mount took under 60 s ($secs s)" awk "BEGIN { exit !($secs < 60) }"
check_dmesg "orphan-long: dmesg counts them" "livedfs ($DEV): processed 20000 orphan inode(s)"
check_eq "orphan-long: every inode but the 11 of mkfs is free" 32757 "$(stat -f -c %d $M)"
check "orphan-long: umount" umount $M
check_exit "orphan-long: fsck -fn then clean (exit 0)" 0 fsck.livedfs -fn "$VOL"
check "orphan-long: no orphan left" sh -c "! grep -q orphan /tmp/check_exit.out"
# fsck -fy releases them itself.
check "orphan-long (fsck): mkfs -N 32768" mkfs.livedfs -q -F -N 32768 "$VOL"
check "orphan-long (fsck): craft" craft orphan-long
check_exit "orphan-long (fsck): fsck -fy releases them (exit 1)" 1 fsck.livedfs -fy "$VOL"
check "orphan-long (fsck): ... all 20000" sh -c "[ \$(grep -c 'Clearing orphaned inode' /tmp/check_exit.out) = 20000 ]"
check_exit "orphan-long (fsck): fsck -fn then clean (exit 0)" 0 fsck.livedfs -fn "$VOL"
check "orphan-long (fsck): mount" mount -t livedfs "$VOL" $M
check_eq "orphan-long (fsck): every inode but the 11 of mkfs is free" 32757 "$(stat -f -c %d $M)"
check "orphan-long (fsck): umount" umount $M

check "no failed allocation in the kernel log" sh -c '! dmesg | grep -qiE "allocation failure|vmalloc error|page allocation"'
finish
