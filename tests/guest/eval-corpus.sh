# Evaluation B1-B3 and mount time (run by scripts/evaluate.sh): import the
# VM-image corpus into one file system, image after image, then read it
# back. The corpus is the disk `corpus` (the images concatenated on the
# host, each at a whole MiB offset); the volume under test is `vol`.
#   eval-corpus.sh VARIANT VERIFY NAME:OFFSET_MIB:SIZE_MIB:MD5...
# For each image in order:
#   B2     dd corpus[offset..] -> NAME (1 MiB requests), sync: the insert time
#   B1     space used after it (statfs, and livedfs's counters)
#   mount  unmount, drop caches, mount again: the mount time (and livedfs's
#          filter build time) against the data stored so far
# B2 and B3-one records carry the guest CPU seconds of their timed span
# (cpu_s, iowait_s: eval-lib.sh's cpu_since).
# Then, with VERIFY=1, every file's MD5 is compared with the image's (the
# host's md5sum), and
#   B3-one each image read back alone (caches dropped before each)
#   B3-par the first K images read back at once, K = 1..4 (VM startups)
. /tests/eval-lib.sh
V=$1 VERIFY=$2
shift 2
SRC=$(disk corpus)
VOL=$(disk vol)
blockdev --setro "$SRC"
M=/mnt/eval
mkdir -p $M
check "mount $V" mount_fs "$V" "$VOL" $M
base=$(statfs_used $M)
rec phase=B0 fs="$V" used_blocks="$base"
i=0
for spec in "$@"; do
    IFS=: read -r name off mib sum <<EOF
$spec
EOF
    i=$((i + 1))
    drop_caches
    c0=$(cpu_busy); t0=$(now); dd if="$SRC" of="$M/$name" bs=1M skip="$off" count="$mib" 2>/dev/null; sync; t=$(since "$t0"); cpu=$(cpu_since "$c0")
    rec phase=B2 fs="$V" idx=$i image="$name" seconds="$t" bytes=$((mib * 1048576)) "$cpu"
    rec phase=B1 fs="$V" idx=$i image="$name" used_blocks=$(( $(statfs_used $M) - base )) \
        du_kib="$(du -k -s $M | cut -f1)" $(lstats "$VOL")
    umount $M || fail "umount $V" "after $name"
    drop_caches
    t0=$(now); mount_fs "$V" "$VOL" $M; t=$(since "$t0")
    rec phase=mount fs="$V" idx=$i seconds="$t" used_blocks=$(( $(statfs_used $M) - base )) $(lstats "$VOL")
done
check_eq "$V: every image imported" "$#" "$(ls $M | grep -vc lost+found)"
if [ "$VERIFY" = 1 ]; then
    # Every image reads back bit-exact: its MD5 against the host's.
    for spec in "$@"; do
        IFS=: read -r name off mib sum <<EOF
$spec
EOF
        check_eq "$V: $name reads back identical" "$sum" "$(dd if="$M/$name" bs=1M 2>/dev/null | md5sum | cut -d' ' -f1)"
    done
fi
for spec in "$@"; do
    name=${spec%%:*}
    drop_caches
    c0=$(cpu_busy); t0=$(now); dd if="$M/$name" of=/dev/null bs=1M 2>/dev/null; t=$(since "$t0"); cpu=$(cpu_since "$c0")
    rec phase=B3-one fs="$V" image="$name" seconds="$t" bytes="$(stat -c %s "$M/$name")" "$cpu"
done
names=$(for spec in "$@"; do echo "${spec%%:*}"; done)
for k in 1 2 3 4; do
    [ "$k" -le "$#" ] || break
    drop_caches
    t0=$(now)
    for name in $(echo "$names" | head -n "$k"); do
        dd if="$M/$name" of=/dev/null bs=1M 2>/dev/null &
    done
    wait
    t=$(since "$t0")
    rec phase=B3-par fs="$V" k="$k" seconds="$t"
done
check "umount" umount $M
