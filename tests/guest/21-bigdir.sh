# Large directories stay fast: creating, looking up and deleting entries
# must not slow down as the directory grows (an in-memory index serves
# directories of 8 blocks and more), and every entry is listed exactly once.
VOL=$(disk vol)
M=/mnt/a
D=$M/big
mkdir -p $M
now() { cut -d' ' -f1 /proc/uptime; }
check "mkfs" mkfs.livedfs -q -F -N 65536 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
mkdir $D
cd $D
t0=$(now)
seq 1 15000 | sed 's/^/file-with-a-longish-name-/' | xargs touch
t1=$(now)
seq 15001 30000 | sed 's/^/file-with-a-longish-name-/' | xargs touch
t2=$(now)
cd /
first=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
second=$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')
echo "info: 15000 creates in ${first}s, the next 15000 in ${second}s"
check "the second 15000 creates take less than 2x the first" awk -v a="$first" -v b="$second" 'BEGIN { exit !(b < 2 * a + 1) }'
check_eq "ls lists 30000 entries" 30000 "$(ls $D | wc -l)"
check_eq "each exactly once" 30000 "$(ls $D | sort -u | wc -l)"
check "look up the last one" test -e $D/file-with-a-longish-name-30000
check "a missing name is missing" test ! -e $D/file-with-a-longish-name-30001
check "remove every other one" sh -c "seq 1 2 30000 | sed 's|^|$D/file-with-a-longish-name-|' | xargs rm"
check_eq "15000 left" 15000 "$(ls $D | wc -l)"
check "create 1000 new names into the freed space" sh -c "cd $D && seq 1 1000 | sed 's/^/new-/' | xargs touch"
check_eq "16000 entries" 16000 "$(ls $D | wc -l)"
check "umount" umount $M
check "mount" mount -t livedfs "$VOL" $M
check_eq "16000 entries after a remount" 16000 "$(ls $D | wc -l)"
check "lookups after a remount (index rebuilt)" test -e $D/new-777 -a -e $D/file-with-a-longish-name-29998 -a ! -e $D/file-with-a-longish-name-29999
check "rm -rf the directory" rm -rf $D
check "umount" umount $M
