# File-system features fstests needs (issue 19): inode flags (chattr +i
# +a +A +d through FS_IOC_SETFLAGS), FIEMAP with FIEMAP_EXTENT_SHARED on
# shared blocks, O_TMPFILE (unnamed, linked later, or freed), renameat2
# RENAME_WHITEOUT, statx birth time, the label ioctls, and -o nodedup.
VOL=$(disk vol)
DEV=${VOL#/dev/}
M=/mnt/a
S=/sys/fs/livedfs/$DEV
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M

# --- inode flags
echo data > $M/f
check_eq "no flags on a new file" 0x0 "$(fsops getflags $M/f)"
check "chattr +i (immutable)" fsops setflags $M/f 10
check_eq "lsattr shows it" 0x10 "$(fsops getflags $M/f)"
check_err "an immutable file can't be written" "Operation not permitted" sh -c "echo x >> $M/f"
check_err "nor removed" "Operation not permitted" rm -f $M/f
check_err "nor renamed" "Operation not permitted" mv $M/f $M/g
check "chattr -i" fsops setflags $M/f 0
check "then it can be written" sh -c "echo more >> $M/f"
check "chattr +a (append only)" fsops setflags $M/f 20
check "appending works" sh -c "echo tail >> $M/f"
check_err "overwriting does not" "Operation not permitted" sh -c "echo x > $M/f"
check "chattr +dA (nodump, noatime)" fsops setflags $M/f e0
check_eq "flags kept" 0xe0 "$(fsops getflags $M/f)"
check_err "an unknown flag is refused" "Operation not supported" fsops setflags $M/f 80000
check "umount" umount $M
check "mount" mount -t livedfs "$VOL" $M
check_eq "flags survive a remount" 0xe0 "$(fsops getflags $M/f)"
check_eq "statx reports append and nodump (flags 0xe0; generic/424)" "attributes=0x60" "$(fsops statx $M/f | cut -d' ' -f1)"
mask=$(fsops statx $M/f | sed -n 's/.*mask=\(0x[0-9a-f]*\).*/\1/p')
check_eq "... and says it knows immutable, append and nodump" 112 "$((mask & 0x70))"
check "chattr +ia" fsops setflags $M/f 30
check_eq "statx reports immutable and append" "attributes=0x30" "$(fsops statx $M/f | cut -d' ' -f1)"
check "flags 0xe0 again" fsops setflags $M/f e0
check "a directory flag" sh -c "mkdir $M/d && fsops setflags $M/d 10 && [ \"\$(fsops getflags $M/d)\" = 0x10 ]"
check_err "nothing is created in an immutable directory" "Operation not permitted" touch $M/d/x
check "clear the flags" sh -c "fsops setflags $M/d 0 && fsops setflags $M/f 0"
# Inheritance, as ext4 (fstests generic/607 checks it for the DAX flag):
# what is created in a directory takes its S, d, A and x flags, and a
# directory also its D (0x20100c8 = x, D, A, d, S).
check "chattr +x (DAX: kept, no effect)" fsops setflags $M/f 2000000
check_eq "the DAX flag is kept" 0x2000000 "$(fsops getflags $M/f)"
check "a directory with flags SdADx" sh -c "mkdir $M/inh && fsops setflags $M/inh 20100c8"
check "create in it" sh -c "mkdir $M/inh/sub && echo x > $M/inh/file && mkdir $M/inh/sub/deeper"
check_eq "a new directory takes all five" 0x20100c8 "$(fsops getflags $M/inh/sub)"
check_eq "... and passes them on" 0x20100c8 "$(fsops getflags $M/inh/sub/deeper)"
check_eq "a new file takes all but D" 0x20000c8 "$(fsops getflags $M/inh/file)"
check "a directory without flags under it" sh -c "fsops setflags $M/inh/sub 0 && mkdir $M/inh/sub/plain"
check_eq "creates without them" 0x0 "$(fsops getflags $M/inh/sub/plain)"
check "mv out of the directory" mv $M/inh/file $M/moved
check_eq "a moved file keeps its flags" 0x20000c8 "$(fsops getflags $M/moved)"
check "umount" umount $M
check_exit "fsck -fn: clean with the DAX flag" 0 fsck.livedfs -fn "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check_eq "inherited flags survive a remount" 0x20100c8 "$(fsops getflags $M/inh/sub/deeper)"
# Cleared, not removed: the holes they would leave in free space would
# split the FIEMAP section's files into several extents.
check "clear them" sh -c "fsops setflags $M/f 0 && fsops setflags $M/moved 0 && fsops setflags $M/inh 0"

# --- statx birth time (fstests generic/508, 528) and the label ioctls
# FS_IOC_GETFSLABEL / FS_IOC_SETFSLABEL (generic/492)
before=$(date +%s)
check "create a file" touch $M/born
after=$(date +%s)
bt=$(fsops statx $M/born | sed -n 's/.*btime=\([0-9]*\)\..*/\1/p')
check "statx reports its birth time, the second it was created" \
    sh -c "[ -n '$bt' ] && [ '$bt' -ge $before ] && [ '$bt' -le $after ]"
sleep 1
check "write to it and set its times" sh -c "echo x >> $M/born && touch -d @1000000 $M/born"
check_eq "the birth time stays" "$bt" "$(fsops statx $M/born | sed -n 's/.*btime=\([0-9]*\)\..*/\1/p')"
check_eq "a new volume has no label" "" "$(fsops label $M)"
check "FS_IOC_SETFSLABEL" fsops label $M images-01
check_eq "FS_IOC_GETFSLABEL reads it" images-01 "$(fsops label $M/born)"
check_err "a label of 33 bytes: EINVAL" "Invalid argument" fsops label $M "$(printf '%033d' 7)"
check "32 bytes fit" fsops label $M "$(printf '%032d' 7)"
check_eq "... whole" "$(printf '%032d' 7)" "$(fsops label $M)"
grep -q "^tester:" /etc/passwd || echo "tester:x:1000:1000:tester:/tmp:/bin/sh" >> /etc/passwd
check_err "a user may not set it: EPERM" "not permitted" su -s /bin/sh tester -c "fsops label $M x"
check "remount read-only" mount -o remount,ro $M
check_err "nor on a read-only mount: EROFS" "Read-only file system" fsops label $M x
check "remount read-write" mount -o remount,rw $M
check "set the label again" fsops label $M images-01
check "umount" umount $M
check_eq "livedfs info reads the label from the disk" images-01 "$(livedfs info -s LABEL "$VOL")"
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check_eq "the label after a remount" images-01 "$(fsops label $M)"
check_eq "the birth time after a remount" "$bt" "$(fsops statx $M/born | sed -n 's/.*btime=\([0-9]*\)\..*/\1/p')"

# --- FIEMAP
dd if=/dev/urandom of=/tmp/r bs=4k count=8 2>/dev/null
check "a file of 8 distinct blocks" sh -c "cp /tmp/r $M/a && sync"
fsops fiemap $M/a > /tmp/fm.a
check_eq "one extent of 32 KiB, last, not shared" "0 32768 0x1 last" "$(awk '{print $1, $3, $4, $5}' /tmp/fm.a)"
check "a copy of it (shared by inline dedup)" sh -c "cp /tmp/r $M/b && sync"
check_eq "the copy: one shared extent at the same blocks" "0 $(awk '{print $2}' /tmp/fm.a) 32768 0x2001 shared,last" \
    "$(fsops fiemap $M/b | awk '{print $1, $2, $3, $4, $5}')"
check "the original is now shared too" sh -c "fsops fiemap $M/a | grep -q shared"
check "overwrite block 3 of the copy" sh -c "dd if=/dev/urandom of=$M/b bs=4k seek=3 count=1 conv=notrunc 2>/dev/null && sync"
check_eq "the copy: shared, unshared, shared" "shared unshared shared,last" \
    "$(fsops fiemap $M/b | awk '{print ($5 == "" ? "unshared" : $5)}' | tr '\n' ' ' | sed 's/ $//')"
check "a sparse file" sh -c "dd if=/tmp/r of=$M/s bs=4k count=1 seek=100 2>/dev/null && sync"
check_eq "sparse: one extent at 400 KiB" "409600 4096" "$(fsops fiemap $M/s | awk '{print $1, $3}')"
# Without FIEMAP_FLAG_SYNC (filefrag, xfs_io fiemap; fstests'
# _require_scratch_delalloc, generic/614 and the reflink tests), dirty
# data in a hole shows as a delalloc extent without an address, as on
# ext4, and is not written back for it.
dd if=/dev/urandom of=/tmp/r6 bs=4k count=6 2>/dev/null
check "block 0 written back" sh -c "dd if=/tmp/r6 of=$M/dl bs=4k count=1 2>/dev/null && sync"
used0=$(cat $S/physical_blocks_used)
check "blocks 2-5 written, not synced" dd if=/tmp/r6 of=$M/dl bs=4k skip=2 seek=2 count=4 conv=notrunc status=none
fsops fiemap --no-sync $M/dl > /tmp/fm.dl
cat /tmp/fm.dl
check_eq "FIEMAP without sync: block 0 placed, blocks 2-5 delayed (0x7: delalloc, unknown, last)" \
    "0 4096 0x0;8192 16384 0x7" "$(awk '{printf "%s%s %s %s", (NR > 1 ? ";" : ""), $1, $3, $4}' /tmp/fm.dl)"
check_eq "the delayed extent has no address" 0 "$(awk 'NR == 2 {print $2}' /tmp/fm.dl)"
check_eq "and nothing was written back for it" "$used0" "$(cat $S/physical_blocks_used)"
check_eq "FIEMAP with sync writes it back: two placed extents" "0 4096 0x0;8192 16384 0x1" \
    "$(fsops fiemap $M/dl | awk '{printf "%s%s %s %s", (NR > 1 ? ";" : ""), $1, $3, $4}')"
check_eq "4 blocks stored" "$((used0 + 4))" "$(cat $S/physical_blocks_used)"
check "rm" rm $M/a $M/b $M/s $M/dl

# --- O_TMPFILE
sync
free0=$(stat -f -c %f $M)
check "an unnamed file, closed: freed" fsops tmpfile $M --bytes 65536
sync
check_eq "no space kept" "$free0" "$(stat -f -c %f $M)"
check "an unnamed file linked as t" fsops tmpfile $M --bytes 8192 --link $M/t
check_eq "it has its data" 8192 "$(stat -c %s $M/t)"
check_eq "and one link" 1 "$(stat -c %h $M/t)"
check "umount" umount $M
check_exit "fsck -fn: clean (the linked file is no orphan)" 0 fsck.livedfs -fn "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check_eq "t survived" "$(head -c 8192 /dev/zero | tr '\0' 'Z' | md5sum)" "$(md5sum < $M/t)"
rm -f $M/t

# --- RENAME_WHITEOUT
echo w > $M/w1
check "rename with RENAME_WHITEOUT" fsops rename-whiteout $M/w1 $M/w2
check_eq "the new name has the file" w "$(cat $M/w2)"
check_eq "the old name is a whiteout (char 0,0)" "character special file 0,0" "$(stat -c '%F %t,%T' $M/w1)"
check "umount" umount $M
check_exit "fsck -fn: clean after the whiteout" 0 fsck.livedfs -fn "$VOL"

# --- nodedup
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount -o nodedup" mount -t livedfs -o nodedup "$VOL" $M
check "/proc/mounts shows nodedup" grep -q "$M livedfs rw,relatime,nodedup" /proc/mounts
check "two copies of 8 blocks and 4 zero blocks" sh -c "cp /tmp/r $M/a && cp /tmp/r $M/b && dd if=/dev/zero of=$M/z bs=4k count=4 2>/dev/null && sync"
check_eq "every block stored (no sharing, zeros as data)" 20 "$(cat $S/physical_blocks_used)"
check_eq "no duplicate hits" 0 "$(cat $S/duplicate_hits)"
check_eq "fingerprints still recorded in the filter" 20 "$(cat $S/filter_entries)"
check "remount with dedup" mount -o remount,dedup $M
check "a third copy" sh -c "cp /tmp/r $M/c && sync"
check_eq "shares with the copies recorded under nodedup" 8 "$(cat $S/duplicate_hits)"
check "umount" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"

# Many copies of one block under nodedup (fstests fills volumes with one
# repeated byte): the filter keeps 8 of them, not one entry per copy that
# every later write and free of that data would walk (generic/172 wrote
# 768 MiB this way at 2.5 MB/s and sync tripped the hung-task detector).
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount -o nodedup" mount -t livedfs -o nodedup "$VOL" $M
head -c 67108864 /dev/zero | tr '\0' a > /tmp/rep-a
head -c 33554432 /dev/zero | tr '\0' b > /tmp/rep-b
check "64 MiB of one repeated byte" sh -c "cp /tmp/rep-a $M/rep && sync"
check_eq "every block stored" 16384 "$(cat $S/physical_blocks_used)"
check_eq "8 of them in the filter" 8 "$(cat $S/filter_entries)"
check_eq "the others counted as repeats" 16376 "$(cat $S/filter_repeats)"
check "overwrite the second half with another repeated byte" sh -c "dd if=/tmp/rep-b of=$M/rep bs=1M seek=32 conv=notrunc 2>/dev/null && sync"
check_eq "the filter holds 8 of each" 16 "$(cat $S/filter_entries)"
check "remount with dedup" sh -c "umount $M && mount -t livedfs -o dedup $VOL $M"
check_eq "the mount's build records 8 of each as well" 16 "$(cat $S/filter_entries)"
check "a copy of the file" sh -c "cp $M/rep $M/rep2 && sync"
check_eq "every block of it shared" 16384 "$(cat $S/duplicate_hits)"
check_eq "the copy reads back" "$(md5sum < $M/rep)" "$(md5sum < $M/rep2)"
check "remove both" sh -c "rm $M/rep $M/rep2 && sync"
check_eq "no block left" 0 "$(cat $S/physical_blocks_used)"
check_eq "no filter entry left" 0 "$(cat $S/filter_entries)"
rm -f /tmp/rep-a /tmp/rep-b
check "umount" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"

# --- FITRIM (fstrim), as ext4: the free blocks are discarded (the test
# disk punches them out of its sparse file: they read back as zeros), and
# never a block in use: every file reads back from the disk afterwards.
check "mount" mount -t livedfs "$VOL" $M
check "the disk discards" test "$(cat /sys/block/$DEV/queue/discard_max_bytes)" -gt 0
dd if=/dev/urandom of=/tmp/t1 bs=1M count=8 2>/dev/null
dd if=/dev/urandom of=/tmp/t2 bs=1M count=8 2>/dev/null
check "two files, one deleted again" sh -c "cp /tmp/t1 $M/t1 && cp /tmp/t2 $M/t2 && cp /tmp/t1 $M/t1copy && sync && rm $M/t2 && sync"
check "fstrim" sh -c "fstrim -v $M > /tmp/fstrim.out"
cat /tmp/fstrim.out
trimmed=$(sed -n 's/.*: \([0-9]*\) bytes.*/\1/p' /tmp/fstrim.out)
check "it discarded at least the deleted file's 8 MiB" test "${trimmed:-0}" -ge 8388608
check "drop caches" sh -c "echo 3 > /proc/sys/vm/drop_caches"
check_eq "the kept file reads back from the disk" "$(md5sum < /tmp/t1)" "$(md5sum < $M/t1)"
check_eq "so does its shared copy" "$(md5sum < /tmp/t1)" "$(md5sum < $M/t1copy)"
check "write after the trim" sh -c "cp /tmp/t2 $M/t2 && sync && echo 3 > /proc/sys/vm/drop_caches"
check_eq "it reads back" "$(md5sum < /tmp/t2)" "$(md5sum < $M/t2)"
grep -q "^tester:" /etc/passwd || echo "tester:x:1000:1000:tester:/tmp:/bin/sh" >> /etc/passwd
check_err "fstrim as a user: EPERM" "not permitted" su -s /bin/sh tester -c "fstrim $M"
check "rm" sh -c "rm $M/t1 $M/t1copy $M/t2 && sync"
check "umount" umount $M
check_exit "fsck -fn: clean after the trim" 0 fsck.livedfs -fn "$VOL"

# --- st_blocks counts data waiting for delayed allocation, as ext4 does,
# so the space a file uses does not change at writeback (generic/422); a
# dedupe (FIDEDUPERANGE) changes no times of the file it shares into
# (generic/408).
check "mount" mount -t livedfs "$VOL" $M
head -c 65536 /dev/urandom > /tmp/w1
head -c 65536 /dev/urandom > /tmp/w2
check "64 KiB written and synced, the file then truncated up to 128 KiB" \
    sh -c "cp /tmp/w1 $M/sb && sync && truncate -s 131072 $M/sb"
# blocks_kept_by_writeback WHAT FILE: the second 64 KiB of /tmp/w2 goes
# to FILE's block 16 on (not written back yet); st_blocks is the same
# before and after sync: 32 data blocks and one indirect block.
blocks_kept_by_writeback() {
    check "$1: 64 KiB written, not yet written back" dd if=/tmp/w2 of=$2 bs=64k seek=1 conv=notrunc
    before=$(stat -c %b $2)
    check "sync" sync
    check_eq "$1: st_blocks before writeback = after" "$before" "$(stat -c %b $2)"
    check_eq "$1: ... = 32 data blocks and one indirect block, in sectors" 264 "$before"
}
blocks_kept_by_writeback "into the hole" $M/sb
# The same where the data goes into preallocated space past the end of
# file (fallocate -k; generic/422's foo3): the preallocated block becomes
# a delayed one, counted once.
check "128 KiB preallocated (keep size), 64 KiB written and synced" \
    sh -c "fsops fallocate $M/pa keep 0 131072 && dd if=/tmp/w1 of=$M/pa conv=notrunc status=none && sync"
blocks_kept_by_writeback "past the end, into the preallocated space" $M/pa
rm -f $M/pa
check "two equal files" sh -c "cp /tmp/w1 $M/x1 && cp /tmp/w1 $M/x2 && sync"
times=$(stat -c '%Y %Z' $M/x2)
sleep 2
check "livedfs dedupe" livedfs dedupe $M/x1 $M/x2
check_eq "the destination's mtime and ctime are unchanged" "$times" "$(stat -c '%Y %Z' $M/x2)"
check "rm" sh -c "rm $M/sb $M/x1 $M/x2 && sync"
check "umount" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"

# --- file handles (name_to_handle_at, open_by_handle_at; what NFS export
# and fstests generic/426, 467 and 477 use): a handle opens its file or
# directory, also with the dentries and inodes dropped (the inode is read
# from disk, a directory reconnected up to the root through its ".."; the
# page cache is dropped too, and the inodes synced, as an inode with
# cached pages or dirty (atime) stays); an
# unlinked file still open is found, as ext4; a deleted file's handle is
# stale (ESTALE), and stays so once a new file has its inode number (the
# generation differs); handles survive a remount. Bogus handles are ESTALE
# too, and not taken for corruption.
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
head -c 100000 /dev/urandom > /tmp/h1
check "a file in a directory two levels down" sh -c "mkdir -p $M/hd/sub && cp /tmp/h1 $M/hd/sub/f1 && touch $M/hd/sub/e1 $M/hd/sub/e2 && sync"
hf=$(fsops handle $M/hd/sub/f1)
hd=$(fsops handle $M/hd/sub)
check "name_to_handle_at: handles of the file and the directory" test -n "$hf" -a -n "$hd"
check_eq "the file's handle opens it: the same bytes" "$(md5sum < /tmp/h1)" "$(fsops open-handle $M "$hf" --cat | md5sum)"
dsub="ino=$(stat -c %i $M/hd/sub) type=dir entries=3 path=$M/hd/sub"
check_eq "the directory's handle opens the directory" "$dsub" "$(fsops open-handle $M "$hd")"
sync; echo 3 > /proc/sys/vm/drop_caches
check_eq "dentries and inodes dropped: the file's handle opens it" "$(md5sum < /tmp/h1)" "$(fsops open-handle $M "$hf" --cat | md5sum)"
sync; echo 3 > /proc/sys/vm/drop_caches
check_eq "... and the directory's (reconnected through get_parent)" "$dsub" "$(fsops open-handle $M "$hd")"
check "umount" umount $M
check "mount" mount -t livedfs "$VOL" $M
check_eq "after a remount the file's handle opens it (generation on disk)" "$(md5sum < /tmp/h1)" "$(fsops open-handle $M "$hf" --cat | md5sum)"
check_eq "... and the directory's" "$dsub" "$(fsops open-handle $M "$hd")"
echo kept > $M/hd/o
ho=$(fsops handle $M/hd/o)
exec 3< $M/hd/o
rm $M/hd/o
sync; echo 3 > /proc/sys/vm/drop_caches
check_eq "an unlinked file still open: its handle opens it" kept "$(fsops open-handle $M "$ho" --cat)"
exec 3<&-
sync; echo 3 > /proc/sys/vm/drop_caches
check_err "closed (freed): its handle is stale" "Stale file handle" fsops open-handle $M "$ho"
ino=$(stat -c %i $M/hd/sub/f1)
check "delete the file" sh -c "rm $M/hd/sub/f1 && sync"
sync; echo 3 > /proc/sys/vm/drop_caches
check_err "a deleted file's handle is stale (ESTALE)" "Stale file handle" fsops open-handle $M "$hf"
i=0 reused=""
while [ $i -lt 300 ]; do
    touch $M/hd/sub/r$i
    if [ "$(stat -c %i $M/hd/sub/r$i)" = "$ino" ]; then reused=$M/hd/sub/r$i; break; fi
    i=$((i + 1))
done
check "a new file gets the deleted file's inode number" test -n "$reused"
check "... with another handle (generation)" test "$(fsops handle "$reused")" != "$hf"
check_err "the old handle is still stale" "Stale file handle" fsops open-handle $M "$hf"
sync; echo 3 > /proc/sys/vm/drop_caches
check_err "... also with the new inode read from disk" "Stale file handle" fsops open-handle $M "$hf"
check_eq "the new file's own handle opens it" "ino=$ino type=file" "$(fsops open-handle $M "$(fsops handle "$reused")")"
mark
# Inode number 0x7fffffff (out of range), 7 (reserved), 9000 (never used).
check_err "a handle of an inode number out of range: stale" "Stale file handle" fsops open-handle $M 1:ffffff7f00000000
check_err "of a reserved inode: stale" "Stale file handle" fsops open-handle $M 1:0700000000000000
check_err "of an inode never used: stale" "Stale file handle" fsops open-handle $M 1:2823000000000000
check_err "a handle too short: stale" "Stale file handle" fsops open-handle $M 1:0c000000
if dmesg | sed -n "/LIVEDFS-MARK $MARK/,\$p" | grep -q corrupted; then fail "bogus handles are not corruption" "$(dmesg | tail -n 3)"
else pass "bogus handles are not corruption"; fi
check "the mount is still writable" touch $M/hd/w
check "umount" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"
