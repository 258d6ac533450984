# Sequential-I/O benchmark in the VM (run by scripts/bench-seq.sh). Each
# variant has its own disk, made on the host with identical settings. For
# each repeat: A1 write SIZE of unique data, A2 read it back (caches
# dropped), A3 write the same data again into a second file (duplicates);
# then delete both. Prints: LIVEDFS-BENCH variant phase seconds bytes.
SIZE=${1:-1G} REPEATS=${2:-3}
shift 2
M=/mnt/b
mkdir -p $M
now() { cut -d' ' -f1 /proc/uptime; }
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
        t0=$(now); datatest write --seed "$r" --size "$SIZE" $M/a > /dev/null; sync; t1=$(now)
        echo "LIVEDFS-BENCH $v write-unique $(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}') $(stat -c %s $M/a)"
        echo 3 > /proc/sys/vm/drop_caches
        t0=$(now); cat $M/a > /dev/null; t1=$(now)
        echo "LIVEDFS-BENCH $v read $(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}') $(stat -c %s $M/a)"
        t0=$(now); cp $M/a $M/b; sync; t1=$(now)
        echo "LIVEDFS-BENCH $v write-duplicate $(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}') $(stat -c %s $M/b)"
        rm -f $M/a $M/b; sync
    done
    umount $M
done
