//! Random bytes and random numbers never make the format crate panic (in
//! the kernel a panic is BUG()): every decoder, iterator and helper
//! returns an error or a sane value instead.

mod common;

use common::*;
use livedfs_format::group::GroupDesc;
use livedfs_format::inode::{self, Inode};
use livedfs_format::superblock::Superblock;
use livedfs_format::{bitmap, codec, dirent, filter, fpstore, jbd2};
use livedfs_format::{FingerprintAlgo, Geometry};
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// A directory block: random bytes, or a valid block with random damage.
fn dir_block() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        bytes(4200),
        (
            prop::sample::select(vec![1024usize, 2048, 4096]),
            prop::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            0usize..30,
        )
            .prop_map(|(bs, damage, n)| {
                let mut b = vec![0u8; bs];
                dirent::init_first_block(&mut b, 2, 2).unwrap();
                for k in 0..n {
                    let name = format!("entry-{k}");
                    if let Ok(Some(at)) = dirent::find_room(&b, name.len()) {
                        let _ = dirent::insert_at(&mut b, at, 20 + k as u32, name.as_bytes(), 1);
                    }
                }
                for (at, v) in damage {
                    let i = at % bs;
                    b[i] = v;
                }
                b
            }),
    ]
}

/// An offset near the interesting range of a block, or anything.
fn offset() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..4200,
        any::<usize>(),
        Just(usize::MAX),
        Just(usize::MAX - 3)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1024)))]

    #[test]
    fn decoders_on_random_bytes(b in bytes(1100), seed: u32, n: u32) {
        let _ = Superblock::decode(&b, &Crc);
        if let Ok(sb) = Superblock::decode_fields(&b) {
            if let Ok(g) = Geometry::from_superblock(&sb) {
                check_geometry(&g, &[n]);
            }
            let _ = sb.label_str();
            let _ = sb.last_mounted_str();
            let _ = sb.block_size();
        }
        let _ = GroupDesc::decode(&b, n, seed, &Crc);
        let _ = GroupDesc::decode_fields(&b);
        let _ = Inode::decode(&b, n, seed, &Crc);
        if let Ok(i) = Inode::decode_fields(&b) {
            let _ = i.fast_symlink_bytes();
            let _ = i.is_fast_symlink();
            for bs in BLOCK_SIZES {
                let g = geo(bs, 70_000, FingerprintAlgo::Sha256, false);
                let _ = i.validate(&g);
            }
        }
    }

    #[test]
    fn codec_on_random_offsets(mut b in bytes(64), off in offset(), v: u64) {
        let _ = codec::get_u8(&b, off);
        let _ = codec::get_u16(&b, off);
        let _ = codec::get_u32(&b, off);
        let _ = codec::get_u64(&b, off);
        let _ = codec::get_i64(&b, off);
        let _ = codec::get_be32(&b, off);
        let _ = codec::get_bytes::<16>(&b, off);
        let _ = codec::slice(&b, off, v as usize);
        let _ = codec::put_u8(&mut b, off, v as u8);
        let _ = codec::put_u16(&mut b, off, v as u16);
        let _ = codec::put_u32(&mut b, off, v as u32);
        let _ = codec::put_u64(&mut b, off, v);
        let _ = codec::put_i64(&mut b, off, v as i64);
        let _ = codec::put_be32(&mut b, off, v as u32);
        let _ = codec::put_bytes(&mut b, off, &[1, 2, 3]);
        let _ = codec::need(&b, off, "x");
    }

    #[test]
    fn dirent_entries_on_random_blocks(b in dir_block()) {
        let mut end = 0usize;
        for e in dirent::entries(&b) {
            match e {
                Ok(e) => {
                    prop_assert_eq!(e.offset, end, "entries tile the block");
                    prop_assert!(e.rec_len >= dirent::ENTRY_HEADER);
                    prop_assert!(e.offset + e.rec_len <= b.len() - dirent::TAIL_SIZE);
                    prop_assert!(e.name.len() + dirent::ENTRY_HEADER <= e.rec_len);
                    if e.ino != 0 {
                        prop_assert!(dirent::valid_name(e.name));
                        prop_assert!(e.file_type <= dirent::FT_MAX);
                    }
                    end += e.rec_len;
                }
                Err(_) => break,
            }
        }
        let _ = dirent::verify_block(&b, 2, 0, 0, &Crc);
    }

    #[test]
    fn dirent_edits_on_random_blocks(
        b in dir_block(),
        at in offset(),
        name_len in 0usize..300,
        name in prop::collection::vec(any::<u8>(), 0..260),
        ino: u32,
        ft: u8,
    ) {
        let _ = dirent::find_room(&b, name_len);
        let mut c = b.clone();
        let _ = dirent::insert_at(&mut c, at, ino, &name, ft);
        prop_assert_eq!(c.len(), b.len());
        let mut c = b.clone();
        let _ = dirent::remove_at(&mut c, at);
        let mut c = b.clone();
        let _ = dirent::write_entry(&mut c, at, ino, name_len, &name, ft);
        let mut c = b.clone();
        let _ = dirent::set_checksum(&mut c, ino, 0, 0, &Crc);
        let _ = dirent::checksum_of(&b, ino, 0, 0, &Crc);
        let mut c = b.clone();
        let _ = dirent::init_block(&mut c);
        let _ = dirent::init_first_block(&mut c, ino, ino);
        for e in dirent::entries(&b).map_while(Result::ok) {
            let mut c = b.clone();
            let _ = dirent::insert_at(&mut c, e.offset, ino, &name, ft);
            let mut c = b.clone();
            let _ = dirent::remove_at(&mut c, e.offset);
        }
    }

    #[test]
    fn fpstore_on_random_blocks(
        b in bytes(4200),
        bs in prop::sample::select(BLOCK_SIZES.to_vec()),
        algo in prop::sample::select(ALGOS.to_vec()),
        group: u32,
        j: u32,
        off in offset(),
        fp_size in prop_oneof![0usize..40, any::<usize>()],
        rc: u32,
    ) {
        let g = geo(bs, 100_000, algo, false);
        let _ = fpstore::verify_block(&g, &b, group, j, 0, &Crc);
        let _ = fpstore::read_entry(&b, off, fp_size);
        let mut c = b.clone();
        let _ = fpstore::write_entry(&mut c, off, &b[..b.len().min(fp_size)], rc);
        let _ = fpstore::write_refcount(&mut c, off, fp_size, rc);
        let _ = fpstore::checksum_of(&b, group, j, 0, &Crc);
        let _ = fpstore::set_checksum(&mut c, group, j, 0, &Crc);
        let _ = fpstore::init_block(&mut c, group, j, 0, &Crc);
        let _ = fpstore::Fingerprint::from_slice(&b[..b.len().min(fp_size)]);
        let _ = jbd2::encode_fresh_superblock(&mut c, j, 0, rc, &[0; 16]);
        let _ = jbd2::default_journal_blocks(u64::from(rc));
    }

    #[test]
    fn filter_bits_any_input(b in bytes(64), start: u32, count: u32, blocks: u64) {
        let v = filter::bits(&b, start, count);
        prop_assert!(v < (1u64 << 32), "at most 32 bits");
        let p = filter::FilterParams::for_blocks(blocks);
        prop_assert!((4..=24).contains(&p.index_bits));
        prop_assert!((8..=32).contains(&p.bucket_bits));
        let _ = p.false_candidate_log2(blocks);
        if let Ok(fp) = fpstore::Fingerprint::from_slice(&b[..b.len().min(32)]) {
            prop_assert!(p.index_key(&fp) < (1 << p.index_bits));
            prop_assert!(u64::from(p.bucket_key(&fp)) < (1u64 << p.bucket_bits));
        }
    }

    #[test]
    fn block_path_any_input(p: u32, file_block: u64) {
        check_block_path(p, file_block);
    }

    #[test]
    fn block_path_real_sizes(p in prop::sample::select(vec![256u32, 512, 1024]), file_block in 0u64..(1 << 31)) {
        check_block_path(p, file_block);
    }

    #[test]
    fn bitmaps_any_index(mut b in bytes(40), i: usize, j: usize) {
        let _ = bitmap::test(&b, i);
        let _ = bitmap::set(&mut b, i);
        let _ = bitmap::clear(&mut b, i);
        bitmap::set_range(&mut b, i, j);
        let _ = bitmap::find_zero(&b, i, j);
        let _ = bitmap::find_zero_from(&b, i, j);
        let _ = bitmap::count_set(&b, i);
        bitmap::set_range(&mut b, 0, usize::MAX);
        prop_assert!(b.iter().all(|&x| x == 0xff));
        prop_assert_eq!(bitmap::find_zero(&b, 0, usize::MAX), None);
        prop_assert_eq!(bitmap::count_set(&b, usize::MAX), usize::MAX);
    }

    #[test]
    fn geometry_queries_any_input(
        bs in prop::sample::select(BLOCK_SIZES.to_vec()),
        blocks in 100u64..5_000_000,
        algo in prop::sample::select(ALGOS.to_vec()),
        at_end: bool,
        n: u32,
        m: u32,
        k: u32,
    ) {
        let Ok(g) = Geometry::new(&params(bs, blocks, bs, algo, at_end, true)) else {
            return Ok(());
        };
        let _ = g.group(n);
        let _ = g.group_of_block(n);
        let _ = g.block_index_in_group(n);
        let _ = g.valid_block(n);
        let _ = g.is_data_block(n);
        let _ = g.fp_entry_location(n);
        let _ = g.fp_entry_block(n, m, k);
        let _ = g.fp_entry_block(n % g.group_count, m % g.fp_blocks_per_group, k % g.fp_entries_per_block);
        let _ = g.valid_ino(n);
        let _ = g.group_of_ino(n);
        let _ = g.inode_location(n);
        let _ = g.desc_location(n);
        let _ = g.check_journal(n, m);
        let _ = g.block_offset(n);
        let _ = g.group_has_super(n);
        if let Ok((blk, off)) = g.fp_entry_location(n) {
            prop_assert!(blk < g.blocks_count);
            prop_assert!(off + g.fp_entry_size as usize <= g.block_size as usize - 4);
        }
        if let Ok((blk, off)) = g.inode_location(n) {
            prop_assert!(blk < g.groups_end);
            prop_assert!(off + 256 <= g.block_size as usize);
        }
    }
}

/// A path is in range and leads back to the file block; `None` exactly
/// past the largest file the map addresses.
fn check_block_path(p: u32, file_block: u64) {
    let q = u128::from(p);
    // (2^32 - 1)^4 and the sum still fit a u128.
    let limit = 12 + q + q * q + q * q * q + q * q * q * q;
    let r = inode::block_path(p, file_block);
    if p == 0 {
        assert_eq!(r, None);
        return;
    }
    let Some(path) = r else {
        assert!(
            u128::from(file_block) >= limit,
            "p {p}: block {file_block} unmapped"
        );
        return;
    };
    assert!(u128::from(file_block) < limit);
    assert!(path.depth <= 4);
    let o: Vec<u128> = path.offsets.iter().map(|&x| u128::from(x)).collect();
    for (l, &x) in o.iter().enumerate().skip(1) {
        if l <= path.depth {
            assert!(x < q);
        } else {
            assert_eq!(x, 0);
        }
    }
    let back = match path.depth {
        0 => {
            assert!(o[0] < 12);
            o[0]
        }
        1 => {
            assert_eq!(o[0], inode::IND_BLOCK as u128);
            12 + o[1]
        }
        2 => {
            assert_eq!(o[0], inode::DIND_BLOCK as u128);
            12 + q + o[1] * q + o[2]
        }
        3 => {
            assert_eq!(o[0], inode::TIND_BLOCK as u128);
            12 + q + q * q + o[1] * q * q + o[2] * q + o[3]
        }
        _ => {
            assert_eq!(o[0], inode::QIND_BLOCK as u128);
            12 + q + q * q + q * q * q + o[1] * q * q * q + o[2] * q * q + o[3] * q + o[4]
        }
    };
    assert_eq!(back, u128::from(file_block));
}

#[test]
fn block_path_with_huge_pointer_counts() {
    // Not a real block size, but the function must still be right.
    for p in [1u32, 2, 3, 1 << 21, (1 << 22) + 1, u32::MAX] {
        for fb in [0u64, 11, 12, 13, 1 << 40, u64::MAX - 1, u64::MAX] {
            check_block_path(p, fb);
        }
    }
}
