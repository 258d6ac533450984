# Preallocation benchmark in the VM (not a test: it prints timings). What
# QEMU's `preallocation=falloc` and Nova do to an image file: fallocate
# SIZE, look at it (FIEMAP, SEEK_DATA), fallocate it again, delete it; on
# livedfs and on ext4 (disk `ext`, made by scripts/bench-falloc.sh on the
# host) in the same VM. SIZE in bytes. Prints: LIVEDFS-FALLOC fs step
# seconds, then the ratios.
SIZE=${1:-4294967296}
M=/mnt/b
mkdir -p $M
now() { cut -d' ' -f1 /proc/uptime; }
step() { # step FS NAME COMMAND...: time one command
    local fs=$1 name=$2 t0 t1
    shift 2
    t0=$(now)
    "$@" > /dev/null || echo "FAIL: $fs $name: $*"
    sync
    t1=$(now)
    echo "LIVEDFS-FALLOC $fs $name $(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')"
}
for fs in livedfs ext4; do
    case $fs in
        livedfs) dev=$(disk vol); mkfs.livedfs -q -F "$dev"; mount -t livedfs "$dev" $M ;;
        ext4) dev=$(disk ext); mount -t ext4 "$dev" $M ;;
    esac
    step $fs fallocate fsops fallocate $M/img 0 0 "$SIZE"
    echo "LIVEDFS-FALLOC-BLOCKS $fs $(stat -c %b $M/img)"
    step $fs fiemap fsops fiemap $M/img
    step $fs seek-data fsops seek $M/img data 0
    step $fs fallocate-again fsops fallocate $M/img 0 0 "$SIZE"
    step $fs rm rm $M/img
    umount $M
done 2>&1 | tee /tmp/falloc.out
awk '$1 == "LIVEDFS-FALLOC" { t[$2 " " $3] = $4; s[$3] = 1 }
     END { for (k in s) if (t["ext4 " k] > 0) printf "ratio livedfs/ext4 %s: %.2f\n", k, t["livedfs " k] / t["ext4 " k] }' /tmp/falloc.out
