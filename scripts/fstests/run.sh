#!/bin/bash
# Runs inside the fstests guest (started by /usr/local/sbin/fstests-init
# from the job disk, which scripts/fstests.sh writes): installs the livedfs
# module and tools, then runs each listed test alone (`./check TEST`, under
# a timeout) on each file system in turn (livedfs, then ext4, then the next
# test), and records each result on the job disk as soon as it is known:
#
#   /job/out/results.tsv      fs, test, status, seconds, reason (one line)
#   /job/out/FS/TEST.*        check's output, the .out.bad, its diff against
#                             the golden output, .full, .dmesg, .notrun
#   /job/out/running          the test in progress (gone when it ended)
#
# Status: pass, fail, notrun, timeout, error (check itself gave no result).
# After a timeout the guest stops (a hung test may hold the disks); the
# host boots a fresh VM for the tests left.
set -u
. /job/job.conf
# No udev in the guest: device-mapper (dmsetup, lvm) creates its /dev/mapper
# nodes itself instead of waiting for udev (dm-flakey, dm-log-writes tests).
export DM_DISABLE_UDEV=1
XFSTESTS=/opt/xfstests
OUT=/job/out
mkdir -p "$OUT"
say() { echo "FSTESTS-$*"; }

KREL=$(uname -r)
mkdir -p "/lib/modules/$KREL/extra"
cp /job/livedfs.ko "/lib/modules/$KREL/extra/livedfs.ko"
touch "/lib/modules/$KREL/modules.order" "/lib/modules/$KREL/modules.builtin"
depmod -a "$KREL" 2>/dev/null
install -m 0755 /job/tools/mkfs-livedfs /sbin/mkfs.livedfs
install -m 0755 /job/tools/fsck-livedfs /sbin/fsck.livedfs
install -m 0755 /job/tools/livedfs /usr/local/sbin/livedfs
modprobe livedfs || insmod "/lib/modules/$KREL/extra/livedfs.ko" || say "ERROR cannot load livedfs.ko"
sysctl -q -w kernel.io_uring_disabled=0 2>/dev/null
# fstests reads the kernel config for a few _require checks.
[ -f /job/kconfig ] && cp /job/kconfig "/boot/config-$KREL" 2>/dev/null

dev_of() {
    local b
    for b in /sys/block/vd*; do
        [ "$(cat "$b/serial" 2>/dev/null)" = "$1" ] && { echo "/dev/${b##*/}"; return 0; }
    done
    return 1
}
SCRATCH_DEV=$(dev_of scratch) LOGWRITES_DEV=$(dev_of logwrites) \
    || { say "ERROR missing disks (serials scratch, logwrites)"; exit 1; }
SPARE_DEV=$(dev_of spare || true)
say "READY kernel $KREL scratch=$SCRATCH_DEV logwrites=$LOGWRITES_DEV spare=$SPARE_DEV"

# Each file system has its own TEST_DEV (serial test-FS, formatted at every
# boot, aging across the tests as fstests expects); SCRATCH_DEV and the
# others are shared.
for fs in $FS_LIST; do
    dev=$(dev_of "test-$fs") || { say "ERROR no disk test-$fs"; exit 1; }
    case $fs in
        livedfs|livedfs-nodedup) mkfs_cmd=(mkfs.livedfs -q -F) opts=$LIVEDFS_MKFS_OPTIONS ;;
        ext4)    mkfs_cmd=(mkfs.ext4 -q -F) opts=$EXT4_MKFS_OPTIONS ;;
        *)       say "ERROR unknown file system $fs"; exit 1 ;;
    esac
    # shellcheck disable=SC2086
    "${mkfs_cmd[@]}" $opts "$dev" > /tmp/mkfs.out 2>&1 \
        || { say "ERROR mkfs of $dev for $fs failed: $(tr '\n' ' ' < /tmp/mkfs.out)"; exit 1; }
    say "TEST_DEV $fs $dev"
done

# fstests' local.config for one file system (livedfs-nodedup: livedfs with
# every mount -o nodedup).
configure() {
    local fs=$1 mkfs_opts fsck_opts fstyp=$1 mount_opts=""
    case $fs in
        livedfs) mkfs_opts=$LIVEDFS_MKFS_OPTIONS fsck_opts=$LIVEDFS_FSCK_OPTIONS ;;
        livedfs-nodedup)
            mkfs_opts=$LIVEDFS_MKFS_OPTIONS fsck_opts=$LIVEDFS_FSCK_OPTIONS
            fstyp=livedfs mount_opts="-o nodedup" ;;
        ext4)    mkfs_opts=$EXT4_MKFS_OPTIONS fsck_opts="" ;;
    esac
    {
        echo "export FSTYP=$fstyp"
        [ -z "$mount_opts" ] || echo "export MOUNT_OPTIONS='$mount_opts' TEST_FS_MOUNT_OPTS='$mount_opts'"
        echo "export TEST_DEV=$(dev_of "test-$fs") TEST_DIR=/mnt/test"
        echo "export SCRATCH_DEV=$SCRATCH_DEV SCRATCH_MNT=/mnt/scratch"
        echo "export LOGWRITES_DEV=$LOGWRITES_DEV"
        [ -z "$mkfs_opts" ] || echo "export MKFS_OPTIONS='$mkfs_opts'"
        [ -z "$fsck_opts" ] || echo "export FSCK_OPTIONS='$fsck_opts'"
        [ -z "$EXTRA_CONFIG" ] || echo "$EXTRA_CONFIG"
        echo "export RESULT_BASE=$XFSTESTS/results/$fs"
        echo "export KEEP_DMESG=yes DIFF_LENGTH=20 DM_DISABLE_UDEV=1"
        echo "export KCONFIG_PATH=/boot/config-$KREL"
    } > "$XFSTESTS/local.config"
}

# Copy a result file, at most 512 KiB of it (the head and the tail).
copy_capped() {
    local src=$1 dst=$2 size
    [ -f "$src" ] || return 0
    size=$(stat -c %s "$src")
    if [ "$size" -le 524288 ]; then
        cp "$src" "$dst"
    else
        { head -c 262144 "$src"; printf '\n[... %s bytes cut by scripts/fstests/run.sh ...]\n' "$size"
          tail -c 262144 "$src"; } > "$dst"
    fi
}

cd "$XFSTESTS" || exit 1
# common/rc and common/log with livedfs's cases in _scratch_mkfs_sized,
# _scratch_mkfs_blocksized and the log-state probe
# (scripts/fstests/livedfs-support.patch, applied by the host); the root
# disk is a snapshot, so at every boot.
[ -d /job/fstests-common ] && cp /job/fstests-common/* common/
# Interleaved: each test on every file system before the next test, so
# that a partial run compares like with like. /job/tests lists the tests
# in order; /job/tests.FS those FS still has to run.
while read -r t; do
    [ -n "$t" ] || continue
    for fs in $FS_LIST; do
        grep -qxF "$t" "/job/tests.$fs" || continue
        umount /mnt/test /mnt/scratch 2>/dev/null
        configure "$fs"
        mkdir -p "$OUT/$fs"
        echo "$fs $t $(date +%s)" > "$OUT/running"
        sync
        say "START $fs $t"
        rm -rf "results/$fs/$t".*
        start=$(date +%s)
        timeout -k 60 "$TIMEOUT" ./check "$t" > /tmp/check.out 2>&1 < /dev/null
        rc=$?
        secs=$(( $(date +%s) - start ))
        cat /tmp/check.out
        reason=""
        if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
            status=timeout reason="killed after ${TIMEOUT}s (--timeout)"
        elif grep -q "^Not run: .*$t" /tmp/check.out; then
            status=notrun reason=$(head -n1 "results/$fs/$t.notrun" 2>/dev/null)
        elif grep -q "^Failures: .*$t" /tmp/check.out; then
            status=fail
            # check's own lines about the test: its status line after the
            # name and timing, and the _check_* complaints; not the diff.
            reason=$(awk -v t="$t" '
                /^Ran: / { exit }
                index($0, t) == 1 { sub("^" t "[ \t]*([0-9]+s \\.\\.\\.)?[ \t]*", ""); if ($0 != "") print; next }
                /^    / || /^\.\.\.$/ || /^\(Run / || /^SECTION/ || /^FSTYP/ || /^PLATFORM/ || /^MKFS_OPTIONS/ || /^MOUNT_OPTIONS/ || /^$/ { next }
                { print }' /tmp/check.out | head -n 3 | sed 's/ (see [^)]*)//' | paste -sd ';' | sed 's/;/; /g')
            [ -n "$reason" ] || reason="failed"
        elif grep -q "^Passed all" /tmp/check.out; then
            status=pass
        else
            status=error reason="check gave no result (exit $rc): $(grep -v '^$' /tmp/check.out | tail -n 1)"
        fi
        d="$OUT/$fs/$(dirname "$t")"
        mkdir -p "$d"
        base="$OUT/$fs/$t"
        copy_capped /tmp/check.out "$base.check"
        for ext in out.bad full dmesg notrun hints; do
            copy_capped "results/$fs/$t.$ext" "$base.$ext"
        done
        if [ -f "results/$fs/$t.out.bad" ]; then
            diff -u "tests/$t.out" "results/$fs/$t.out.bad" | head -n 400 > "$base.diff"
        fi
        [ "$status" = pass ] && rm -f "$base.full" "$base.check" "$base.dmesg"
        printf '%s\t%s\t%s\t%s\t%s\n' "$fs" "$t" "$status" "$secs" "$(echo "$reason" | tr '\t\n' '  ')" >> "$OUT/results.tsv"
        rm -f "$OUT/running"
        sync
        say "END $fs $t $status ${secs}s $reason"
        if [ "$status" = timeout ]; then
            say "RESTART after a timeout"
            dmesg > "$OUT/dmesg-timeout.txt"
            sync
            exit 0
        fi
    done
done < /job/tests
umount /mnt/test /mnt/scratch 2>/dev/null
dmesg > "$OUT/dmesg.txt"
sync
say "ALL-DONE"
