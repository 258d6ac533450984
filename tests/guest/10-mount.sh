# Mounting: autoload, a volume made by mkfs.livedfs, the root directory,
# statfs and options; clean refusals of volumes that are not livedfs or
# are corrupted; unmount and module unload with nothing leaked.
# Disks: vol (256M), zero (64M), ext4 (an ext4 image made on the host).
VOL=$(disk vol) ZERO=$(disk zero) EXT4=$(disk ext4)
M=/mnt/a
mkdir -p $M

check "module not loaded before the first mount" sh -c '! grep -qw livedfs /proc/modules'
check "mkfs.livedfs makes a volume" mkfs.livedfs -q -F "$VOL"
check "mount -t livedfs autoloads the module (fs-livedfs alias)" mount -t livedfs "$VOL" $M
check "the module is loaded" grep -qw livedfs /proc/modules
check "livedfs is in /proc/filesystems" grep -qw livedfs /proc/filesystems
check "/proc/mounts lists the mount" grep -q "^$VOL $M livedfs " /proc/mounts
check_eq "root directory lists lost+found" "lost+found" "$(ls $M)"
check_eq "ls -a lists . .. lost+found" ". .. lost+found" "$(ls -a $M | tr '\n' ' ' | sed 's/ $//')"
check_eq "root is a directory, mode 755" "drwxr-xr-x" "$(stat -c %A $M)"
check_eq "root has 3 links" 3 "$(stat -c %h $M)"
check_eq "root is inode 2" 2 "$(stat -c %i $M)"
check_eq "lost+found is a directory, mode 700" "drwx------" "$(stat -c %A $M/lost+found)"
check_eq "lost+found is inode 11" 11 "$(stat -c %i $M/lost+found)"
check_eq "lost+found has 2 links" 2 "$(stat -c %h $M/lost+found)"
check_eq "statfs type is LDFS" 4c444653 "$(stat -f -c %t $M)"
check_eq "statfs block size" 4096 "$(stat -f -c %S $M)"
check_eq "statfs name length" 255 "$(stat -f -c %l $M)"
total=$(stat -f -c %b $M) free=$(stat -f -c %f $M)
check "statfs: free blocks below total" test "$free" -gt 0 -a "$free" -lt "$total"
check_err "lookup of a missing name fails with ENOENT" "No such file" stat $M/missing
check_err "names over 255 bytes fail with ENAMETOOLONG" "too long" stat "$M/$(printf 'x%.0s' $(seq 256))"
check "umount" umount $M

mark
check_err "options: an unknown one is refused" "Invalid argument" mount -t livedfs -o bogus "$VOL" $M
check_dmesg "options: the kernel names the unknown option" "Unknown parameter 'bogus'"
check "options: errors=continue is accepted" mount -t livedfs -o errors=continue "$VOL" $M
check "options: /proc/mounts shows errors=continue" grep -q "^$VOL $M livedfs rw,.*errors=continue" /proc/mounts
check "umount" umount $M

mark
check_err "a zeroed disk is refused with EINVAL" "Invalid argument" mount -t livedfs "$ZERO" $M
check_dmesg "... and dmesg names the device" "livedfs (${ZERO#/dev/}): can't mount: no livedfs superblock"
mark
check_err "an ext4 disk is refused with EINVAL" "Invalid argument" mount -t livedfs "$EXT4" $M
check_dmesg "... and dmesg names the device" "livedfs (${EXT4#/dev/}): can't mount: no livedfs superblock"

mark
flip_byte "$VOL" $((1024 + 100))
check_err "a superblock with a flipped byte is refused with EUCLEAN" "Structure needs cleaning" mount -t livedfs "$VOL" $M
check_dmesg "... and dmesg names the device and the checksum" "livedfs (${VOL#/dev/}): corrupted superblock: superblock: checksum mismatch"
flip_byte "$VOL" $((1024 + 100))
check "restoring the byte makes it mountable again" mount -t livedfs "$VOL" $M
check "umount" umount $M

mark
flip_byte "$VOL" $((4096 + 16))
check_err "a group descriptor with a flipped byte is refused with EUCLEAN" "Structure needs cleaning" mount -t livedfs "$VOL" $M
check_dmesg "... and dmesg says which group" "livedfs (${VOL#/dev/}): group 0 descriptor"
flip_byte "$VOL" $((4096 + 16))

check "mount again" mount -t livedfs "$VOL" $M
check "mount -o remount,ro works" mount -o remount,ro $M
check "umount" umount $M
check "rmmod livedfs (no leaked inodes: the slab cache is destroyed)" rmmod livedfs
check "livedfs is gone from /proc/filesystems" sh -c '! grep -qw livedfs /proc/filesystems'
