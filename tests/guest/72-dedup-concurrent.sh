# Concurrent writers of identical data end with exactly one physical copy
# and exact reference counts; duplicates across directories and after
# rename are found too.
VOL=$(disk vol)
DEV=${VOL#/dev/}
M=/mnt/a
S=/sys/fs/livedfs/$DEV
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
dd if=/dev/urandom of=/tmp/src bs=1M count=8 2>/dev/null
sum=$(md5sum < /tmp/src)
for i in 1 2 3 4; do mkdir -p $M/d$i; done
# Four writers, each copying and fsyncing at the same time.
for i in 1 2 3 4; do
    (dd if=/tmp/src of=$M/d$i/f bs=64k conv=fsync 2>/dev/null; echo done > /tmp/w$i) &
done
wait
check "all four writers finished" test -f /tmp/w1 -a -f /tmp/w2 -a -f /tmp/w3 -a -f /tmp/w4
sync
check_eq "one physical copy of the 2048 blocks" 2048 "$(cat $S/physical_blocks_used)"
check_eq "four references to each" 8192 "$(cat $S/logical_blocks_referenced)"
for i in 1 2 3 4; do check_eq "copy $i intact" "$sum" "$(md5sum < $M/d$i/f)"; done
check "rename a copy into another directory" mv $M/d1/f $M/d2/g
check "write another copy after the rename" cp $M/d2/g $M/d3/h
sync
check_eq "still one physical copy" 2048 "$(cat $S/physical_blocks_used)"
check "remove every copy" sh -c "rm -f $M/d*/*"
sync
check_eq "nothing stored" 0 "$(cat $S/physical_blocks_used)"
check_eq "no references" 0 "$(cat $S/logical_blocks_referenced)"
check_eq "filter empty" 0 "$(cat $S/filter_entries)"
check "umount" umount $M
