# Pages that change under DMA while they are written back (issue 16): a
# disk's O_DIRECT read lands in a mapped file (its pages are pinned, which
# neither the page lock nor write protection stops). Each such block must
# be fingerprinted and written from a stable copy, so what is on the disk
# always matches its recorded fingerprint (fsck -E scrub compares every stored
# block). A test delay between fingerprinting and writing makes the race
# happen on every run.
VOL=$(disk vol)
DEV=${VOL#/dev/}
SRC=$(disk src)
M=/mnt/a
S=/sys/fs/livedfs/$DEV
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check "random data on the source disk" dd if=/dev/urandom of="$SRC" bs=1M count=64
check "arm: 20 ms between fingerprint and write" sh -c "echo 20 > $S/test_delay_after_hash_ms"
# Whether a writeback meets a page while its DMA is in flight is up to
# the scheduler (one CI run in many met none in 20 s): rounds go on, each
# checked in full, until one did, at most five.
round=0
while [ $round -lt 5 ]; do
    round=$((round + 1))
    check "round $round: O_DIRECT reads into a mapped file while it is written back" \
        pintest $M/f "$SRC" --seconds ${1:-20}
    [ "$(cat $S/pinned_copies)" -gt 0 ] && break
done
check "disarm" sh -c "echo 0 > $S/test_delay_after_hash_ms"
echo "pinned_copies: $(cat $S/pinned_copies) after $round round(s)"
check "pinned pages were written from a stable copy" test "$(cat $S/pinned_copies)" -gt 0
check "sync" sync
check "umount" umount $M
check_exit "fsck -fn -E scrub: every stored block matches its fingerprint" 0 fsck.livedfs -fn -E scrub "$VOL"
