# The livedfs command on a real volume: known data with duplicates, then
# exact values from `livedfs stats --json`, `livedfs info`, `livedfs debug
# inode`, `livedfs debug group` and `livedfs du`.
#
# Workload (4 KiB blocks, all data random unless said):
#   A  16 blocks                          16 new blocks
#   B  a copy of A                        shares A's 16
#   C  A's first 4 blocks + 4 new         shares 4 (refcount 3), 4 new
#   R  one block written 10 times         1 new block, refcount 10
#   Z  4 zero blocks + 1 block            zeros are holes; 1 new block
# => 51 block pointers, 22 blocks stored.
VOL=$(disk vol)
M=/mnt/cli
mkdir -p $M
UUID=5d0c6f0e-8a61-4b2f-9c3e-0123456789ab
squash() { tr -d ' \n'; }
# jget KEY FILE: the first numeric value of "KEY" in a JSON file.
jget() { squash < "$2" | grep -o "\"$1\":[-0-9]*" | head -n 1 | cut -d: -f2; }

check "mkfs" mkfs.livedfs -q -F -m 0 -L clitest -U $UUID "$VOL"
check "mount" mount -t livedfs "$VOL" $M

dd if=/dev/urandom of=/tmp/A bs=4096 count=16 2>/dev/null
dd if=/dev/urandom of=/tmp/new4 bs=4096 count=4 2>/dev/null
dd if=/dev/urandom of=/tmp/blk bs=4096 count=1 2>/dev/null
dd if=/dev/urandom of=/tmp/blk2 bs=4096 count=1 2>/dev/null
check "write A" cp /tmp/A $M/A
check "write B (copy of A)" cp /tmp/A $M/B
check "write C" sh -c "{ dd if=/tmp/A bs=4096 count=4 2>/dev/null; cat /tmp/new4; } > $M/C"
check "write R" sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do cat /tmp/blk; done > $M/R"
check "write Z" sh -c "{ dd if=/dev/zero bs=4096 count=4 2>/dev/null; cat /tmp/blk2; } > $M/Z"
sync

# stats --json
livedfs stats --json $M > /tmp/stats.json
check "stats --json runs" test -s /tmp/stats.json
check_eq "stats: physical_blocks_used" 22 "$(jget physical_blocks_used /tmp/stats.json)"
check_eq "stats: logical_blocks_referenced" 51 "$(jget logical_blocks_referenced /tmp/stats.json)"
check_eq "stats: unique_blocks_written" 22 "$(jget unique_blocks_written /tmp/stats.json)"
check_eq "stats: duplicate_hits" 29 "$(jget duplicate_hits /tmp/stats.json)"
check_eq "stats: zero_blocks" 4 "$(jget zero_blocks /tmp/stats.json)"
check_eq "stats: logical_bytes" $((51 * 4096)) "$(jget logical_bytes /tmp/stats.json)"
check_eq "stats: physical_bytes" $((22 * 4096)) "$(jget physical_bytes /tmp/stats.json)"
check_eq "stats: saved_bytes" $((29 * 4096)) "$(jget saved_bytes /tmp/stats.json)"
check_eq "stats: filter_entries" 22 "$(jget filter_entries /tmp/stats.json)"
check "stats: global --json before the subcommand" sh -c "livedfs --json stats $M | grep -q '\"saved_bytes\": $((29 * 4096))'"
check "stats: table" sh -c "livedfs stats $M | grep -q 'space saved .*116.0 KiB'"

# du --json: exact counts per file, per directory, and for a set.
# du_is NAME EXPECTED PATH...: the squashed JSON entry of the first path.
du_is() {
    name=$1 want=$2; shift 2
    livedfs du --json "$@" > /tmp/du.json 2>/tmp/du.err
    got=$(squash < /tmp/du.json | sed 's/.*"entries":\[{//; s/}\].*//')
    case "$got" in
        *"$want"*) pass "$name" ;;
        *) fail "$name" "expected ...$want... in $got $(cat /tmp/du.err)" ;;
    esac
}
du_is "du A: all 16 blocks shared (B is a copy)" \
    '"files":1,"size_bytes":65536,"mapped_blocks":16,"shared_blocks":16,"unique_blocks":0,"unknown_blocks":0,"distinct_blocks":16,"exclusive_blocks":0' $M/A
du_is "du C: 4 shared, 4 unique, 4 only its own" \
    '"files":1,"size_bytes":32768,"mapped_blocks":8,"shared_blocks":4,"unique_blocks":4,"unknown_blocks":0,"distinct_blocks":8,"exclusive_blocks":4' $M/C
du_is "du R: 10 pointers to one block it alone holds" \
    '"files":1,"size_bytes":40960,"mapped_blocks":10,"shared_blocks":10,"unique_blocks":0,"unknown_blocks":0,"distinct_blocks":1,"exclusive_blocks":1' $M/R
du_is "du Z: zero blocks are holes" \
    '"files":1,"size_bytes":20480,"mapped_blocks":1,"shared_blocks":0,"unique_blocks":1,"unknown_blocks":0,"distinct_blocks":1,"exclusive_blocks":1' $M/Z
du_is "du of the whole volume" \
    "\"files\":5,\"size_bytes\":$((65536 * 2 + 32768 + 40960 + 20480)),\"mapped_blocks\":51,\"shared_blocks\":46,\"unique_blocks\":5,\"unknown_blocks\":0,\"distinct_blocks\":22,\"exclusive_blocks\":22" $M
livedfs du --json $M/A $M/B > /tmp/du.json
check_eq "du A B: total exclusive (A's first 4 blocks are also in C)" 12 \
    "$(squash < /tmp/du.json | sed 's/.*"total"://' | grep -o '"exclusive_blocks":[0-9]*' | cut -d: -f2)"
check_eq "du: blocks mapped with FIEMAP (the module provides it)" fiemap \
    "$(squash < /tmp/du.json | grep -o '"method":"[a-z]*"' | cut -d'"' -f4)"
check "du text, in bytes" sh -c "livedfs du -b $M/C | grep -q '32768 *32768 *16384 *16384 *16384 *$M/C'"
check_err "du refuses a path outside livedfs" "is not on a livedfs volume" livedfs du /tmp

# debug inode: C's block map, each block's refcount and fingerprint.
INO_C=$(stat -c %i $M/C)
livedfs --json debug inode "$VOL" $INO_C > /tmp/ino.json 2>/tmp/ino.err
check "debug inode warns that the volume is mounted" grep -q "is mounted on $M" /tmp/ino.err
check_eq "debug inode: type" '"type":"regularfile"' "$(squash < /tmp/ino.json | grep -o '"type":"[a-z ]*"')"
check_eq "debug inode: size" 32768 "$(jget size /tmp/ino.json)"
check_eq "debug inode: refcounts of C's blocks" "3 3 3 3 1 1 1 1" \
    "$(squash < /tmp/ino.json | grep -o '"refcount":[0-9]*' | cut -d: -f2 | tr '\n' ' ' | sed 's/ $//')"
want_fps=$(for i in 0 1 2 3 4 5 6 7; do dd if=$M/C bs=4096 skip=$i count=1 2>/dev/null | sha256sum | cut -d' ' -f1; done | tr '\n' ' ')
check_eq "debug inode: fingerprints are the blocks' SHA-256" "$want_fps" \
    "$(squash < /tmp/ino.json | grep -o '"fingerprint":"[0-9a-f]*"' | cut -d'"' -f4 | tr '\n' ' ')"
check_eq "debug inode: file blocks 0..7" "0 1 2 3 4 5 6 7" \
    "$(squash < /tmp/ino.json | grep -o '"file_block":[0-9]*' | cut -d: -f2 | tr '\n' ' ' | sed 's/ $//')"
# The disk blocks agree with FIBMAP through the kernel, via du's view: the
# first 4 of C are A's first 4.
A_BLKS=$(livedfs --json debug inode "$VOL" $(stat -c %i $M/A) 2>/dev/null | squash | grep -o '"disk_block":[0-9]*' | head -n 4 | tr '\n' ' ')
C_BLKS=$(squash < /tmp/ino.json | grep -o '"disk_block":[0-9]*' | head -n 4 | tr '\n' ' ')
check_eq "debug inode: C's first blocks are A's" "$A_BLKS" "$C_BLKS"
R_MAP=$(livedfs --json debug inode "$VOL" $(stat -c %i $M/R) 2>/dev/null | squash)
check_eq "debug inode: R maps one block 10 times" 1 \
    "$(echo "$R_MAP" | grep -o '"disk_block":[0-9]*' | sort -u | wc -l | tr -d ' ')"
check_eq "debug inode: R's block has refcount 10" "10" \
    "$(echo "$R_MAP" | grep -o '"refcount":[0-9]*' | cut -d: -f2 | sort -u)"
check "debug inode text" sh -c "livedfs debug inode $VOL $INO_C 2>/dev/null | grep -q 'Block map (8 blocks mapped)'"
check "debug inode of the root" sh -c "livedfs debug inode $VOL 2 2>/dev/null | grep -q 'Type: *directory'"

check "clone --json" sh -c "livedfs --json clone $M/A $M/A2 | grep -q '\"cloned\": true'"
check "dedupe --json" sh -c "cp /tmp/A $M/D && livedfs --json dedupe $M/A $M/D | grep -q '\"bytes_shared\": 65536'"
sync
livedfs stats --json $M > /tmp/stats.json
check_eq "stats after clone and dedupe: referenced" $((51 + 32)) "$(jget logical_blocks_referenced /tmp/stats.json)"
check_eq "stats after clone and dedupe: stored" 22 "$(jget physical_blocks_used /tmp/stats.json)"
check "umount" umount $M

# Unmounted: info and debug group see the final on-disk state.
livedfs --json info "$VOL" > /tmp/info.json 2>/tmp/info.err
check "info on an unmounted volume does not warn" test ! -s /tmp/info.err
check_eq "info: entries in use" 22 "$(jget fp_entries_used /tmp/info.json)"
check "info: label" grep -q '"label": "clitest"' /tmp/info.json
check "info: uuid" grep -q "\"uuid\": \"$UUID\"" /tmp/info.json
check_eq "info: state after umount" '"words":"clean"' "$(squash < /tmp/info.json | grep -o '"words":"clean"' | head -n 1)"
check_eq "info: mount count" 1 "$(jget mount_count /tmp/info.json)"
check "info text" sh -c "livedfs info $VOL | grep -q 'Fingerprint algorithm: *sha256 (32-byte fingerprints)'"
check "info text: journal clean" sh -c "livedfs info $VOL | grep -q 'Journal log start: *0 (clean'"
total=0 refs=0
G=$(jget group_count /tmp/info.json)
g=0
while [ $g -lt $G ]; do
    livedfs --json debug group "$VOL" $g > /tmp/grp.json
    n=$(squash < /tmp/grp.json | grep -o '"entries_in_use":[0-9]*' | cut -d: -f2)
    r=$(squash < /tmp/grp.json | grep -o '"references":[0-9]*' | cut -d: -f2)
    total=$((total + n)) refs=$((refs + r))
    g=$((g + 1))
done
check_eq "debug group: store entries in use over all groups" 22 $total
check_eq "debug group: references over all groups" $((51 + 32)) $refs
check_eq "debug group 0: descriptor checksum" true "$(livedfs --json debug group $VOL 0 | squash | grep -o '"checksum_ok":[a-z]*' | head -n 1 | cut -d: -f2)"
livedfs --json debug inode "$VOL" $INO_C > /tmp/ino2.json
check_eq "debug inode unmounted: same refcounts (A2 and D add one each)" "5 5 5 5 1 1 1 1" \
    "$(squash < /tmp/ino2.json | grep -o '"refcount":[0-9]*' | cut -d: -f2 | tr '\n' ' ' | sed 's/ $//')"
