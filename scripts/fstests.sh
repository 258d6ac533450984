#!/usr/bin/env bash
# Run fstests (xfstests) on livedfs and on ext4 in a Debian guest, and
# compare.
#
#   scripts/fstests.sh --xfstests DIR [options] [TEST...]
#
# DIR is an fstests checkout (it is not downloaded: CI has no access to
# it). The first run builds a Debian bookworm root image with fstests built
# from DIR (scripts/fstests/build-image.sh; root, debootstrap, about 5
# minutes), cached under $LIVEDFS_CACHE/fstests/. Each test runs alone
# (`./check TEST`) in a QEMU microvm on the project's base kernel, on each
# file system of the list in turn (livedfs, then ext4, then the next test),
# on the same virtual disks: SCRATCH_DEV (--disk-size), LOGWRITES_DEV and a
# spare shared, and a TEST_DEV of the same size for each file system.
#
# Tests: TEST... (generic/001 or 001), or -g GROUP (default: -g quick),
# the tests of tests/generic in that group.
# Options:
#   --xfstests DIR      the fstests checkout (required)
#   -g GROUP            a group of tests/generic (quick, auto, rw, ...; or
#                       DIR/GROUP, e.g. generic/quick)
#   -x TEST             leave TEST out (repeatable)
#   --fs LIST           comma-separated file systems, in the order they
#                       take turns: livedfs, livedfs-nodedup (livedfs
#                       mounted -o nodedup: no inline deduplication, for
#                       tests that fill or count extents with one repeated
#                       pattern), ext4; `both` (the default) is
#                       livedfs,ext4 and `all` all three
#   --timeout SEC       a test still running after SEC seconds is killed and
#                       counts as a failure (default 1800); the VM restarts
#   --resume            keep the results already in --out and run only the
#                       tests that have none (after an interrupted run)
#   --out DIR           results (default build/fstests)
#   --disk-size SIZE    TEST_DEV and SCRATCH_DEV size (default 2G)
#   --mem MB            guest RAM (default 2048)   --smp N  vCPUs (default 2)
#   --kdir DIR          kernel build tree (default: the cached base kernel)
#   --no-build          use livedfs.ko and the static tools already built
#                       (default: make module, cargo build of the tools)
#   --no-fstests-patch  run fstests exactly as checked out; by default its
#                       common/rc and common/log get
#                       scripts/fstests/livedfs-support.patch (livedfs in
#                       _scratch_mkfs_sized, _scratch_mkfs_blocksized,
#                       the log-state probe, the timestamp range and
#                       names-are-bytes, which have no case for an unknown
#                       FSTYP; and the in-place-writes probe, which
#                       overwrote with the same bytes), in the guest only
#   --summary           only print the summary of the results in --out
#   -v                  show the guest's console live
#
# Results: --out/results.tsv (fs, test, status, seconds, reason; a line as
# each test ends, so an interrupted run keeps what finished), per test
# --out/FS/TEST.{check,diff,out.bad,full,dmesg,notrun,console}, and the
# table in --out/summary.txt and --out/summary.json, also printed at the end.
source "$(dirname "$0")/lib.sh"

xfstests="" group="" tests=() excludes=() fs_arg=both timeout=1800 resume=0
out="$LIVEDFS_ROOT/build/fstests" disk_size=2G mem=2048 smp=2 kdir="" build=1 verbose=0 summary_only=0 fstests_patch=1
while [ $# -gt 0 ]; do
    case "$1" in
        --xfstests) xfstests=$2; shift 2 ;;
        -g) group=$2; shift 2 ;;
        -x) excludes+=("$2"); shift 2 ;;
        --fs) fs_arg=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        --resume) resume=1; shift ;;
        --out) out=$2; shift 2 ;;
        --disk-size) disk_size=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --smp) smp=$2; shift 2 ;;
        --kdir) kdir=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --no-fstests-patch) fstests_patch=0; shift ;;
        --summary) summary_only=1; shift ;;
        -v) verbose=1; shift ;;
        -h|--help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) tests+=("$1"); shift ;;
    esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
summarize() { python3 "$LIVEDFS_ROOT/scripts/fstests/summary.py" "$out"; }
if [ $summary_only -eq 1 ]; then summarize; exit 0; fi

[ -n "$xfstests" ] || die "--xfstests DIR is required (an fstests checkout; see --help)"
case $fs_arg in
    both) fs_list=(livedfs ext4) ;;
    all) fs_list=(livedfs livedfs-nodedup ext4) ;;
    *) IFS=, read -r -a fs_list <<< "$fs_arg" ;;
esac
for fs in "${fs_list[@]}"; do
    case $fs in
        livedfs|livedfs-nodedup|ext4) ;;
        *) die "--fs: livedfs, livedfs-nodedup, ext4 (comma-separated), both or all" ;;
    esac
done
[ ${#tests[@]} -gt 0 ] || [ -n "$group" ] || group=quick
[ ${#tests[@]} -eq 0 ] || [ -z "$group" ] || die "give tests or -g GROUP, not both"

# 1. The kernel: the cached base build (scripts/build-kernel.sh builds it
#    only when it is missing).
if [ -z "$kdir" ]; then
    kdir=$(kernel_build_dir base)
    [ -f "$kdir/.livedfs-done" ] || kdir=$("$LIVEDFS_ROOT/scripts/build-kernel.sh" base)
fi
[ -f "$kdir/vmlinux" ] || die "no kernel at $kdir"

# 2. The module and the static tools of this checkout.
TOOLS="$LIVEDFS_ROOT/userspace/target/x86_64-unknown-linux-gnu/release"
if [ $build -eq 1 ]; then
    log "building livedfs.ko for $kdir and the static tools"
    make -s -C "$LIVEDFS_ROOT" module KDIR="$kdir" >&2 || die "make module failed"
    (cd "$LIVEDFS_ROOT/userspace" && RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --quiet --target x86_64-unknown-linux-gnu \
        -p livedfs-mkfs -p livedfs-fsck -p livedfs-cli) >&2 || die "cargo build of the tools failed"
fi
for f in "$LIVEDFS_ROOT/livedfs.ko" "$TOOLS/mkfs-livedfs" "$TOOLS/fsck-livedfs" "$TOOLS/livedfs"; do
    [ -f "$f" ] || die "missing $f (run without --no-build)"
done

# 3. The guest's root image (cached).
image=$("$LIVEDFS_ROOT/scripts/fstests/build-image.sh" "$xfstests") || die "no fstests image"

# The image's common/rc and common/log with livedfs's cases, patched here
# (the guest has no patch(1)) and copied over the guest's at each boot; the
# image and the checkout stay as they are.
if [ $fstests_patch -eq 1 ]; then
    rm -rf "$out/.fstests-patched" && mkdir -p "$out/.fstests-patched/common"
    for f in rc log; do
        # debugfs exits 0 even when it cannot read the image: the file
        # must not be empty. (A first run, right after the image was
        # built, once read empty files here; read again after a sync.)
        for attempt in 1 2 3; do
            debugfs -R "cat /opt/xfstests/common/$f" "$image" 2>"$out/.fstests-patched/debugfs.err" \
                > "$out/.fstests-patched/common/$f" || true
            [ -s "$out/.fstests-patched/common/$f" ] && break
            sync; sleep 2
        done
        [ -s "$out/.fstests-patched/common/$f" ] \
            || die "cannot read common/$f from the image $image: $(tail -n 2 "$out/.fstests-patched/debugfs.err" | tr '\n' ' ')"
    done
    patch --quiet -p1 -d "$out/.fstests-patched" < "$LIVEDFS_ROOT/scripts/fstests/livedfs-support.patch" \
        || die "scripts/fstests/livedfs-support.patch does not apply to this fstests (try --no-fstests-patch)"
fi

# 4. The test list, from the group lists fstests built in the image.
if [ -n "$group" ]; then
    case $group in */*) gdir=${group%%/*} gname=${group#*/} ;; *) gdir=generic gname=$group ;; esac
    debugfs -R "cat /opt/xfstests/tests/$gdir/group.list" "$image" 2>/dev/null > "$out/.group.list" \
        || die "cannot read tests/$gdir/group.list from the image"
    mapfile -t tests < <(awk -v g="$gname" '!/^#/ { for (i = 2; i <= NF; i++) if ($i == g) { print $1; break } }' \
        "$out/.group.list" | sed "s|^|$gdir/|" | sort -V)
    rm -f "$out/.group.list"
    [ ${#tests[@]} -gt 0 ] || die "group $group has no tests"
fi
for i in "${!tests[@]}"; do
    case ${tests[$i]} in */*) ;; *) tests[$i]=generic/${tests[$i]} ;; esac
done
list=()
for t in "${tests[@]}"; do
    skip=0
    for x in "${excludes[@]}"; do
        case $x in */*) ;; *) x=generic/$x ;; esac
        [ "$x" = "$t" ] && skip=1
    done
    [ $skip -eq 1 ] || list+=("$t")
done
[ ${#list[@]} -gt 0 ] || die "no tests to run"

if [ $resume -eq 0 ]; then
    rm -rf "$out/results.tsv" "$out/console" "$out/summary.txt" "$out/summary.json" \
        "$out/livedfs" "$out/ext4" "$out/run.info"
fi
touch "$out/results.tsv"
mkdir -p "$out/console" "$out/disks"
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "livedfs: $(git -C "$LIVEDFS_ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$LIVEDFS_ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
    echo "fstests: $(git -C "$xfstests" rev-parse --short HEAD 2>/dev/null || echo "$xfstests")$([ $fstests_patch -eq 1 ] && echo ' + scripts/fstests/livedfs-support.patch')"
    echo "kernel: $(cat "$kdir/include/config/kernel.release") ($(basename "$kdir"))"
    echo "tests: ${group:+-g $group }${#list[@]} tests${excludes[*]:+, excluded: ${excludes[*]}}"
    echo "file systems: ${fs_list[*]}"
} >> "$out/run.info"
printf '%s\n' "${list[@]}" > "$out/tests.txt"

# The tests of FS that have no result yet.
remaining() {
    local fs=$1
    awk -F'\t' -v fs="$fs" 'FILENAME == ARGV[1] { if ($1 == fs) done[$2] = 1; next } !($1 in done)' \
        "$out/results.tsv" "$out/tests.txt"
}

# 5. The disks, fresh for each invocation: one TEST_DEV per file system
#    (each ages across the tests, as fstests expects), the others shared.
disks=()
for fs in "${fs_list[@]}"; do disks+=("test-$fs"); done
disks+=(scratch logwrites spare)
rm -f "$out"/disks/*.img
for d in "${disks[@]}"; do
    rm -f "$out/disks/$d.img"
    truncate -s "$disk_size" "$out/disks/$d.img"
done

accel=tcg
probe="$LIVEDFS_CACHE/accel-$(basename "$kdir")"
[ -f "$probe" ] && accel=$(cat "$probe")

# Ctrl-C or SIGTERM: stop the VM, keep what it finished (--resume).
interrupted=0 qpid=""
on_signal() { interrupted=1; [ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true; }
trap on_signal INT TERM

# Boot numbers go on from an interrupted run's (--resume keeps its logs).
boot=$(find "$out/console" -name 'boot-*.log' | wc -l) t0=$(date +%s)
while :; do
    jobdir=$(mktemp -d "${TMPDIR:-/tmp}/livedfs-fstests.XXXXXX")
    n=0
    for fs in "${fs_list[@]}"; do
        remaining "$fs" > "$jobdir/tests.$fs"
        n=$((n + $(wc -l < "$jobdir/tests.$fs")))
    done
    if [ $n -eq 0 ]; then rm -rf "$jobdir"; break; fi
    cat "$jobdir"/tests.* | grep -xFf - "$out/tests.txt" > "$jobdir/tests"
    boot=$((boot + 1))
    log "boot $boot: $n tests to run (${fs_list[*]}), per-test timeout ${timeout}s"
    cp "$LIVEDFS_ROOT/scripts/fstests/run.sh" "$jobdir/run.sh"
    chmod +x "$jobdir/run.sh"
    cp "$LIVEDFS_ROOT/livedfs.ko" "$jobdir/"
    mkdir -p "$jobdir/tools" "$jobdir/out"
    cp "$TOOLS/mkfs-livedfs" "$TOOLS/fsck-livedfs" "$TOOLS/livedfs" "$jobdir/tools/"
    cp "$kdir/.config" "$jobdir/kconfig"
    [ $fstests_patch -eq 0 ] || cp -r "$out/.fstests-patched/common" "$jobdir/fstests-common"
    {
        echo "FS_LIST='${fs_list[*]}'"
        echo "TIMEOUT=$timeout"
        echo "LIVEDFS_MKFS_OPTIONS='${LIVEDFS_MKFS_OPTIONS:--F}'"
        echo "LIVEDFS_FSCK_OPTIONS='${LIVEDFS_FSCK_OPTIONS:--nf}'"
        echo "EXT4_MKFS_OPTIONS='${EXT4_MKFS_OPTIONS:-}'"
        echo "EXTRA_CONFIG='${FSTESTS_EXTRA_CONFIG:-}'"
    } > "$jobdir/job.conf"
    job="$out/disks/job.img"
    rm -f "$job"
    # No journal: what the guest synced is in place even if it dies.
    mke2fs -q -t ext4 -O ^has_journal -d "$jobdir" "$job" 512M > /dev/null || die "mke2fs of the job disk failed"
    rm -rf "$jobdir"

    console="$out/console/boot-$boot.log"
    drives=(-drive "file=$image,if=none,id=root,format=raw,snapshot=on"
            -device "virtio-blk-device,drive=root,serial=root")
    for d in job "${disks[@]}"; do
        drives+=(-drive "file=$out/disks/$d.img,if=none,id=$d,format=raw,cache=unsafe"
                 -device "virtio-blk-device,drive=$d,serial=$d")
    done
    # The root image is the first disk: /dev/vda.
    cmdline="console=ttyS0 root=/dev/vda rw rootfstype=ext4 init=/usr/local/sbin/fstests-init"
    cmdline="$cmdline panic=-1 oops=panic reboot=t loglevel=5 printk.time=1 kunit.enable=0"
    bstart=$(date +%s)
    qemu-system-x86_64 -M microvm,acpi=off -cpu max -m "$mem" -smp "$smp" -accel "$accel" \
        -kernel "$kdir/vmlinux" -append "$cmdline" -nodefaults -no-user-config -display none \
        -serial stdio -no-reboot "${drives[@]}" < /dev/null > "$console" 2>&1 &
    qpid=$!
    tailpid=""
    if [ $verbose -eq 1 ]; then tail -n +1 -f "$console" & tailpid=$!; fi
    # Watchdog: the guest's own timeout kills a test; this one kills a VM
    # whose test does not end (a task stuck in the kernel) or that never
    # starts one.
    last="" since=$(date +%s) killed=""
    while kill -0 "$qpid" 2>/dev/null; do
        sleep 5
        cur=$(grep -a -E '^FSTESTS-(READY|START|END)' "$console" | tail -n 1 || true)
        now=$(date +%s)
        if [ "$cur" != "$last" ]; then last=$cur since=$now; fi
        case $cur in
            FSTESTS-START*) limit=$((timeout + 300)) ;;
            *) limit=900 ;;
        esac
        if [ $((now - since)) -gt $limit ]; then
            killed="no progress for $((now - since))s (${cur:-before the first test})"
            kill "$qpid" 2>/dev/null || true
        fi
    done
    wait "$qpid" || true
    wait "$qpid" 2>/dev/null || true
    [ -z "$tailpid" ] || kill "$tailpid" 2>/dev/null || true

    # Read the results back from the job disk.
    rd=$(mktemp -d "${TMPDIR:-/tmp}/livedfs-fstests-out.XXXXXX")
    debugfs -R "rdump /out $rd" "$job" > /dev/null 2>&1 || true
    new=0
    if [ -f "$rd/out/results.tsv" ]; then
        new=$(wc -l < "$rd/out/results.tsv")
        cat "$rd/out/results.tsv" >> "$out/results.tsv"
    fi
    for fs in "${fs_list[@]}"; do
        if [ -d "$rd/out/$fs" ]; then mkdir -p "$out/$fs" && cp -r "$rd/out/$fs/." "$out/$fs/"; fi
    done
    for f in dmesg.txt dmesg-timeout.txt; do
        [ -f "$rd/out/$f" ] && cp "$rd/out/$f" "$out/console/boot-$boot.$f"
    done
    if [ -f "$rd/out/running" ] && [ $interrupted -eq 1 ]; then
        log "interrupted during $(cut -d' ' -f1,2 "$rd/out/running"): no result for it"
    elif [ -f "$rd/out/running" ]; then
        read -r rfs rtest rstart < "$rd/out/running"
        secs=$(( $(date +%s) - rstart ))
        if [ -n "$killed" ]; then
            status=timeout reason="VM killed: $killed"
        else
            status=crash reason="the VM stopped during the test"
            grep -a -q -E 'Kernel panic|Oops|BUG:' "$console" && reason="kernel panic: $(grep -a -m1 -E 'BUG:|Oops|general protection|Kernel panic' "$console" | sed 's/^\[ *[0-9.]*\] //' | tr -d '\r')"
        fi
        mkdir -p "$out/$rfs/$(dirname "$rtest")"
        awk -v m="FSTESTS-START $rfs $rtest" 'index($0, m) == 1 { p = 1 } p' "$console" | tr -d '\r' \
            | tail -n 300 > "$out/$rfs/$rtest.console"
        printf '%s\t%s\t%s\t%s\t%s\n' "$rfs" "$rtest" "$status" "$secs" "$reason" >> "$out/results.tsv"
        new=$((new + 1))
        log "$rfs $rtest: $status ($reason)"
    fi
    rm -rf "$rd"
    grep -a -q '^FSTESTS-ERROR' "$console" && grep -a '^FSTESTS-ERROR' "$console" | tr -d '\r' >&2
    log "boot $boot: $new results in $(( $(date +%s) - bstart ))s"
    if [ $interrupted -eq 1 ]; then
        echo "run time: $(( $(date +%s) - t0 ))s in $boot boot(s), interrupted" >> "$out/run.info"
        summarize
        log "interrupted: run again with --resume for the tests left"
        exit 130
    fi
    if [ "$new" -eq 0 ]; then
        tail -n 30 "$console" | tr -d '\r' >&2
        die "boot $boot recorded no result (console: $console)${killed:+; $killed}"
    fi
done
elapsed=$(( $(date +%s) - t0 ))
echo "run time: ${elapsed}s in $boot boot(s)" >> "$out/run.info"
log "all tests have a result (${elapsed}s, $boot boot(s))"
summarize
