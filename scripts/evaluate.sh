#!/usr/bin/env bash
# The evaluation: the paper's experiments (Middleware 2011, §4) and today's
# anchors, livedfs next to ext4 in ext3 mode, measured in one run on this
# machine, written to Documentation/results.md with plots under
# Documentation/results/.
#
#   scripts/evaluate.sh [--short] [--profile cpu|hdd|ssd] [--repeats N]
#                       [--phases LIST] [--variants LIST] [--no-build]
#                       [--out DIR] [--keep] [--merge DIR]... [--no-verify]
#                       [--seq-size SIZE]
#
#   --short      the quick mode: the 3-image corpus, 1 repeat, ext3 and
#                livedfs-all only, a 512 MiB file in a 256 MiB guest (46 min
#                on a 2-core TCG host at load 10, shared with other VMs;
#                the full mode takes hours)
#   --profile P  the device model of the volumes' virtual disks (the same
#                for ext3 and livedfs):
#                cpu  (default) unthrottled: the disks are host memory, so
#                     the guest's CPU is the bottleneck (the CPU-bound profile)
#                hdd  the paper's testbed: a 7200 RPM disk at ~100 MB/s
#                     against a Core i5 760 (2010) hashing SHA-256
#                ssd  a SATA SSD (Samsung 860 EVO: 550/520 MB/s, 98k/90k
#                     IOPS) against a current CPU with SHA extensions
#                hdd and ssd cap each volume's disk with QEMU throttling,
#                scaled so that disk speed / hashing speed in the guest is
#                the real machine's: cap = real figure x the guest's measured
#                SHA-256 speed / the real CPU's (calibration phase; the
#                derivation goes into profile.json and onto the page). The
#                page shows each profile's A1-A3 next to the others.
#   --repeats N  repeats of every timed figure (default 3, 1 with --short);
#                the page shows medians and the spread ((max - min) / median)
#   --phases L   comma-separated subset of: seq,powercut,corpus,mkfs
#                (default all); the page is rendered from what ran
#   --variants L comma-separated subset of the variants to run (of ext3,
#                livedfs-J, livedfs-S, livedfs-SJ, livedfs-all, livedfs-md5;
#                default: the mode's), run in that order; ratios need ext3
#   --seq-size S the A1-A3 file's size (default 1G, 512M with --short; the
#                page's runs use a file twice the guest's RAM): smaller for
#                a smoke test of the scripts only
#   --no-build   use the module and tools already built
#   --out DIR    keep the run's raw records and logs in DIR (default
#                build/eval/<date>); the page is rendered from DIR
#   --keep       keep the virtual disks of the run (under DIR/disks)
#   --no-verify  skip the corpus phase's read-back check (every imported
#                image's MD5 against the host's; otherwise done once per
#                livedfs variant, not timed)
#   --merge DIR  render the page from an earlier run DIR too: each experiment
#                the page shows comes whole from the last run given that has
#                it, so give the --merge runs oldest first (this run comes
#                last); e.g. the full corpus phase on top of a short run's A1-A4.
#                A1-A3 comes from the last of the runs with the most variants
#                (a short run does not replace the full run's Table 1), and
#                hdd/ssd runs add a section of their own, replacing none
#
# What runs (every file system on its own sparse host file of the same
# size, attached the same way: raw, virtio-blk, cache=unsafe, capped alike
# by --profile hdd|ssd; guest page cache dropped between phases; the same
# guest RAM for every phase):
#   seq       A1 sequential unique write, A2 sequential read, A3 sequential
#             duplicate write, A1x4 the same bytes as A1 by four writers
#             into four files at once (tests/guest/eval-seq.sh): a file twice the
#             guest's RAM, for ext3 and the paper's Table 1 variants
#             (livedfs-J, -S, -SJ, -all) plus livedfs-md5; every timed
#             phase also records the guest CPU seconds it cost (/proc/stat)
#   powercut  A4: the same data written and synced for every variant
#             (512 MiB; 2 GiB full), then a power cut 1 s into one more
#             file's write, then the
#             mount that replays the journal (guest), a full fsck of a
#             copy of the cut volume (host): e2fsck -fy vs fsck.livedfs -fy,
#             and the check boot runs of another copy: -p against e2fsck -p;
#             for ext3 and the Table 1 variants
#   corpus    B1 space, B2 insert time, B3 read-back time one and four at a
#             time, mount time and filter memory against data stored
#             (tests/guest/eval-corpus.sh), on the corpus of
#             scripts/corpus.sh, compared with the ideal counted offline by
#             userspace/corpus-count; fsck vs e2fsck of the filled volumes
#   mkfs      scripts/bench-mkfs.sh (1 TiB sparse file, host)
#
# Runs as root (the corpus is built with loop mounts and debootstrap).
# Everything it needs is installed by scripts/setup.sh, corpus.sh
# (debootstrap) and this script (python3-matplotlib, for the plots).
source "$(dirname "$0")/lib.sh"
# The whole script is one brace group, read before it runs: editing this
# file during a run (hours long) cannot derail the run.
{

short=0 profile=cpu seq_size="" repeats="" phases="seq,powercut,corpus,mkfs" build=1 out="" keep=0 only="" merge=() verify_corpus=1
command="scripts/evaluate.sh${*:+ $*}"
while [ $# -gt 0 ]; do
    case "$1" in
        --short) short=1; shift ;;
        --profile) profile=$2; shift 2 ;;
        --seq-size) seq_size=$2; shift 2 ;;
        --repeats) repeats=$2; shift 2 ;;
        --phases) phases=$2; shift 2 ;;
        --variants) only=$2; shift 2 ;;
        --merge) [ -f "$2/records.txt" ] || die "--merge $2: no records.txt there"; merge+=("$(cd "$2" && pwd)"); shift 2 ;;
        --no-build) build=0; shift ;;
        --out) out=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        --no-verify) verify_corpus=0; shift ;;
        -h|--help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
case $profile in cpu|hdd|ssd) ;; *) die "--profile $profile: one of cpu, hdd, ssd" ;; esac
has_phase() { case ",$phases," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

if [ $short -eq 1 ]; then
    : "${repeats:=1}"
    MEM=256 SEQ_SIZE=512M PC_MIB=512 PC_DISK=2G
    SEQ_VARIANTS=(ext3 livedfs-all)
    PC_VARIANTS=(ext3 livedfs-all)
    B_VARIANTS=(ext3 livedfs-all)
    CORPUS_ARGS=(--short)
    MODE=short
else
    : "${repeats:=3}"
    MEM=512 SEQ_SIZE=1G PC_MIB=2048 PC_DISK=8G
    SEQ_VARIANTS=(ext3 livedfs-J livedfs-S livedfs-SJ livedfs-all livedfs-md5)
    PC_VARIANTS=(ext3 livedfs-J livedfs-S livedfs-SJ livedfs-all)
    B_VARIANTS=(ext3 livedfs-J livedfs-S livedfs-SJ livedfs-all)
    CORPUS_ARGS=()
    MODE=full
fi
[ -z "$seq_size" ] || SEQ_SIZE=$seq_size
# only_variants NAME: keep in array NAME the variants --variants lists, in
# the order it lists them.
only_variants() {
    [ -n "$only" ] || return 0
    local -n arr=$1
    local keep=() v
    for v in ${only//,/ }; do
        case " ${arr[*]} " in *" $v "*) keep+=("$v") ;; esac
    done
    arr=("${keep[@]}")
}
if [ -n "$only" ]; then
    for v in ${only//,/ }; do
        case $v in ext3|livedfs-J|livedfs-S|livedfs-SJ|livedfs-all|livedfs-md5) ;; *) die "unknown variant $v" ;; esac
    done
    # --variants may name variants the mode does not run by default.
    SEQ_VARIANTS=(ext3 livedfs-J livedfs-S livedfs-SJ livedfs-all livedfs-md5)
    PC_VARIANTS=("${SEQ_VARIANTS[@]}") B_VARIANTS=("${SEQ_VARIANTS[@]}")
    only_variants SEQ_VARIANTS; only_variants PC_VARIANTS; only_variants B_VARIANTS
fi
[ -n "$out" ] || out="$LIVEDFS_ROOT/build/eval/$(date -u +%Y%m%d-%H%M%S)-$MODE$([ "$profile" = cpu ] || echo "-$profile")"
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
RECORDS="$out/records.txt"
: > "$RECORDS"
cd "$LIVEDFS_ROOT"
started=$(date +%s)

# rec KEY=VALUE...: a host-side record, in the guests' format. TAGS (e.g.
# rep=2) is appended to it and to every record of a VM.
TAGS=""
rec() { echo "LIVEDFS-EVAL $* $TAGS" >> "$RECORDS"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.6f\n", b - a }'; }

# ---------------------------------------------------------------- build
if [ $build -eq 1 ]; then
    "$LIVEDFS_ROOT/scripts/setup.sh"
fi
# The page's plots: Debian's matplotlib for Debian's python3 (the page is
# rendered with /usr/bin/python3, whatever python3 is first in PATH).
if ! /usr/bin/python3 -c 'import matplotlib, numpy' 2> /dev/null; then
    log "installing python3-matplotlib (plots)"
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    { DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q python3-matplotlib python3-numpy \
        || { $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q python3-matplotlib python3-numpy; }
    } > /dev/null || log "python3-matplotlib is not installable: the page will have no plots"
fi
KDIR=$("$LIVEDFS_ROOT/scripts/build-kernel.sh" base)
TOOLS="$LIVEDFS_ROOT/userspace/target/release"
if [ $build -eq 1 ]; then
    log "building the module and the tools"
    nice make -s module KDIR="$KDIR" > "$out/logs/build.log" 2>&1 || { cat "$out/logs/build.log"; die "module build failed"; }
    (cd userspace && nice cargo build --release --quiet \
        && RUSTFLAGS="-C target-feature=+crt-static" nice cargo build --release --quiet --target x86_64-unknown-linux-gnu) \
        >> "$out/logs/build.log" 2>&1 || { cat "$out/logs/build.log"; die "userspace build failed"; }
fi
MKFS="$TOOLS/mkfs-livedfs" FSCK="$TOOLS/fsck-livedfs"
[ -x "$MKFS" ] || die "$MKFS is missing (run without --no-build)"
[ -x "$FSCK" ] || FSCK=""
INITRD="$out/base.cpio"
"$LIVEDFS_ROOT/scripts/build-initramfs.sh" "$KDIR" "$INITRD"
# The guest's tools carry debug info (tens of MiB, unpacked into the
# guest's RAM, which the evaluation keeps small): strip it.
rootdir=$(mktemp -d)
(cd "$rootdir" && cpio -id --quiet < "$INITRD")
for f in "$rootdir"/sbin/*; do
    if [ -f "$f" ] && [ ! -L "$f" ] && [ "$(head -c 4 "$f")" = $'\x7fELF' ]; then
        strip --strip-debug "$f" 2> /dev/null || llvm-strip-16 --strip-debug "$f" 2> /dev/null || true
    fi
done
(cd "$rootdir" && find . -print0 | cpio --null -o -H newc --quiet) > "$INITRD"
rm -rf "$rootdir"

# ---------------------------------------------------------------- machine
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
commit=$(git rev-parse --short=12 HEAD 2> /dev/null || echo unknown)
git diff --quiet HEAD -- rust userspace scripts tests 2> /dev/null || commit="$commit+dirty"
accel_file="$LIVEDFS_CACHE/accel-$(basename "$KDIR")"
accel=$(cat "$accel_file" 2> /dev/null || echo tcg)
cat > "$out/machine.json" <<EOF
{"mode": "$MODE", "repeats": $repeats, "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "nproc": $(nproc), "cpu": "$cpu", "ram_kib": $(awk '/MemTotal/ { print $2 }' /proc/meminfo),
 "host_kernel": "$(uname -r)", "guest_kernel": "$(cat "$KDIR/include/config/kernel.release")",
 "qemu": "$(qemu-system-x86_64 --version | head -n 1 | sed 's/QEMU emulator version //')",
 "accel": "$accel", "guest_mem_mib": $MEM, "guest_cpus": 2, "commit": "$commit",
 "loadavg_start": "$(cut -d' ' -f1-3 /proc/loadavg)",
 "seq_size": "$SEQ_SIZE", "powercut_mib": $PC_MIB,
 "command": "$command", "verify_corpus": $verify_corpus, "profile": "$profile"}
EOF

# vm LOGNAME [vm.sh options] -- SCRIPT ARGS...: one VM, its records appended
# to the run's; a failed check or a kernel problem is recorded, not fatal.
vm() {
    local name=$1; shift
    local opts=()
    while [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    local log="$out/logs/$name.log" rc=0
    # Not niced (unlike the builds): on a shared host a niced guest gets a
    # fraction of a core and an experiment takes hours.
    "$LIVEDFS_ROOT/scripts/vm.sh" --kdir "$KDIR" --initramfs "$INITRD" --mem "$MEM" \
        --loglevel 4 --log "$log" "${opts[@]}" "$@" > "$out/logs/$name.out" 2>&1 || rc=$?
    tr -d '\r' < "$log" | grep '^LIVEDFS-EVAL ' | sed "s/\$/ vm=$name $TAGS/" >> "$RECORDS" || true
    # A power cut by design: the guest does not reach its end.
    if [ -n "${EXPECT_CUT:-}" ] && [ $rc -ne 0 ] && grep -q '^cutting the power' "$log" \
        && ! grep -qE '^FAIL|kernel reported' "$out/logs/$name.out"; then
        rc=0
    fi
    if [ $rc -ne 0 ]; then
        log "$name: the VM reported problems (kept in the results): $(grep -E '^vm.sh:|^FAIL' "$out/logs/$name.out" | head -n 3 | tr '\n' ' ')"
        grep -E '^vm.sh:|^FAIL' "$out/logs/$name.out" | head -n 20 | while read -r l; do
            rec phase=problem vm="$name" what="$(echo "$l" | tr ' =' '_:' | cut -c1-200)"
        done
    fi
}

# mkvol VARIANT FILE SIZE: a fresh sparse volume for VARIANT.
mkvol() {
    rm -f "$2"
    truncate -s "$3" "$2"
    case $1 in
        ext3) mkfs.ext4 -q -F -t ext3 -E lazy_itable_init=0,lazy_journal_init=0 "$2" ;;
        livedfs-J) "$MKFS" -q -F -O ^spatial_locality "$2" ;;
        livedfs-md5) "$MKFS" -q -F -O md5 "$2" ;;
        livedfs-*) "$MKFS" -q -F "$2" ;;
        *) die "unknown variant $1" ;;
    esac
}

# fsck_time VARIANT FILE TAG [MODE]: time a check of FILE with the
# variant's checker (host), as a record: MODE -fy (default: the full check)
# or -p (what boot runs: journal replay, orphans, a check only if needed).
# evict FILE: drops FILE's pages from the host's page cache (written
# out first), so the next timed read of it comes from the disk; only that
# file, not the whole cache other work on the host shares.
evict() {
    sync "$1"
    dd if="$1" iflag=nocache count=0 status=none
}

fsck_time() {
    local v=$1 f=$2 tag=$3 mode=${4:--fy} t0 rc=0 t
    case $v in
        ext3) t0=$(date +%s.%N); e2fsck "$mode" "$f" > "$out/logs/fsck-$tag.log" 2>&1 || rc=$?; t=$(elapsed "$t0") ;;
        *)
            if [ -z "$FSCK" ]; then rec phase=fsck-$tag fs="$v" skipped=no_fsck.livedfs; return; fi
            t0=$(date +%s.%N); "$FSCK" "$mode" "$f" > "$out/logs/fsck-$tag.log" 2>&1 || rc=$?; t=$(elapsed "$t0") ;;
    esac
    rec phase=fsck-"$tag" fs="$v" seconds="$t" exit="$rc"
}

disks="$out/disks"
mkdir -p "$disks"
[ $keep -eq 1 ] || trap 'rm -rf "$disks"' EXIT

# ---------------------------------------------------------------- calibration
# How much slower the emulated CPU is than the host's, for the page: the
# same busybox commands on the host and (in eval-calib.sh) in the guest,
# three times each; the guest's SHA-256 speed also scales the device
# profiles' caps (below).
calib() {
    local f="$disks/calib" t0 r i
    head -c 64M /dev/urandom > "$f"
    for r in 1 2 3; do
        t0=$(date +%s.%N); busybox sha256sum "$f" > /dev/null; rec phase=calib where=host what=sha256_64MiB rep=$r seconds="$(elapsed "$t0")"
        t0=$(date +%s.%N); busybox md5sum "$f" > /dev/null; rec phase=calib where=host what=md5_64MiB rep=$r seconds="$(elapsed "$t0")"
        t0=$(date +%s.%N); busybox dd if=/dev/zero of=/dev/null bs=1M count=1024 2> /dev/null; rec phase=calib where=host what=memcpy_1GiB rep=$r seconds="$(elapsed "$t0")"
        t0=$(date +%s.%N); for i in 1 2 3 4; do busybox dd if="$f" of=/dev/null bs=1M 2> /dev/null; done
        rec phase=calib where=host what=copy_256MiB rep=$r seconds="$(elapsed "$t0")"
    done
    # The host's own SHA-256 at its best (OpenSSL: SHA-NI where the CPU has
    # it), a cross-check of the current-CPU figure the ssd profile cites.
    if command -v openssl > /dev/null; then
        openssl speed -seconds 2 -bytes 16384 -evp sha256 2> /dev/null \
            | awk '$1 == "sha256" { v = $2; sub(/k$/, "", v); printf "%.0f\n", v * 1000 / 1e6 }' \
            | while read -r mbs; do rec phase=calib where=host what=openssl_sha256_16KiB mbps="$mbs"; done
    fi
    rm -f "$f"
    vm calib -- eval-calib.sh
}
calib

# ---------------------------------------------------------------- profile
# The device model (--profile): for hdd and ssd, each volume's virtual
# disk is capped (QEMU throttling) at the real disk's figures scaled by
# the guest's SHA-256 speed over the real CPU's, so that the guest sees
# the real machine's ratio of disk speed to hashing speed:
#   cap = real disk figure x guest SHA-256 MB/s / real CPU SHA-256 MB/s
# (bandwidth and IOPS alike). The cited figures and the derivation go into
# profile.json (rendered on the page). THROTTLE: the vm.sh --throttle-opts
# settings, empty for cpu.
PROFILE_JSON="$out/profile.json"
THROTTLE=$(/usr/bin/python3 - "$RECORDS" "$profile" "$PROFILE_JSON" <<'PYEOF'
import json, statistics, sys
records, profile, out = sys.argv[1:4]
recs = []
for line in open(records):
    if line.startswith("LIVEDFS-EVAL "):
        recs.append(dict(t.split("=", 1) for t in line.split()[1:] if "=" in t))
def mbps(where, what, mb):
    ts = [float(r["seconds"]) for r in recs if r.get("phase") == "calib" and r.get("where") == where and r.get("what") == what and "seconds" in r]
    return mb / statistics.median(ts) if ts else None
MB64, MB256 = 64 * 1.048576, 256 * 1.048576
guest = {"sha256_MBps": mbps("guest", "sha256_64MiB", MB64), "copy_MBps": mbps("guest", "copy_256MiB", MB256),
         "how": "busybox sha256sum of 64 MiB in the guest's tmpfs, and dd of the same file to /dev/null 4 times (a page-cache copy); median of 3 runs"}
host = {"sha256_MBps": mbps("host", "sha256_64MiB", MB64), "copy_MBps": mbps("host", "copy_256MiB", MB256)}
ossl = [float(r["mbps"]) for r in recs if r.get("what") == "openssl_sha256_16KiB" and "mbps" in r]
host["openssl_sha256_MBps"] = ossl[-1] if ossl else None
# The real machines. MB = 10^6 bytes.
PROFILES = {
    "hdd": {
        "description": "the paper's testbed: one 7200 RPM SATA disk against a CPU of 2010",
        "cpu": {"name": "Intel Core i5 760, 2.8 GHz (Nehalem/Lynnfield; the paper's testbed, Section 4)",
                "sha256_MBps": 2.8e9 / 14.8 / 1e6,
                "source": "14.8 cycles/byte for SHA-256 on Westmere (the 32 nm shrink of the same Nehalem core) in OpenSSL's "
                          "table of x86-64 SHA-256 speeds (crypto/sha/asm/sha512-x86_64.pl, integer code: the CPU has "
                          "neither AVX nor SHA extensions), at the i5 760's 2.8 GHz base clock: 2.8e9 / 14.8"},
        "disk": {"name": "Western Digital WD1002FAEX, 1 TB, 7200 RPM SATA (the paper's benchmark disk)",
                 "MBps": 100.0,
                 "source": "the paper, Section 2.3: \"an ordinary 7200-RPM hard disk typically has a data rate of 100MB/s\" "
                           "(its Ext3FS wrote 97 MB/s in A1)",
                 "random_iops": 1000 / (9.0 + 60000 / 7200 / 2),
                 "random_iops_source": "a random access costs an average seek (the paper: 8-10 ms, after Seagate's "
                                       "7200 RPM comparison; 9 ms) plus half a revolution at 7200 RPM (4.17 ms)"},
    },
    "ssd": {
        "description": "a SATA SSD against a current CPU with SHA extensions",
        "cpu": {"name": "a current x86-64 core with SHA extensions (AMD Zen) at an assumed 4.0 GHz",
                "sha256_MBps": 4.0e9 / 2.05 / 1e6,
                "source": "2.05 cycles/byte for SHA-256 with SHA extensions on AMD Zen (Ryzen) in OpenSSL's table "
                          "(crypto/sha/asm/sha512-x86_64.pl), at 4.0 GHz: 4.0e9 / 2.05"},
        "disk": {"name": "Samsung 860 EVO (SATA 6 Gb/s)",
                 "read_MBps": 550.0, "write_MBps": 520.0, "read_iops": 98000.0, "write_iops": 90000.0,
                 "source": "Samsung's 860 EVO data sheet: sequential read up to 550 MB/s, write up to 520 MB/s; "
                           "random 4 KiB at queue depth 32: read up to 98,000 IOPS, write up to 90,000 IOPS"},
    },
}
d = {"profile": profile, "guest": guest, "host": host}
throttle = ""
if profile in PROFILES:
    p = PROFILES[profile]
    d.update(p)
    g = guest["sha256_MBps"]
    if not g:
        sys.exit("no guest SHA-256 calibration: cannot derive the " + profile + " caps")
    scale = g / p["cpu"]["sha256_MBps"]
    disk = p["disk"]
    caps = {}
    if "MBps" in disk:
        caps["bps-total"] = round(disk["MBps"] * 1e6 * scale)
        # A seek-bound IOPS cap is not applied: QEMU's throttle charges
        # every request alike, sequential or not, so it would cap ext3's
        # streaming writes far below the disk's bandwidth.
        d["iops_not_applied"] = round(disk["random_iops"] * scale, 1)
    else:
        caps["bps-read"] = round(disk["read_MBps"] * 1e6 * scale)
        caps["bps-write"] = round(disk["write_MBps"] * 1e6 * scale)
        caps["iops-read"] = max(1, round(disk["read_iops"] * scale))
        caps["iops-write"] = max(1, round(disk["write_iops"] * scale))
    d["scale"] = scale
    d["caps"] = caps
    throttle = ",".join(f"{k}={v}" for k, v in caps.items())
    d["throttle"] = throttle
json.dump(d, open(out, "w"), indent=1)
print(throttle)
PYEOF
) || die "could not derive the $profile profile's caps"
if [ -n "$THROTTLE" ]; then
    log "profile $profile: each volume's disk capped at $THROTTLE (derivation in $PROFILE_JSON)"
    rec phase=profile profile="$profile" throttle="$THROTTLE"
fi
# vol_throttle NAME: the vm.sh options that cap disk NAME (none for cpu).
vol_throttle() { [ -z "$THROTTLE" ] || echo "--throttle-opts $1:$THROTTLE"; }

# ---------------------------------------------------------------- seq (A1-A3)
if has_phase seq; then
    log "A1-A3: sequential write / read / duplicate write, $SEQ_SIZE, ${SEQ_VARIANTS[*]}, $repeats repeat(s), profile $profile"
    head -c "$(numfmt --from=iec "$SEQ_SIZE")" /dev/urandom > "$disks/src.img"
    size=$(( $(numfmt --from=iec "$SEQ_SIZE") * 3 ))
    opts=(--timeout $((3600 * repeats + 1800)) --image "src:$disks/src.img")
    for v in "${SEQ_VARIANTS[@]}"; do
        mkvol "$v" "$disks/seq-$v.img" "$size"
        opts+=(--image "$v:$disks/seq-$v.img")
        # shellcheck disable=SC2207
        opts+=($(vol_throttle "$v"))
    done
    [ ${#SEQ_VARIANTS[@]} -le 7 ] || die "at most 7 variants fit in one VM (8 virtio disks)"
    t0=$(date +%s)
    vm seq "${opts[@]}" -- eval-seq.sh "$repeats" "${SEQ_VARIANTS[@]}"
    log "A1-A3 done in $(( $(date +%s) - t0 ))s"
    rm -f "$disks"/seq-*.img
fi

# ---------------------------------------------------------------- powercut (A4)
if has_phase powercut; then
    log "A4: power cut after ${PC_MIB} MiB written, then recovery, ${PC_VARIANTS[*]}, $repeats repeat(s)"
    [ -f "$disks/src.img" ] || head -c "$(numfmt --from=iec "$SEQ_SIZE")" /dev/urandom > "$disks/src.img"
    t0=$(date +%s)
    for r in $(seq "$repeats"); do
        TAGS="rep=$r"
        for v in "${PC_VARIANTS[@]}"; do
            img="$disks/pc-$v.img"
            mkvol "$v" "$img" "$PC_DISK"
            # shellcheck disable=SC2046
            EXPECT_CUT=1 vm "pc-write-$v-$r" --timeout 900 --image "vol:$img" $(vol_throttle vol) --image "src:$disks/src.img" \
                -- eval-powercut.sh write "$v" "$PC_MIB"
            cp --sparse=always "$img" "$img.fsck"
            cp --sparse=always "$img" "$img.preen"
            # On stable storage before the timed checks: each checker's
            # own fsync must not pay for flushing the copies (ext3's
            # larger copies pass the host's dirty threshold and are
            # flushed in the background; livedfs's smaller ones were not).
            sync "$img.fsck" "$img.preen"
            # Every timed check starts from the disk, not the host's cache.
            evict "$img"
            # shellcheck disable=SC2046
            vm "pc-mount-$v-$r" --timeout 900 --image "vol:$img" $(vol_throttle vol) --image "src:$disks/src.img" \
                -- eval-powercut.sh mount "$v"
            # The paper's A4 figure: the checker recovering the cut volume.
            evict "$img.fsck"
            fsck_time "$v" "$img.fsck" "powercut"
            # What a boot after the power cut runs.
            evict "$img.preen"
            fsck_time "$v" "$img.preen" "powercut-preen" -p
            rm -f "$img" "$img.fsck" "$img.preen"
        done
    done
    TAGS=""
    log "A4 done in $(( $(date +%s) - t0 ))s"
fi
rm -f "$disks/src.img"

# ---------------------------------------------------------------- corpus (B)
if has_phase corpus; then
    log "corpus: building or reusing the images (scripts/corpus.sh ${CORPUS_ARGS[*]})"
    mapfile -t images < <(nice "$LIVEDFS_ROOT/scripts/corpus.sh" "${CORPUS_ARGS[@]}")
    [ ${#images[@]} -gt 0 ] || die "no corpus images"
    # The independent ideal.
    (cd userspace && cargo build --release --quiet -p corpus-count)
    key=$(for i in "${images[@]}"; do echo "$i"; done | sha256sum | cut -c1-12)
    count_json="$LIVEDFS_CACHE/corpus/count-$key.json"
    if [ ! -f "$count_json" ]; then
        log "corpus-count: counting ${#images[@]} images"
        nice "$TOOLS/corpus-count" --json "$count_json.tmp" "${images[@]}" > "$out/logs/corpus-count.txt"
        mv "$count_json.tmp" "$count_json"
    fi
    cp "$count_json" "$out/corpus-count.json"
    "$TOOLS/corpus-count" --from-json "$count_json" > "$out/corpus-count.txt"
    cat "$out/corpus-count.txt" >&2
    for i in "${images[@]}"; do cat "${i%.img}.json"; echo; done > "$out/corpus-meta.jsonl"
    # The images concatenated at MiB offsets into one sparse file, the
    # guest's `corpus` disk (microvm has 8 virtio slots: one disk for the
    # whole corpus, and the cached images themselves are never attached).
    concat="$LIVEDFS_CACHE/corpus/concat-$key.img"
    specs=() off=0 total=0
    for i in "${images[@]}"; do
        mib=$(( $(stat -c %s "$i") / 1048576 ))
        n=$(basename "$i" .img); n=${n%-*}
        [ -f "${i%.img}.md5" ] || md5sum < "$i" | cut -d' ' -f1 > "${i%.img}.md5"
        specs+=("$n:$off:$mib:$(cat "${i%.img}.md5")")
        off=$((off + mib)) total=$((total + mib))
    done
    if [ ! -f "$concat" ]; then
        log "corpus: concatenating ${#images[@]} images into one sparse disk ($total MiB)"
        rm -f "$concat.tmp"
        o=0
        for i in "${images[@]}"; do
            mib=$(( $(stat -c %s "$i") / 1048576 ))
            nice dd if="$i" of="$concat.tmp" bs=1M seek="$o" conv=sparse,notrunc status=none
            o=$((o + mib))
        done
        truncate -s "${total}M" "$concat.tmp"
        mv "$concat.tmp" "$concat"
    fi
    vol_size=$(( total * 11 / 10 + 1024 ))M
    log "B1-B3: importing ${#images[@]} images ($total MiB) into ${B_VARIANTS[*]}, $repeats repeat(s)"
    for r in $(seq "$repeats"); do
        TAGS="rep=$r"
        for v in "${B_VARIANTS[@]}"; do
            img="$disks/corpus-$v.img"
            mkvol "$v" "$img" "$vol_size"
            verify=0
            [ "$r" -eq 1 ] && [ "$v" != ext3 ] && [ $verify_corpus -eq 1 ] && verify=1
            t0=$(date +%s)
            # shellcheck disable=SC2046
            vm "corpus-$v-$r" --timeout 21600 --image "corpus:$concat" --image "vol:$img" $(vol_throttle vol) \
                -- eval-corpus.sh "$v" "$verify" "${specs[@]}"
            log "corpus $v repeat $r: $(( $(date +%s) - t0 ))s"
            fsck_time "$v" "$img" "corpus"
            [ $keep -eq 1 ] || rm -f "$img"
        done
    done
    TAGS=""
fi

# ---------------------------------------------------------------- mkfs
if has_phase mkfs; then
    log "mkfs: scripts/bench-mkfs.sh (1 TiB sparse file)"
    nice "$LIVEDFS_ROOT/scripts/bench-mkfs.sh" --no-build --runs "$(( repeats < 3 ? 3 : repeats ))" \
        --dir "$disks/mkfs" > "$out/logs/mkfs.log" 2>&1 || true
    sed -n 's/^run \([0-9]*\): mkfs.livedfs \([0-9.]*\)s  mkfs.ext4 -t ext3 \([0-9.]*\)s$/\1 \2 \3/p' "$out/logs/mkfs.log" \
        | while read -r n l e; do
            rec phase=mkfs fs=livedfs-all rep="$n" seconds="$l" size=1T
            rec phase=mkfs fs=ext3 rep="$n" seconds="$e" size=1T
        done
fi

rec phase=run mode=$MODE seconds=$(( $(date +%s) - started )) loadavg_end="$(cut -d' ' -f1 /proc/loadavg)"
log "rendering Documentation/results.md"
/usr/bin/python3 "$LIVEDFS_ROOT/scripts/plot-results.py" "${merge[@]}" "$out" \
    --page "$LIVEDFS_ROOT/Documentation/results.md" --figures "$LIVEDFS_ROOT/Documentation/results"
log "evaluation done in $(( $(date +%s) - started ))s; raw records in $out"
exit 0
}
