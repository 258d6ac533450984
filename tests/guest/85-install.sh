# The `make install` layout at work, as an administrator uses it. The
# initramfs is laid out like `make install`: the module in
# /lib/modules/<release>/extra with depmod run, mkfs.livedfs and livedfs in
# /sbin. Shown here: modprobe, mount -t autoload, fstab, and the
# mkfs -t / fsck -t lookup of mkfs.<type> and fsck.<type> through PATH.
VOL=$(disk vol)
M=/mnt/inst
mkdir -p $M
KREL=$(uname -r)

check "module installed under /lib/modules/$KREL/extra" test -f /lib/modules/$KREL/extra/livedfs.ko
check "depmod lists it" grep -q "extra/livedfs.ko" /lib/modules/$KREL/modules.dep
check "tools in /sbin" test -x /sbin/mkfs.livedfs -a -x /sbin/livedfs
check "mkfs.livedfs -V" mkfs.livedfs -V
check "livedfs --version" livedfs --version

# modprobe by name, and unload.
rmmod livedfs 2>/dev/null
check "modprobe livedfs" modprobe livedfs
check "loaded" sh -c "lsmod | grep -q '^livedfs '"
check "registered in /proc/filesystems" grep -q livedfs /proc/filesystems
check "modprobe -r livedfs" modprobe -r livedfs
check "unloaded" sh -c "! lsmod | grep -q '^livedfs '"

# mkfs -t and fsck -t. util-linux's mkfs(8) and fsck(8) exec mkfs.<type>
# and fsck.<type>, searching /sbin/fs.d, /sbin/fs, /sbin, then PATH (and
# fsck(8) passes options it does not know through). The VM's busybox has
# neither wrapper; then these functions do the same lookup. (On the host,
# userspace/cli/tests/packaging.rs runs the real util-linux ones.)
lookup() {
    for d in /sbin/fs.d /sbin/fs /sbin $(echo "$PATH" | tr : ' '); do
        if [ -x "$d/$1" ]; then echo "$d/$1"; return 0; fi
    done
    return 1
}
ul_mkfs() {
    [ "$1" = -t ] || { echo "usage: mkfs -t TYPE ..." >&2; return 1; }
    t=$2; shift 2
    p=$(lookup "mkfs.$t") || { echo "mkfs: failed to execute mkfs.$t: No such file or directory" >&2; return 1; }
    "$p" "$@"
}
ul_fsck() {
    [ "$1" = -t ] || { echo "usage: fsck -t TYPE ..." >&2; return 16; }
    t=$2; shift 2
    p=$(lookup "fsck.$t") || { echo "fsck: fsck.$t: not found" >&2; return 8; }
    "$p" "$@"
}
if command -v mkfs >/dev/null 2>&1; then
    MKFS="mkfs"
    echo "INFO: the VM has a mkfs wrapper: $(command -v mkfs)"
else
    MKFS="ul_mkfs"
    echo "INFO: the VM (busybox) has no util-linux mkfs/fsck wrappers: using their PATH lookup"
fi
if command -v fsck >/dev/null 2>&1; then FSCK="fsck"; else FSCK="ul_fsck"; fi
check "mkfs -t livedfs finds mkfs.livedfs" $MKFS -t livedfs -q -F -L inst "$VOL"
check_fails "mkfs -t ext9 fails: no mkfs.ext9" $MKFS -t ext9 "$VOL"
check_eq "the volume is livedfs, with the label given" '"label": "inst",' \
    "$(livedfs --json info "$VOL" | grep '"label"' | sed 's/^ *//')"

# mount -t autoloads the module (module alias fs-livedfs).
check "module not loaded before mount" sh -c "! lsmod | grep -q '^livedfs '"
check "mount -t livedfs" mount -t livedfs "$VOL" $M
check "mount autoloaded the module" sh -c "lsmod | grep -q '^livedfs '"
check "write" sh -c "echo hello > $M/f && sync"
check "umount" umount $M

# fstab, as the quick start shows it.
echo "$VOL $M livedfs defaults,commit=10 0 2" > /etc/fstab
check "mount by fstab entry" mount $M
check "options from fstab in /proc/mounts" grep -q " $M livedfs rw.*commit=10" /proc/mounts
check_eq "data back" hello "$(cat $M/f)"
check "umount" umount $M
rm -f /etc/fstab

if lookup fsck.livedfs >/dev/null; then
    check "fsck -t livedfs -n on the clean volume" $FSCK -t livedfs -n "$VOL"
    check "fsck -t livedfs -p on the clean volume" $FSCK -t livedfs -p "$VOL"
else
    echo "INFO: fsck.livedfs is not built yet: fsck -t livedfs not run"
    check_eq "fsck -t livedfs without fsck.livedfs: exit 8 as util-linux" 8 \
        "$(ul_fsck -t livedfs -n "$VOL" 2>/dev/null; echo $?)"
fi
check "rmmod" rmmod livedfs
