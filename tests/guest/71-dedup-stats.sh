# The deduplication counters in /sys/fs/livedfs/<dev>/ and `livedfs stats`
# match what known workloads must produce, exactly.
VOL=$(disk vol)
DEV=${VOL#/dev/}
M=/mnt/a
S=/sys/fs/livedfs/$DEV
mkdir -p $M
stat_is() { check_eq "$1 = $2" "$2" "$(cat $S/$1)"; }
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
check "sysfs directory for the mount" test -d $S
stat_is block_size 4096
stat_is physical_blocks_used 0
dd if=/dev/urandom of=/tmp/A bs=1M count=16 2>/dev/null
check "write A: 16 MiB random (4096 blocks)" cp /tmp/A $M/A
sync
stat_is logical_blocks_written 4096
stat_is unique_blocks_written 4096
stat_is duplicate_hits 0
stat_is physical_blocks_used 4096
stat_is logical_blocks_referenced 4096
stat_is filter_entries 4096
check "copy A to B" cp $M/A $M/B
sync
stat_is logical_blocks_written 8192
stat_is unique_blocks_written 4096
stat_is duplicate_hits 4096
stat_is physical_blocks_used 4096
stat_is logical_blocks_referenced 8192
check "8 MiB of one repeated 4 KiB block" sh -c "dd if=/dev/urandom of=/tmp/blk bs=4k count=1 2>/dev/null; for i in \$(seq 2048); do cat /tmp/blk; done > $M/rep"
sync
stat_is unique_blocks_written 4097
stat_is duplicate_hits 6143
stat_is physical_blocks_used 4097
check "4 MiB of zeros" dd if=/dev/zero of=$M/zero bs=1M count=4
sync
stat_is zero_blocks 1024
stat_is physical_blocks_used 4097
check "overwrite 64 blocks of B with new data" dd if=/dev/urandom of=$M/B bs=4k count=64 seek=100 conv=notrunc
sync
stat_is cow_breaks 64
stat_is unique_blocks_written 4161
stat_is physical_blocks_used 4161
check "delete A" rm $M/A
sync
stat_is blocks_freed 64
stat_is physical_blocks_used 4097
stat_is logical_blocks_referenced 6144
livedfs stats --json $M > /tmp/stats.json
check "livedfs stats --json runs" test $? -eq 0
check_eq "stats: physical bytes" "\"physical_bytes\": $((4097 * 4096))," "$(grep '"physical_bytes"' /tmp/stats.json | tr -d ' ' | sed 's/:/: /')"
check_eq "stats: logical bytes" "\"logical_bytes\": $((6144 * 4096))," "$(grep '"logical_bytes"' /tmp/stats.json | tr -d ' ' | sed 's/:/: /')"
check_eq "stats: saved bytes" "\"saved_bytes\": $((2047 * 4096))," "$(grep '"saved_bytes"' /tmp/stats.json | tr -d ' ' | sed 's/:/: /')"
check "livedfs stats prints a table" sh -c "livedfs stats $M | grep -q 'space saved'"
check "umount" umount $M
check "sysfs directory gone after umount" test ! -d $S
check "mount again" mount -t livedfs "$VOL" $M
stat_is physical_blocks_used 4097
stat_is logical_blocks_referenced 6144
stat_is filter_entries 4097
check "filter build time recorded" test "$(cat $S/filter_build_ns)" -gt 0
check "umount" umount $M
