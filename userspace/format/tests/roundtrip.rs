//! Every structure encodes and decodes back to itself, and its checksum
//! catches any single changed byte.

mod common;

use common::*;
use livedfs_format::csum::{volume_seed, CRC_INIT};
use livedfs_format::group::{self, GroupDesc, BG_FLAGS_KNOWN};
use livedfs_format::inode::{self, Inode, Timestamp, FAST_SYMLINK_MAX, N_BLOCKS, S_IFLNK};
use livedfs_format::superblock::{self, Superblock, SUPERBLOCK_SIZE};
use livedfs_format::{bitmap, dirent, filter, fpstore, jbd2};
use livedfs_format::{Crc32c, FingerprintAlgo, FormatError, Geometry, DESC_SIZE, INODE_SIZE};
use proptest::prelude::*;

const UUID: [u8; 16] = *b"\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x01";

fn seed() -> u32 {
    volume_seed(&Crc, &UUID)
}

// ---------------------------------------------------------------- crc32c

#[test]
fn crc32c_known_vectors() {
    // The standard check value, with the usual inversions around the raw
    // continuation the crate expects.
    assert_eq!(!Crc.crc32c(!0, b"123456789"), 0xE306_9283);
    assert_eq!(!Crc.crc32c(!0, b""), 0);
    // RFC 3720 B.4: 32 bytes of zeros, of 0xff, and 0..31.
    assert_eq!(!Crc.crc32c(!0, &[0u8; 32]), 0x8A91_36AA);
    assert_eq!(!Crc.crc32c(!0, &[0xffu8; 32]), 0x62A8_AB43);
    let inc: Vec<u8> = (0u8..32).collect();
    assert_eq!(!Crc.crc32c(!0, &inc), 0x46DD_794E);
    // Raw continuation: no inversion between pieces.
    let a = Crc.crc32c(!0, b"1234");
    assert_eq!(Crc.crc32c(a, b"56789"), Crc.crc32c(!0, b"123456789"));
    assert_eq!(CRC_INIT, !0);
    assert_eq!(seed(), Crc.crc32c(!0, &UUID));
}

// ------------------------------------------------------------ superblock

fn sb_from_bytes(bytes: &[u8]) -> Superblock {
    let mut sb = Superblock::decode_fields(bytes).unwrap();
    sb.version_major = superblock::VERSION_MAJOR;
    sb
}

fn flip_every_byte(buf: &[u8], masks: &[u8], mut decode: impl FnMut(&[u8]) -> bool) {
    let mut b = buf.to_vec();
    for i in 0..buf.len() {
        for &m in masks {
            b[i] ^= m;
            assert!(!decode(&b), "byte {i} ^ {m:#x} not detected");
            b[i] ^= m;
        }
    }
    assert!(decode(&b));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn superblock_round_trip(raw in prop::collection::vec(any::<u8>(), SUPERBLOCK_SIZE)) {
        let sb = sb_from_bytes(&raw);
        let mut buf = vec![0xa5u8; SUPERBLOCK_SIZE + 7];
        sb.encode(&mut buf, &Crc).unwrap();
        prop_assert_eq!(&buf[..8], &superblock::MAGIC);
        prop_assert_eq!(&buf[SUPERBLOCK_SIZE..], &[0xa5u8; 7], "wrote past the superblock");
        let back = Superblock::decode(&buf, &Crc).unwrap();
        prop_assert_eq!(&back, &sb);
        prop_assert_eq!(Superblock::decode_fields(&buf).unwrap(), sb.clone());
        // Encoding is a function of the fields alone.
        let mut again = vec![0u8; SUPERBLOCK_SIZE];
        back.encode(&mut again, &Crc).unwrap();
        prop_assert_eq!(&again[..], &buf[..SUPERBLOCK_SIZE]);
    }

    #[test]
    fn superblock_any_changed_byte_is_detected(
        raw in prop::collection::vec(any::<u8>(), SUPERBLOCK_SIZE),
        at in 0usize..SUPERBLOCK_SIZE,
        mask in 1u8..=255,
    ) {
        let sb = sb_from_bytes(&raw);
        let mut buf = vec![0u8; SUPERBLOCK_SIZE];
        sb.encode(&mut buf, &Crc).unwrap();
        buf[at] ^= mask;
        prop_assert!(Superblock::decode(&buf, &Crc).is_err());
    }

    #[test]
    fn group_descriptor_round_trip(
        f in any::<[u32; 11]>(),
        flags: u16,
        group: u32,
        seed: u32,
        at in 0usize..64,
        mask in 1u8..=255,
    ) {
        let d = GroupDesc {
            block_bitmap: f[0],
            inode_bitmap: f[1],
            inode_table: f[2],
            fp_store: f[3],
            free_blocks: f[4],
            free_inodes: f[5],
            used_dirs: f[6],
            itable_unused: f[7],
            flags,
            block_bitmap_csum: f[8],
            inode_bitmap_csum: f[9],
            fp_used: f[10],
        };
        let mut buf = [0xffu8; 70];
        d.encode(&mut buf, group, seed, &Crc).unwrap();
        prop_assert_eq!(&buf[64..], &[0xffu8; 6]);
        prop_assert_eq!(GroupDesc::decode(&buf[..64], group, seed, &Crc), Ok(d));
        prop_assert_eq!(GroupDesc::decode_fields(&buf), Ok(d));
        // Reserved bytes are zero.
        prop_assert_eq!(&buf[34..36], &[0u8; 2]);
        prop_assert_eq!(&buf[48..60], &[0u8; 12]);
        prop_assert!(GroupDesc::decode(&buf, group.wrapping_add(1), seed, &Crc).is_err());
        prop_assert!(GroupDesc::decode(&buf, group, seed ^ 1, &Crc).is_err());
        buf[at] ^= mask;
        prop_assert!(GroupDesc::decode(&buf, group, seed, &Crc).is_err());
    }

    #[test]
    fn inode_round_trip(
        raw in prop::collection::vec(any::<u8>(), INODE_SIZE as usize),
        ino: u32,
        seed: u32,
        at in 0usize..INODE_SIZE as usize,
        mask in 1u8..=255,
    ) {
        let i = Inode::decode_fields(&raw).unwrap();
        let mut buf = vec![0x5au8; INODE_SIZE as usize + 3];
        i.encode(&mut buf, ino, seed, &Crc).unwrap();
        prop_assert_eq!(&buf[INODE_SIZE as usize..], &[0x5au8; 3]);
        prop_assert_eq!(Inode::decode(&buf, ino, seed, &Crc).unwrap(), i.clone());
        // Reserved bytes (92..96, 172..248) are zero.
        prop_assert!(buf[92..96].iter().all(|&b| b == 0));
        prop_assert!(buf[172..248].iter().all(|&b| b == 0));
        prop_assert!(Inode::decode(&buf, ino.wrapping_add(1), seed, &Crc).is_err());
        prop_assert!(Inode::decode(&buf, ino, seed.wrapping_add(1), &Crc).is_err());
        buf[at] ^= mask;
        prop_assert!(Inode::decode(&buf, ino, seed, &Crc).is_err());
    }

    #[test]
    fn fast_symlink_set_get(target in prop::collection::vec(1u8..=255, 0..FAST_SYMLINK_MAX), ino in 1u32..1000) {
        let mut i = Inode {
            mode: S_IFLNK | 0o777,
            links_count: 1,
            block: [0xdead_beef; N_BLOCKS],
            ..Inode::default()
        };
        i.set_fast_symlink(&target).unwrap();
        prop_assert_eq!(i.size, target.len() as u64);
        let bytes = i.fast_symlink_bytes();
        prop_assert_eq!(&bytes[..target.len()], &target[..]);
        prop_assert!(bytes[target.len()..].iter().all(|&b| b == 0));
        prop_assert!(i.is_fast_symlink());
        let mut buf = [0u8; INODE_SIZE as usize];
        i.encode(&mut buf, ino, seed(), &Crc).unwrap();
        // The target is stored as-is at the block array.
        prop_assert_eq!(&buf[inode::off::BLOCK..inode::off::BLOCK + target.len()], &target[..]);
        let back = Inode::decode(&buf, ino, seed(), &Crc).unwrap();
        prop_assert_eq!(&back.fast_symlink_bytes()[..target.len()], &target[..]);
        let g = geo(4096, 100_000, FingerprintAlgo::Sha256, false);
        if target.is_empty() {
            prop_assert!(back.validate(&g).is_err(), "empty symlink accepted");
        } else {
            prop_assert!(back.validate(&g).is_ok());
        }
    }

    #[test]
    fn fp_block_round_trip(
        bs in prop::sample::select(BLOCK_SIZES.to_vec()),
        algo in prop::sample::select(ALGOS.to_vec()),
        writes in prop::collection::vec((any::<u32>(), any::<[u8; 32]>(), prop_oneof![Just(0u32), Just(1), Just(fpstore::REFCOUNT_MAX), any::<u32>()]), 0..40),
        g in any::<u32>(),
        at in any::<usize>(),
        mask in 1u8..=255,
    ) {
        let geo = geo(bs, u64::from(bs) * 8 * 3, algo, false);
        let g = g % geo.group_count;
        let l = geo.group(g).unwrap();
        let fs = usize::from(algo.size());
        let mut store = vec![vec![0u8; bs as usize]; geo.fp_blocks_per_group as usize];
        for (j, blk) in store.iter_mut().enumerate() {
            fpstore::init_block(blk, g, j as u32, seed(), &Crc).unwrap();
            prop_assert_eq!(fpstore::verify_block(&geo, blk, g, j as u32, seed(), &Crc), Ok(0));
        }
        let mut model = std::collections::BTreeMap::new();
        for (b, fp, rc) in writes {
            let b = l.first + b % (l.end - l.first);
            let (sblk, off) = geo.fp_entry_location(b).unwrap();
            let j = (sblk - l.fp_store) as usize;
            fpstore::write_entry(&mut store[j], off, &fp[..fs], rc).unwrap();
            model.insert(b, (fp, rc));
        }
        let mut used = vec![0u32; store.len()];
        for (&b, &(fp, rc)) in &model {
            let (sblk, off) = geo.fp_entry_location(b).unwrap();
            let j = (sblk - l.fp_store) as usize;
            let e = fpstore::read_entry(&store[j], off, fs).unwrap();
            prop_assert_eq!(e.refcount, rc);
            if rc == 0 {
                prop_assert!(e.fingerprint.as_slice().iter().all(|&x| x == 0), "free entry not zero");
            } else {
                prop_assert_eq!(e.fingerprint.as_slice(), &fp[..fs]);
                used[j] += 1;
            }
        }
        for (j, blk) in store.iter_mut().enumerate() {
            fpstore::set_checksum(blk, g, j as u32, seed(), &Crc).unwrap();
            prop_assert_eq!(fpstore::verify_block(&geo, blk, g, j as u32, seed(), &Crc), Ok(used[j]));
            prop_assert!(fpstore::verify_block(&geo, blk, g, j as u32 + 1, seed(), &Crc).is_err());
            prop_assert!(fpstore::verify_block(&geo, blk, g.wrapping_add(1), j as u32, seed(), &Crc).is_err());
        }
        let j = at % store.len();
        let i = (at / store.len()) % bs as usize;
        store[j][i] ^= mask;
        prop_assert!(fpstore::verify_block(&geo, &store[j], g, j as u32, seed(), &Crc).is_err());
    }

    #[test]
    fn bitmap_ops_match_a_model(
        len in 0usize..64,
        ops in prop::collection::vec((0u8..6, prop_oneof![0usize..600, any::<usize>()], prop_oneof![0usize..600, any::<usize>()]), 0..200),
    ) {
        let mut map = vec![0u8; len];
        let nbits = len * 8;
        let mut model = vec![false; nbits];
        let get = |m: &Vec<bool>, i: usize| if i < nbits { m[i] } else { true };
        for (op, a, b) in ops {
            match op {
                0 => {
                    let old = bitmap::set(&mut map, a);
                    prop_assert_eq!(old, get(&model, a));
                    if a < nbits { model[a] = true; }
                }
                1 => {
                    let old = bitmap::clear(&mut map, a);
                    prop_assert_eq!(old, a < nbits && model[a]);
                    if a < nbits { model[a] = false; }
                }
                2 => {
                    let (s, e) = (a.min(b), a.max(b));
                    bitmap::set_range(&mut map, s, e);
                    for m in model.iter_mut().take(e.min(nbits)).skip(s) { *m = true; }
                }
                3 => {
                    // Bits past the end read as set: only the map can hold a zero.
                    let want = (a..b.min(nbits)).find(|&i| !get(&model, i));
                    prop_assert_eq!(bitmap::find_zero(&map, a, b), want);
                }
                4 => {
                    let goal = if a < b { a } else { 0 };
                    let want = (goal..b.min(nbits)).chain(0..goal.min(nbits)).find(|&i| !get(&model, i));
                    prop_assert_eq!(bitmap::find_zero_from(&map, a, b), want);
                }
                _ => {
                    let n = a.min(nbits + 100);
                    let want = (0..n).filter(|&i| get(&model, i)).count();
                    prop_assert_eq!(bitmap::count_set(&map, n), want);
                    let n = a;
                    let want = model.iter().take(n).filter(|&&x| x).count() + n.saturating_sub(nbits);
                    prop_assert_eq!(bitmap::count_set(&map, n), want);
                }
            }
            for (i, &m) in model.iter().enumerate() {
                prop_assert_eq!(bitmap::test(&map, i), m);
            }
            prop_assert!(bitmap::test(&map, nbits));
            prop_assert!(bitmap::test(&map, a.max(nbits)));
        }
    }
}

#[test]
fn superblock_every_byte_flip_of_a_real_superblock() {
    for bs in BLOCK_SIZES {
        for at_end in [false, true] {
            let g = geo(bs, 500_000, FingerprintAlgo::Md5, at_end);
            let mut sb = superblock_for(&g);
            sb.uuid = UUID;
            let mut buf = [0u8; SUPERBLOCK_SIZE];
            sb.encode(&mut buf, &Crc).unwrap();
            assert_eq!(Superblock::decode(&buf, &Crc), Ok(sb.clone()));
            assert_eq!(Geometry::from_superblock(&sb), Ok(g));
            flip_every_byte(&buf, &[0x01, 0x80, 0xff, 0x5a], |b| {
                Superblock::decode(b, &Crc).is_ok()
            });
        }
    }
    // What the errors say.
    let mut sb = superblock_for(&geo(4096, 100_000, FingerprintAlgo::Sha256, false));
    sb.uuid = UUID;
    let mut buf = [0u8; SUPERBLOCK_SIZE];
    sb.encode(&mut buf, &Crc).unwrap();
    let mut b = buf;
    b[0] ^= 1;
    assert_eq!(Superblock::decode(&b, &Crc), Err(FormatError::BadMagic));
    let mut b = buf;
    b[superblock::off::VERSION_MAJOR] = 2;
    assert!(matches!(
        Superblock::decode(&b, &Crc),
        Err(FormatError::UnsupportedVersion { major: 2, .. })
    ));
    let mut b = buf;
    b[superblock::off::LABEL] ^= 1;
    assert!(matches!(
        Superblock::decode(&b, &Crc),
        Err(FormatError::BadChecksum {
            what: "superblock",
            ..
        })
    ));
    // A newer minor version is readable.
    let mut sb2 = sb.clone();
    sb2.version_minor = 9;
    sb2.encode(&mut b, &Crc).unwrap();
    assert_eq!(Superblock::decode(&b, &Crc), Ok(sb2));
    // Short buffers.
    assert!(matches!(
        Superblock::decode(&buf[..1023], &Crc),
        Err(FormatError::Truncated { .. })
    ));
    assert!(sb.encode(&mut [0u8; 1023], &Crc).is_err());
}

#[test]
fn superblock_fields_at_their_offsets() {
    use superblock::off;
    let sb = Superblock {
        version_major: 0x0102,
        log_block_size: 0x0304_0506,
        blocks_count: 0x0102_0304_0506_0708,
        uuid: UUID,
        fp_algo: 0x77,
        hash_seed: [0x42; 16],
        kbytes_written: 0x1122_3344_5566_7788,
        ..Superblock::default()
    };
    let mut b = [0u8; SUPERBLOCK_SIZE];
    sb.encode(&mut b, &Crc).unwrap();
    assert_eq!(&b[off::VERSION_MAJOR..][..2], &[0x02, 0x01]);
    assert_eq!(&b[off::LOG_BLOCK_SIZE..][..4], &[0x06, 0x05, 0x04, 0x03]);
    assert_eq!(
        &b[off::BLOCKS_COUNT..][..8],
        &0x0102_0304_0506_0708u64.to_le_bytes()
    );
    assert_eq!(&b[off::UUID..][..16], &UUID);
    assert_eq!(b[off::FP_ALGO], 0x77);
    assert_eq!(&b[off::HASH_SEED..][..16], &[0x42; 16]);
    assert_eq!(
        &b[off::KBYTES_WRITTEN..][..8],
        &0x1122_3344_5566_7788u64.to_le_bytes()
    );
    // Checksum: crc32c seeded with the UUID over bytes 0..1020.
    let c = Crc.crc32c(Crc.crc32c(!0, &UUID), &b[..1020]);
    assert_eq!(&b[off::CHECKSUM..][..4], &c.to_le_bytes());
    // Bytes after the last field and before the checksum are zero.
    assert!(b[off::KBYTES_WRITTEN + 8..off::CHECKSUM]
        .iter()
        .all(|&x| x == 0));
}

#[test]
fn label_and_last_mounted_text() {
    let mut sb = Superblock::default();
    sb.label[..5].copy_from_slice(b"vmimg");
    assert_eq!(sb.label_str(), "vmimg");
    sb.label = [b'x'; 32];
    assert_eq!(sb.label_str().len(), 32);
    sb.label[3] = 0xff;
    assert_eq!(sb.label_str(), "xxx");
    sb.last_mounted[..4].copy_from_slice(b"/mnt");
    assert_eq!(sb.last_mounted_str(), "/mnt");
}

// ----------------------------------------------------- group descriptors

#[test]
fn fresh_descriptors_validate_and_survive_byte_flips() {
    for bs in BLOCK_SIZES {
        for at_end in [false, true] {
            let g = geo(bs, u64::from(bs) * 8 * 10, FingerprintAlgo::Sha256, at_end);
            for n in 0..g.group_count {
                let l = g.group(n).unwrap();
                let d = GroupDesc::fresh(&g, &l);
                assert_eq!(d.flags, BG_FLAGS_KNOWN);
                assert_eq!(d.free_blocks, l.end - l.data_start);
                d.validate(&g, n).unwrap();
                let mut buf = [0u8; DESC_SIZE as usize];
                d.encode(&mut buf, n, seed(), &Crc).unwrap();
                assert_eq!(GroupDesc::decode(&buf, n, seed(), &Crc), Ok(d));
                flip_every_byte(&buf, &[0x01, 0xff], |b| {
                    GroupDesc::decode(b, n, seed(), &Crc).is_ok()
                });
                // Positions must be exactly the geometry's.
                for k in 0..4 {
                    let mut e = d;
                    match k {
                        0 => e.block_bitmap += 1,
                        1 => e.inode_bitmap += 1,
                        2 => e.inode_table -= 1,
                        _ => e.fp_store += 1,
                    }
                    assert!(matches!(
                        e.validate(&g, n),
                        Err(FormatError::Inconsistent { .. })
                    ));
                }
                let mut e = d;
                e.free_blocks += 1;
                assert!(e.validate(&g, n).is_err());
                let mut e = d;
                e.free_inodes += 1;
                assert!(e.validate(&g, n).is_err());
                let mut e = d;
                e.flags |= 0x0008;
                assert!(e.validate(&g, n).is_err());
                assert!(d.validate(&g, g.group_count).is_err());
            }
        }
    }
}

#[test]
fn bitmap_checksum_covers_group_and_bytes() {
    let map = [0x0fu8; 128];
    let c = group::bitmap_checksum(&map, 3, seed(), &Crc);
    let want = Crc.crc32c(Crc.crc32c(seed(), &3u32.to_le_bytes()), &map);
    assert_eq!(c, want);
    assert_ne!(c, group::bitmap_checksum(&map, 4, seed(), &Crc));
    let mut m2 = map;
    m2[100] ^= 0x40;
    assert_ne!(c, group::bitmap_checksum(&m2, 3, seed(), &Crc));
}

// ---------------------------------------------------------------- inodes

#[test]
fn inode_fields_and_checksum() {
    let i = Inode {
        mode: inode::S_IFREG | 0o644,
        uid: 1000,
        gid: 100,
        links_count: 1,
        size: 123_456,
        blocks: 31,
        atime: Timestamp {
            sec: -5,
            nsec: 999_999_999,
        },
        mtime: Timestamp {
            sec: 1 << 40,
            nsec: 1,
        },
        ctime: Timestamp { sec: 7, nsec: 0 },
        crtime: Timestamp { sec: 8, nsec: 3 },
        flags: inode::FL_NOATIME,
        generation: 0xabcd_ef01,
        next_orphan: 0,
        prealloc: 0,
        dtime: 0,
        block: [5; N_BLOCKS],
        xattr_block: 77,
    };
    let mut buf = [0u8; 256];
    i.encode(&mut buf, 12, seed(), &Crc).unwrap();
    let c = Crc.crc32c(seed(), &12u32.to_le_bytes());
    let c = Crc.crc32c(c, &0xabcd_ef01u32.to_le_bytes());
    let c = Crc.crc32c(c, &buf[..252]);
    assert_eq!(&buf[inode::off::CHECKSUM..], &c.to_le_bytes());
    assert_eq!(&buf[inode::off::MTIME..][..8], &(1i64 << 40).to_le_bytes());
    assert_eq!(&buf[inode::off::ATIME..][..8], &(-5i64).to_le_bytes());
    flip_every_byte(&buf, &[0x01, 0x80, 0xff], |b| {
        Inode::decode(b, 12, seed(), &Crc).is_ok()
    });
    let g = geo(4096, 100_000, FingerprintAlgo::Sha256, false);
    let mut j = i.clone();
    j.block = [0; N_BLOCKS];
    j.block[0] = g.group(0).unwrap().data_start;
    j.validate(&g).unwrap();
    for (k, bad) in [
        (
            0,
            Inode {
                mode: 0o644,
                ..j.clone()
            },
        ),
        (
            1,
            Inode {
                flags: 0x8000_0000,
                ..j.clone()
            },
        ),
        (
            2,
            Inode {
                atime: Timestamp {
                    sec: 0,
                    nsec: 1_000_000_000,
                },
                ..j.clone()
            },
        ),
        (
            3,
            Inode {
                size: g.max_file_size() + 1,
                ..j.clone()
            },
        ),
        (
            4,
            Inode {
                block: [g.groups_end; N_BLOCKS],
                ..j.clone()
            },
        ),
        (
            5,
            Inode {
                mode: inode::S_IFDIR | 0o755,
                size: 100,
                ..j.clone()
            },
        ),
        (
            6,
            Inode {
                mode: S_IFLNK | 0o777,
                size: 4096,
                blocks: 1,
                ..j.clone()
            },
        ),
    ] {
        assert!(bad.validate(&g).is_err(), "case {k} accepted");
    }
    // UNWRITTEN: in a regular file's direct pointers only.
    let mut u = j.clone();
    u.block[1] = inode::UNWRITTEN;
    u.block[11] = inode::UNWRITTEN;
    u.validate(&g).unwrap();
    for k in [inode::IND_BLOCK, inode::DIND_BLOCK, inode::TIND_BLOCK] {
        let mut bad = j.clone();
        bad.block[k] = inode::UNWRITTEN;
        assert!(bad.validate(&g).is_err(), "UNWRITTEN in slot {k} accepted");
    }
    let dir = Inode {
        mode: inode::S_IFDIR | 0o755,
        size: 4096,
        ..u.clone()
    };
    assert!(
        dir.validate(&g).is_err(),
        "UNWRITTEN in a directory accepted"
    );
    assert!(!inode::maps_block(0) && !inode::maps_block(inode::UNWRITTEN));
    assert!(inode::maps_block(g.group(0).unwrap().data_start));
    // Device numbers live in the block array and are not block pointers.
    let mut block = [u32::MAX; N_BLOCKS];
    block[inode::QIND_BLOCK] = 0;
    let dev = Inode {
        mode: inode::S_IFCHR | 0o600,
        block,
        ..j.clone()
    };
    dev.validate(&g).unwrap();
    // ... but the quadruple-indirect pointer is a regular file's only.
    let mut bad = dev.clone();
    bad.block[inode::QIND_BLOCK] = 1;
    assert!(bad.validate(&g).is_err(), "quadruple pointer in a device");
    // 60-byte and longer targets are not fast.
    let mut s = Inode {
        mode: S_IFLNK | 0o777,
        ..Inode::default()
    };
    assert!(s.set_fast_symlink(&[b'a'; FAST_SYMLINK_MAX]).is_err());
    s.size = 60;
    assert!(!s.is_fast_symlink());
}

/// The quadruple-indirect pointer: only in a regular file of a
/// `huge_file` volume, whose files may then reach 2^32 blocks.
#[test]
fn quadruple_indirect_pointer() {
    let plain = geo(4096, 100_000, FingerprintAlgo::Sha256, false);
    let mut p = plain.params();
    p.huge_file = true;
    let huge = livedfs_format::Geometry::new(&p).unwrap();
    let data = huge.group(0).unwrap().data_start;
    let mut f = Inode {
        mode: inode::S_IFREG | 0o644,
        links_count: 1,
        size: (1u64 << 32) * 4096 - 1,
        blocks: 5,
        ..Inode::default()
    };
    f.block[inode::QIND_BLOCK] = data;
    f.validate(&huge).unwrap();
    assert!(
        f.validate(&plain).is_err(),
        "no huge_file: pointer accepted"
    );
    f.size = (1u64 << 32) * 4096 + 1;
    assert!(f.validate(&huge).is_err(), "past 2^32 blocks accepted");
    f.size = 0;
    let d = Inode {
        mode: inode::S_IFDIR | 0o755,
        ..f.clone()
    };
    assert!(
        d.validate(&huge).is_err(),
        "pointer in a directory accepted"
    );
    // Stored at its own offset, after the attribute block.
    let mut buf = [0u8; INODE_SIZE as usize];
    f.encode(&mut buf, 7, seed(), &Crc).unwrap();
    assert_eq!(&buf[inode::off::QIND_BLOCK..][..4], &data.to_le_bytes());
    assert_eq!(Inode::decode(&buf, 7, seed(), &Crc).unwrap(), f);
}

/// Flags a new inode takes from its directory, by type (as ext4).
#[test]
fn inherited_flags_by_type() {
    use inode::*;
    let all = FL_SYNC | FL_IMMUTABLE | FL_APPEND | FL_NODUMP | FL_NOATIME | FL_DIRSYNC | FL_DAX;
    let inheritable = FL_SYNC | FL_NODUMP | FL_NOATIME | FL_DIRSYNC | FL_DAX;
    assert_eq!(inherited_flags(all, S_IFDIR), inheritable);
    assert_eq!(
        inherited_flags(all, S_IFREG | 0o644),
        inheritable & !FL_DIRSYNC
    );
    for t in [S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK] {
        assert_eq!(inherited_flags(all, t), FL_NODUMP | FL_NOATIME, "{t:o}");
    }
    assert_eq!(inherited_flags(FL_IMMUTABLE | FL_APPEND, S_IFDIR), 0);
}

#[test]
fn inode_predicates() {
    let mut i = Inode::default();
    assert!(!i.in_use());
    i.mode = inode::S_IFDIR | 0o755;
    assert!(i.in_use() && i.is_dir() && !i.is_reg());
    i.dtime = 5;
    assert!(!i.in_use());
    for (m, ft) in [
        (inode::S_IFREG, dirent::FT_REG),
        (inode::S_IFDIR, dirent::FT_DIR),
        (inode::S_IFCHR, dirent::FT_CHRDEV),
        (inode::S_IFBLK, dirent::FT_BLKDEV),
        (inode::S_IFIFO, dirent::FT_FIFO),
        (inode::S_IFSOCK, dirent::FT_SOCK),
        (inode::S_IFLNK, dirent::FT_SYMLINK),
        (0, dirent::FT_UNKNOWN),
    ] {
        assert_eq!(dirent::file_type_of_mode(m | 0o644), ft);
    }
}

// ---------------------------------------------------- directory blocks

#[test]
fn directory_blocks() {
    for bs in BLOCK_SIZES {
        let bs = bs as usize;
        let mut b = vec![0xeeu8; bs];
        dirent::init_first_block(&mut b, 20, 2).unwrap();
        let es: Vec<_> = dirent::entries(&b).map(|e| e.unwrap()).collect();
        assert_eq!(es.len(), 2);
        assert_eq!(
            (es[0].offset, es[0].ino, es[0].name, es[0].rec_len),
            (0, 20, &b"."[..], 12)
        );
        assert_eq!((es[1].offset, es[1].ino, es[1].name), (12, 2, &b".."[..]));
        assert_eq!(es[1].rec_len, bs - 12 - 12);
        assert!(es.iter().all(|e| e.file_type == dirent::FT_DIR));
        // The tail.
        let t = bs - dirent::TAIL_SIZE;
        assert_eq!(&b[t..t + 8], &[0, 0, 0, 0, 12, 0, 0, dirent::TAIL_MARK]);
        dirent::set_checksum(&mut b, 20, 7, seed(), &Crc).unwrap();
        dirent::verify_block(&b, 20, 7, seed(), &Crc).unwrap();
        let c = Crc.crc32c(
            Crc.crc32c(
                Crc.crc32c(seed(), &20u32.to_le_bytes()),
                &7u32.to_le_bytes(),
            ),
            &b[..bs - 4],
        );
        assert_eq!(&b[bs - 4..], &c.to_le_bytes());
        // Some entries.
        let mut offs = Vec::new();
        for k in 0..20u32 {
            let name = format!("file-{k:03}");
            let at = dirent::find_room(&b, name.len()).unwrap().unwrap();
            offs.push(
                dirent::insert_at(&mut b, at, 100 + k, name.as_bytes(), dirent::FT_REG).unwrap(),
            );
        }
        dirent::remove_at(&mut b, offs[3]).unwrap();
        dirent::remove_at(&mut b, 0).unwrap(); // "." first in block: kept as unused
        dirent::set_checksum(&mut b, 20, 7, seed(), &Crc).unwrap();
        dirent::verify_block(&b, 20, 7, seed(), &Crc).unwrap();
        let first = dirent::entries(&b).next().unwrap().unwrap();
        assert_eq!((first.offset, first.ino, first.rec_len), (0, 0, 12));
        flip_every_byte(&b, &[0x01, 0xff], |x| {
            dirent::verify_block(x, 20, 7, seed(), &Crc).is_ok()
        });
        assert!(dirent::verify_block(&b, 21, 7, seed(), &Crc).is_err());
        assert!(dirent::verify_block(&b, 20, 8, seed(), &Crc).is_err());
        assert!(dirent::verify_block(&b, 20, 7, seed() ^ 1, &Crc).is_err());
        // An empty block.
        let mut e = vec![0x33u8; bs];
        dirent::init_block(&mut e).unwrap();
        let es: Vec<_> = dirent::entries(&e).map(|e| e.unwrap()).collect();
        assert_eq!(es.len(), 1);
        assert_eq!((es[0].offset, es[0].ino, es[0].rec_len), (0, 0, bs - 12));
        assert_eq!(dirent::find_room(&e, 255).unwrap(), Some(0));
        dirent::set_checksum(&mut e, 20, 7, seed(), &Crc).unwrap();
        dirent::verify_block(&e, 20, 7, seed(), &Crc).unwrap();
    }
}

#[test]
fn dirent_names_and_types() {
    assert!(dirent::valid_name(b"a"));
    assert!(dirent::valid_name(&[b'x'; 255]));
    assert!(!dirent::valid_name(&[b'x'; 256]));
    assert!(!dirent::valid_name(b""));
    assert!(!dirent::valid_name(b"a/b"));
    assert!(!dirent::valid_name(b"a\0b"));
    assert_eq!(dirent::rec_len_for(1), 12);
    assert_eq!(dirent::rec_len_for(4), 12);
    assert_eq!(dirent::rec_len_for(5), 16);
    assert_eq!(dirent::rec_len_for(255), 264);
    let dt: Vec<u8> = (0..=8).map(dirent::dtype_of).collect();
    assert_eq!(dt, vec![0, 8, 4, 2, 6, 1, 12, 10, 0]);
    let mut b = vec![0u8; 1024];
    dirent::init_block(&mut b).unwrap();
    assert!(dirent::insert_at(&mut b, 0, 5, b"a/b", 1).is_err());
    assert!(dirent::insert_at(&mut b, 0, 5, &[b'x'; 256], 1).is_err());
}

// ------------------------------------------------------ fingerprint store

#[test]
fn fp_entries() {
    let g = geo(4096, 100_000, FingerprintAlgo::Md5, false);
    let mut blk = vec![0u8; 4096];
    fpstore::init_block(&mut blk, 1, 2, seed(), &Crc).unwrap();
    let fp: Vec<u8> = (1..=16).collect();
    fpstore::write_entry(&mut blk, 40, &fp, 3).unwrap();
    assert_eq!(&blk[40..56], &fp[..]);
    assert_eq!(&blk[56..60], &3u32.to_le_bytes());
    fpstore::write_refcount(&mut blk, 40, 16, fpstore::REFCOUNT_MAX).unwrap();
    let e = fpstore::read_entry(&blk, 40, 16).unwrap();
    assert_eq!(e.refcount, u32::MAX);
    assert_eq!(e.fingerprint.as_slice(), &fp[..]);
    // A zero refcount frees the entry: all zero.
    fpstore::write_entry(&mut blk, 40, &fp, 0).unwrap();
    assert!(blk[40..60].iter().all(|&x| x == 0));
    // A free entry with a fingerprint left in it is corruption.
    blk[41] = 9;
    fpstore::set_checksum(&mut blk, 1, 2, seed(), &Crc).unwrap();
    assert!(matches!(
        fpstore::verify_block(&g, &blk, 1, 2, seed(), &Crc),
        Err(FormatError::BadField { .. })
    ));
    // The checksum: group and index, then all bytes but the last four.
    let c = Crc.crc32c(
        Crc.crc32c(Crc.crc32c(seed(), &1u32.to_le_bytes()), &2u32.to_le_bytes()),
        &blk[..4092],
    );
    assert_eq!(&blk[4092..], &c.to_le_bytes());
    // Bounds.
    assert!(fpstore::write_entry(&mut blk, 4090, &fp, 1).is_err());
    assert!(fpstore::write_entry(&mut blk, 4090, &fp, 0).is_err());
    assert!(fpstore::read_entry(&blk, 4090, 16).is_err());
    assert!(fpstore::read_entry(&blk, 0, 33).is_err());
    assert!(fpstore::Fingerprint::from_slice(&[0; 33]).is_err());
}

// ------------------------------------------------------------------ jbd2

fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(b[off..off + 4].try_into().unwrap())
}

#[test]
fn jbd2_fresh_superblock() {
    use jbd2::off;
    for bs in BLOCK_SIZES {
        let mut b = vec![0x77u8; bs as usize];
        jbd2::encode_fresh_superblock(&mut b, bs, 0, 4096, &UUID).unwrap();
        assert_eq!(&b[0..4], &[0xC0, 0x3B, 0x39, 0x98]);
        assert_eq!(be32(&b, off::MAGIC), jbd2::MAGIC);
        assert_eq!(be32(&b, off::BLOCKTYPE), jbd2::SUPERBLOCK_V2);
        assert_eq!(be32(&b, off::HSEQUENCE), 0);
        assert_eq!(be32(&b, off::BLOCKSIZE), bs);
        assert_eq!(be32(&b, off::MAXLEN), 4096);
        assert_eq!(be32(&b, off::FIRST), 1);
        assert_eq!(be32(&b, off::SEQUENCE), 1);
        assert_eq!(be32(&b, off::START), 0, "clean");
        assert_eq!(be32(&b, off::ERRNO), 0);
        assert_eq!(be32(&b, off::FEATURE_COMPAT), 0);
        assert_eq!(be32(&b, off::FEATURE_INCOMPAT), 0);
        assert_eq!(be32(&b, off::FEATURE_RO_COMPAT), 0);
        assert_eq!(&b[off::UUID..off::UUID + 16], &UUID);
        assert_eq!(be32(&b, off::NR_USERS), 1);
        assert_eq!(b[off::CHECKSUM_TYPE], 0);
        assert_eq!(be32(&b, off::CHECKSUM), 0);
        assert_eq!(&b[off::USERS..off::USERS + 16], &UUID);
        // Everything else is zero, to the end of the block.
        let set: Vec<usize> = b
            .iter()
            .enumerate()
            .filter(|(_, &x)| x != 0)
            .map(|(i, _)| i)
            .collect();
        assert!(set
            .iter()
            .all(|&i| i < 0x54 || (off::USERS..off::USERS + 16).contains(&i)));
    }
    let mut b = vec![0u8; 4096];
    assert!(
        jbd2::encode_fresh_superblock(&mut b, 4096, 0, jbd2::MIN_JOURNAL_BLOCKS - 1, &UUID)
            .is_err()
    );
    assert!(jbd2::encode_fresh_superblock(&mut b[..1023], 1024, 0, 1024, &UUID).is_err());
    assert!(jbd2::encode_fresh_superblock(&mut b[..1024], 1024, 0, 1024, &UUID).is_ok());
    assert_eq!(jbd2::default_journal_blocks(2047), None);
    assert_eq!(jbd2::default_journal_blocks(2048), Some(1024));
    assert_eq!(jbd2::default_journal_blocks(1 << 28), Some(262_144));
}

// ---------------------------------------------------------------- filter

#[test]
fn filter_keys_are_msb_first_prefixes() {
    let bytes = [0xAB, 0xCD, 0xEF, 0x12, 0x34, 0x56, 0x78, 0x9A];
    assert_eq!(filter::bits(&bytes, 0, 8), 0xAB);
    assert_eq!(filter::bits(&bytes, 4, 8), 0xBC);
    assert_eq!(filter::bits(&bytes, 0, 32), 0xABCD_EF12);
    assert_eq!(
        filter::bits(&bytes, 0, 40),
        0xABCD_EF12,
        "count is capped at 32"
    );
    assert_eq!(
        filter::bits(&bytes, 60, 8),
        0xA0,
        "bits past the end read as zero"
    );
    let fp = fpstore::Fingerprint::from_slice(&bytes[..6]).unwrap();
    let p = filter::FilterParams::for_blocks(1 << 28);
    // 0xABCDEF123456: the first 19 bits, then the next 24.
    assert_eq!(p.index_key(&fp), 0xABCDEF >> 5);
    assert_eq!(p.index_key(&fp), 0x55E6F);
    assert_eq!(
        p.bucket_key(&fp),
        (0xABCD_EF12_3456u64 >> 5) as u32 & 0xFF_FFFF
    );
    assert_eq!(p.bucket_key(&fp), 0x78_91A2);
    let v = u64::from_be_bytes(bytes);
    for n in [4u32, 9, 19, 24] {
        for k in [8u32, 15, 24, 32] {
            let p = filter::FilterParams {
                index_bits: n,
                bucket_bits: k,
            };
            let fp = fpstore::Fingerprint::from_slice(&bytes).unwrap();
            assert_eq!(u64::from(p.index_key(&fp)), v >> (64 - n));
            assert_eq!(
                u64::from(p.bucket_key(&fp)),
                (v >> (64 - n - k)) & ((1u64 << k) - 1)
            );
        }
    }
}

#[test]
fn filter_parameters_for_volume_sizes() {
    // (blocks) -> (n, k): n = ceil(log2 B) - 9 within 4..=24, and
    // k = ceil(log2 B) + 15 - n within 8..=32.
    for (blocks, n, k) in [
        (0u64, 4, 12),
        (1, 4, 12),
        (1 << 10, 4, 21),
        (1 << 13, 4, 24),
        (1 << 14, 5, 24),
        (1 << 20, 11, 24),
        ((1 << 20) + 1, 12, 24),
        (1 << 28, 19, 24),
        ((1 << 32) - 1, 23, 24),
        (1 << 40, 24, 31),
        (u64::MAX, 24, 32),
    ] {
        let p = filter::FilterParams::for_blocks(blocks);
        assert_eq!((p.index_bits, p.bucket_bits), (n, k), "{blocks} blocks");
    }
    assert_eq!(filter::log2_ceil(0), 0);
    assert_eq!(filter::log2_ceil(1), 0);
    assert_eq!(filter::log2_ceil(2), 1);
    assert_eq!(filter::log2_ceil(3), 2);
    assert_eq!(filter::log2_ceil(u64::MAX), 64);
}

// ------------------------------------------------------------- block map

#[test]
fn block_map_paths_at_the_boundaries() {
    for p in [256u32, 512, 1024] {
        let q = u64::from(p);
        let cases = [
            (0u64, 0usize, [0u32, 0, 0, 0, 0]),
            (11, 0, [11, 0, 0, 0, 0]),
            (12, 1, [12, 0, 0, 0, 0]),
            (12 + q - 1, 1, [12, p - 1, 0, 0, 0]),
            (12 + q, 2, [13, 0, 0, 0, 0]),
            (12 + q + q * q - 1, 2, [13, p - 1, p - 1, 0, 0]),
            (12 + q + q * q, 3, [14, 0, 0, 0, 0]),
            (
                12 + q + q * q + q * q * q - 1,
                3,
                [14, p - 1, p - 1, p - 1, 0],
            ),
            (12 + q + q * q + q * q * q, 4, [15, 0, 0, 0, 0]),
            (
                12 + q + q * q + q * q * q + q * q * q * q - 1,
                4,
                [15, p - 1, p - 1, p - 1, p - 1],
            ),
        ];
        for (fb, depth, offsets) in cases {
            let path = inode::block_path(p, fb).unwrap();
            assert_eq!(
                (path.depth, path.offsets),
                (depth, offsets),
                "p {p} block {fb}"
            );
        }
        assert_eq!(
            inode::block_path(p, 12 + q + q * q + q * q * q + q * q * q * q),
            None
        );
    }
    assert_eq!(inode::block_path(0, 0), None);
}

/// Regression: an entry that does not fit is refused before any byte is
/// written (the fingerprint used to be written, then the refcount refused).
#[test]
fn fp_write_entry_is_all_or_nothing() {
    let mut blk = vec![0u8; 1024];
    let fp = [0xAAu8; 32];
    for off in [1000usize, 1002, 1020, 1023, 1024, usize::MAX - 10] {
        for rc in [0, 1] {
            let r = fpstore::write_entry(&mut blk, off, &fp, rc);
            assert!(
                matches!(r, Err(FormatError::Truncated { have: 1024, .. })),
                "{off}: {r:?}"
            );
            assert!(blk.iter().all(|&b| b == 0), "{off}: partial write");
        }
    }
    fpstore::write_entry(&mut blk, 1024 - 36, &fp, 1).unwrap();
}

proptest! {
    /// `entries_holding` finds exactly the entries a plain decode of every
    /// entry says hold the fingerprint with a count in 1..REFCOUNT_MAX.
    #[test]
    fn entries_holding_matches_a_plain_decode(
        algo in prop::sample::select(ALGOS.to_vec()),
        bs in prop::sample::select(BLOCK_SIZES.to_vec()),
        picks in prop::collection::vec((0u32..300, 0u8..4, prop_oneof![Just(0u32), Just(1), Just(7), Just(u32::MAX - 1), Just(u32::MAX)]), 0..60),
        want_pick in 0u8..4,
    ) {
        let fs = usize::from(algo.size());
        let es = fs + 4;
        let entries = ((bs as usize - 4) / es) as u32;
        // Four fingerprints: 0 and 1 differ only past byte 8, 2 only in
        // byte 0, 3 is unrelated.
        let mut fps = [[0x5Au8; 32]; 4];
        fps[1][fs - 1] ^= 1;
        fps[2][0] ^= 0x80;
        fps[3] = [0xC3; 32];
        let mut block = vec![0u8; bs as usize];
        for &(e, which, count) in &picks {
            if e < entries {
                fpstore::write_entry(&mut block, e as usize * es, &fps[which as usize][..fs], count).unwrap();
            }
        }
        let fp = &fps[want_pick as usize][..fs];
        let got: Vec<u32> = fpstore::entries_holding(&block, entries, es, fp).iter().collect();
        let want: Vec<u32> = (0..entries)
            .filter(|&e| {
                let x = fpstore::read_entry(&block, e as usize * es, fs).unwrap();
                x.fingerprint.as_slice() == fp && x.refcount != 0 && x.refcount < fpstore::REFCOUNT_MAX
            })
            .collect();
        prop_assert_eq!(got, want);
    }
}
