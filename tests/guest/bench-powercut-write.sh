# Benchmark, part 1 (see scripts/bench-recovery.sh): mount the file system
# the host made ($1: livedfs or ext3), start writing a large file, and cut
# the power (sysrq reboot: no sync, no unmount) after $2 seconds.
FS=$1 SECS=${2:-20}
VOL=$(disk vol)
M=/mnt/a
mkdir -p $M
case $FS in
    livedfs) mount -t livedfs "$VOL" $M ;;
    ext3) mount -t ext4 -o data=ordered "$VOL" $M ;;
esac
check "mounted $FS" grep -q " $M " /proc/mounts
# Unique data, sequentially, in the background; some fsyncs on the way.
(datatest write --seed 5 --size 8G $M/big > /dev/null 2>&1 &)
sleep "$SECS"
echo "LIVEDFS-BENCH written_bytes=$(stat -c %s $M/big 2>/dev/null || echo 0)"
echo "cutting the power" 
echo 1 > /proc/sys/kernel/sysrq
echo b > /proc/sysrq-trigger
