#!/usr/bin/env bash
# Kernel code never panics: prove that no function of the livedfs crate
# (the module's own code and the format crate compiled into it) can reach a
# panic entry point of `core` (bounds, overflow and division checks, unwrap
# all end in one). A panic in the kernel is a BUG().
#
# Functions rooted in `core` or `kernel` (library code instantiated for our
# types, e.g. Vec::push's length check) are listed for information only.
#
#   scripts/check-no-panic.sh [rust/livedfs.o]
source "$(dirname "$0")/lib.sh"
obj=${1:-$LIVEDFS_ROOT/rust/livedfs.o}
[ -f "$obj" ] || die "$obj not built: run make module"
report=$(objdump -dr --no-show-raw-insn "$obj" | awk '
    /^[0-9a-f]+ <.*>:$/ { fn = substr($2, 2, length($2) - 3) }
    /R_X86_64_PLT32/ && /(4core9panicking|slice_index|unwrap_failed|expect_failed|panic_bounds_check|assert_failed|len_mismatch_fail|str_index_overflow)/ {
        target = $NF; sub(/-0x4$/, "", target)
        print fn " " target
    }' | sort -u)
ours=""
theirs=""
while read -r fn target; do
    [ -n "$fn" ] || continue
    # The crate a symbol belongs to is the first crate named in it.
    root=$(echo "$fn" | grep -oE 'Cs[0-9A-Za-z]+_[0-9]+[a-z_]+' | head -n1 | sed -E 's/^Cs[0-9A-Za-z]+_[0-9]+//')
    line="  $(echo "$fn" | cut -c1-140)
      -> $(echo "$target" | sed -E 's/.*panic_const_//; s/.*(slice_index[a-z_]*).*/\1/')"
    if [ "$root" = livedfs ]; then ours="$ours$line"$'\n'; else theirs="$theirs$line"$'\n'; fi
done <<< "$report"
if [ -n "$theirs" ]; then
    echo "library code (core/kernel) with checks, for information:"
    printf '%s' "$theirs"
fi
if [ -n "$ours" ]; then
    echo "panic paths in livedfs code:"
    printf '%s' "$ours"
    exit 1
fi
echo "no panic paths in livedfs code"
