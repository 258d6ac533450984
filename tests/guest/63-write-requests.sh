# Writeback sends consecutive blocks as large requests (issue 17: "unique
# data must go out in large bios"): writepages runs under a block plug, as
# ext4's and iomap's do, so the bios of a file's consecutive new blocks
# merge before they reach the disk. Without it fsync's writeback (which,
# unlike the background flusher, brings no plug of its own) sent every
# 4 KiB block as a request of its own (128 MiB: 33397 requests for its
# 32768 blocks; with the plug 839).
VOL=$(disk vol)
M=/mnt/a
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F "$VOL"
check "mount" mount -t livedfs "$VOL" $M
wstat() { awk '{ print $5, $7 }' /sys/block/${VOL#/dev/}/stat; }
dd if=/dev/urandom of=/tmp/u bs=1M count=64 2>/dev/null
w0=$(wstat)
check "64 MiB of unique data written with fsync" dd if=/tmp/u of=$M/u bs=1M conv=fsync 2>/dev/null
w1=$(wstat)
reqs=$(echo "$w0 $w1" | awk '{ print $3 - $1 }')
sectors=$(echo "$w0 $w1" | awk '{ print $4 - $2 }')
echo "write requests: $reqs for $sectors sectors"
check "at least the data reached the disk" test "$sectors" -ge 131072
# 16384 data blocks, 16 indirect blocks breaking the runs, the journal's
# writes and the commit: a few hundred requests at most when merged.
check "consecutive blocks merged: under 1024 requests" test "$reqs" -lt 1024
check "the data reads back" sh -c "echo 3 > /proc/sys/vm/drop_caches && cmp /tmp/u $M/u"
rm -f /tmp/u
check "umount" umount $M
check_exit "fsck -fn: clean" 0 fsck.livedfs -fn "$VOL"
