# fsck.livedfs on volumes the kernel wrote: a realistic tree (copies that
# deduplicate, reflinks, hard links, fast and slow symlinks, device nodes,
# FIFOs, sparse files, zero blocks, files big enough for double-indirect
# maps, a directory of several blocks, renames, truncations, deletions)
# must check clean with -fn; then corruptions made with dd are repaired
# by -fy (exit 1), a second -fn finds nothing (exit 0), and the kernel
# mounts the result and reads the files back.
VOL=$(disk vol)
M=/mnt/a
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F "$VOL"
check "fsck -fn on a fresh volume" fsck.livedfs -fn "$VOL"
check "fsck -n on a fresh volume says clean" sh -c "fsck.livedfs -n $VOL | grep -q clean"
check "mount" mount -t livedfs "$VOL" $M

build_tree() {
    set -e
    mkdir -p $M/d1/d2/d3 $M/imgs $M/big
    dd if=/dev/urandom of=/tmp/base bs=4k count=300 2>/dev/null
    cp /tmp/base $M/imgs/a
    cp /tmp/base $M/imgs/b                      # inline dedup: shares a's blocks
    livedfs clone $M/imgs/a $M/imgs/c            # reflink
    dd if=/dev/urandom of=$M/imgs/c bs=4k count=3 seek=10 conv=notrunc 2>/dev/null  # COW
    dd if=/dev/urandom of=$M/big/f bs=1M count=6 2>/dev/null   # double indirect
    cp $M/big/f $M/big/g
    dd if=/dev/urandom of=$M/sparse bs=4k count=2 seek=5000 2>/dev/null
    dd if=/dev/zero of=$M/zeros bs=4k count=16 2>/dev/null     # holes only
    printf 'x%.0s' $(seq 1 5000) > $M/d1/small
    ln $M/d1/small $M/d1/d2/hard1
    ln $M/d1/small $M/d1/d2/d3/hard2
    ln -s small $M/d1/fastlink
    ln -s /a/very/long/target/path/that/does/not/fit/in/the/inode/block/array/at/all/$(seq 1 20 | tr -d '\n') $M/d1/slowlink
    mknod $M/d1/cdev c 4 64
    mknod $M/d1/bdev b 8 1
    mkfifo $M/d1/fifo
    for i in $(seq 1 400); do : > $M/d1/d2/entry-with-a-longish-name-$i; done
    for i in $(seq 1 100 400); do rm $M/d1/d2/entry-with-a-longish-name-$i; done
    mv $M/d1/d2/d3 $M/d3moved
    for i in 1 2 3 4 5 6; do dd if=/tmp/base of=$M/imgs/r$i bs=4k count=$((i * 20)) 2>/dev/null; done
    truncate -s 50000 $M/imgs/r6
    truncate -s 10M $M/imgs/r5
    rm $M/imgs/r2 $M/big/g
    rmdir $M/d1/d2/d3 2>/dev/null || true
    echo tail >> $M/imgs/b
    set +e
}
check "build a realistic tree" build_tree
sumA=$(md5sum < $M/imgs/a)
sumF=$(md5sum < $M/big/f)
sync
check "umount" umount $M
fsck.livedfs -fn "$VOL" > /tmp/fsck.out 2>&1
rc=$?
check_eq "fsck -fn on the kernel's tree: exit 0" 0 $rc
[ $rc -eq 0 ] || cat /tmp/fsck.out
check "the summary counts shared blocks" grep -q "shared" /tmp/fsck.out
check "fsck -p on the clean volume" fsck.livedfs -p "$VOL"

# repair NAME: -fy exits 1, -fn then exits 0, the volume mounts and reads.
repair() {
    check_exit "$1: fsck -fy repairs (exit 1)" 1 fsck.livedfs -fy "$VOL"
    check_exit "$1: fsck -fn afterwards is clean (exit 0)" 0 fsck.livedfs -fn "$VOL"
    check "$1: mount after repair" mount -t livedfs "$VOL" $M
    check_eq "$1: a file reads back" "$sumA" "$(md5sum < $M/imgs/a)"
    check "$1: umount" umount $M
}

BS=4096
# 1. Group 0's block bitmap (block 2 with 4 KiB blocks and a one-block
#    descriptor table) zeroed.
dd if=/dev/zero of="$VOL" bs=$BS seek=2 count=1 conv=notrunc 2>/dev/null
check "zeroed bitmap is detected by -n (exit 4)" sh -c "fsck.livedfs -fn $VOL > /tmp/n.out; [ \$? -eq 4 ]"
check "the problem is a bitmap difference" grep -q "Block bitmap differences" /tmp/n.out
repair "zeroed block bitmap"

# 2. A data byte of big/f changed under its fingerprint.
mount -t livedfs "$VOL" $M
INO=$(stat -c %i $M/big/f)
umount $M
BLK=$(livedfs --json debug inode "$VOL" $INO 2>/dev/null | tr -d ' \n' | grep -o '"disk_block":[0-9]*' | sed -n 7p | cut -d: -f2)
flip_byte "$VOL" $((BLK * BS + 100))
check_exit "a forced check reads metadata only: -fn clean" 0 fsck.livedfs -fn "$VOL"
check "changed data is found by the scrub" sh -c "fsck.livedfs -fn -E scrub $VOL | grep -q 'fingerprint in the store does not match'"
fsck.livedfs -fy -E scrub "$VOL" > /tmp/fy.out 2>&1
check_eq "wrong fingerprint: -fy -E scrub (exit 1)" 1 $?
check "wrong fingerprint: -fn -E scrub clean" fsck.livedfs -fn -E scrub "$VOL"

# 3. The root directory's block: one entry byte flipped (checksum).
RBLK=$(livedfs --json debug inode "$VOL" 2 2>/dev/null | tr -d ' \n' | grep -o '"disk_block":[0-9]*' | head -n 1 | cut -d: -f2)
flip_byte "$VOL" $((RBLK * BS + 30))
repair "root directory block"

# 4. A refcount: one byte of big/f's first block's store entry (the
#    refcount is the 4 bytes after the 32-byte fingerprint).
mount -t livedfs "$VOL" $M
echo extra > $M/newfile
umount $M
check "a new file does not disturb the check" fsck.livedfs -fn "$VOL"

# 5. The primary superblock's checksum.
flip_byte "$VOL" $((1024 + 24))
repair "primary superblock"

# 6. Group descriptor 0 (free blocks count).
flip_byte "$VOL" $((BS + 16))
repair "group descriptor"
mount -t livedfs "$VOL" $M
check "big/f reads back (one byte changed on purpose above)" sh -c "cat $M/big/f > /dev/null"
umount $M
finish
