#!/usr/bin/env bash
# Crash-consistency test of livedfs (issue 6; Documentation/crash-testing.md).
#
#   scripts/crash-test.sh [--points N] [--seed S] [--long] [options]
#
# 1. build: kernel (cached), module, static tools, initramfs
# 2. mkfs.livedfs an 80 MiB image, leaving the device's last MiB outside
#    the volume (the workload's progress records go there)
# 3. workload VM: `crashtest workload` on a copy of that image attached
#    through QEMU's blklogwrites driver: every write and flush is logged
# 4. checking VMs (--jobs at once, each a shard of the points): `crashtest
#    check` rebuilds the image of each crash point, mounts it (journal
#    replay), checks it against the workload's history, fsck's it
# 5. the image of each failing point (the first --keep-failed) is rebuilt
#    under DIR/failed/ (--work) for inspection
#
# Prints one PASS/FAIL line per crash point, then "N passed, N failed";
# exits non-zero on any failure.
#
# Options:
#   --points N        crash points (default 200: half of them flush points
#                     spread evenly over the log, half torn; with --long at
#                     least 5000: every flush point of the log, and torn
#                     points for the rest, at least half of N)
#   --seed S          workload seed, also seeds the choice of points (default 1)
#   --scenarios N     workload scenarios (default 60; 150 with --long)
#   --long            the long run (at least 5000 points)
#   --jobs N          checking VMs at once (default: number of CPUs)
#   --flush-points P  "all" (default with --long), or the share of N in
#                     percent spread over the log, the rest torn (default 50)
#   --keep-failed N   failing points whose image is kept (default 10)
#   --kdir DIR        kernel build tree (default: the cached test kernel)
#   --initramfs FILE  use this base initramfs (e.g. with another module)
#   --no-build        build nothing (use what is there)
#   --timeout SEC     timeout of each checking VM (default: from the points)
#   --work DIR        work directory (default build/crash; two runs at once
#                     need two)
#
# Work files: DIR (base.img, log: any point can be rebuilt with
# `crashtest replay --base build/crash/base.img --log build/crash/log
# --point SPEC -o x.img`); VM logs: DIR/vm-logs/ (not build/vm-logs,
# which scripts/test.sh empties when it starts).
source "$(dirname "$0")/lib.sh"

points="" seed=1 scenarios="" long=0 jobs=$NPROC flush_points="" keep_failed=10
kdir="" initramfs="" build=1 timeout="" W="$LIVEDFS_ROOT/build/crash"
while [ $# -gt 0 ]; do
    case "$1" in
        --points) points=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --scenarios) scenarios=$2; shift 2 ;;
        --long) long=1; shift ;;
        --jobs) jobs=$2; shift 2 ;;
        --flush-points) flush_points=$2; shift 2 ;;
        --keep-failed) keep_failed=$2; shift 2 ;;
        --kdir) kdir=$2; shift 2 ;;
        --initramfs) initramfs=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --timeout) timeout=$2; shift 2 ;;
        --work) W=$(realpath -m "$2"); shift 2 ;;
        -h|--help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
if [ $long -eq 1 ]; then
    points=${points:-5000} scenarios=${scenarios:-150} flush_points=${flush_points:-all}
else
    points=${points:-200} scenarios=${scenarios:-60} flush_points=${flush_points:-50}
fi
[ "$jobs" -ge 1 ] || jobs=1

cd "$LIVEDFS_ROOT"
LOGS="$W/vm-logs"
TOOLS="$LIVEDFS_ROOT/userspace/target/x86_64-unknown-linux-gnu/release"
HOST="$LIVEDFS_ROOT/userspace/target/release"
mkdir -p "$W" "$LOGS"
start=$(date +%s)

# 1. Build.
[ -n "$kdir" ] || kdir=$("$LIVEDFS_ROOT/scripts/build-kernel.sh" base)
if [ $build -eq 1 ]; then
    log "build: module, tools"
    if [ -z "$initramfs" ]; then
        make -s module KDIR="$kdir" > "$W/module.log" 2>&1 \
            || { cat "$W/module.log"; die "module build failed"; }
    fi
    (cd userspace && cargo build --release --quiet -p livedfs-mkfs -p livedfs-crashtest) \
        || die "host tools build failed"
    (cd userspace && RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --quiet --target x86_64-unknown-linux-gnu) \
        || die "static tools build failed"
fi
if [ -z "$initramfs" ]; then
    initramfs="$W/initramfs.cpio"
    "$LIVEDFS_ROOT/scripts/build-initramfs.sh" "$kdir" "$initramfs"
fi
for t in "$HOST/mkfs-livedfs" "$HOST/crashtest" "$TOOLS/crashtest"; do
    [ -x "$t" ] || die "$t is missing (run without --no-build)"
done
[ -x "$TOOLS/fsck-livedfs" ] || echo "note: fsck.livedfs is not built: the offline fsck check is skipped"

# 2. The pristine image: 80 MiB device, 79 MiB volume.
rm -f "$W/base.img" "$W/work.img" "$W/log" "$W"/shard-*.img "$W"/shard-*.log "$W"/check-*.log "$W"/check-*.out
rm -rf "$W/failed"
truncate -s 80M "$W/base.img"
"$HOST/mkfs-livedfs" -q -F "$W/base.img" 79m
cp --sparse=always "$W/base.img" "$W/work.img"

# 3. The workload, logged.
log "workload: seed $seed, $scenarios scenarios"
PASSED=0 FAILED=0
wargs=(--seed "$seed" --scenarios "$scenarios")
if "$LIVEDFS_ROOT/scripts/vm.sh" --kdir "$kdir" --initramfs "$initramfs" --timeout 900 \
        --log "$LOGS/crash-workload.log" --logged-disk "vol:$W/work.img:$W/log" \
        90-crash-workload.sh "${wargs[@]}" > "$W/workload.out" 2>&1; then
    grep -a '^crashtest workload:' "$LOGS/crash-workload.log" || true
    echo "PASS: crash workload ran (log $LOGS/crash-workload.log)"
    PASSED=$((PASSED + 1))
else
    cat "$W/workload.out"
    echo "FAIL: crash workload ran (log $LOGS/crash-workload.log)"
    echo
    echo "$PASSED passed, $((FAILED + 1)) failed"
    exit 1
fi
"$HOST/crashtest" info "$W/log"

# 4. Check the crash points, --jobs VMs at once (each with its own copies:
# QEMU locks its images).
npoints=$("$HOST/crashtest" points --log "$W/log" --base "$W/base.img" --points "$points" \
    --point-seed "$seed" --flush-points "$flush_points" | wc -l)
per_vm=$(( (npoints + jobs - 1) / jobs ))
[ -n "$timeout" ] || timeout=$(( 300 + per_vm * 8 ))
log "check: $npoints crash points in $jobs VM(s)"
pids=()
for ((i = 0; i < jobs; i++)); do
    cp --sparse=always "$W/base.img" "$W/shard-$i.img"
    cp --sparse=always "$W/log" "$W/shard-$i.log"
    "$LIVEDFS_ROOT/scripts/vm.sh" --kdir "$kdir" --initramfs "$initramfs" --timeout "$timeout" \
        --smp 1 --mem 1536 --log "$LOGS/crash-check-$i.log" \
        --image "base:$W/shard-$i.img" --image "log:$W/shard-$i.log" \
        91-crash-check.sh "${wargs[@]}" --points "$points" --point-seed "$seed" \
        --flush-points "$flush_points" --shard "$i/$jobs" > "$W/check-$i.out" 2>&1 &
    pids+=($!)
done
for ((i = 0; i < jobs; i++)); do
    rc=0
    wait "${pids[$i]}" || rc=$?
    tr -d '\r' < "$LOGS/crash-check-$i.log" > "$W/check-$i.log"
    grep -aE '^(PASS|FAIL): crash point|^    ' "$W/check-$i.log" | grep -v '^    note:' || true
    p=$(grep -ac '^PASS: crash point' "$W/check-$i.log" || true)
    f=$(grep -ac '^FAIL: crash point' "$W/check-$i.log" || true)
    PASSED=$((PASSED + p)) FAILED=$((FAILED + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        # The VM itself failed (timeout, kernel oops, a crash of the checker).
        cat "$W/check-$i.out"
        echo "FAIL: checking VM $i/$jobs (log $LOGS/crash-check-$i.log)"
        FAILED=$((FAILED + 1))
    elif grep -aqE 'vm.sh: .*(kernel reported|timed out|did not finish)' "$W/check-$i.out"; then
        grep -a 'vm.sh:' "$W/check-$i.out"
        echo "FAIL: checking VM $i/$jobs (log $LOGS/crash-check-$i.log)"
        FAILED=$((FAILED + 1))
    fi
    grep -a '^crashtest: shard' "$W/check-$i.log" || true
    rm -f "$W/shard-$i.img" "$W/shard-$i.log"
done
# Kernel notes (warnings that fail nothing), once each.
cat "$W"/check-*.log | sed -n 's/^    note: //p' | sed 's/loop[0-9]*/loopN/' | sort | uniq -c | sort -rn \
    | awk '{ c = $1; $1 = ""; print "note:" $0 " (" c " points)" }' | head -n 10 || true

# 5. Keep the failing points' images.
if [ "$FAILED" -gt 0 ] && [ "$keep_failed" -gt 0 ]; then
    mkdir -p "$W/failed"
    for spec in $(cat "$W"/check-*.log | sed -n 's/^    CRASHTEST-FAILED-POINT //p' | head -n "$keep_failed"); do
        name=$(echo "$spec" | cut -c1-40 | tr ':,' '__')
        "$HOST/crashtest" replay --base "$W/base.img" --log "$W/log" --point "$spec" -o "$W/failed/$name.img" \
            && echo "failing point $spec: image $W/failed/$name.img"
    done
fi
rm -f "$W/work.img"

echo
echo "crash test: seed $seed, $scenarios scenarios, $npoints crash points, $(( $(date +%s) - start ))s"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
