//! Layout arithmetic: every geometry `Geometry::new` accepts is a valid
//! layout, `from_superblock` re-derives it exactly, and refusals are
//! errors of the documented kinds, never panics.

mod common;

use common::*;
use livedfs_format::filter::FilterParams;
use livedfs_format::geometry::{sparse_group_has_super, Geometry, MAX_BLOCKS};
use livedfs_format::superblock::*;
use livedfs_format::{FingerprintAlgo, FormatError};
use proptest::prelude::*;

fn is_refusal(e: &FormatError) -> bool {
    matches!(
        e,
        FormatError::TooSmall { .. } | FormatError::TooLarge { .. } | FormatError::BadField { .. }
    )
}

/// Device sizes from tiny to just past 2^32 blocks.
fn device_blocks() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..600,
        600u64..20_000,
        20_000u64..1_000_000,
        1_000_000u64..(1 << 28),
        (1u64 << 28)..=(1u64 << 32) + 1,
        prop::sample::select(vec![
            (1u64 << 32) - 1,
            1u64 << 32,
            (1u64 << 32) + 1,
            (1u64 << 32) + 2,
            u64::MAX,
            8193,
            16385,
            32769,
            32768 * 3 + 1,
        ]),
    ]
}

/// (block size, inodes per group): mostly valid values, sometimes not.
fn bs_and_ipg() -> impl Strategy<Value = (u32, u32)> {
    prop::sample::select(BLOCK_SIZES.to_vec()).prop_flat_map(|bs| {
        let align = ipg_align(bs);
        let max = bs * 8 / align;
        prop_oneof![
            4 => (1..=max).prop_map(move |k| (bs, k * align)),
            1 => any::<u32>().prop_map(move |v| (bs, v)),
            1 => prop::sample::select(vec![0, 1, 4, 8, 12, bs * 8, bs * 8 + align])
                .prop_map(move |v| (bs, v)),
        ]
    })
}

fn algo() -> impl Strategy<Value = FingerprintAlgo> {
    prop::sample::select(ALGOS.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    #[test]
    fn new_gives_a_valid_layout_or_a_refusal(
        (bs, ipg) in bs_and_ipg(),
        blocks in device_blocks(),
        fp_algo in algo(),
        fp_at_end: bool,
        sparse: bool,
        extra in prop::collection::vec(any::<u32>(), 4),
    ) {
        match Geometry::new(&params(bs, blocks, ipg, fp_algo, fp_at_end, sparse)) {
            Ok(geo) => {
                prop_assert!(u64::from(geo.blocks_count) <= blocks);
                prop_assert_eq!(geo.inodes_per_group, ipg);
                prop_assert_eq!(geo.fp_at_end, fp_at_end);
                prop_assert_eq!(geo.sparse_super, sparse);
                check_geometry(&geo, &extra);
            }
            Err(e) => prop_assert!(is_refusal(&e), "unexpected error {:?}", e),
        }
    }

    /// A valid superblock with one field changed: refused, or accepted as
    /// a geometry that is itself valid.
    #[test]
    fn from_superblock_with_one_field_mutated(
        bs in prop::sample::select(BLOCK_SIZES.to_vec()),
        blocks in 200u64..3_000_000,
        fp_algo in algo(),
        fp_at_end: bool,
        sparse: bool,
        field in 0usize..25,
        value in prop_oneof![any::<u64>(), 0u64..70_000, Just(0u64), Just(u64::from(u32::MAX))],
        extra in prop::collection::vec(any::<u32>(), 2),
    ) {
        let Ok(geo) = Geometry::new(&params(bs, blocks, bs * 2, fp_algo, fp_at_end, sparse)) else {
            return Ok(());
        };
        let mut sb = superblock_for(&geo);
        let v32 = value as u32;
        let v16 = value as u16;
        let v8 = value as u8;
        match field {
            0 => sb.log_block_size = v32,
            1 => sb.blocks_count = value,
            2 => sb.free_blocks = value,
            3 => sb.inodes_count = v32,
            4 => sb.free_inodes = v32,
            5 => sb.first_data_block = v32,
            6 => sb.blocks_per_group = v32,
            7 => sb.inodes_per_group = v32,
            8 => sb.group_count = v32,
            9 => sb.inode_size = v16,
            10 => sb.desc_size = v16,
            11 => sb.first_ino = v32,
            12 => sb.feature_compat = v32,
            13 => sb.feature_incompat = v32,
            14 => sb.feature_ro_compat = v32,
            15 => sb.fp_algo = v8,
            16 => sb.fp_size = v8,
            17 => sb.fp_entry_size = v16,
            18 => sb.fp_entries_per_block = v32,
            19 => sb.fp_blocks_per_group = v32,
            20 => sb.fp_region_start = v32,
            21 => sb.journal_start = v32,
            22 => sb.journal_blocks = v32,
            23 => sb.gdt_blocks = v32,
            _ => sb.r_blocks_count = v32,
        }
        if let Ok(g2) = Geometry::from_superblock(&sb) {
            check_geometry(&g2, &extra);
            prop_assert_eq!(u64::from(g2.blocks_count), sb.blocks_count);
        }
    }

    /// Random superblock fields, biased towards plausible values.
    #[test]
    fn from_superblock_on_random_fields(
        log in prop_oneof![0u32..4, any::<u32>()],
        blocks_count in prop_oneof![0u64..100_000, any::<u64>(), Just(MAX_BLOCKS), Just(MAX_BLOCKS + 1)],
        ipg in prop_oneof![0u32..40_000, any::<u32>()],
        algo in prop_oneof![0u8..4, any::<u8>()],
        incompat in prop_oneof![0u32..4, any::<u32>()],
        compat in 0u32..2,
        ro in 0u32..4,
        journal in (any::<u32>(), 0u32..70_000),
        rest in any::<[u32; 8]>(),
    ) {
        let sb = Superblock {
            version_major: VERSION_MAJOR,
            log_block_size: log,
            blocks_count,
            inodes_per_group: ipg,
            fp_algo: algo,
            feature_incompat: incompat,
            feature_compat: compat,
            feature_ro_compat: ro,
            journal_start: journal.0,
            journal_blocks: journal.1,
            first_data_block: rest[0] % 2,
            blocks_per_group: rest[1],
            group_count: rest[2],
            inodes_count: rest[3],
            fp_size: rest[4] as u8,
            fp_entry_size: rest[5] as u16,
            gdt_blocks: rest[6],
            orphan_head: rest[7],
            ..Superblock::default()
        };
        if let Ok(g) = Geometry::from_superblock(&sb) {
            check_geometry(&g, &[]);
        }
    }
}

#[test]
fn every_group_of_assorted_volumes() {
    for bs in BLOCK_SIZES {
        for fp_algo in ALGOS {
            for fp_at_end in [false, true] {
                for sparse in [false, true] {
                    for blocks in [
                        600,
                        u64::from(bs) * 8 + 1,
                        u64::from(bs) * 8 * 2 + 300,
                        u64::from(bs) * 8 * 27 + 100,
                        u64::from(bs) * 8 * 50,
                    ] {
                        let p = params(bs, blocks, bs / 4, fp_algo, fp_at_end, sparse);
                        let Ok(geo) = Geometry::new(&p) else { continue };
                        let all: Vec<u32> = (0..geo.group_count).collect();
                        check_geometry(&geo, &all);
                    }
                }
            }
        }
    }
}

/// The whole of a 16 TiB volume (all 2^17 groups), both layouts.
#[test]
fn every_group_of_the_largest_volume() {
    for fp_at_end in [false, true] {
        let geo = Geometry::new(&params(
            4096,
            1 << 32,
            8192,
            FingerprintAlgo::Sha256,
            fp_at_end,
            true,
        ))
        .expect("16 TiB");
        check_geometry(&geo, &[]);
        let mut ext = Vec::new();
        let mut prev_end = u64::from(geo.first_data_block);
        for g in 0..geo.group_count {
            let l = geo.group(g).expect("group");
            assert!(l.fresh_free_blocks() >= 64);
            assert_eq!(u64::from(l.first), prev_end, "groups tile the volume");
            prev_end = u64::from(l.end);
            ext.push(Extent {
                what: "group",
                group: g,
                start: u64::from(l.first),
                end: u64::from(l.end),
            });
            if fp_at_end {
                ext.push(Extent {
                    what: "store",
                    group: g,
                    start: u64::from(l.fp_store),
                    end: u64::from(l.fp_store) + u64::from(geo.fp_blocks_per_group),
                });
            }
        }
        assert_eq!(prev_end, u64::from(geo.groups_end));
        let end = ext.iter().map(|e| e.end).max();
        assert_eq!(end, Some(u64::from(geo.blocks_count)));
        assert_disjoint(ext);
    }
}

#[test]
fn sixteen_tebibytes_at_4k() {
    for algo in ALGOS {
        for sparse in [false, true] {
            let geo = Geometry::new(&params(4096, 1 << 32, 8192, algo, false, sparse))
                .expect("exactly 16 TiB must be accepted");
            assert_eq!(u64::from(geo.blocks_count), (1u64 << 32) - 1);
            assert_eq!(geo.group_count, 1 << 17);
            assert_eq!(u64::from(geo.groups_end), (1u64 << 32) - 1);
            check_geometry(&geo, &[]);
            // One block short of 2^32 gives the same volume.
            let geo2 =
                Geometry::new(&params(4096, (1 << 32) - 1, 8192, algo, false, sparse)).unwrap();
            assert_eq!(geo, geo2);
            // The at-end layout fits too.
            let geo3 = Geometry::new(&params(4096, 1 << 32, 8192, algo, true, sparse)).unwrap();
            check_geometry(&geo3, &[]);
        }
    }
    // Past 2^32 blocks: refused.
    for blocks in [(1u64 << 32) + 2, 1 << 40, u64::MAX] {
        assert!(matches!(
            Geometry::new(&params(
                4096,
                blocks,
                8192,
                FingerprintAlgo::Sha256,
                false,
                true
            )),
            Err(FormatError::TooLarge { .. })
        ));
    }
    // A superblock claiming 2^32 blocks is corrupt.
    let geo = Geometry::new(&params(
        4096,
        1 << 32,
        8192,
        FingerprintAlgo::Sha256,
        false,
        true,
    ))
    .unwrap();
    let mut sb = superblock_for(&geo);
    sb.blocks_count = 1 << 32;
    assert!(matches!(
        Geometry::from_superblock(&sb),
        Err(FormatError::BadField { .. })
    ));
}

/// Inode numbers are 32-bit: too many inodes for the volume is a refusal
/// of the inodes-per-group parameter.
#[test]
fn too_many_inodes_is_a_bad_field() {
    let r = Geometry::new(&params(
        4096,
        1 << 32,
        32768,
        FingerprintAlgo::Sha256,
        false,
        true,
    ));
    assert!(
        matches!(r, Err(FormatError::BadField { .. })),
        "2^17 groups of 2^15 inodes: {r:?}"
    );
}

#[test]
fn paper_numbers() {
    // 1 TiB at 4 KiB with MD5: 20-byte entries, 204 per block (4092 / 20).
    let geo = Geometry::new(&params(
        4096,
        1 << 28,
        8192,
        FingerprintAlgo::Md5,
        false,
        true,
    ))
    .unwrap();
    assert_eq!(geo.group_count, 8192);
    assert_eq!(geo.blocks_per_group, 32768);
    assert_eq!(geo.fp_entry_size, 20);
    assert_eq!(geo.fp_entries_per_block, 204);
    assert_eq!(geo.fp_blocks_per_group, 161); // the paper's 160, plus tails
    check_geometry(&geo, &[]);
    // SHA-256 (the default): 36-byte entries, 113 per block, 290 blocks.
    let geo = Geometry::new(&params(
        4096,
        1 << 28,
        8192,
        FingerprintAlgo::Sha256,
        false,
        true,
    ))
    .unwrap();
    assert_eq!(geo.fp_entry_size, 36);
    assert_eq!(geo.fp_entries_per_block, 113);
    assert_eq!(geo.fp_blocks_per_group, 290);
    // Filter for 2^28 blocks: n = 19, k = 24, false candidates ~ 2^-15.
    let f = FilterParams::for_blocks(1 << 28);
    assert_eq!((f.index_bits, f.bucket_bits), (19, 24));
    assert_eq!(f.false_candidate_log2(1 << 28), -15);
}

#[test]
fn entries_per_block_table() {
    // (block size, algorithm) -> (entry size, entries per block, store blocks)
    let want = [
        (1024, FingerprintAlgo::Sha256, 36, 28, 293),
        (1024, FingerprintAlgo::Md5, 20, 51, 161),
        (2048, FingerprintAlgo::Sha256, 36, 56, 293),
        (2048, FingerprintAlgo::Md5, 20, 102, 161),
        (4096, FingerprintAlgo::Sha256, 36, 113, 290),
        (4096, FingerprintAlgo::Md5, 20, 204, 161),
    ];
    for (bs, algo, es, epb, fpb) in want {
        let g = geo(bs, u64::from(bs) * 8 * 4, algo, false);
        assert_eq!(
            (
                g.fp_entry_size,
                g.fp_entries_per_block,
                g.fp_blocks_per_group
            ),
            (es, epb, fpb),
            "{bs} {algo:?}"
        );
    }
}

#[test]
fn sparse_super_groups() {
    let with: Vec<u32> = (0..400).filter(|&g| sparse_group_has_super(g)).collect();
    assert_eq!(with, vec![0, 1, 3, 5, 7, 9, 25, 27, 49, 81, 125, 243, 343]);
    let g = geo(1024, 8192 * 30, FingerprintAlgo::Sha256, false);
    for n in 0..g.group_count {
        assert_eq!(g.group_has_super(n), sparse_group_has_super(n));
    }
    let p = params(1024, 8192 * 30, 2048, FingerprintAlgo::Sha256, false, false);
    let g = Geometry::new(&p).unwrap();
    assert!((0..g.group_count).all(|n| g.group_has_super(n)));
}

#[test]
fn first_data_block_rule() {
    for bs in BLOCK_SIZES {
        let g = geo(bs, 100_000, FingerprintAlgo::Sha256, false);
        assert_eq!(g.first_data_block, u32::from(bs == 1024));
        let l = g.group(0).unwrap();
        // The primary superblock is at byte 1024: block 1 at 1 KiB, in
        // block 0 otherwise.
        assert_eq!(
            u64::from(l.super_block.unwrap()) * u64::from(bs),
            if bs == 1024 { 1024 } else { 0 }
        );
    }
}

#[test]
fn tiny_devices_are_too_small() {
    for bs in BLOCK_SIZES {
        for blocks in [0, 1, 2, 10, 100] {
            let r = Geometry::new(&params(
                bs,
                blocks,
                16,
                FingerprintAlgo::Sha256,
                false,
                true,
            ));
            assert!(
                matches!(r, Err(FormatError::TooSmall { .. })),
                "{bs} {blocks}: {r:?}"
            );
        }
    }
    for bs in [0, 512, 1000, 8192, 65536] {
        let r = Geometry::new(&params(
            bs,
            1 << 20,
            16,
            FingerprintAlgo::Sha256,
            false,
            true,
        ));
        assert!(matches!(r, Err(FormatError::BadField { .. })));
    }
}

#[test]
fn journal_extent_checks() {
    let g = geo(4096, 1 << 20, FingerprintAlgo::Sha256, false);
    let l = g.group(5).unwrap();
    assert!(g.check_journal(l.data_start, 1024).is_ok());
    assert!(g.check_journal(l.data_start, l.end - l.data_start).is_ok());
    assert!(g
        .check_journal(l.data_start, l.end - l.data_start + 1)
        .is_err());
    assert!(g.check_journal(l.data_start - 1, 1024).is_err());
    assert!(g.check_journal(l.data_start, 1023).is_err());
    assert!(g.check_journal(g.groups_end, 1024).is_err());
    assert!(g.check_journal(u32::MAX, u32::MAX).is_err());
    let mut sb = superblock_for(&g);
    sb.feature_compat |= COMPAT_HAS_JOURNAL;
    sb.journal_start = l.data_start;
    sb.journal_blocks = 4096;
    assert_eq!(Geometry::from_superblock(&sb), Ok(g));
    sb.journal_start = l.inode_table;
    assert!(Geometry::from_superblock(&sb).is_err());
    let mut sb = superblock_for(&g);
    sb.journal_blocks = 4096;
    assert!(
        Geometry::from_superblock(&sb).is_err(),
        "journal without has_journal"
    );
    let mut sb = superblock_for(&g);
    sb.feature_incompat |= INCOMPAT_RECOVER;
    assert!(
        Geometry::from_superblock(&sb).is_err(),
        "recover without journal"
    );
}

#[test]
fn from_superblock_refuses_each_derived_field() {
    let g = geo(2048, 300_000, FingerprintAlgo::Md5, true);
    let good = superblock_for(&g);
    assert_eq!(Geometry::from_superblock(&good), Ok(g));
    type Mutation = Box<dyn Fn(&mut Superblock)>;
    let muts: Vec<(&str, Mutation)> = vec![
        ("blocks_count", Box::new(|s| s.blocks_count += 1)),
        ("first_data_block", Box::new(|s| s.first_data_block ^= 1)),
        ("blocks_per_group", Box::new(|s| s.blocks_per_group -= 8)),
        ("group_count", Box::new(|s| s.group_count += 1)),
        ("inodes_count", Box::new(|s| s.inodes_count -= 1)),
        ("inode_size", Box::new(|s| s.inode_size = 128)),
        ("desc_size", Box::new(|s| s.desc_size = 32)),
        ("first_ino", Box::new(|s| s.first_ino = 12)),
        ("fp_size", Box::new(|s| s.fp_size = 32)),
        ("fp_entry_size", Box::new(|s| s.fp_entry_size = 36)),
        (
            "fp_entries_per_block",
            Box::new(|s| s.fp_entries_per_block -= 1),
        ),
        (
            "fp_blocks_per_group",
            Box::new(|s| s.fp_blocks_per_group += 1),
        ),
        ("gdt_blocks", Box::new(|s| s.gdt_blocks += 1)),
        ("fp_region_start", Box::new(|s| s.fp_region_start -= 1)),
        (
            "free_blocks",
            Box::new(|s| s.free_blocks = s.blocks_count + 1),
        ),
        (
            "free_inodes",
            Box::new(|s| s.free_inodes = s.inodes_count + 1),
        ),
        (
            "r_blocks_count",
            Box::new(|s| s.r_blocks_count = (s.blocks_count / 2 + 1) as u32),
        ),
        (
            "orphan_head",
            Box::new(|s| s.orphan_head = s.inodes_count + 1),
        ),
        ("log_block_size", Box::new(|s| s.log_block_size = 3)),
        ("fp_algo", Box::new(|s| s.fp_algo = 9)),
        (
            "feature_incompat",
            Box::new(|s| s.feature_incompat |= 0x100),
        ),
    ];
    for (name, m) in muts {
        let mut sb = good.clone();
        m(&mut sb);
        assert!(
            Geometry::from_superblock(&sb).is_err(),
            "{name} change accepted"
        );
    }
    // The stores' placement is a feature bit: flipping it is refused by
    // the now mismatching counts.
    let mut sb = good.clone();
    sb.feature_incompat &= !INCOMPAT_FP_AT_END;
    assert!(Geometry::from_superblock(&sb).is_err());
    // Harmless fields are not geometry.
    let mut sb = good;
    sb.mount_count = 7;
    sb.feature_ro_compat |= 0x8000;
    sb.feature_compat |= 0x8000;
    sb.state = STATE_ERROR;
    assert_eq!(Geometry::from_superblock(&sb), Ok(g));
}

#[test]
fn max_file_size() {
    for (bs, want) in [
        (1024u32, (12u64 + 256 + 256 * 256 + 256 * 256 * 256) * 1024),
        (2048, (12 + 512 + 512 * 512 + 512 * 512 * 512) * 2048),
        (4096, (12 + 1024 + 1024 * 1024 + 1024 * 1024 * 1024) * 4096),
    ] {
        let g = geo(bs, 100_000, FingerprintAlgo::Sha256, false);
        assert_eq!(g.max_file_size(), want);
        assert_eq!(g.ptrs_per_block(), bs / 4);
    }
    // huge_file: the quadruple-indirect tree, capped at 2^32 blocks (1 KiB
    // blocks reach the cap too: 12 + p + p^2 + p^3 + p^4 > 2^32 at p = 256).
    for bs in [1024u32, 2048, 4096] {
        let mut p = params(bs, 100_000, bs * 2, FingerprintAlgo::Sha256, false, true);
        p.huge_file = true;
        let g = Geometry::new(&p).unwrap();
        assert_eq!(g.max_file_size(), (1u64 << 32) * u64::from(bs), "{bs}");
        let mut sb = g.superblock_template();
        sb.free_blocks = 0;
        assert!(sb.has_ro_compat(RO_COMPAT_HUGE_FILE));
        assert!(Geometry::from_superblock(&sb).unwrap().huge_file);
    }
}

/// The inode bitmap's checksum covers its first inodes_per_group / 8
/// bytes: inodes per group must fill whole bytes, or the bits of the last
/// few inodes would go unchecked.
#[test]
fn inodes_per_group_fill_whole_bitmap_bytes() {
    for ipg in [4, 12, 20, 8188] {
        let r = Geometry::new(&params(
            1024,
            100_000,
            ipg,
            FingerprintAlgo::Sha256,
            false,
            true,
        ));
        assert!(
            matches!(r, Err(FormatError::BadField { .. })),
            "{ipg}: {r:?}"
        );
    }
    for ipg in [8, 16, 24, 8192] {
        let g = Geometry::new(&params(
            1024,
            100_000,
            ipg,
            FingerprintAlgo::Sha256,
            false,
            true,
        ));
        check_geometry(&g.unwrap(), &[]);
    }
    // At 2 KiB and 4 KiB a table block holds 8 and 16 inodes: the same rule.
    assert!(Geometry::new(&params(
        4096,
        100_000,
        24,
        FingerprintAlgo::Sha256,
        false,
        true
    ))
    .is_err());
    assert!(Geometry::new(&params(
        2048,
        100_000,
        24,
        FingerprintAlgo::Sha256,
        false,
        true
    ))
    .is_ok());
}
