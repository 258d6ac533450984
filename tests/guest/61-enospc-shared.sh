# Issue 16: a full volume and shared blocks. S is written once and never
# again, four files share its blocks; the volume is then filled to ENOSPC
# with unique data. Writer threads (`stress near-full`) overwrite blocks
# of the sharers: buffered and O_DIRECT pwrite, mmap writes (in a child
# process: SIGBUS is ENOSPC there), hole punching, FICLONERANGE from S,
# fsync, fdatasync, syncfs, sync. Every call succeeds or fails with
# ENOSPC, nothing hangs (the hung-task detector is on: 60 s), S stays
# intact, every block holds what the calls' outcomes allow (also after a
# remount), fsck is clean, and deleting everything gives the fresh counts.
#
#   61-enospc-shared.sh [SECONDS [SEED]]    (default 30 s, seed 61)
DUR=${1:-30}
SEED=${2:-61}
THREADS=4
VOL=$(disk vol)
DEV=${VOL#/dev/}
M=/mnt/a
SYS=/sys/fs/livedfs/$DEV
mkdir -p $M
[ -w /proc/sys/kernel/hung_task_timeout_secs ] && echo 60 > /proc/sys/kernel/hung_task_timeout_secs

kernel_errors() {
    dmesg | sed -n "/LIVEDFS-MARK $MARK/,\$p" |
        grep -iE 'livedfs \(.*(corrupt|could not|read-only|error)|lost async page write|buffer i/o error|jbd2.*(error|abort)'
}
check_kernel_log() {
    if kernel_errors > /tmp/kerr 2>&1; then fail "$1" "$(head -n 3 /tmp/kerr | tr '\n' ' ')"
    else pass "$1"; fi
}

check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
free0=$(stat -f -c %f $M)
files0=$(stat -f -c %d $M)
stress prepare $M "$SEED"
check_eq "stress prepare: S and its sharers (exit 0)" 0 $?
i=0
while dd if=/dev/urandom of=$M/fill$i bs=1M count=16 2>/tmp/dd.err; do i=$((i + 1)); done
check "the volume filled up with ENOSPC" grep -q "No space left on device" /tmp/dd.err
# The last blocks, 64 KiB at a time.
j=0
while dd if=/dev/urandom of=$M/small$j bs=4k count=16 2>/tmp/dd.err; do j=$((j + 1)); done
check "sync after filling" sync
check_eq "statfs: no free blocks left" 0 "$(stat -f -c %a $M)"
mark
start=$(date +%s)
# --strict-reservation: a write the kernel accepted must find its space at
# writeback (fsync, msync, syncfs never report ENOSPC): every block it may
# need was reserved before it was dirtied.
stress near-full --strict-reservation --model /tmp/nearfull.model $M "$DUR" "$SEED" "$THREADS"
check_eq "near-full writers: only success or ENOSPC (never from writeback), S intact, every block as allowed (exit 0)" 0 $?
echo "61-enospc-shared: the writers took $(( $(date +%s) - start )) s"
check_kernel_log "no file system errors in the kernel log"
check "sync" sync
check "umount" umount $M
check_exit "fsck.livedfs -fn after the near-full writers is clean" 0 fsck.livedfs -fn "$VOL"
check "mount the full volume again" mount -t livedfs "$VOL" $M
stress verify $M "$SEED" /tmp/nearfull.model
check_eq "after the remount: S intact, every block as allowed (exit 0)" 0 $?
check "delete everything" sh -c "rm -f $M/S $M/F?-* $M/fill* $M/small*"
check "sync" sync
check_eq "physical_blocks_used 0 after deleting everything" 0 "$(cat $SYS/physical_blocks_used)"
check_eq "logical_blocks_referenced 0 after deleting everything" 0 "$(cat $SYS/logical_blocks_referenced)"
check_eq "filter_entries 0 after deleting everything" 0 "$(cat $SYS/filter_entries)"
check_eq "free blocks back to fresh" "$free0" "$(stat -f -c %f $M)"
check_eq "free inodes back to fresh" "$files0" "$(stat -f -c %d $M)"
check "umount" umount $M
check_exit "fsck.livedfs -fn after deleting everything is clean" 0 fsck.livedfs -fn "$VOL"
