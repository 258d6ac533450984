# Benchmark, part 2: mount the volume left by a power cut (journal
# recovery), time it, and check it.
FS=$1
VOL=$(disk vol)
M=/mnt/a
mkdir -p $M
t0=$(cut -d' ' -f1 /proc/uptime)
case $FS in
    livedfs) mount -t livedfs "$VOL" $M ;;
    ext3) mount -t ext4 -o data=ordered "$VOL" $M ;;
esac
rc=$?
t1=$(cut -d' ' -f1 /proc/uptime)
check "the $FS volume mounts after the power cut" test $rc -eq 0
echo "LIVEDFS-BENCH recovery_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 1000 }')"
dmesg | grep -iE 'recover|journal' | tail -n 3
check "the file written before the cut is readable" sh -c "cat $M/big > /dev/null"
echo "LIVEDFS-BENCH recovered_bytes=$(stat -c %s $M/big)"
check "umount" umount $M
