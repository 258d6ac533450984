# Online scrub (issue 18): `livedfs scrub` reads every stored block of a
# mounted volume and checks it against its fingerprint; a block damaged
# on the disk under the mounted volume is named, with every file and
# offset that uses it (a shared block's damage shows in all its files);
# the scrub resumes from a recorded position; mounted `verify_reads`, a
# read of the damaged block fails with EIO instead of returning it.
VOL=$(disk vol)
M=/mnt/a
mkdir -p $M
check "mkfs" mkfs.livedfs -q -F -m 0 "$VOL"
check "mount" mount -t livedfs "$VOL" $M
dd if=/dev/urandom of=/tmp/x bs=1M count=1 2>/dev/null
check "two files sharing 1 MiB, one of 256 KiB alone" sh -c "cp /tmp/x $M/a && cp /tmp/x $M/b && dd if=/dev/urandom of=$M/u bs=64k count=4 2>/dev/null && sync"
check_exit "scrub of the healthy volume: exit 0" 0 livedfs scrub $M
check "and it says so" grep -q "^no damaged block" /tmp/check_exit.out
check "it checked the 320 stored blocks" grep -q ": 320 blocks checked" /tmp/check_exit.out
first=$(fsops fiemap $M/a | awk 'NR == 1 { print $2 / 4096 }')
blk=$((first + 5))
check "damage block 5 of the shared data on the disk" \
    dd if=/dev/urandom of="$VOL" bs=4096 seek=$blk count=1 conv=notrunc oflag=direct
check_exit "scrub: exit 1" 1 livedfs scrub $M
check "the damaged block is named" grep -q "^  block $blk: used by 2 file block(s)" /tmp/check_exit.out
check "with the first file and offset" grep -q "^    $M/a at offset 20480" /tmp/check_exit.out
check "and the second" grep -q "^    $M/b at offset 20480" /tmp/check_exit.out
check "the kernel log names it too" sh -c "dmesg | grep -q 'scrub: block $blk does not match its fingerprint'"
livedfs --json scrub $M > /tmp/scrub.json
check "--json lists the block" grep -q "\"block\": $blk" /tmp/scrub.json
check_exit "a scrub starting past the damaged block finds nothing" 0 livedfs scrub --state /tmp/st --start $((blk + 1)) $M
check_eq "the state file says it reached the end" "$(stat -f -c %b $M)" "$(cat /tmp/st)"
echo 0 > /tmp/st
check_exit "resumed from a recorded 0, it finds the block again" 1 livedfs scrub --state /tmp/st --resume $M
check_exit "a paced scrub (--rate 4 MB/s) works" 1 livedfs scrub --rate 4 $M
check "umount" umount $M
check "mount -o verify_reads" mount -t livedfs -o verify_reads "$VOL" $M
check "/proc/mounts shows it" grep -q "$M livedfs rw,relatime,verify_reads" /proc/mounts
mark
check_err "reading the damaged block of a fails with EIO" "Input/output error" dd if=$M/a of=/dev/null bs=4096 skip=5 count=1
check_err "and of b" "Input/output error" dd if=$M/b of=/dev/null bs=4096 skip=5 count=1
check_dmesg "the refused read is logged" "does not match its fingerprint: read refused"
check_eq "the blocks before it read back right" "$(head -c 20480 /tmp/x | md5sum)" "$(head -c 20480 $M/a | md5sum)"
check "the unique file reads whole" sh -c "cat $M/u > /dev/null"
check "umount" umount $M
