# The README demo: make a volume, mount it, store three VM images that
# share most of their blocks (a base image and two derived ones), and show
# the space deduplication saved.
VOL=$(disk images)
IMG=/var/lib/glance/images
say() { echo; echo "\$ $*"; "$@"; }
say mkfs.livedfs -F -L images "$VOL" || fail "mkfs" "mkfs.livedfs failed"
mkdir -p $IMG
say mount -t livedfs "$VOL" $IMG || fail "mount" "mount failed"
say grep livedfs /proc/mounts
echo
echo "# a 256 MiB base image: 192 MiB of data, the rest never written (zeros)"
dd if=/dev/urandom of=/tmp/base bs=1M count=192 2>/dev/null
say cp /tmp/base $IMG/debian-base.img
say truncate -s 256M $IMG/debian-base.img
echo
echo "# two derived images: the base plus 16 MiB of their own changes each"
for v in web db; do
    cp $IMG/debian-base.img $IMG/debian-$v.img
    dd if=/dev/urandom of=$IMG/debian-$v.img bs=1M count=16 seek=$([ $v = web ] && echo 32 || echo 96) conv=notrunc 2>/dev/null
done
say sync
say ls -ls $IMG
say df -h $IMG
say livedfs stats $IMG
say umount $IMG || fail "umount" "umount failed"
