# Helpers of the evaluation's guest scripts (eval-*.sh; sourced by them,
# not a test of its own). Every measurement is printed as one line
#   LIVEDFS-EVAL key=value key=value ...
# (values without spaces) that scripts/evaluate.sh collects.

# Wall-clock time in seconds with microseconds (busybox date has no %N).
now() { adjtimex | awk '/tv_sec/ { s = $2 } /tv_usec/ { u = $2 } END { printf "%d.%06d\n", s, u }'; }
# since T0: seconds elapsed since T0 (from now).
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.6f\n", b - a }'; }
rec() { echo "LIVEDFS-EVAL $*"; }

# CPU time the guest spent, for the CPU cost per GiB: cpu_busy prints the
# busy jiffies of all CPUs together (/proc/stat's first line: user, nice,
# system, irq, softirq and steal; not idle, not iowait; guest and
# guest_nice are already inside user and nice); cpu_since J0 prints
# "cpu_s=SECONDS iowait_s=SECONDS" since J0 (a cpu_busy output), as keys
# for rec. USER_HZ is 100 on x86 (getconf CLK_TCK where there is one).
USER_HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_busy() { awk '$1 == "cpu" { printf "%d %d\n", $2 + $3 + $4 + $7 + $8 + $9, $6; exit }' /proc/stat; }
cpu_since() {
    cpu_busy | awk -v a="$1" -v hz="$USER_HZ" '{
        split(a, z, " ")
        printf "cpu_s=%.2f iowait_s=%.2f\n", ($1 - z[1]) / hz, ($2 - z[2]) / hz }'
}
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# The requests a disk completed: dev_io DEV prints its counters
# (/sys/block/NAME/stat: reads, sectors read, writes, sectors written);
# io_since DEV C0 prints "rd_reqs=N rd_kib=K wr_reqs=N wr_kib=K" since C0
# (a dev_io output), as keys for rec: the mean request size the disk saw.
dev_io() { awk '{ print $1, $3, $5, $7 }' "/sys/block/${1#/dev/}/stat"; }
io_since() {
    dev_io "$1" | awk -v a="$2" '{
        split(a, z, " ")
        printf "rd_reqs=%d rd_kib=%d wr_reqs=%d wr_kib=%d\n", $1 - z[1], ($2 - z[2]) / 2, $3 - z[3], ($4 - z[4]) / 2 }'
}

# Memory-pressure hygiene, identical for every file system: a small guest
# writing files twice its RAM otherwise sees GFP_ATOMIC allocation
# failures in the block layer.
echo 16384 > /proc/sys/vm/min_free_kbytes 2>/dev/null || true

# mount_fs VARIANT DEV DIR: mount a volume made on the host for VARIANT.
# The paper's Table 1: S = fingerprint stores in their block groups
# (spatial locality; mkfs -O ^spatial_locality puts them at the end), P =
# prefetch of a group's store (-o noprefetch turns it off), J = journaling
# (-o nojournal turns it off).
#   ext3        ext4 driver on an mkfs.ext4 -t ext3 volume, data=ordered
#   livedfs-J   mkfs -O ^spatial_locality; -o noprefetch
#   livedfs-S   -o noprefetch,nojournal
#   livedfs-SJ  -o noprefetch
#   livedfs-all (defaults: S, P and J)
#   livedfs-md5 (S, P, J; mkfs -O md5: the paper's fingerprint)
mount_opts() {
    case $1 in
        ext3) echo "-t ext4 -o data=ordered" ;;
        livedfs-J|livedfs-SJ) echo "-t livedfs -o noprefetch" ;;
        livedfs-S) echo "-t livedfs -o noprefetch,nojournal" ;;
        livedfs-all|livedfs-md5) echo "-t livedfs" ;;
        *) return 1 ;;
    esac
}
mount_fs() {
    o=$(mount_opts "$1") || { echo "unknown variant $1"; return 1; }
    # shellcheck disable=SC2086
    mount $o "$2" "$3"
}

# statfs_used DIR: blocks in use (4 KiB), as df counts them.
statfs_used() { stat -f -c '%b %f %S' "$1" | awk '{ printf "%d\n", ($1 - $2) * $3 / 4096 }'; }

# sysfs_get DEV NAME: a livedfs counter of DEV, or 0 for another file system.
sysfs_get() { cat "/sys/fs/livedfs/${1#/dev/}/$2" 2>/dev/null || echo 0; }

# The livedfs counters of DEV as key=value pairs.
lstats() {
    for c in physical_blocks_used logical_blocks_referenced unique_blocks_written duplicate_hits \
             zero_blocks false_candidates filter_entries filter_bytes filter_build_ns; do
        printf '%s=%s ' "$c" "$(sysfs_get "$1" $c)"
    done
}

rec phase=guest kernel="$(uname -r)" mem_kb="$(awk '/MemTotal/ { print $2 }' /proc/meminfo)" \
    cpus="$(nproc)"
