# Read-write smoke test: the basic operations, checked exactly, and the
# data surviving an unmount.
VOL=$(disk vol)
M=/mnt/a
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F "$VOL"
check "mount" mount -t livedfs "$VOL" $M
free0=$(stat -f -c %f $M)
check "create a file" sh -c "echo hello > $M/f"
check_eq "read it back" hello "$(cat $M/f)"
check "mkdir" mkdir $M/d
check_eq "parent link count 4 after mkdir" 4 "$(stat -c %h $M)"
check "write 8 MiB" dd if=/dev/urandom of=$M/d/big bs=1M count=8
sum=$(md5sum < $M/d/big)
check "symlink (fast)" ln -s f $M/s
check_eq "readlink" f "$(readlink $M/s)"
long=$(printf 'x%.0s' $(seq 200))
check "symlink (slow)" ln -s "$long" $M/ls
check_eq "readlink slow" "$long" "$(readlink $M/ls)"
check "hard link" ln $M/f $M/d/f2
check_eq "link count 2" 2 "$(stat -c %h $M/f)"
check "mknod fifo" mknod $M/p p
check "mknod char" mknod $M/c c 1 3
check_eq "char rdev" "1,3" "$(stat -c %t,%T $M/c)"
check "rename" mv $M/f $M/g
check_eq "renamed content" hello "$(cat $M/g)"
check "truncate down" truncate -s 3 $M/g
check_eq "truncated" hel "$(cat $M/g)"
check "fsfreeze --freeze (journal flushed and locked)" fsfreeze --freeze $M
check "fsfreeze --unfreeze" fsfreeze --unfreeze $M
check "writing after a thaw works" sh -c "echo thawed > $M/thawed"
check "sync" sync
check "umount" umount $M
check "mount again" mount -t livedfs "$VOL" $M
check_eq "written after the thaw" thawed "$(cat $M/thawed)"
check_eq "big file survives" "$sum" "$(md5sum < $M/d/big)"
check_eq "link survives" hel "$(cat $M/d/f2)"
check_eq "slow symlink survives" "$long" "$(readlink $M/ls)"
check "rm -rf everything" sh -c "rm -rf $M/d $M/g $M/s $M/ls $M/p $M/c $M/thawed"
check_eq "ls shows only lost+found" "lost+found" "$(ls $M)"
check "sync" sync
check_eq "free blocks back to fresh" "$free0" "$(stat -f -c %f $M)"
check "umount" umount $M
