# Evaluation A4 (run by scripts/evaluate.sh): recovery after a power cut
# in the middle of a sequential write.
#   eval-powercut.sh write VARIANT MIB
#       mount the host-made volume `vol`, write MIB MiB of the `src` disk's
#       bytes into files one after the other (1 MiB requests; the source
#       again from its start for each file) and sync: every variant holds
#       the same data. Then one more file is being written (64 MiB from
#       the source, no sync) and 1 s into it the power is cut (sysrq b: no
#       sync, no unmount): a write in progress at the cut.
#   eval-powercut.sh mount VARIANT
#       mount the volume left by the cut (the journal is replayed), time
#       the mount, compare every file with the `src` bytes, unmount
. /tests/eval-lib.sh
MODE=$1 V=$2 MIB=${3:-256}
VOL=$(disk vol)
M=/mnt/eval
mkdir -p $M
case $MODE in
write)
    check "mount $V" mount_fs "$V" "$VOL" $M
    SRC=$(disk src)
    src_mib=$(( $(blockdev --getsize64 "$SRC") / 1048576 ))
    left=$MIB i=0
    t0=$(now)
    while [ "$left" -gt 0 ]; do
        n=$(( left < src_mib ? left : src_mib ))
        dd if="$SRC" of=$M/f$i bs=1M count="$n" 2>/dev/null
        left=$((left - n)) i=$((i + 1))
    done
    sync
    t=$(since "$t0")
    # Named like the others, so the check after the cut reads it too.
    dd if="$SRC" of=$M/f-inflight bs=1M count=64 2>/dev/null &
    sleep 1
    rec phase=A4-write fs="$V" seconds="$t" written_mib="$MIB" inflight_mib=64 written_blocks="$(statfs_used $M)" \
        dirty_kib="$(sed -n 's/^Dirty: *\([0-9]*\) kB/\1/p' /proc/meminfo)" $(lstats "$VOL")
    echo "cutting the power"
    echo 1 > /proc/sys/kernel/sysrq
    echo b > /proc/sysrq-trigger
    ;;
mount)
    # Without a journal the kernel refuses a read-write mount of the
    # unclean volume until fsck has checked it (store entries may be ahead
    # of their data): the boot check runs first, as it would on a server.
    case "$(mount_opts "$V")" in
        *nojournal*) fsck.livedfs -p "$VOL" > /dev/null 2>&1 ;;
    esac
    t0=$(now)
    mount_fs "$V" "$VOL" $M
    rc=$?
    t=$(since "$t0")
    check "$V mounts after the power cut" test $rc -eq 0
    rec phase=A4-mount fs="$V" seconds="$t" used_blocks="$(statfs_used $M)" $(lstats "$VOL")
    dmesg | grep -iE 'recover|journal|orphan' | tail -n 5
    # No data lost: every file written before the cut holds, up to the size
    # its recovered inode says, exactly the bytes written (data=ordered: a
    # size is only committed with the data under it). A mismatch is either
    # a tail of zeros (the size got ahead of the data: the tail's bytes are
    # silently missing) or other bytes (garbage: worse).
    SRC=$(disk src)
    files=0 ok=1 zero_tail=0 bad=0
    for f in $M/f*; do
        [ -f "$f" ] || continue
        files=$((files + 1))
        sz=$(stat -c %s "$f")
        [ "$(md5sum < "$f")" = "$(head -c "$sz" "$SRC" | md5sum)" ] && continue
        ok=0
        # Count the trailing all-zero blocks (MiB steps back from the end,
        # then block steps), and compare what precedes them.
        nb=$(( (sz + 4095) / 4096 )) t=0
        while [ $((nb - t)) -ge 256 ] && [ "$(dd if="$f" bs=4096 skip=$((nb - t - 256)) count=256 2>/dev/null | tr -d '\000' | wc -c)" -eq 0 ]; do
            t=$((t + 256))
        done
        while [ $((nb - t)) -ge 1 ] && [ "$(dd if="$f" bs=4096 skip=$((nb - t - 1)) count=1 2>/dev/null | tr -d '\000' | wc -c)" -eq 0 ]; do
            t=$((t + 1))
        done
        keep=$(( (nb - t) * 4096 ))
        if [ "$t" -gt 0 ] && [ "$(head -c "$keep" "$f" | md5sum)" = "$(head -c "$keep" "$SRC" | md5sum)" ]; then
            zero_tail=$((zero_tail + t))
            echo "$f: size $sz, but its last $t blocks read as zeros: never written, yet inside the recovered size"
        else
            bad=$((bad + 1))
            echo "$f: size $sz: bytes differ from what was written (not only a zero tail)"
        fi
    done
    check_eq "$V: every file reads back after recovery" 1 "$ok"
    rec phase=A4-check fs="$V" files="$files" read_ok="$ok" zero_tail_blocks="$zero_tail" bad_files="$bad"
    check "umount" umount $M
    ;;
esac
