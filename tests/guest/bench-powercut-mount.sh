# Benchmark, part 2: mount the volume left by a power cut (journal
# recovery), time it, and check it.
FS=$1
VOL=$(disk vol)
M=/mnt/a
mkdir -p $M
t0=$(date +%s%N)
case $FS in
    livedfs) mount -t livedfs "$VOL" $M ;;
    ext3) mount -t ext4 -o data=ordered "$VOL" $M ;;
esac
rc=$?
t1=$(date +%s%N)
check "the $FS volume mounts after the power cut" test $rc -eq 0
echo "LIVEDFS-BENCH recovery_ms=$(( (t1 - t0) / 1000000 ))"
dmesg | grep -iE 'recover|journal' | tail -n 3
check "the file written before the cut is readable" sh -c "cat $M/big > /dev/null"
echo "LIVEDFS-BENCH recovered_bytes=$(stat -c %s $M/big)"
check "umount" umount $M
