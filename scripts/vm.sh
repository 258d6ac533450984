#!/usr/bin/env bash
# Run one guest test script in a fresh QEMU VM with the livedfs test kernel.
#
#   scripts/vm.sh [options] SCRIPT [ARGS...]
#
# SCRIPT is a file in tests/guest/ (sourced in the guest after lib.sh).
# Options:
#   --disk NAME:SIZE    attach a sparse scratch disk (repeatable); the guest
#                       finds it with `disk NAME`; SIZE as for truncate (4G)
#   --image NAME:FILE   attach FILE itself as a disk (the guest writes to it)
#   --logged-disk NAME:IMAGE:LOG  attach IMAGE (written by the guest) through
#                       QEMU's blklogwrites driver: every write and flush the
#                       guest sends is appended to LOG (dm-log-writes format,
#                       512-byte sectors; LOG is created or truncated)
#   --throttle NAME:BPS cap disk NAME (a --disk) at BPS bytes per second
#                       (QEMU throttling.bps-total): slow I/O on purpose
#   --throttle-opts NAME:KEY=VAL[,KEY=VAL...]  QEMU throttling settings for
#                       disk NAME (a --disk or an --image), e.g.
#                       bps-write=20000000,iops-write=3000: each KEY becomes
#                       throttling.KEY (bps-total, bps-read, bps-write,
#                       iops-total, iops-read, iops-write, iops-size, ...)
#   --timeout SEC       kill the VM after SEC seconds (default 600)
#   --mem MB            guest RAM (default 2048)      --smp N   vCPUs (default 2)
#   --accel MODE        auto (default), tcg or kvm; auto probes KVM once
#   --kunit             let KUnit run the module's suites at insmod and
#                       count their KTAP results
#   --kdir DIR          kernel build tree (default: the cached test kernel)
#   --initramfs FILE    base initramfs (default: build it)
#   --log FILE          serial log (default build/vm-logs/SCRIPT.log)
#   --loglevel N        kernel console log level (default 7: everything)
#   -v                  show the serial console live
#
# Exit status 0 only if the guest ran to the end, every check passed, and
# the kernel log shows no oops, BUG, WARN, lockdep or KASAN report. The last
# line printed is the summary: "N passed, N failed".
source "$(dirname "$0")/lib.sh"

disks=() images=() logged=() throttles=() throttle_opts=() timeout=600 mem=2048 smp=2 accel=auto kunit=0 verbose=0
kdir="" initramfs="" logfile="" loglevel=7
while [ $# -gt 0 ]; do
    case "$1" in
        --disk) disks+=("$2"); shift 2 ;;
        --image) images+=("$2"); shift 2 ;;
        --logged-disk) logged+=("$2"); shift 2 ;;
        --throttle) throttles+=("$2"); shift 2 ;;
        --throttle-opts) throttle_opts+=("$2"); shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --smp) smp=$2; shift 2 ;;
        --accel) accel=$2; shift 2 ;;
        --kunit) kunit=1; shift ;;
        --kdir) kdir=$2; shift 2 ;;
        --initramfs) initramfs=$2; shift 2 ;;
        --log) logfile=$2; shift 2 ;;
        --loglevel) loglevel=$2; shift 2 ;;
        -v) verbose=1; shift ;;
        -h|--help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) break ;;
    esac
done
for t in "${throttle_opts[@]}"; do
    [[ $t =~ ^[^:]+:[a-z-]+=[0-9]+(,[a-z-]+=[0-9]+)*$ ]] \
        || die "--throttle-opts $t: not NAME:KEY=NUMBER[,KEY=NUMBER...]"
done
script=${1:?usage: vm.sh [options] SCRIPT [ARGS...] (see --help)}
shift
[ -f "$LIVEDFS_ROOT/tests/guest/$script" ] || die "no guest script tests/guest/$script"
[ -n "$kdir" ] || kdir=$(kernel_build_dir base)
[ -f "$kdir/vmlinux" ] || die "no kernel at $kdir: run scripts/build-kernel.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/livedfs-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ -z "$initramfs" ]; then
    initramfs="$work/base.cpio"
    "$LIVEDFS_ROOT/scripts/build-initramfs.sh" "$kdir" "$initramfs"
fi

# The per-run job, appended as a second cpio archive.
mkdir -p "$work/job"
{
    echo ". /tests/lib.sh"
    printf 'set --'; for a in "$@"; do printf " %q" "$a"; done; echo
    echo ". /tests/$script"
    echo "finish"
} > "$work/job/job.sh"
(cd "$work/job" && echo job.sh | cpio -o -H newc --quiet) > "$work/job.cpio"
cat "$initramfs" "$work/job.cpio" > "$work/initrd.cpio"

# throttle_of NAME: the ,throttling.KEY=VAL settings --throttle-opts gave
# for disk NAME (none: empty).
throttle_of() {
    local t kv s
    for t in "${throttle_opts[@]}"; do
        [ "${t%%:*}" = "$1" ] || continue
        IFS=, read -ra kv <<< "${t#*:}"
        for s in "${kv[@]}"; do
            printf ',throttling.%s' "$s"
        done
    done
}
drive_args=()
i=0
for d in "${disks[@]}"; do
    name=${d%%:*} size=${d#*:}
    truncate -s "$size" "$work/disk$i.img"
    throttle=""
    for t in "${throttles[@]}"; do
        [ "${t%%:*}" = "$name" ] && throttle=",throttling.bps-total=${t#*:}"
    done
    throttle="$throttle$(throttle_of "$name")"
    drive_args+=(-drive "file=$work/disk$i.img,if=none,id=d$i,format=raw,cache=unsafe,discard=unmap$throttle"
                 -device "virtio-blk-device,drive=d$i,serial=$name")
    i=$((i + 1))
done
for d in "${images[@]}"; do
    name=${d%%:*} file=${d#*:}
    [ -f "$file" ] || die "no image file $file"
    drive_args+=(-drive "file=$file,if=none,id=d$i,format=raw,cache=unsafe$(throttle_of "$name")"
                 -device "virtio-blk-device,drive=d$i,serial=$name")
    i=$((i + 1))
done
# A logged disk: the guest sees a write-back cache (so it flushes), no
# discard or write-zeroes (plain writes only), and every request reaches
# blklogwrites, which logs it after it completed on IMAGE; the log's
# superblock is rewritten after every entry, so even the log of a killed
# QEMU is readable.
for d in "${logged[@]}"; do
    IFS=: read -r name file lfile <<< "$d"
    [ -f "$file" ] || die "no image file $file"
    [ -n "$lfile" ] || die "--logged-disk NAME:IMAGE:LOG: no LOG"
    : > "$lfile"
    drive_args+=(-blockdev "driver=file,node-name=f$i,filename=$file,cache.no-flush=on"
                 -blockdev "driver=file,node-name=l$i,filename=$lfile,cache.no-flush=on"
                 -blockdev "driver=blklogwrites,node-name=d$i,file=f$i,log=l$i,log-sector-size=512,log-super-update-interval=1"
                 -device "virtio-blk-device,drive=d$i,serial=$name,write-cache=on,discard=off,write-zeroes=off")
    i=$((i + 1))
done

# reboot=t: restart by triple fault at once (QEMU exits, -no-reboot);
# the other methods find nothing on microvm and the debug kernel spends
# minutes on them.
cmdline="console=ttyS0 panic=-1 oops=panic reboot=t loglevel=$loglevel printk.time=1"
[ $kunit -eq 1 ] || cmdline="$cmdline kunit.enable=0"

qemu_base=(qemu-system-x86_64 -M microvm,acpi=off -cpu max -m "$mem" -smp "$smp"
           -kernel "$kdir/vmlinux" -nodefaults -no-user-config -display none
           -serial stdio -no-reboot)

# KVM works on some hosts and hangs early on others (nested virtualisation):
# probe once per kernel, remember the answer.
if [ "$accel" = auto ]; then
    probe="$LIVEDFS_CACHE/accel-$(basename "$kdir")"
    if [ -f "$probe" ]; then
        accel=$(cat "$probe")
    elif [ -w /dev/kvm ]; then
        echo 'echo LIVEDFS-KVM-OK' > "$work/job/job.sh"
        (cd "$work/job" && echo job.sh | cpio -o -H newc --quiet) > "$work/probe-job.cpio"
        cat "$initramfs" "$work/probe-job.cpio" > "$work/probe.cpio"
        if timeout 30 "${qemu_base[@]}" -accel kvm -initrd "$work/probe.cpio" \
                -append "$cmdline" 2>&1 | grep -q LIVEDFS-KVM-OK; then
            accel=kvm
        else
            accel=tcg
        fi
        mkdir -p "$LIVEDFS_CACHE" && echo "$accel" > "$probe"
    else
        accel=tcg
    fi
fi

[ -n "$logfile" ] || logfile="$LIVEDFS_ROOT/build/vm-logs/${script%.sh}.log"
mkdir -p "$(dirname "$logfile")"
start=$(date +%s)
set +e
if [ $verbose -eq 1 ]; then
    timeout --foreground -k 5 "$timeout" "${qemu_base[@]}" -accel "$accel" \
        -initrd "$work/initrd.cpio" -append "$cmdline" "${drive_args[@]}" < /dev/null 2>&1 | tee "$logfile"
else
    timeout --foreground -k 5 "$timeout" "${qemu_base[@]}" -accel "$accel" \
        -initrd "$work/initrd.cpio" -append "$cmdline" "${drive_args[@]}" < /dev/null > "$logfile" 2>&1
fi
qemu_rc=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - start ))

# Count the guest's checks and KUnit's KTAP cases.
tr -d '\r' < "$logfile" > "$work/log"
passed=$(grep -c '^PASS: ' "$work/log" || true)
failed=$(grep -c '^FAIL: ' "$work/log" || true)
if [ $kunit -eq 1 ]; then
    kp=$(grep -cE '^(\[ *[0-9.]+\] )?    ok [0-9]+ ' "$work/log" || true)
    kf=$(grep -cE '^(\[ *[0-9.]+\] )?    not ok [0-9]+ ' "$work/log" || true)
    passed=$((passed + kp)) failed=$((failed + kf))
    grep -E '^(\[ *[0-9.]+\] )?    not ok [0-9]+ ' "$work/log" | sed 's/^/FAIL (kunit): /' >&2 || true
fi
grep '^FAIL: ' "$work/log" >&2 || true

problems=()
grep -q 'LIVEDFS-GUEST-DONE' "$work/log" || {
    if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
        problems+=("timed out after ${timeout}s")
    else
        problems+=("guest did not finish (qemu exit $qemu_rc)")
    fi
}
if ! grep -qE '^LIVEDFS-RESULT pass=' "$work/log"; then
    problems+=("guest script did not report results")
fi
# A kernel problem fails the run whatever the tests said.
# (Kernel reports only: "WARNING: CPU:" is the kernel's, fsck's own
# "WARNING: Filesystem still has errors" is a test's business; lockdep's
# reports are matched by their titles, not its boot banner.)
oops=$(grep -nE 'Oops|BUG[: ]|WARNING: CPU|WARNING: at |kernel BUG|Kernel panic|general protection|Call Trace|KASAN|UBSAN|possible circular locking|possible recursive locking|inconsistent lock state|DEBUG_LOCKS_WARN_ON|locking correctness validator|suspicious RCU usage|INFO: task .* blocked|panicked at|rust_panic|Objects remaining|still has objects|kmemleak' "$work/log" | grep -v 'LIVEDFS-' | head -n 20 || true)
if [ -n "$oops" ]; then
    problems+=("kernel reported a problem:")
    problems+=("$oops")
fi

for p in "${problems[@]}"; do echo "vm.sh: $script: $p" >&2; done
[ ${#problems[@]} -eq 0 ] || failed=$((failed + 1))
echo "$script: ${elapsed}s, log $logfile (accel $accel)" >&2
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
