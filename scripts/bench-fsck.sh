#!/usr/bin/env bash
# Benchmark: fsck.livedfs against e2fsck, side by side on this machine,
# in one run (a benchmark, not a timed test: it prints ratios).
#
#  1. Fresh volume: `fsck.livedfs -fn` on a fresh sparse 1 TiB livedfs
#     image (mkfs.livedfs) against `e2fsck -fn` on a fresh sparse 1 TiB
#     ext3 image (mkfs.ext4 -t ext3). Goal: livedfs <= 0.5 x e2fsck.
#  2. Power cut: in the test VM, a large file is written to a livedfs
#     volume and to an ext4 volume (ext3 mode: mkfs.ext4 -t ext3, mounted
#     -t ext4 -o data=ordered) and the power is cut after N seconds
#     (tests/guest/bench-powercut-write.sh, as scripts/bench-recovery.sh);
#     with --ext4, also a default mkfs.ext4 volume (extents, flex_bg). On
#     the host, copies of the images (journals not yet replayed) are
#     checked with `fsck.livedfs -fy` against `e2fsck -fy` (full check of
#     the metadata: neither reads the data; goal <= 1.5 x e2fsck, issue
#     18) and with `-p` against `-p` (what boot runs: both replay the
#     journal and stop, as both kernels keep the superblock valid while
#     mounted with a journal; goal <= 2). The livedfs image is also
#     replayed twice, by the kernel
#     (mount -o ro in the VM: tests/guest/bench-replay-kernel.sh) and by
#     fsck.livedfs -E journal_only, and the results compared block by
#     block (all but the superblock's block and the journal superblock).
#  3. Filled volume (--filled, no VM): a VOLUME-sized livedfs image and an
#     ext3 image (mkfs.ext4 -t ext3) holding the same files, the regular
#     files given (VM images, as the evaluation corpus): livedfs filled on
#     the host by userspace/fsck/examples/fill.rs (the kernel's layout:
#     fingerprints, refcounts, zero blocks as holes, shared duplicates),
#     ext3 by mkfs.ext4 -d (with --ext4, also a default mkfs.ext4 image).
#     `fsck.livedfs -fn` against `e2fsck -fn` (goal <= 1.5 x e2fsck), and
#     `fsck.livedfs -fn -E scrub` (reads and hashes every data block)
#     against the same `e2fsck -fn`, for reference (no goal). With
#     --filled-journal N[:M], copies of these volumes as a power cut
#     right after a commit leaves them, without the VM: livedfs's journal
#     holds N committed blocks to replay (fill --journal), ext3's M
#     (debugfs jo, jw, jc; default M = N), zeros for free blocks of the
#     last group, so the replay costs what it costs and changes no
#     structure; `-fy` against `-fy` (goal <= 1.5) and `-p` against `-p`
#     (goal <= 2) on a fresh copy for every run, as in part 2.
#
# Each measurement is repeated RUNS times, alternating the tools, with the
# page cache dropped before each (echo 3 > /proc/sys/vm/drop_caches, when
# allowed); the median, min and max are printed, and the ratio of medians.
#
#   scripts/bench-fsck.sh [--runs N] [--size 1T] [--volume 8G]
#                         [--seconds 120] [--ext4] [--dir DIR]
#                         [--skip-fresh] [--skip-powercut] [--reuse]
#                         [--filled FILE]... [--filled-journal N[:M]]
#     --runs N       repetitions (default 3)
#     --size S       fresh-volume size (default 1T)
#     --volume S     power-cut volume size (default 8G)
#     --seconds N    seconds of writing before the power cut (default 120;
#                    TCG writes roughly 10-20 MB/s: 120 s gives 1-2 GiB)
#     --ext4         also a default-featured ext4 volume in parts 2 and 3
#     --dir DIR      work directory (default: a new one under $TMPDIR or
#                    /tmp, removed at the end; given, it is kept)
#     --reuse        with --dir: reuse power-cut images already in DIR
#     --skip-fresh, --skip-powercut   leave that part out
#     --filled FILE  store FILE in the filled volumes of part 3 (repeat
#                    for several files; part 3 runs only if given)
#     --filled-journal N[:M]  part 3 also on power-cut copies (above)
source "$(dirname "$0")/lib.sh"

RUNS=3 SIZE=1T VOLUME=8G SECS=120 EXT4=0 DIR="" REUSE=0 FRESH=1 POWERCUT=1 FILLED=() FJOURNAL=""
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --size) SIZE=$2; shift 2 ;;
        --volume) VOLUME=$2; shift 2 ;;
        --seconds) SECS=$2; shift 2 ;;
        --ext4) EXT4=1; shift ;;
        --dir) DIR=$2; shift 2 ;;
        --reuse) REUSE=1; shift ;;
        --skip-fresh) FRESH=0; shift ;;
        --skip-powercut) POWERCUT=0; shift ;;
        --filled) [ -f "${2:-}" ] || die "--filled takes a regular file, not '${2:-}'"
                  FILLED+=("$(realpath "$2")"); shift 2 ;;
        --filled-journal) FJOURNAL=$2; shift 2 ;;
        -h|--help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
case $RUNS in ''|*[!0-9]*|0) die "--runs takes a positive whole number, not '$RUNS'" ;; esac
command -v e2fsck > /dev/null || die "e2fsck is not installed (apt-get install e2fsprogs)"

cd "$LIVEDFS_ROOT"
TARGET=${CARGO_TARGET_DIR:-$LIVEDFS_ROOT/userspace/target}
log "building mkfs.livedfs and fsck.livedfs (release)"
(cd userspace && cargo build --release -q -p livedfs-mkfs -p livedfs-fsck -p livedfs-cli \
    && cargo build --release -q -p livedfs-fsck --example fill) || die "cargo build failed"
MKFS=$TARGET/release/mkfs-livedfs
FSCK=$TARGET/release/fsck-livedfs
FILL=$TARGET/release/examples/fill

if [ -z "$DIR" ]; then
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/bench-fsck.XXXXXX")
    trap 'rm -rf "$DIR"' EXIT
else
    mkdir -p "$DIR"
fi

DROP=yes
drop_caches() {
    sync
    if [ "$DROP" = yes ]; then
        echo 3 2> /dev/null > /proc/sys/vm/drop_caches || DROP=no
    fi
}
drop_caches
[ "$DROP" = yes ] || log "cannot drop the page cache (not root?): runs after the first are warm"

# timeit VAR CMD...: runs CMD (output to $DIR/last.out), sets VAR to the
# wall time in seconds and LAST_RC to its exit status.
timeit() {
    local var=$1 t0 t1
    shift
    drop_caches
    t0=$(date +%s%N)
    set +e
    "$@" > "$DIR/last.out" 2>&1
    LAST_RC=$?
    set -e
    t1=$(date +%s%N)
    printf -v "$var" '%s' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
}

# stats "t1 t2 ...": prints "median min max".
stats() {
    tr ' ' '\n' <<< "$1" | grep . | sort -g | awk '
        { v[NR] = $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.3f %.3f %.3f", m, v[1], v[NR] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

ROWS=()
# row NAME LIVEDFS_TIMES E2FSCK_TIMES GOAL: one line of the result table
# (GOAL "-": a reference line, no goal).
row() {
    local l e r verdict
    read -r lm lmin lmax <<< "$(stats "$2")"
    read -r em emin emax <<< "$(stats "$3")"
    r=$(ratio "$lm" "$em")
    if [ "$4" = - ]; then
        verdict="(no goal)"
    else
        verdict="<= $4: $(awk -v r="$r" -v g="$4" 'BEGIN { print (r + 0 <= g + 0) ? "met" : "NOT met" }')"
    fi
    ROWS+=("$(printf '| %s | %s (%s-%s) | %s (%s-%s) | %s | %s |' \
        "$1" "$lm" "$lmin" "$lmax" "$em" "$emin" "$emax" "$r" "$verdict")")
}

echo "fsck benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(uname -r)"
echo "fsck.livedfs $("$FSCK" -V | awk '{ print $2 }'), $(e2fsck -V 2>&1 | head -n 1); $RUNS runs each; page cache dropped before each run: $DROP"

# ---- 1. fresh volumes ------------------------------------------------------
if [ "$FRESH" = 1 ]; then
    log "fresh $SIZE volumes"
    rm -f "$DIR/fresh-livedfs.img" "$DIR/fresh-ext3.img"
    truncate -s "$SIZE" "$DIR/fresh-livedfs.img" "$DIR/fresh-ext3.img"
    "$MKFS" -q -F "$DIR/fresh-livedfs.img"
    mkfs.ext4 -q -F -t ext3 "$DIR/fresh-ext3.img"
    lt="" et=""
    for i in $(seq "$RUNS"); do
        timeit t "$FSCK" -fn "$DIR/fresh-livedfs.img"
        [ "$LAST_RC" = 0 ] || { cat "$DIR/last.out"; die "fsck.livedfs -fn on the fresh volume: exit $LAST_RC"; }
        lt+=" $t"
        timeit t2 e2fsck -fn "$DIR/fresh-ext3.img"
        [ "$LAST_RC" = 0 ] || { cat "$DIR/last.out"; die "e2fsck -fn on the fresh volume: exit $LAST_RC"; }
        et+=" $t2"
        log "run $i: fsck.livedfs -fn ${t}s, e2fsck -fn ${t2}s"
    done
    row "fresh $SIZE: \`fsck.livedfs -fn\` vs \`e2fsck -fn\` (ext3)" "$lt" "$et" 0.5
    rm -f "$DIR/fresh-livedfs.img" "$DIR/fresh-ext3.img"
fi

# ---- 2. after a power cut ---------------------------------------------------
if [ "$POWERCUT" = 1 ]; then
    KDIR=$(scripts/build-kernel.sh base)
    fss="livedfs ext3"
    [ "$EXT4" = 1 ] && fss+=" ext4"
    declare -A written
    need_vm=0
    for fs in $fss; do
        [ "$REUSE" = 1 ] && [ -f "$DIR/cut-$fs.img" ] && [ -f "$DIR/cut-$fs.log" ] || need_vm=1
    done
    if [ "$need_vm" = 1 ]; then
        log "building the VM's initramfs"
        [ -f livedfs.ko ] || make -s module > /dev/null || die "make module failed"
        (cd userspace && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release -q \
            --target x86_64-unknown-linux-gnu -p livedfs-fstests) || die "static build of datatest failed"
        scripts/build-initramfs.sh "$KDIR" "$DIR/base.cpio"
    fi
    for fs in $fss; do
        img="$DIR/cut-$fs.img"
        if [ "$REUSE" = 1 ] && [ -f "$img" ] && [ -f "$DIR/cut-$fs.log" ]; then
            log "$fs: reusing $img"
        else
            log "$fs: writing for $SECS s in the VM, then cutting the power"
            rm -f "$img"
            truncate -s "$VOLUME" "$img"
            case $fs in
                livedfs) "$MKFS" -q -F "$img" ;;
                ext3) mkfs.ext4 -q -F -t ext3 "$img" ;;
                ext4) mkfs.ext4 -q -F "$img" ;;
            esac
            guestfs=$fs
            [ "$fs" = ext4 ] && guestfs=ext3 # the guest mounts both with -t ext4 -o data=ordered
            scripts/vm.sh --kdir "$KDIR" --initramfs "$DIR/base.cpio" --timeout $((SECS + 300)) \
                --image "vol:$img" --log "$DIR/cut-$fs.log" \
                bench-powercut-write.sh "$guestfs" "$SECS" > /dev/null 2>&1 || true
            grep -q 'cutting the power' "$DIR/cut-$fs.log" \
                || die "$fs: the write phase did not run (see $DIR/cut-$fs.log)"
        fi
        written[$fs]=$(sed -n 's/^LIVEDFS-BENCH written_bytes=//p' "$DIR/cut-$fs.log" | tr -d '\r')
    done
    # The same power-cut image replayed by the kernel (mount -o ro in the
    # VM) and by fsck.livedfs -E journal_only: every block but the
    # superblock's and the journal superblock must be equal.
    log "replay equivalence on the livedfs power-cut image"
    cp --sparse=always "$DIR/cut-livedfs.img" "$DIR/replay-kernel.img"
    cp --sparse=always "$DIR/cut-livedfs.img" "$DIR/replay-fsck.img"
    scripts/build-initramfs.sh "$KDIR" "$DIR/replay.cpio"
    scripts/vm.sh --kdir "$KDIR" --initramfs "$DIR/replay.cpio" --timeout 600 \
        --image "vol:$DIR/replay-kernel.img" --log "$DIR/replay-kernel.log" \
        bench-replay-kernel.sh > /dev/null 2>&1 || { grep FAIL "$DIR/replay-kernel.log"; die "the kernel's replay failed (see $DIR/replay-kernel.log)"; }
    "$FSCK" -v -E journal_only -y "$DIR/replay-fsck.img" > "$DIR/replay-fsck.log" 2>&1 \
        || { cat "$DIR/replay-fsck.log"; die "fsck.livedfs -E journal_only failed"; }
    bs=$("$TARGET/release/livedfs" info "$DIR/replay-fsck.img" 2> /dev/null | sed -n 's/^ *Block size: *//p')
    jstart=$("$TARGET/release/livedfs" info "$DIR/replay-fsck.img" 2> /dev/null | sed -n 's/^ *Journal start block: *//p')
    blocks_differ() {
        { cmp -l "$1" "$2" || true; } | awk -v bs="$bs" -v j="$jstart" '
            { b = int(($1 - 1) / bs); if (b != 0 && b != j && b != last) { n++; last = b } } END { print n + 0 }'
    }
    changed=$(blocks_differ "$DIR/cut-livedfs.img" "$DIR/replay-fsck.img")
    differ=$(blocks_differ "$DIR/replay-kernel.img" "$DIR/replay-fsck.img")
    REPLAY="replay of the livedfs power-cut image: $(sed -n 's/^Journal: //p' "$DIR/replay-fsck.log"); $changed home blocks changed; kernel (mount -o ro) vs fsck.livedfs -E journal_only: $differ blocks differ (superblock and journal superblock excluded)"
    echo "$REPLAY"
    rm -f "$DIR/replay-kernel.img" "$DIR/replay-fsck.img"

    for mode in -fy -p; do
        declare -A times=() rcs=() summary=()
        for i in $(seq "$RUNS"); do
            for fs in $fss; do
                cp --sparse=always "$DIR/cut-$fs.img" "$DIR/work.img"
                if [ "$fs" = livedfs ]; then
                    timeit t "$FSCK" "$mode" "$DIR/work.img"
                else
                    timeit t e2fsck "$mode" "$DIR/work.img"
                fi
                [ "$LAST_RC" -le 1 ] || { cat "$DIR/last.out"; die "$fs: fsck $mode: exit $LAST_RC"; }
                times[$fs]+=" $t"
                rcs[$fs]+=" $LAST_RC"
                summary[$fs]=$(grep -E 'files|blocks' "$DIR/last.out" | tail -n 1)
                log "run $i: $fs $mode ${t}s (exit $LAST_RC)"
            done
        done
        for fs in $fss; do
            echo "after the power cut, $mode, $fs: exit codes${rcs[$fs]}; ${summary[$fs]}"
        done
        for fs in $fss; do
            [ "$fs" = livedfs ] && continue
            label="ext4 (ext3 mode)"
            [ "$fs" = ext4 ] && label="ext4 (default features)"
            goal=2
            [ "$mode" = -fy ] && goal=1.5
            row "power cut ($VOLUME volume; livedfs wrote $((written[livedfs] / 1048576)) MiB, $label $((written[$fs] / 1048576)) MiB): \`fsck.livedfs $mode\` vs \`e2fsck $mode\` on $label" \
                "${times[livedfs]}" "${times[$fs]}" "$goal"
        done
    done
    rm -f "$DIR/work.img"
fi

# ---- 3. filled volumes -------------------------------------------------------
if [ "${#FILLED[@]}" -gt 0 ]; then
    log "filled $VOLUME volumes: ${FILLED[*]}"
    rm -f "$DIR/filled-livedfs.img" "$DIR/filled-ext3.img"
    truncate -s "$VOLUME" "$DIR/filled-livedfs.img" "$DIR/filled-ext3.img"
    "$MKFS" -q -F "$DIR/filled-livedfs.img"
    FILLINFO=$("$FILL" "$DIR/filled-livedfs.img" "${FILLED[@]}") || die "filling the livedfs volume failed"
    # mke2fs -d copies a directory's files (zero blocks as holes, as
    # livedfs keeps them): one holding (links to) the same files.
    ext3dir="$DIR/filled-ext3-src"
    rm -rf "$ext3dir"; mkdir "$ext3dir"
    for f in "${FILLED[@]}"; do ln "$f" "$ext3dir/" 2> /dev/null || cp --sparse=always "$f" "$ext3dir/"; done
    mkfs.ext4 -q -F -t ext3 -d "$ext3dir" "$DIR/filled-ext3.img"
    if [ "$EXT4" = 1 ]; then
        truncate -s "$VOLUME" "$DIR/filled-ext4.img"
        mkfs.ext4 -q -F -d "$ext3dir" "$DIR/filled-ext4.img"
    fi
    rm -rf "$ext3dir"
    lt="" st="" et="" e4t="" lsum="" ssum="" esum="" e4sum=""
    for i in $(seq "$RUNS"); do
        if [ "$EXT4" = 1 ]; then
            timeit t4 e2fsck -fn "$DIR/filled-ext4.img"
            [ "$LAST_RC" = 0 ] || { cat "$DIR/last.out"; die "e2fsck -fn on the filled ext4 volume: exit $LAST_RC"; }
            e4t+=" $t4"; e4sum=$(tail -n 1 "$DIR/last.out")
            log "run $i: e2fsck -fn (ext4, default features) ${t4}s"
        fi
        timeit t "$FSCK" -fn "$DIR/filled-livedfs.img"
        [ "$LAST_RC" = 0 ] || { cat "$DIR/last.out"; die "fsck.livedfs -fn on the filled volume: exit $LAST_RC"; }
        lt+=" $t"; lsum=$(tail -n 1 "$DIR/last.out")
        timeit t2 e2fsck -fn "$DIR/filled-ext3.img"
        [ "$LAST_RC" = 0 ] || { cat "$DIR/last.out"; die "e2fsck -fn on the filled volume: exit $LAST_RC"; }
        et+=" $t2"; esum=$(tail -n 1 "$DIR/last.out")
        timeit t3 "$FSCK" -fn -E scrub "$DIR/filled-livedfs.img"
        [ "$LAST_RC" = 0 ] || { cat "$DIR/last.out"; die "fsck.livedfs -fn -E scrub on the filled volume: exit $LAST_RC"; }
        st+=" $t3"; ssum=$(tail -n 1 "$DIR/last.out")
        log "run $i: fsck.livedfs -fn ${t}s, e2fsck -fn ${t2}s, fsck.livedfs -fn -E scrub ${t3}s"
    done
    FILLED_INFO="filled volumes ($VOLUME): $FILLINFO
fsck.livedfs -fn: $lsum
fsck.livedfs -fn -E scrub: $ssum
e2fsck -fn (ext3): $esum"
    [ "$EXT4" = 1 ] && FILLED_INFO+="
e2fsck -fn (ext4): $e4sum"
    echo "$FILLED_INFO"
    row "filled $VOLUME volume (${#FILLED[@]} files): \`fsck.livedfs -fn\` vs \`e2fsck -fn\` (ext3)" "$lt" "$et" 1.5
    [ "$EXT4" = 1 ] && row "same, \`fsck.livedfs -fn\` vs \`e2fsck -fn\` (ext4, default features)" "$lt" "$e4t" 1.5
    row "same, \`fsck.livedfs -fn -E scrub\` vs \`e2fsck -fn\` (ext3; the scrub reads the data)" "$st" "$et" -

    if [ -n "$FJOURNAL" ]; then
        nl=${FJOURNAL%%:*} ne=${FJOURNAL#*:}
        case "$nl$ne" in ''|*[!0-9]*) die "--filled-journal takes N or N:M, not '$FJOURNAL'" ;; esac
        log "power-cut copies: $nl blocks to replay for livedfs, $ne for ext3/ext4"
        fss="livedfs ext3"
        [ "$EXT4" = 1 ] && fss+=" ext4"
        cp --sparse=always "$DIR/filled-livedfs.img" "$DIR/fcut-livedfs.img"
        "$FILL" --journal "$nl" "$DIR/fcut-livedfs.img" > /dev/null || die "fill --journal failed"
        head -c $((ne * 4096)) /dev/zero > "$DIR/zeros"
        for fs in ext3 ext4; do
            case " $fss " in *" $fs "*) ;; *) continue ;; esac
            cp --sparse=always "$DIR/filled-$fs.img" "$DIR/fcut-$fs.img"
            # Free blocks at the start of the last group's free range.
            range=$(dumpe2fs "$DIR/fcut-$fs.img" 2> /dev/null | sed -n 's/^ *Free blocks: \([0-9]*\)-\([0-9]*\).*/\1 \2/p' | tail -n 1)
            read -r first last <<< "$range"
            [ -n "$first" ] && [ $((last - first + 1)) -ge "$ne" ] || die "$fs: no $ne free blocks in a row in the last group"
            jo=jo
            dumpe2fs -h "$DIR/fcut-$fs.img" 2> /dev/null | grep -q metadata_csum && jo="jo -c"
            printf '%s\njw -b %s-%s %s\njc\n' "$jo" "$first" $((first + ne - 1)) "$DIR/zeros" > "$DIR/jw.cmd"
            debugfs -w -f "$DIR/jw.cmd" "$DIR/fcut-$fs.img" > /dev/null 2>&1 || die "$fs: debugfs could not write the journal"
            dumpe2fs -h "$DIR/fcut-$fs.img" 2> /dev/null | grep -q needs_recovery || die "$fs: the journal needs no recovery after debugfs"
        done
        rm -f "$DIR/zeros" "$DIR/jw.cmd"
        for mode in -fy -p; do
            declare -A times=() rcs=()
            for i in $(seq "$RUNS"); do
                for fs in $fss; do
                    cp --sparse=always "$DIR/fcut-$fs.img" "$DIR/work.img"
                    if [ "$fs" = livedfs ]; then
                        timeit t "$FSCK" "$mode" "$DIR/work.img"
                    else
                        timeit t e2fsck "$mode" "$DIR/work.img"
                    fi
                    [ "$LAST_RC" -le 1 ] || { cat "$DIR/last.out"; die "$fs: fsck $mode on the power-cut copy: exit $LAST_RC"; }
                    grep -q "recovering journal" "$DIR/last.out" || { cat "$DIR/last.out"; die "$fs: fsck $mode did not replay"; }
                    times[$fs]+=" $t"
                    rcs[$fs]+=" $LAST_RC"
                    log "run $i: power-cut copy, $fs $mode ${t}s (exit $LAST_RC)"
                done
            done
            for fs in $fss; do
                FILLED_INFO+="
power-cut copy, $mode, $fs: exit codes${rcs[$fs]}"
            done
            goal=2
            [ "$mode" = -fy ] && goal=1.5
            for fs in $fss; do
                [ "$fs" = livedfs ] && continue
                label="ext3"
                [ "$fs" = ext4 ] && label="ext4, default features"
                row "filled $VOLUME volume, power-cut copy ($nl blocks to replay; $label: $ne): \`fsck.livedfs $mode\` vs \`e2fsck $mode\` ($label)" \
                    "${times[livedfs]}" "${times[$fs]}" "$goal"
            done
        done
        rm -f "$DIR/work.img" "$DIR"/fcut-*.img
    fi
    rm -f "$DIR/filled-livedfs.img" "$DIR/filled-ext3.img" "$DIR/filled-ext4.img"
fi

echo
[ -z "${REPLAY:-}" ] || echo "$REPLAY"
[ -z "${FILLED_INFO:-}" ] || echo "$FILLED_INFO"
echo "| measurement | fsck.livedfs s: median (min-max) | e2fsck s: median (min-max) | ratio of medians | goal |"
echo "|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
