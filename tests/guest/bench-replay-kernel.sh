# The kernel's journal replay of an image the host attached as "vol"
# (used by scripts/bench-fsck.sh to compare it with fsck.livedfs's):
# mount read-only (jbd2 replays the journal), unmount, nothing else.
VOL=$(disk vol)
mkdir -p /mnt/k
mark
check "the kernel mounts the image read-only" mount -t livedfs -o ro "$VOL" /mnt/k
check_dmesg "the kernel recovered the journal" "journal recovered"
check "umount" umount /mnt/k
