# Evaluation A4 (run by scripts/evaluate.sh): recovery after a power cut
# in the middle of a sequential write.
#   eval-powercut.sh write VARIANT SECONDS
#       mount the host-made volume `vol`, write the `src` disk's bytes into
#       files one after the other (unique data, 1 MiB requests), and after
#       SECONDS cut the power (sysrq b: no sync, no unmount)
#   eval-powercut.sh mount VARIANT
#       mount the volume left by the cut (the journal is replayed), time
#       the mount, compare every file with the `src` bytes, unmount
. /tests/eval-lib.sh
MODE=$1 V=$2 SECS=${3:-20}
VOL=$(disk vol)
M=/mnt/eval
mkdir -p $M
case $MODE in
write)
    check "mount $V" mount_fs "$V" "$VOL" $M
    SRC=$(disk src)
    (i=0; while :; do dd if="$SRC" of=$M/f$i bs=1M 2>/dev/null; i=$((i + 1)); done) &
    sleep "$SECS"
    rec phase=A4-write fs="$V" seconds="$SECS" written_blocks="$(statfs_used $M)" $(lstats "$VOL")
    echo "cutting the power"
    echo 1 > /proc/sys/kernel/sysrq
    echo b > /proc/sysrq-trigger
    ;;
mount)
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
        at=$(head -c "$sz" "$SRC" | cmp - "$f" 2>&1 | sed -n 's/.* differ: char \([0-9]*\).*/\1/p')
        [ -n "$at" ] || continue
        ok=0
        blk=$(( (at - 1) / 4096 ))
        nz=$(dd if="$f" bs=4096 skip="$blk" 2>/dev/null | tr -d '\000' | wc -c)
        if [ "$nz" -eq 0 ]; then
            zero_tail=$((zero_tail + (sz + 4095) / 4096 - blk))
            echo "$f: size $sz, but from block $blk on it reads zeros: $(( (sz + 4095) / 4096 - blk )) blocks never written"
        else
            bad=$((bad + 1))
            echo "$f: size $sz, differs from what was written at byte $at with non-zero bytes"
        fi
    done
    check_eq "$V: every file reads back after recovery" 1 "$ok"
    rec phase=A4-check fs="$V" files="$files" read_ok="$ok" zero_tail_blocks="$zero_tail" bad_files="$bad"
    check "umount" umount $M
    ;;
esac
