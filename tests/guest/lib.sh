# Test helpers for guest scripts (busybox sh). Each check prints one
# PASS/FAIL line; `finish` prints the totals the host runner counts.
PASS=0
FAIL=0

pass() { PASS=$((PASS + 1)); echo "PASS: $1"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL: $1: $2"; }

# check NAME CMD...: CMD must succeed.
check() {
    name=$1; shift
    if "$@" >/tmp/check.out 2>&1; then pass "$name"
    else fail "$name" "exit $?: $(tail -n 3 /tmp/check.out | tr '\n' ' ')"; fi
}

# check_fails NAME CMD...: CMD must fail.
check_fails() {
    name=$1; shift
    if "$@" >/tmp/check.out 2>&1; then fail "$name" "succeeded but should have failed"
    else pass "$name"; fi
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}

# check_exit NAME EXPECTED CMD...: CMD exits with status EXPECTED; its
# output is shown when it does not.
check_exit() {
    name=$1 want=$2; shift 2
    "$@" > /tmp/check_exit.out 2>&1
    rc=$?
    check_eq "$name" "$want" "$rc"
    [ "$rc" = "$want" ] || cat /tmp/check_exit.out
}

# check_dmesg NAME PATTERN: the kernel log (since the last mark) matches.
check_dmesg() {
    if dmesg | sed -n "/LIVEDFS-MARK $MARK/,\$p" | grep -q -- "$2"; then pass "$1"
    else fail "$1" "no kernel message matching '$2'"; fi
}

# mark: start a new dmesg window for check_dmesg.
MARK=0
mark() { MARK=$((MARK + 1)); echo "LIVEDFS-MARK $MARK" > /dev/kmsg; }

# disk NAME: the /dev node of the scratch disk the host attached as NAME.
disk() {
    for d in /sys/block/vd*; do
        if [ "$(cat "$d/serial" 2>/dev/null)" = "$1" ]; then echo "/dev/${d##*/}"; return 0; fi
    done
    echo "/dev/null-no-disk-$1"
    return 1
}

# errno_of CMD...: run CMD, print the error text it reported (for exact
# errno checks such as "Invalid argument").
finish() {
    echo "LIVEDFS-RESULT pass=$PASS fail=$FAIL"
    [ "$FAIL" -eq 0 ]
}

# check_err NAME TEXT CMD...: CMD must fail and say TEXT (e.g. the strerror
# of the expected errno, "Invalid argument").
check_err() {
    name=$1 text=$2; shift 2
    if "$@" >/tmp/check.out 2>&1; then fail "$name" "succeeded but should have failed with '$text'"
    elif grep -q -- "$text" /tmp/check.out; then pass "$name"
    else fail "$name" "expected '$text', got: $(tail -n 2 /tmp/check.out | tr '\n' ' ')"; fi
}

# flip_byte DEV OFFSET: invert one byte of a device.
flip_byte() {
    b=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
    printf "$(printf '\\%03o' $((255 - b)))" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc 2>/dev/null
}
