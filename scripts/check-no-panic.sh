#!/usr/bin/env bash
# Kernel code never panics: prove that the module's Rust object calls no
# panic entry point of `core` (bounds checks, overflow checks, unwrap,
# division by zero all end in one). A panic in the kernel is a BUG().
#
#   scripts/check-no-panic.sh [rust/livedfs.o]
source "$(dirname "$0")/lib.sh"
obj=${1:-$LIVEDFS_ROOT/rust/livedfs.o}
[ -f "$obj" ] || die "$obj not built: run make module"
syms=$(nm -u "$obj" | awk '{print $2}' | grep -E '4core9panicking|slice_index|unwrap_failed|expect_failed|str_index_overflow|cell_panic|panic_bounds_check|assert_failed|len_mismatch_fail' || true)
if [ -z "$syms" ]; then
    echo "no panic paths in $(basename "$obj")"
    exit 0
fi
echo "panic paths in $(basename "$obj"): each symbol below is called from livedfs code"
for s in $syms; do
    echo "  $s"
    objdump -dr --no-show-raw-insn "$obj" | awk -v s="$s" '
        /^[0-9a-f]+ <.*>:$/ { fn = $2 }
        index($0, s) { print "      from " fn }' | sort -u | head -n 8
done
exit 1
