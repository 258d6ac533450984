# The README demo: make a volume, mount it, look at it, unmount.
VOL=$(disk images)
say() { echo; echo "\$ $*"; "$@"; }
say mkfs.livedfs -F -L images "$VOL" || fail "mkfs" "mkfs.livedfs failed"
mkdir -p /var/lib/glance/images
say mount -t livedfs "$VOL" /var/lib/glance/images || fail "mount" "mount failed"
say grep livedfs /proc/mounts
say ls -la /var/lib/glance/images
say df -h /var/lib/glance/images
say umount /var/lib/glance/images || fail "umount" "umount failed"
