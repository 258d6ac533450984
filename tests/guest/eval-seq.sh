# Evaluation A1-A3 (run by scripts/evaluate.sh): sequential write of
# unique data, sequential read, sequential duplicate write, for each
# variant on its own host-made disk (serial = the variant's name), all in
# one VM. The data comes from the disk `src` (random bytes made on the
# host, at least twice the guest's RAM), read with dd in 1 MiB requests:
#   A1  dd src -> a, sync              (every block unique)
#   A2  drop caches; dd a -> /dev/null
#   A3  drop caches; dd src -> b, sync (every block a duplicate of a)
#   A1x4  (after a and b are deleted) four dd at once, each a quarter of
#       src into its own file, sync: A1 by four writers (how it scales)
# Each record carries the guest CPU seconds spent in its timed span
# (cpu_s: every CPU's busy time from /proc/stat, see eval-lib.sh) and the
# iowait seconds, and A1-A3 the requests the volume's disk completed
# (rd_reqs/rd_kib, wr_reqs/wr_kib: their mean size). Then a and b are
# deleted and the volume unmounted. Repeats are interleaved (variant
# order reversed on even repeats) so drift on a shared host spreads over
# every variant alike.
#   eval-seq.sh REPEATS VARIANT...
. /tests/eval-lib.sh
REPEATS=$1
shift
SRC=$(disk src)
BYTES=$(blockdev --getsize64 "$SRC")
M=/mnt/eval
mkdir -p $M
order="$*"
rev=$(for v in "$@"; do echo "$v"; done | tac | tr '\n' ' ')
for r in $(seq "$REPEATS"); do
    if [ $((r % 2)) -eq 0 ]; then vs=$rev; else vs=$order; fi
    for v in $vs; do
        dev=$(disk "$v")
        drop_caches
        if ! mount_fs "$v" "$dev" $M; then fail "mount $v" "repeat $r"; continue; fi
        base=$(statfs_used $M)
        i0=$(dev_io "$dev"); c0=$(cpu_busy); t0=$(now); dd if="$SRC" of=$M/a bs=1M 2>/dev/null; sync; t=$(since "$t0"); cpu=$(cpu_since "$c0")
        rec phase=A1 fs="$v" rep="$r" seconds="$t" bytes="$BYTES" "$cpu" $(io_since "$dev" "$i0") used_blocks=$(( $(statfs_used $M) - base )) $(lstats "$dev")
        drop_caches
        i0=$(dev_io "$dev"); c0=$(cpu_busy); t0=$(now); dd if=$M/a of=/dev/null bs=1M 2>/dev/null; t=$(since "$t0"); cpu=$(cpu_since "$c0")
        rec phase=A2 fs="$v" rep="$r" seconds="$t" bytes="$BYTES" "$cpu" $(io_since "$dev" "$i0")
        drop_caches
        i0=$(dev_io "$dev"); c0=$(cpu_busy); t0=$(now); dd if="$SRC" of=$M/b bs=1M 2>/dev/null; sync; t=$(since "$t0"); cpu=$(cpu_since "$c0")
        rec phase=A3 fs="$v" rep="$r" seconds="$t" bytes="$BYTES" "$cpu" $(io_since "$dev" "$i0") used_blocks=$(( $(statfs_used $M) - base )) $(lstats "$dev")
        check_eq "$v repeat $r: a is whole" "$BYTES" "$(stat -c %s $M/a)"
        check_eq "$v repeat $r: b is whole" "$BYTES" "$(stat -c %s $M/b)"
        rm -f $M/a $M/b
        sync
        drop_caches
        q=$((BYTES / 4 / 1048576))
        c0=$(cpu_busy); t0=$(now)
        for w in 0 1 2 3; do
            dd if="$SRC" of=$M/w$w bs=1M skip=$((w * q)) count=$q 2>/dev/null &
        done
        wait; sync; t=$(since "$t0"); cpu=$(cpu_since "$c0")
        rec phase=A1x4 fs="$v" rep="$r" seconds="$t" bytes="$((q * 4 * 1048576))" "$cpu"
        check_eq "$v repeat $r: the four writers' files are whole" "$((q * 4 * 1048576))" "$(cat $M/w0 $M/w1 $M/w2 $M/w3 | wc -c)"
        rm -f $M/w0 $M/w1 $M/w2 $M/w3
        sync
        umount $M || fail "umount $v" "repeat $r"
    done
done
