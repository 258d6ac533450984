# Sequential-I/O benchmark in the VM (run by scripts/bench-seq.sh). Each
# variant has its own disk, made on the host with identical settings. For
# each repeat: A1 write SIZE of unique data, A2 read it back (caches
# dropped), A3 write the same data again into a second file (duplicates);
# then delete both; then A1 by four writers at once, each SIZE/4 of its
# own unique data into its own file (how the write path scales). Prints: LIVEDFS-BENCH variant phase seconds bytes
# cpu-seconds write-requests write-sectors (the guest's CPU time from
# /proc/stat, all CPUs; the disk's completed write requests and sectors
# from its /sys/block stat, so the mean request size the device saw).
SIZE=${1:-1073741824} REPEATS=${2:-3}  # SIZE in bytes
shift 2
M=/mnt/b
mkdir -p $M
now() { cut -d' ' -f1 /proc/uptime; }
# CPU seconds busy since boot (user nice system irq softirq steal).
busy() { awk '/^cpu / { print ($2 + $3 + $4 + $7 + $8 + $9) / 100 }' /proc/stat; }
# Write requests completed and sectors written on $dev.
wstat() { awk '{ print $5, $7 }' /sys/block/${dev#/dev/}/stat; }
# phase NAME BYTES T0 T1 C0 W0: one result line.
phase() {
    local c1 w1
    c1=$(busy); w1=$(wstat)
    echo "LIVEDFS-BENCH $v $1 $(awk -v a="$3" -v b="$4" 'BEGIN{print b-a}') $2 \
$(awk -v a="$5" -v b="$c1" 'BEGIN{print b-a}') $(echo "$6 $w1" | awk '{ print $3 - $1, $4 - $2 }')"
}
for v in "$@"; do
    dev=$(disk "$v")
    case $v in
        ext3) mount -t ext4 -o data=ordered "$dev" $M ;;
        livedfs|livedfs-nolocality|livedfs-md5) mount -t livedfs "$dev" $M ;;
        livedfs-nojournal) mount -t livedfs -o nojournal "$dev" $M ;;
        livedfs-noprefetch) mount -t livedfs -o noprefetch "$dev" $M ;;
        *) fail "variant $v" "unknown"; continue ;;
    esac
    check "mount $v" grep -q " $M " /proc/mounts
    for r in $(seq "$REPEATS"); do
        c0=$(busy); w0=$(wstat); t0=$(now)
        datatest write --seed "$r" --size "$SIZE" $M/a > /dev/null; sync; t1=$(now)
        phase write-unique "$(stat -c %s $M/a)" "$t0" "$t1" "$c0" "$w0"
        echo 3 > /proc/sys/vm/drop_caches
        c0=$(busy); w0=$(wstat); t0=$(now)
        cat $M/a > /dev/null; t1=$(now)
        phase read "$(stat -c %s $M/a)" "$t0" "$t1" "$c0" "$w0"
        c0=$(busy); w0=$(wstat); t0=$(now)
        cp $M/a $M/b; sync; t1=$(now)
        phase write-duplicate "$(stat -c %s $M/b)" "$t0" "$t1" "$c0" "$w0"
        rm -f $M/a $M/b; sync
        quarter=$((SIZE / 4))
        c0=$(busy); w0=$(wstat); t0=$(now)
        for w in 1 2 3 4; do
            datatest write --seed "$((r * 10 + w))" --size "$quarter" $M/w$w > /dev/null &
        done
        wait; sync; t1=$(now)
        phase write-unique-4 "$(cat $M/w1 $M/w2 $M/w3 $M/w4 | wc -c)" "$t0" "$t1" "$c0" "$w0"
        rm -f $M/w1 $M/w2 $M/w3 $M/w4; sync
    done
    umount $M
done
