# Issue 16: shared blocks under concurrency. A file S is written once and
# never again; four files share its blocks (FICLONE, FICLONERANGE, the
# same bytes, FIDEDUPERANGE). `stress run` races 6 threads on them: mmap
# writes + msync, O_DIRECT and buffered I/O, O_DIRECT reads into the
# mapping, hole punching, truncation, FICLONERANGE and FIDEDUPERANGE,
# fsync, sync, cache drops. S must stay intact, every block the program's
# model knows must read back exact (also after a remount), no call may
# fail, the kernel log must stay clean, `fsck.livedfs -fn` must be clean
# after umount, and deleting everything must give back zero counters and
# the fresh free counts. A control run on ext4 (when an `ext4` disk is
# attached) shows the program's model holds on a correct file system.
#
#   76-stress.sh [SECONDS [SEED]]    (default 60 s, seed 16)
DUR=${1:-60}
SEED=${2:-16}
THREADS=6
VOL=$(disk vol)
DEV=${VOL#/dev/}
M=/mnt/a
SYS=/sys/fs/livedfs/$DEV
mkdir -p $M
# A hang shows in the log as "INFO: task ... blocked" (vm.sh fails the run).
[ -w /proc/sys/kernel/hung_task_timeout_secs ] && echo 60 > /proc/sys/kernel/hung_task_timeout_secs

# kernel_errors: file system errors in the kernel log since the last mark.
kernel_errors() {
    dmesg | sed -n "/LIVEDFS-MARK $MARK/,\$p" |
        grep -iE 'livedfs \(.*(corrupt|could not|read-only|error)|lost async page write|buffer i/o error|jbd2.*(error|abort)|page cache invalidation failure|direct i/o collision|ext4-fs error'
}
check_kernel_log() {
    if kernel_errors > /tmp/kerr 2>&1; then fail "$1" "$(head -n 3 /tmp/kerr | tr '\n' ' ')"
    else pass "$1"; fi
}

# Control: the same program on ext4, which has no reflink (clones become
# copies, no FIDEDUPERANGE). If this fails, the test program is wrong.
if EXT=$(disk ext4); then
    CDUR=15
    [ "$DUR" -lt "$CDUR" ] && CDUR=$DUR
    mkdir -p /mnt/ext4
    check "control: mount the ext4 disk" mount -t ext4 "$EXT" /mnt/ext4
    rm -rf /mnt/ext4/stress
    mkdir -p /mnt/ext4/stress
    mark
    stress run --no-reflink /mnt/ext4/stress "$CDUR" "$SEED" "$THREADS"
    check_eq "control: stress run on ext4 (no reflink) exits 0" 0 $?
    check_kernel_log "control: no file system errors in the kernel log"
    rm -rf /mnt/ext4/stress
    check "control: umount ext4" umount /mnt/ext4
fi

check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
free0=$(stat -f -c %f $M)
files0=$(stat -f -c %d $M)
mark
start=$(date +%s)
stress run --model /tmp/stress.model --sysfs "$SYS" $M "$DUR" "$SEED" "$THREADS"
check_eq "stress run on livedfs ($DUR s, $THREADS threads) exits 0" 0 $?
echo "76-stress: the run took $(( $(date +%s) - start )) s"
check_kernel_log "no file system errors in the kernel log"
check "umount" umount $M
check_exit "fsck.livedfs -fn after the run is clean" 0 fsck.livedfs -fn "$VOL"
check "mount again" mount -t livedfs "$VOL" $M
stress verify --sysfs "$SYS" $M "$SEED" /tmp/stress.model
check_eq "after the remount: S intact, every block the model knows exact, counters consistent (exit 0)" 0 $?
check "delete every file" rm -f $M/S $M/F1-ficlone $M/F2-ficlonerange $M/F3-samebytes $M/F4-fidedupe
check "sync" sync
check_eq "physical_blocks_used 0 after deleting everything" 0 "$(cat $SYS/physical_blocks_used)"
check_eq "logical_blocks_referenced 0 after deleting everything" 0 "$(cat $SYS/logical_blocks_referenced)"
check_eq "filter_entries 0 after deleting everything" 0 "$(cat $SYS/filter_entries)"
check_eq "free blocks back to fresh" "$free0" "$(stat -f -c %f $M)"
check_eq "free inodes back to fresh" "$files0" "$(stat -f -c %d $M)"
check "umount" umount $M
check_exit "fsck.livedfs -fn after deleting everything is clean" 0 fsck.livedfs -fn "$VOL"
