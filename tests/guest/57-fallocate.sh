# fallocate (issue 19): mode 0 and KEEP_SIZE set space aside so later
# writes into the range cannot fail with ENOSPC whatever their data (the
# space survives a remount, shows in st_blocks and df, goes back on
# truncate and delete); ZERO_RANGE, COLLAPSE_RANGE, INSERT_RANGE and
# UNSHARE_RANGE as ext4 does them; fsck clean throughout.
VOL=$(disk vol)
DEV=${VOL#/dev/}
M=/mnt/a
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
sync
avail0=$(stat -f -c %a $M)

# --- mode 0: 16 MiB preallocated. The space set aside is a block for
# each of the 4096 holes, which become unwritten pointers; the indirect
# blocks holding those pointers are allocated at once: the single
# indirect block, the double one and three below it (blocks 1036-4095).
# 4101 blocks (32808 sectors in st_blocks).
check "fallocate 16 MiB" fsops fallocate $M/p 0 0 16777216
check_eq "size 16 MiB" 16777216 "$(stat -c %s $M/p)"
check_eq "st_blocks counts the space (4096 set aside, 5 indirect)" 32808 "$(stat -c %b $M/p)"
check_eq "df: 4101 blocks fewer available" $((avail0 - 4101)) "$(stat -f -c %a $M)"
check_eq "it reads as zeros" "$(head -c 16777216 /dev/zero | md5sum)" "$(md5sum < $M/p)"
check_eq "FIEMAP: one unwritten extent of 16 MiB (flags unknown|unwritten|last)" "0 0 16777216 0x803" \
    "$(fsops fiemap $M/p | awk '{print $1, $2, $3, $4}')"
check "the same range again takes nothing more" fsops fallocate $M/p 0 0 16777216
check_eq "still 4101 blocks in use or set aside" $((avail0 - 4101)) "$(stat -f -c %a $M)"
dd if=/dev/urandom of=/tmp/p bs=1M count=16 2>/dev/null
check "write 4 MiB into it" sh -c "dd if=/tmp/p of=$M/p bs=1M count=4 conv=notrunc 2>/dev/null && sync"
check_eq "st_blocks unchanged (4 MiB written, the rest set aside)" 32808 "$(stat -c %b $M/p)"
check_eq "FIEMAP: 4 MiB of data, then 12 MiB unwritten" "0 4194304 0x0;4194304 12582912 0x803;" \
    "$(fsops fiemap $M/p | awk '{printf "%s %s %s;", $1, $3, $4}')"
check "umount" umount $M
check_exit "fsck -fn: clean with preallocated space" 0 fsck.livedfs -fn "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check_eq "the space survives the remount" 32808 "$(stat -c %b $M/p)"
check_eq "so do the unwritten blocks" "0 4194304 0x0;4194304 12582912 0x803;" \
    "$(fsops fiemap $M/p | awk '{printf "%s %s %s;", $1, $3, $4}')"
check_eq "and they read as zeros" "$(head -c 12582912 /dev/zero | md5sum)" "$(tail -c 12582912 $M/p | md5sum)"
i=0
while dd if=/dev/urandom of=$M/fill$i bs=1M count=16 2>/dev/null; do i=$((i + 1)); done
check "fill the rest of the volume" sh -c "! dd if=/dev/urandom of=$M/more bs=64k count=1 2>/dev/null"
check "the preallocated 12 MiB can still be written (unique data, full volume)" \
    sh -c "dd if=/tmp/p of=$M/p bs=1M skip=4 seek=4 count=12 conv=notrunc,fsync 2>/dev/null"
check_eq "the file holds it" "$(md5sum < /tmp/p)" "$(md5sum < $M/p)"
check "delete the fill" sh -c "rm -f $M/fill* $M/more && sync"

# --- KEEP_SIZE past the end, then truncate gives it back
check "KEEP_SIZE 8 MiB past the end" fsops fallocate $M/p keep 16777216 8388608
check_eq "size unchanged" 16777216 "$(stat -c %s $M/p)"
# 16 MiB written: 4096 data blocks and 5 indirect ones, nothing left of
# the set-aside space; 8 MiB more: 2048 set aside, and the two indirect
# blocks for blocks 4108-6143 (4096-4107 share the third).
check_eq "st_blocks grew by 8 MiB and two indirect blocks" $(( (4101 + 2048 + 2) * 8 )) "$(stat -c %b $M/p)"
check_eq "FIEMAP reports the unwritten 8 MiB past the end, last" "16777216 0 8388608 0x803" \
    "$(fsops fiemap $M/p | grep ' 0x80' | awk '{print $1, $2, $3, $4}')"
check "truncate to 16 MiB (the same size)" truncate -s 16777216 $M/p
check_eq "the space past the end went back (the file has no hole), with its indirect blocks" $(( 4101 * 8 )) "$(stat -c %b $M/p)"
check_eq "no unwritten extent left" "" "$(fsops fiemap $M/p | grep ' 0x80')"
check "rm" sh -c "rm $M/p && sync"
check_eq "df back to fresh" "$avail0" "$(stat -f -c %a $M)"

# --- ZERO_RANGE
dd if=/dev/urandom of=/tmp/z bs=4k count=16 2>/dev/null
check "a 16-block file" sh -c "cp /tmp/z $M/z && sync"
check "zero blocks 4..11 and half of 12" fsops fallocate $M/z zero 16384 34816
{ head -c 16384 /tmp/z; head -c 34816 /dev/zero; tail -c $((65536 - 51200)) /tmp/z; } > /tmp/z.want
check_eq "reads back zeroed there" "$(md5sum < /tmp/z.want)" "$(md5sum < $M/z)"
check "sync and drop caches" sh -c "sync && echo 3 > /proc/sys/vm/drop_caches"
check_eq "also from the disk" "$(md5sum < /tmp/z.want)" "$(md5sum < $M/z)"

# --- COLLAPSE_RANGE and INSERT_RANGE
for b in 0 1 2 3 4 5 6 7; do head -c 4096 /dev/zero | tr '\0' "$(printf "\\$(printf %o $((65 + b)))")"; done > /tmp/c
check "an 8-block file ABCDEFGH" sh -c "cp /tmp/c $M/c && sync"
check "collapse blocks 2 and 3" fsops fallocate $M/c collapse 8192 8192
check_eq "6 blocks" 24576 "$(stat -c %s $M/c)"
check_eq "ABEFGH" "ABEFGH" "$(dd if=$M/c bs=4096 2>/dev/null | tr -s 'A-H' | head -c 6)"
check "insert 2 blocks at block 1" fsops fallocate $M/c insert 4096 8192
check_eq "8 blocks" 32768 "$(stat -c %s $M/c)"
check_eq "A, a hole, BEFGH" "A.BEFGH" "$(dd if=$M/c bs=4096 2>/dev/null | tr '\0' '.' | tr -s 'A-H.' | head -c 7)"
check_err "collapse not block-aligned: EINVAL" "Invalid argument" fsops fallocate $M/c collapse 100 4096
check_err "collapse reaching the end: EINVAL" "Invalid argument" fsops fallocate $M/c collapse 4096 28672
check "sync" sync

# --- Unwritten blocks (as ext4's unwritten extents): FIEMAP reports
# them, punch, collapse, insert, zero-range and truncate carry them.
# Each line: offset length flags (0x800 unwritten, 0x2 no address).
fm() { fsops fiemap "$1" | awk '{printf "%s %s %s;", $1, $3, $4}'; }
check "KEEP_SIZE 64 KiB on an empty file" fsops fallocate $M/w keep 0 65536
check_eq "size 0, 16 blocks set aside and the indirect block of blocks 12-15" "0 136" "$(stat -c '%s %b' $M/w)"
check_eq "FIEMAP past the end of file: unwritten" "0 65536 0x803;" "$(fm $M/w)"
check "truncate up to 64 KiB keeps them" truncate -s 65536 $M/w
check_eq "still unwritten, reading zeros" "0 65536 0x803; $(head -c 65536 /dev/zero | md5sum)" "$(fm $M/w) $(md5sum < $M/w)"
dd if=/dev/urandom of=/tmp/r bs=4k count=1 2>/dev/null
check "write block 4" sh -c "dd if=/tmp/r of=$M/w bs=4k seek=4 count=1 conv=notrunc 2>/dev/null && sync"
check_eq "unwritten, data, unwritten" "0 16384 0x802;16384 4096 0x0;20480 45056 0x803;" "$(fm $M/w)"
check_eq "SEEK_DATA: the data block (unwritten reads as a hole, as on ext4)" 16384 "$(fsops seek $M/w data 0)"
check_eq "SEEK_HOLE: right after it" 20480 "$(fsops seek $M/w hole 16384)"
check "punch blocks 8-9" fsops fallocate $M/w punch+keep 32768 8192
check_eq "a hole in the unwritten range" "0 16384 0x802;16384 4096 0x0;20480 12288 0x802;40960 24576 0x803;" "$(fm $M/w)"
check "collapse blocks 0-1" fsops fallocate $M/w collapse 0 8192
check_eq "everything moves down two blocks" "0 8192 0x802;8192 4096 0x0;12288 12288 0x802;32768 24576 0x803;" "$(fm $M/w)"
check "insert 2 blocks at block 1" fsops fallocate $M/w insert 4096 8192
check_eq "a hole opens at block 1" "0 4096 0x802;12288 4096 0x802;16384 4096 0x0;20480 12288 0x802;40960 24576 0x803;" "$(fm $M/w)"
check "zero blocks 1-3 (the hole and two unwritten)" fsops fallocate $M/w zero 4096 12288
check_eq "ZERO_RANGE leaves them unwritten" "0 16384 0x802;16384 4096 0x0;20480 12288 0x802;40960 24576 0x803;" "$(fm $M/w)"
check_eq "the data is where it belongs, zeros around it" \
    "$({ head -c 16384 /dev/zero; head -c 4096 /tmp/r; head -c $((65536 - 20480)) /dev/zero; } | md5sum)" "$(md5sum < $M/w)"
check "umount" umount $M
check_exit "fsck -fn: clean with unwritten blocks" 0 fsck.livedfs -fn "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check_eq "all as before after the remount" "0 16384 0x802;16384 4096 0x0;20480 12288 0x802;40960 24576 0x803;" "$(fm $M/w)"
check "truncate to 5 blocks" truncate -s 20480 $M/w
check_eq "the unwritten blocks past it go" "0 16384 0x802;16384 4096 0x1;" "$(fm $M/w)"
check "rm" sh -c "rm $M/w && sync"

# --- UNSHARE_RANGE past the end of file preallocates as mode 0 does (as
# XFS; fsx in fstests generic/263 expects the size to grow).
check "a 2-block file" sh -c "dd if=/dev/urandom of=$M/x bs=4k count=2 2>/dev/null && sync"
check "unshare blocks 1-3 (two past the end)" fsops fallocate $M/x unshare 4096 12288
check_eq "the size grew to the range's end" 16384 "$(stat -c %s $M/x)"
check_eq "blocks 2-3 unwritten" "8192 8192 0x803;" "$(fsops fiemap $M/x | grep ' 0x80' | awk '{printf "%s %s %s;", $1, $3, $4}')"
check "unshare+keep past the end" fsops fallocate $M/x unshare+keep 16384 8192
check_eq "the size stays" 16384 "$(stat -c %s $M/x)"
check "rm" sh -c "rm $M/x && sync"

# --- A long preallocated file: runs of unwritten pointers across
# indirect blocks (blocks 12-1035 in the single indirect block, the rest
# below the double one), searched leaf by leaf.
check "fallocate 8 MiB" fsops fallocate $M/l 0 0 8388608
dd if=/dev/urandom of=/tmp/l bs=4k count=1100 2>/dev/null
check "write blocks 100-1199 and 1500" sh -c "dd if=/tmp/l of=$M/l bs=4k seek=100 count=1100 conv=notrunc 2>/dev/null &&
    dd if=/tmp/r of=$M/l bs=4k seek=1500 count=1 conv=notrunc 2>/dev/null && sync"
check_eq "SEEK_DATA from 0: block 100" $((100 * 4096)) "$(fsops seek $M/l data 0)"
check_eq "SEEK_HOLE from block 100: block 1200 (past the single indirect block)" $((1200 * 4096)) "$(fsops seek $M/l hole $((100 * 4096)))"
check_eq "SEEK_DATA from block 1200: block 1500" $((1500 * 4096)) "$(fsops seek $M/l data $((1200 * 4096)))"
check_eq "SEEK_DATA from block 1501: none" ENXIO "$(fsops seek $M/l data $((1501 * 4096)))"
check_eq "FIEMAP: the unwritten runs around the data" "0 409600 0x802;4915200 1228800 0x802;6148096 2240512 0x803;" \
    "$(fsops fiemap $M/l | grep ' 0x80' | awk '{printf "%s %s %s;", $1, $3, $4}')"
blocks_l=$(stat -c %b $M/l)
check "fallocate the whole file again" fsops fallocate $M/l 0 0 8388608
check_eq "nothing more set aside" "$blocks_l" "$(stat -c %b $M/l)"
check "rm" sh -c "rm $M/l && sync"

# --- UNSHARE_RANGE: space for overwriting shared blocks
dd if=/dev/urandom of=/tmp/u bs=1M count=4 2>/dev/null
check "two files sharing 4 MiB" sh -c "cp /tmp/u $M/u1 && cp /tmp/u $M/u2 && sync"
check "unshare u2" fsops fallocate $M/u2 unshare 0 4194304
check_eq "u2 holds 4 MiB of space for its overwrite (beside 1025 mapped blocks)" $(( (1025 + 1024) * 8 )) "$(stat -c %b $M/u2)"
i=0
while dd if=/dev/urandom of=$M/fill$i bs=1M count=16 2>/dev/null; do i=$((i + 1)); done
check "the volume is full" sh -c "! dd if=/dev/urandom of=$M/more bs=64k count=1 2>/dev/null"
check "overwriting all of u2 with new data still works" \
    sh -c "dd if=/dev/urandom of=$M/u2 bs=1M count=4 conv=notrunc,fsync 2>/dev/null"
check_eq "u1 untouched" "$(md5sum < /tmp/u)" "$(md5sum < $M/u1)"
check "clean up" sh -c "rm -f $M/fill* $M/more $M/u1 $M/u2 $M/z $M/c && sync"
check_eq "df back to fresh" "$avail0" "$(stat -f -c %a $M)"
check "umount" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"

# --- A power cut right after fallocate -k and fsync (fstests generic/483,
# with FS_IOC_SHUTDOWN without a journal flush for its dm-flakey): each
# inode's preallocated count is journaled with it, the superblock's total
# only with the superblock, so the replayed total lagged the inodes' sum
# and fsck found "Superblock preallocated blocks 192 should be 1216". The
# mount after a replay recounts it.
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check "three files of 256 KiB" sh -c "for f in foo bar baz; do head -c 262144 /dev/urandom > $M/\$f; done"
check "baz: 768 KiB preallocated past EOF, synced" sh -c "fsops fallocate $M/baz keep 262144 786432 && sync"
check "foo: 1 MiB more, fsync" sh -c "fsops fallocate $M/foo keep 262144 1048576 && dd if=/dev/null of=$M/foo conv=notrunc,fsync 2>/dev/null"
check "bar: 1 MiB more, fsync" sh -c "fsops fallocate $M/bar keep 262144 1048576 && dd if=/dev/null of=$M/bar conv=notrunc,fsync 2>/dev/null"
check "baz: 2 MiB more, fsync" sh -c "fsops fallocate $M/baz keep 1048576 2097152 && dd if=/dev/null of=$M/baz conv=notrunc,fsync 2>/dev/null"
check "power cut (shutdown without a journal flush)" fsops shutdown $M 2
check "umount" umount $M
mark
check "mount replays the journal" mount -t livedfs "$VOL" $M
check_dmesg "and recounts the preallocated blocks" "livedfs ($DEV): 1216 preallocated blocks after the journal replay"
check "umount" umount $M
check_exit "fsck -fn: clean (the total matches the files)" 0 fsck.livedfs -fn "$VOL"
# The same cut, then fsck before any mount (fstests generic/757 checks
# every FUA point of a log this way): the replayed total lags the files'
# as it did for the kernel, and fsck treats it as the lazy counter it is
# (as e2fsck its free counts): recounted without a word, exit 0.
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check "a file: 1 MiB preallocated, synced (the volume has the feature)" sh -c "fsops fallocate $M/p1 0 0 1048576 && sync"
check "another: 4 MiB preallocated (mode 0), fsync" sh -c "fsops fallocate $M/pf 0 0 4194304 && dd if=/dev/null of=$M/pf conv=notrunc,fsync 2>/dev/null"
check "power cut (shutdown without a journal flush)" fsops shutdown $M 2
check "umount" umount $M
fsck.livedfs -fy "$VOL" > /tmp/fsck-cut.out 2>&1
rc=$?
cat /tmp/fsck-cut.out
check_eq "fsck -fy after the cut: exit 0 (the replay, nothing to repair)" 0 "$rc"
check "... and no preallocated-total report" sh -c "! grep -q 'preallocated' /tmp/fsck-cut.out"
check "mount" mount -t livedfs "$VOL" $M
check_eq "the file kept its 4 MiB (8 + 1 indirect... sectors)" "$(( 1024 * 8 + 8 ))" "$(stat -c %b $M/pf)"
check "umount" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"

# --- fallocate by a user without CAP_FSETID drops setuid and setgid, as
# a write does (ext4 calls file_modified; fstests generic/683-688).
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
grep -q "^tester:" /etc/passwd || echo "tester:x:1000:1000:tester:/tmp:/bin/sh" >> /etc/passwd
for m in 0 punch+keep keep zero; do
    check "mode $m: a setuid, setgid file anyone may write" sh -c "echo data > $M/s$m && chmod 6777 $M/s$m"
    check "mode $m: fallocate by another user" su -s /bin/sh tester -c "fsops fallocate $M/s$m $m 0 8192"
    check_eq "mode $m: setuid and setgid are gone" 777 "$(stat -c %a $M/s$m)"
done
check "root's fallocate keeps them" sh -c "chmod 6777 $M/s0 && fsops fallocate $M/s0 0 0 16384"
check_eq "(CAP_FSETID)" 6777 "$(stat -c %a $M/s0)"
check "umount" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"
