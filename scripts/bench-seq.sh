#!/usr/bin/env bash
# Sequential write (unique data), read, duplicate write, and unique write
# by four writers to four files at once (write-unique-4): livedfs and
# its variants next to ext4 in ext3 mode (data=ordered), in one VM, each on
# its own virtual disk with identical settings. Prints medians and ratios
# against ext4 measured in the same run, the guest's CPU seconds per GiB
# (all vCPUs, from /proc/stat) and the mean size of the write requests the
# disk completed.
#
#   scripts/bench-seq.sh [--size 1G] [--repeats 3] [--mem MB]
#                        [--throttle KEY=VAL,...] [VARIANT...]
#
# --throttle caps every variant's virtual disk alike with QEMU's I/O
# throttling (vm.sh --throttle-opts; e.g. bps-total=20000000 for a disk
# of 20 MB/s): the disk-bound case, where the emulated CPU is not the
# bottleneck.
#
# Variants: ext3 livedfs livedfs-nojournal livedfs-noprefetch
# livedfs-nolocality livedfs-md5 (default: ext3 livedfs livedfs-nojournal).
# The guest has --mem MB of RAM (default 512) so that the file is at least
# twice its memory.
source "$(dirname "$0")/lib.sh"
size=1G repeats=3 mem=512 throttle="" variants=()
while [ $# -gt 0 ]; do
    case "$1" in
        --size) size=$2; shift 2 ;;
        --repeats) repeats=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --throttle) throttle=$2; shift 2 ;;
        -h|--help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) variants+=("$1"); shift ;;
    esac
done
[ ${#variants[@]} -gt 0 ] || variants=(ext3 livedfs livedfs-nojournal)
cd "$LIVEDFS_ROOT"
KDIR=$("$LIVEDFS_ROOT/scripts/build-kernel.sh" base)
MKFS="$LIVEDFS_ROOT/userspace/target/release/mkfs-livedfs"
[ -x "$MKFS" ] || (cd userspace && cargo build --release --quiet -p livedfs-mkfs)
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
disks=()
# Room for two copies of the file and the file system's metadata.
disk_size=$(( $(numfmt --from=iec "$size") * 3 ))
for v in "${variants[@]}"; do
    img="$work/$v.img"
    truncate -s "$disk_size" "$img"
    case $v in
        ext3) mkfs.ext4 -q -F -t ext3 "$img" ;;
        livedfs|livedfs-nojournal|livedfs-noprefetch) "$MKFS" -q -F "$img" ;;
        livedfs-nolocality) "$MKFS" -q -F -O ^spatial_locality "$img" ;;
        livedfs-md5) "$MKFS" -q -F -O md5 "$img" ;;
        *) die "unknown variant $v" ;;
    esac
    disks+=(--image "$v:$img")
    [ -z "$throttle" ] || disks+=(--throttle-opts "$v:$throttle")
done
log="$work/bench.log"
scripts/vm.sh --kdir "$KDIR" --mem "$mem" --timeout 7200 --log "$log" "${disks[@]}" \
    bench-seq.sh "$(numfmt --from=iec "$size")" "$repeats" "${variants[@]}" > /dev/null 2>&1 || true
grep -q '^LIVEDFS-BENCH' "$log" || { tail -n 30 "$log"; die "the benchmark did not run"; }
tr -d '\r' < "$log" | awk -v vs="${variants[*]}" '
    /^LIVEDFS-BENCH / {
        key = $2 " " $3; n[key]++; t[key, n[key]] = $4; bytes[key] = $5
        cpu[key, n[key]] = $6; ios[key] += $7; sectors[key] += $8
    }
    function median_of(arr, key,   i, j, a, m, tmp) {
        m = n[key]; for (i = 1; i <= m; i++) a[i] = arr[key, i]
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { tmp = a[i]; a[i] = a[j]; a[j] = tmp }
        return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    function median(key,   i, j, k, a, m, tmp) {
        m = n[key]; for (i = 1; i <= m; i++) a[i] = t[key, i]
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { tmp = a[i]; a[i] = a[j]; a[j] = tmp }
        return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    function spread(key,   i, lo, hi) {
        lo = hi = t[key, 1]; for (i = 2; i <= n[key]; i++) { if (t[key, i] < lo) lo = t[key, i]; if (t[key, i] > hi) hi = t[key, i] }
        return hi - lo
    }
    END {
        split(vs, V, " "); split("write-unique read write-duplicate write-unique-4", P, " ")
        printf "%-22s %-16s %10s %10s %10s %12s %12s %12s\n", "variant", "phase", "median s", "spread s", "MB/s", "vs ext3", "CPU s/GiB", "write req KiB"
        for (p = 1; p <= 4; p++) for (v = 1; v in V; v++) {
            key = V[v] " " P[p]; if (!(key in n)) continue
            med = median(key); mbs = med > 0 ? bytes[key] / med / 1e6 : 0
            base = "ext3 " P[p]; ratio = "-"
            if ((base in n) && med > 0) ratio = sprintf("%.2fx", median(base) / med)
            cpg = bytes[key] > 0 ? median_of(cpu, key) / (bytes[key] / 1073741824) : 0
            req = ios[key] > 0 ? sprintf("%.0f", sectors[key] * 512 / ios[key] / 1024) : "-"
            printf "%-22s %-16s %10.2f %10.2f %10.1f %12s %12.2f %12s\n", V[v], P[p], med, spread(key), mbs, ratio, cpg, req
        }
    }'
echo "(ratios are ext3 time / variant time: above 1 means faster than ext4 in ext3 mode; one VM, TCG emulation, $(nproc) host cores${throttle:+, disks capped: $throttle})"
