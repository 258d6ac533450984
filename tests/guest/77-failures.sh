# Failures during writeback (issue 16): a block decision that fails
# (injected through the test hook) loses nothing and fsync reports it,
# ENOMEM is retried; I/O errors on the
# volume's disk (fail_make_request) turn the volume read-only at once, with
# the journal aborted so nothing half-done commits, the error recorded for
# the next check, fsync'd data intact, and fsck -p running the full check;
# an error only the journal recorded survives a read-only mount.
VOL=$(disk vol)
DEV=${VOL#/dev/}
M=/mnt/a
S=/sys/fs/livedfs/$DEV
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M

# --- 1. Block decisions that fail: the data stays dirty, fsync says so.
dd if=/dev/urandom of=/tmp/a bs=1M count=4 2>/dev/null
sum_a=$(md5sum < /tmp/a)
check "write a 4 MiB file (in the page cache)" cp /tmp/a $M/a
check "arm: every block decision fails (ENOSPC)" sh -c "echo 28 > $S/test_fail_errno && echo 1000000000 > $S/test_fail_decisions"
check_err "fsync reports the failed writeback" "No space left on device" sync $M/a
check "the failures are counted" test "$(cat $S/writeback_errors)" -gt 0
check_eq "nothing was stored" 0 "$(cat $S/physical_blocks_used)"
check_eq "the data is still in the page cache" "$sum_a" "$(md5sum < $M/a)"
check "disarm" sh -c "echo 0 > $S/test_fail_decisions"
check "fsync succeeds once the decisions do" sync $M/a
check_eq "all 1024 blocks stored" 1024 "$(cat $S/physical_blocks_used)"
check "drop caches" sh -c "echo 3 > /proc/sys/vm/drop_caches"
check_eq "the file reads back intact from the disk" "$sum_a" "$(md5sum < $M/a)"
# Memory that runs short (ENOMEM) is transient: writeback tries again
# (the kernel retries integrity writeback on ENOMEM), fsync succeeds.
dd if=/dev/urandom of=/tmp/b bs=1M count=2 2>/dev/null
errs=$(cat $S/writeback_errors)
check "arm: the next 5 decisions fail with ENOMEM" sh -c "echo 12 > $S/test_fail_errno && echo 5 > $S/test_fail_decisions"
check "write another file" cp /tmp/b $M/b
check "fsync succeeds (the failed blocks are retried)" sync $M/b
check_eq "the hook fired 5 times" "0 $((errs + 5))" "$(cat $S/test_fail_decisions) $(cat $S/writeback_errors)"
check "drop caches" sh -c "echo 3 > /proc/sys/vm/drop_caches"
check_eq "the second file reads back intact" "$(md5sum < /tmp/b)" "$(md5sum < $M/b)"
check "umount" umount $M
check_exit "fsck -fn: clean after the failed decisions" 0 fsck.livedfs -fn "$VOL"

# --- 2. I/O errors on the disk: read-only, journal aborted, error kept.
check "mount" mount -t livedfs "$VOL" $M
check "a file written and fsync'd before the errors" \
    dd if=/tmp/b of=$M/kept bs=64k conv=fsync
mount -t debugfs none /sys/kernel/debug 2>/dev/null
F=/sys/kernel/debug/fail_make_request
check "fail_make_request is available" test -d $F
echo 100 > $F/probability
echo -1 > $F/times
echo 0 > $F/verbose
mark
check "make the volume's disk fail every request" sh -c "echo 1 > /sys/block/$DEV/make-it-fail"
dd if=/dev/urandom of=/tmp/c bs=1M count=1 2>/dev/null
check_err "a write and fsync during the errors fails with EIO" "Input/output error" \
    dd if=/tmp/c of=$M/lost bs=64k conv=fsync
check "the disk works again" sh -c "echo 0 > /sys/block/$DEV/make-it-fail"
check_dmesg "the volume went read-only" "livedfs ($DEV): remounting read-only after errors"
check_dmesg "the journal was aborted" "Aborting journal on device $DEV"
check "/proc/mounts shows it read-only" grep -q "^$VOL $M livedfs ro" /proc/mounts
check_err "new writes are refused" "Read-only file system" sh -c "echo x > $M/new"
check_err "a remount read-write is refused" "Read-only file system\|Input/output error\|Invalid argument" \
    mount -o remount,rw $M
check_eq "the fsync'd file reads back (cache)" "$(md5sum < /tmp/b)" "$(md5sum < $M/kept)"
check "umount" umount $M
check "the superblock records the error" sh -c "livedfs info $VOL | grep -q 'with errors'"
# The device's page cache still holds the write errors for the first
# fsync of anyone who opens it (errseq); a reboot would forget them, this
# fsync takes them, so fsck sees a working disk.
sync "$VOL" 2>/dev/null
fsck.livedfs -p "$VOL" > /tmp/fsck.out 2>&1
rc=$?
cat /tmp/fsck.out
check "fsck -p fixes what it finds (exit 0 or 1)" test $rc -le 1
check "fsck -p runs the full check (the error was recorded)" grep -q "check forced" /tmp/fsck.out
check_exit "fsck -fn: consistent afterwards" 0 fsck.livedfs -fn "$VOL"
check "mount after the check" mount -t livedfs "$VOL" $M
check_eq "the fsync'd file is intact" "$(md5sum < /tmp/b)" "$(md5sum < $M/kept)"
check_eq "the first file is intact" "$sum_a" "$(md5sum < $M/a)"
check "umount" umount $M

# --- 3. An error recorded only in the journal (what a crash right after an
# error leaves: jbd2 wrote s_errno, the superblock's state was never
# updated). A read-only mount must not clear it (before the fix it did,
# and writing nothing else, lost it); a read-write mount or remount
# records it in the superblock first, then clears the journal's copy.
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "craft: errno -117 in the journal, the state clean" livedfs debug craft "$VOL" journal-errno
mark
check "a read-only mount" mount -t livedfs -o ro "$VOL" $M
check_dmesg "warns of the recorded error" "the journal records an error (errno -117)"
check "umount" umount $M
check_eq "the read-only mount left it in the journal" "-117" "$(livedfs info -s journal.errno "$VOL")"
check "no error state yet" sh -c "! livedfs info $VOL | grep -q 'with errors'"
check "mount read-only, then remount read-write" sh -c "mount -t livedfs -o ro $VOL $M && mount -o remount,rw $M"
check "umount" umount $M
check "the superblock records the error" sh -c "livedfs info $VOL | grep -q 'with errors'"
check_eq "and the journal's copy is cleared" 0 "$(livedfs info -s journal.errno "$VOL")"
fsck.livedfs -p "$VOL" > /tmp/fsck.out 2>&1
rc=$?
check "fsck -p: exit 0 or 1" test $rc -le 1
check "fsck -p runs the full check" grep -q "check forced" /tmp/fsck.out
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "craft: errno -5 in the journal" livedfs debug craft "$VOL" journal-errno --errno -5
check "a read-write mount" mount -t livedfs "$VOL" $M
check "umount" umount $M
check "the superblock records the error" sh -c "livedfs info $VOL | grep -q 'with errors'"
check_eq "and the journal's copy is cleared" 0 "$(livedfs info -s journal.errno "$VOL")"

# --- 4. A data write fails while metadata writes work (what fstests'
# generic/250 does with dm-error), and someone other than fsync takes the
# page cache's error first: here SEEK_DATA, whose write-back meets it.
# The transaction that points the file at the new block (which holds
# stale bytes, and whose fingerprint it records) must never commit: the
# journal aborts (data_err=abort) whoever consumed the error. Before the
# fix the commit went through and the file read another file's old data.
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
dd if=/dev/urandom of=/tmp/old bs=1M count=4 2>/dev/null
check "free blocks holding old data" sh -c "cp /tmp/old $M/old && sync && rm $M/old && sync"
dd if=/dev/urandom of=/tmp/k bs=64k count=1 2>/dev/null
check "a file, synced" sh -c "cp /tmp/k $M/k && sync"
dd if=/dev/urandom of=/tmp/n bs=64k count=1 2>/dev/null
check "new data for it, in the page cache only" dd if=/tmp/n of=$M/k bs=64k conv=notrunc
mark
check "the disk fails every request" sh -c "echo 1 > /sys/block/$DEV/make-it-fail"
check_err "SEEK_DATA writes it back and meets the error" "Input/output error" fsops seek $M/k data 0
check "the disk works again" sh -c "echo 0 > /sys/block/$DEV/make-it-fail"
sync
check_dmesg "the commit found the failed data write" "Detected IO errors while flushing file data"
check_dmesg "and aborted the journal" "Aborting journal on device $DEV"
check "umount" umount $M
check "mount again" mount -t livedfs "$VOL" $M
check_eq "the file holds what was synced, never the stale blocks" "$(md5sum < /tmp/k)" "$(md5sum < $M/k)"
check "umount" umount $M
fsck.livedfs -p "$VOL" > /tmp/fsck.out 2>&1
check_exit "fsck -fn: consistent afterwards" 0 fsck.livedfs -fn "$VOL"

# --- 5. After the disk fails, every descriptor's fsync says so (fstests
# generic/441, fsync-err in simple mode): a file opened 4 times, each
# writes 64 KiB of one byte pattern and fsyncs; the disk fails; each
# writes the same again and fsyncs. The data is all duplicates, so no
# data request fails: the first fsync meets the failed commit, and before
# the fix the other three returned success (the cache flush worked) for
# changes never committed. Then each descriptor is reopened, and its fsync
# succeeds: the loss is a writeback error, reported once to each
# descriptor open when it happened (before that fix, every fsync failed).
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
mark
# One request fails (the commit's), then the disk works again: a cache
# flush succeeds, as dm-error's does in generic/441.
fsops fsync-err $M/f 4 --break "echo 1 > $F/times; echo 1 > /sys/block/$DEV/make-it-fail" \
    --repair "echo 0 > /sys/block/$DEV/make-it-fail" > /tmp/fsync-err.out 2>&1
rc=$?
cat /tmp/fsync-err.out
check_eq "every second fsync failed" 0 "$rc"
check_eq "... with EIO, all four" 4 "$(grep -c 'second fsync on fd\[[0-3]\]: Input/output error' /tmp/fsync-err.out)"
check_eq "each descriptor, reopened, starts clean: its fsync succeeds (the error was reported once to each)" \
    4 "$(grep -c 'fsync after reopen of fd\[[0-3]\]: success' /tmp/fsync-err.out)"
check_dmesg "the commit failed and the journal was aborted" "Aborting journal on device $DEV"
check "the disk works again" sh -c "echo 0 > /sys/block/$DEV/make-it-fail; echo -1 > $F/times"
check "umount" umount $M
fsck.livedfs -p "$VOL" > /tmp/fsck.out 2>&1
check_exit "fsck -fn: consistent afterwards" 0 fsck.livedfs -fn "$VOL"

# --- 6. syncfs reports the write error (fstests generic/484): a page of
# 0xcd written and fsync'd; the disk fails; the same page rewritten and
# fsync'd (EIO; fstests uses fdatasync); the disk works again; of two syncfs through a new
# read-only descriptor one must return EIO, and a third succeed. Before
# the fix both returned EROFS: writeback refused by the stopped volume
# recorded EROFS after the EIO, and syncfs reports the error set last.
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
head -c 4096 /dev/zero | tr '\0' '\315' > /tmp/cd
check "a page written and fsync'd" dd if=/tmp/cd of=$M/s bs=4k conv=fsync status=none
check "make the volume's disk fail every request" sh -c "echo -1 > $F/times; echo 1 > /sys/block/$DEV/make-it-fail"
check_err "the rewrite's fsync fails with EIO" "Input/output error" \
    dd if=/tmp/cd of=$M/s bs=4k conv=fsync,notrunc status=none
check "the disk works again" sh -c "echo 0 > /sys/block/$DEV/make-it-fail"
fsops syncfs $M/s 2 > /tmp/syncfs.out 2>&1
cat /tmp/syncfs.out
check_eq "one of two syncfs reports EIO, the other succeeds" "1 1" \
    "$(grep -c 'Input/output error' /tmp/syncfs.out) $(grep -c 'syncfs: ok' /tmp/syncfs.out)"
check_eq "a later syncfs succeeds" "syncfs: ok" "$(fsops syncfs $M/s 2>&1)"
check "umount" umount $M
fsck.livedfs -p "$VOL" > /tmp/fsck.out 2>&1
check_exit "fsck -fn: consistent afterwards" 0 fsck.livedfs -fn "$VOL"
