#!/usr/bin/env bash
# Run every livedfs test on this machine, from a fresh Debian 12 machine:
#
#   scripts/test.sh [--only PATTERN] [--no-debug] [--long]
#
# 1. setup: install what is missing (scripts/setup.sh)
# 2. build the Rust-enabled kernel (cached), the module, the tools
# 3. static checks: no warnings, rustfmt, clippy, no panic paths in the module
# 4. userspace tests (cargo test)
# 5. VM tests: each tests/guest script in a fresh VM (scripts/vm.sh)
# 6. the same module built for the `debug` kernel (lockdep, KASAN, list
#    and object debugging; cached like the base one) and the dedup,
#    concurrency, failure, fsck and crash tests run again on it: any
#    lockdep, KASAN or WARN report fails the run (--no-debug skips it)
#
# Prints one summary line "N passed, N failed" and exits non-zero on any
# failure. Logs: build/test-logs/, build/vm-logs/.
source "$(dirname "$0")/lib.sh"

flavour=base only="" long=0 debug=1
while [ $# -gt 0 ]; do
    case "$1" in
        --flavour) flavour=$2; shift 2 ;;
        --no-debug) debug=0; shift ;;
        --only) only=$2; shift 2 ;;
        --long) long=1; shift ;;
        -h|--help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

cd "$LIVEDFS_ROOT"
LOGS="$LIVEDFS_ROOT/build/test-logs"
rm -rf "$LOGS" "$LIVEDFS_ROOT/build/vm-logs"
mkdir -p "$LOGS"
PASSED=0 FAILED=0
step_pass() { PASSED=$((PASSED + 1)); echo "PASS: $1"; }
step_fail() { FAILED=$((FAILED + 1)); echo "FAIL: $1${2:+ ($2)}"; }

log "1/6 setup"
"$LIVEDFS_ROOT/scripts/setup.sh"

log "2/6 build: kernel ($flavour), module, tools"
KDIR=$("$LIVEDFS_ROOT/scripts/build-kernel.sh" "$flavour")
echo "kernel: $KDIR"
if make -s module KDIR="$KDIR" > "$LOGS/module.log" 2>&1; then
    step_pass "module builds"
else
    cat "$LOGS/module.log"; die "module build failed"
fi
if grep -iE 'warning|error' "$LOGS/module.log"; then
    step_fail "module builds without warnings" "see $LOGS/module.log"
else
    step_pass "module builds without warnings"
fi
# Userspace: host binaries for cargo test, static ones for the guest.
(cd userspace && cargo build --release --quiet) > "$LOGS/cargo-build.log" 2>&1 \
    || { cat "$LOGS/cargo-build.log"; die "userspace build failed"; }
(cd userspace && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --quiet --target x86_64-unknown-linux-gnu) > "$LOGS/cargo-static.log" 2>&1 \
    || { cat "$LOGS/cargo-static.log"; die "static userspace build failed"; }

# A server kernel: Debian's configuration must keep Rust and what livedfs
# needs (the full build of it takes hours and is not run here).
if "$LIVEDFS_ROOT/scripts/build-distro-kernel.sh" --config-only > "$LOGS/distro-config.log" 2>&1; then
    step_pass "Debian's kernel configuration with Rust (build-distro-kernel.sh --config-only)"
else
    cat "$LOGS/distro-config.log"
    step_fail "Debian's kernel configuration with Rust" "see $LOGS/distro-config.log"
fi

log "3/6 static checks"
if (cd userspace && cargo fmt --all --check) > "$LOGS/fmt.log" 2>&1; then
    step_pass "cargo fmt"
else
    step_fail "cargo fmt" "see $LOGS/fmt.log"
fi
if (cd userspace && cargo clippy --all-targets --quiet -- -D warnings) > "$LOGS/clippy.log" 2>&1; then
    step_pass "cargo clippy"
else
    step_fail "cargo clippy" "see $LOGS/clippy.log"
fi
if "$LIVEDFS_ROOT/scripts/check-no-panic.sh" > "$LOGS/no-panic.log" 2>&1; then
    step_pass "module has no panic paths"
else
    cat "$LOGS/no-panic.log"
    step_fail "module has no panic paths" "see $LOGS/no-panic.log"
fi

log "4/6 userspace tests"
if (cd userspace && cargo test --release --quiet 2>&1) > "$LOGS/cargo-test.log"; then
    :
fi
while read -r p f; do
    PASSED=$((PASSED + p)) FAILED=$((FAILED + f))
done < <(sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' "$LOGS/cargo-test.log")
grep -E '^test .* FAILED$|^error' "$LOGS/cargo-test.log" || true
grep -q '^test result:' "$LOGS/cargo-test.log" || step_fail "cargo test ran" "see $LOGS/cargo-test.log"

log "5/6 VM tests ($flavour kernel)"
mkfs.ext4 -q -F "$LIVEDFS_ROOT/build/ext4.img" 64M
mkfs.ext4 -q -F "$LIVEDFS_ROOT/build/ext4-swap.img" 64M
# The ext4 control volume of 76-stress.sh (the stress program on a file
# system without reflink must pass).
mkfs.ext4 -q -F "$LIVEDFS_ROOT/build/ext4-stress.img" 64M
# vm SCRIPT [vm.sh options] [-- script arguments]
vm() {
    local name=$1; shift
    case "$name" in *$only*) ;; *) return 0 ;; esac
    case " $SUBSET " in "  ") ;; *" $name "*) ;; *) return 0 ;; esac
    local opts=() args=()
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then shift; args=("$@"); break; fi
        opts+=("$1"); shift
    done
    local out
    out=$("$LIVEDFS_ROOT/scripts/vm.sh" --kdir "$KDIR" --initramfs "$INITRD" $VM_OPTS "${opts[@]}" "$name" "${args[@]}" 2> "$LOGS/vm-$TAG$name.err" | tail -n 1) || true
    cat "$LOGS/vm-$TAG$name.err" >&2
    local p f
    p=$(echo "$out" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1/p')
    f=$(echo "$out" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\2/p')
    if [ -z "$p" ]; then step_fail "vm $TAG$name" "no summary"; return; fi
    echo "vm $TAG$name: $out"
    PASSED=$((PASSED + p)) FAILED=$((FAILED + f))
}
# vm_suite: every guest test on $KDIR with $INITRD (all of them, or those
# in $SUBSET), then the crash test ($CRASH_POINTS points).
vm_suite() {
    vm 00-boot.sh --disk scratch:64M
    vm 01-kunit.sh --kunit
    vm 10-mount.sh --disk vol:256M --disk zero:64M --image "ext4:$LIVEDFS_ROOT/build/ext4.img"
    vm 20-smoke.sh --disk vol:256M
    vm 21-bigdir.sh --disk vol:512M
    vm 30-posix.sh --disk vol:1G
    vm 40-difftest.sh --disk vol:1G
    if [ $long -eq 1 ]; then
        vm 50-data.sh --timeout 3600 --disk vol:8G -- 4G
    else
        vm 50-data.sh --timeout 900 --disk vol:2G -- 1G
    fi
    vm 55-xattr.sh --disk vol:256M
    vm 56-fsfeatures.sh --disk vol:256M
    vm 57-fallocate.sh --disk vol:256M
    vm 58-scrub.sh --disk vol:256M
    vm 59-filter-cap.sh --disk vol:512M
    vm 60-enospc.sh --disk vol:256M
    vm 61-enospc-shared.sh --timeout 900 --disk vol:256M
    vm 62-saved-filter.sh --disk vol:512M --disk cut:512M
    vm 63-write-requests.sh --disk vol:256M
    vm 64-big-volume.sh --timeout 900 --disk vol:1T
    vm 70-dedup.sh --disk vol:512M
    vm 71-dedup-stats.sh --disk vol:512M
    vm 72-dedup-concurrent.sh --disk vol:512M
    vm 73-reflink.sh --disk vol:512M
    vm 74-dedup-variants.sh --disk vol:512M
    vm 75-filter-memory.sh --disk vol:2G
    vm 76-stress.sh --timeout 900 --disk vol:1G --image "ext4:$LIVEDFS_ROOT/build/ext4-stress.img" -- "$STRESS_SECS"
    vm 77-failures.sh --disk vol:256M
    vm 78-pinned.sh --disk vol:256M --disk src:64M --throttle-opts src:iops-read=5
    vm 79-hazards.sh --disk vol:256M --disk cut:256M --image "ext4:$LIVEDFS_ROOT/build/ext4-swap.img"
    vm 80-fsck.sh --disk vol:512M
    vm 81-fsck-replay.sh --disk vol:256M --disk ka:256M --disk fa:256M
    vm 82-powercut-size.sh --disk vol:256M --disk cut:256M
    vm 83-nojournal.sh --disk vol:256M
    vm 85-cli.sh --disk vol:512M
    vm 85-install.sh --disk vol:256M
    vm 86-docs.sh --disk vol:512M
    vm 87-crafted.sh --disk vol:256M
    vm 88-tune.sh --disk vol:256M

    # Crash consistency (Documentation/crash-testing.md): 200 crash points
    # (--long: >= 5000), in VMs of its own.
    case crash-test in *$only*)
        out=$("$LIVEDFS_ROOT/scripts/crash-test.sh" --no-build --kdir "$KDIR" --initramfs "$INITRD" \
            --points "$CRASH_POINTS" $([ $long -eq 1 ] && echo --long) 2>&1 | tee "$LOGS/${TAG}crash-test.log" | tail -n 1) || true
        grep -a '^FAIL: ' "$LOGS/${TAG}crash-test.log" | head -n 20 || true
        if [[ $out =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
            echo "${TAG}crash test: $out"
            PASSED=$((PASSED + BASH_REMATCH[1])) FAILED=$((FAILED + BASH_REMATCH[2]))
        else
            step_fail "${TAG}crash test" "see $LOGS/${TAG}crash-test.log"
        fi ;;
    esac
}

INITRD="$LIVEDFS_ROOT/build/$flavour.cpio"
"$LIVEDFS_ROOT/scripts/build-initramfs.sh" "$KDIR" "$INITRD"
SUBSET="" TAG="" VM_OPTS="" CRASH_POINTS=200 STRESS_SECS=60
vm_suite

# 6. The debug kernel: lock ordering (lockdep), memory errors (KASAN),
#    list and object debugging, on the tests that exercise shared blocks,
#    concurrency, failures, fsck and crashes. Slower (KASAN): a longer
#    timeout, fewer crash points.
if [ "$flavour" = base ] && [ $debug -eq 1 ]; then
    log "6/6 VM tests (debug kernel: lockdep, KASAN)"
    KDIR=$("$LIVEDFS_ROOT/scripts/build-kernel.sh" debug)
    echo "kernel: $KDIR"
    if make -s module KDIR="$KDIR" > "$LOGS/module-debug.log" 2>&1; then
        step_pass "module builds for the debug kernel"
    else
        cat "$LOGS/module-debug.log"; die "module build (debug kernel) failed"
    fi
    INITRD="$LIVEDFS_ROOT/build/debug.cpio"
    "$LIVEDFS_ROOT/scripts/build-initramfs.sh" "$KDIR" "$INITRD"
    SUBSET="01-kunit.sh 55-xattr.sh 56-fsfeatures.sh 57-fallocate.sh 70-dedup.sh 72-dedup-concurrent.sh 73-reflink.sh 76-stress.sh 77-failures.sh 79-hazards.sh 80-fsck.sh"
    TAG="debug-" VM_OPTS="--timeout 1800" CRASH_POINTS=20 STRESS_SECS=20
    vm_suite
    # Leave the module built for the base kernel (make install, the demo).
    make -s module KDIR="$("$LIVEDFS_ROOT/scripts/build-kernel.sh" base)" > "$LOGS/module.log" 2>&1 || true
fi

echo
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
