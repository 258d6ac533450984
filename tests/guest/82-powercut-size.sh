# What a power cut leaves of data still waiting for delayed allocation:
# the journal may commit a file's inode (its mtime, a link, ...) while the
# file's new data is only in the page cache. The size on disk must then
# not cover blocks the journal did not map, or the file would read back
# zeros it never held (ext4's i_disksize rule). And a slow symlink is
# never committed without its target block.
#
# Each case: the kernel writes with periodic writeback off and jbd2's
# 1-second commit timer on; the mounted, idle volume is copied with
# O_DIRECT (the disk as a power cut leaves it); fsck.livedfs replays the
# copy's journal; the copy is then checked with fsck -fn, livedfs debug
# inode and a kernel mount.
VOL=$(disk vol)
CUT=$(disk cut)
M=/mnt/a
K=/mnt/k
mkdir -p $M $K
check "mkfs" mkfs.livedfs -q -F "$VOL"
check "mount (commit=1)" mount -t livedfs -o commit=1 "$VOL" $M
echo 0 > /proc/sys/vm/dirty_writeback_centisecs
echo 360000 > /proc/sys/vm/dirty_expire_centisecs

size_on_disk() { # DEV INO
    livedfs --json debug inode "$1" "$2" 2>/dev/null | tr -d ' \n' | grep -o '"size":[0-9]*' | head -n 1 | cut -d: -f2
}

# power_cut NAME: copy the volume as the disk holds it, replay the copy's
# journal with fsck.livedfs, check it is consistent.
power_cut() {
    check "$1: copy the mounted volume from the disk" dd if="$VOL" of="$CUT" bs=1M iflag=direct
    check_exit "$1: fsck.livedfs replays the journal (exit 0)" 0 fsck.livedfs -E journal_only -y "$CUT"
    check_exit "$1: fsck.livedfs -fn on the replayed copy: exit 0" 0 fsck.livedfs -fn "$CUT"
}

# 1. New data, never written back, in a file whose inode was committed.
dd if=/dev/urandom of=/tmp/data bs=4k count=512 2>/dev/null # 2 MiB
check "create and sync an empty file" sh -c ": > $M/delayed && sync"
INO=$(ls -i $M/delayed | awk '{print $1}')
check "write 2 MiB (delayed allocation)" dd if=/tmp/data of=$M/delayed bs=4k 2>/dev/null
# The write's size and mtime changes go into transactions of their own
# (dirty_inode); let a commit carry them.
touch $M/committed-marker
sleep 3
power_cut "unwritten data"
check_eq "the size on disk covers no unmapped block (0, not 2 MiB)" 0 "$(size_on_disk "$CUT" "$INO")"
check "the copy mounts" mount -t livedfs -o ro "$CUT" $K
check_eq "the file reads back empty, not as zeros" 0 "$(wc -c < $K/delayed)"
check "the commit before the cut is there" test -e $K/committed-marker
check "umount the copy" umount $K

# 2. After writeback, the size covers the data, which reads back exactly.
check "fsync the file" dd if=/dev/null of=$M/delayed conv=notrunc,fsync
power_cut "written back"
check_eq "the size on disk is the whole file after fsync" 2097152 "$(size_on_disk "$CUT" "$INO")"
check "the copy mounts" mount -t livedfs -o ro "$CUT" $K
check_eq "the fsync'd file reads back bit-exact" "$(md5sum < /tmp/data)" "$(md5sum < $K/delayed)"
check "umount the copy" umount $K

# 3. Appending: the committed size stays at the written-back part.
check "append 1 MiB more (delayed)" sh -c "head -c 1048576 /dev/urandom >> $M/delayed"
touch $M/committed-marker2
sleep 3
power_cut "append"
check_eq "the size on disk stays at the written-back 2 MiB" 2097152 "$(size_on_disk "$CUT" "$INO")"
check "the copy mounts" mount -t livedfs -o ro "$CUT" $K
check_eq "the first 2 MiB read back bit-exact" "$(md5sum < /tmp/data)" "$(md5sum < $K/delayed)"
check "umount the copy" umount $K

# 4. Growing with truncate over data still delayed: the data gets its
# blocks first, then the size on disk jumps (the hole past it is real).
dd if=/tmp/data of=$M/grown bs=4k count=100 2>/dev/null
INO2=$(ls -i $M/grown | awk '{print $1}')
check "truncate -s 1M over 400 KiB of delayed data" truncate -s 1M $M/grown
sleep 3
power_cut "grow"
check_eq "the size on disk is the new size" 1048576 "$(size_on_disk "$CUT" "$INO2")"
check "the copy mounts" mount -t livedfs -o ro "$CUT" $K
check_eq "the data below the old size reads back bit-exact" "$(head -c 409600 /tmp/data | md5sum)" \
    "$(head -c 409600 $K/grown | md5sum)"
check_eq "the grown part reads as the hole it is" "$(head -c 638976 /dev/zero | md5sum)" \
    "$(tail -c 638976 $K/grown | md5sum)"
check "umount the copy" umount $K

# 5. A slow symlink (target in a block), not synced: the commit that
# creates it carries its block too.
TARGET=/a/long/symlink/target/that/does/not/fit/in/the/inode/$(seq 1 40 | tr -d '\n')
check "create a slow symlink" ln -s "$TARGET" $M/slowlink
sleep 3
power_cut "slow symlink"
check "the copy mounts" mount -t livedfs -o ro "$CUT" $K
check_eq "the slow symlink reads back its target" "$TARGET" "$(readlink $K/slowlink)"
check "umount the copy" umount $K

check "umount" umount $M
check "fsck -fn on the volume after umount" fsck.livedfs -fn "$VOL"
finish
