//! The fingerprint filter against a model: random sequences of insert,
//! remove, lookup and compact, with tiny index/bucket keys so that many
//! fingerprints share a prefix, and merge thresholds down to 1 so that
//! chains are re-encoded all the time. After every operation the touched
//! chain must be self-consistent and hold no more pending updates than
//! its merge threshold; at the end every chain must hold exactly the
//! model's entries. A filter is a multiset: a pair inserted twice is held
//! twice (the kernel stores slots, several store entries to a slot), up to
//! `MAX_COPIES` entries under one bucket key, past which inserts are
//! refused.

mod fpfilter_support;

use fpfilter_support::*;
use livedfs_format::filter::{FilterParams, FALSE_CANDIDATE_BITS};
use livedfs_format::fpfilter::*;
use livedfs_format::fpstore::Fingerprint;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};

/// The model: (index key, bucket key) -> blocks (sorted, with repeats),
/// keyed with the reference bit arithmetic of `filter.rs`.
#[derive(Default, Debug)]
struct Model {
    map: HashMap<(u32, u32), Vec<u32>>,
    /// Pairs inserted and not removed (for ops that pick an existing one).
    live: Vec<([u8; 32], u32)>,
}

fn key(p: &FpParams, fp: &[u8]) -> (u32, u32) {
    let f = Fingerprint::from_slice(fp).unwrap();
    let fpp = p.filter_params();
    (fpp.index_key(&f), fpp.bucket_key(&f))
}

impl Model {
    fn total(&self) -> u64 {
        self.map.values().map(|s| s.len() as u64).sum()
    }

    /// Entries held under one (index key, bucket key), all blocks.
    fn held(&self, k: (u32, u32)) -> usize {
        self.map.get(&k).map_or(0, Vec::len)
    }

    fn count(&self, k: (u32, u32), block: u32) -> usize {
        self.map
            .get(&k)
            .map_or(0, |s| s.iter().filter(|&&b| b == block).count())
    }

    fn add(&mut self, k: (u32, u32), block: u32) {
        let s = self.map.entry(k).or_default();
        let at = s.partition_point(|&b| b <= block);
        s.insert(at, block);
    }

    /// Removes one copy; false if there was none.
    fn remove_one(&mut self, k: (u32, u32), block: u32) -> bool {
        let Some(s) = self.map.get_mut(&k) else {
            return false;
        };
        match s.iter().position(|&b| b == block) {
            Some(i) => {
                s.remove(i);
                true
            }
            None => false,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Insert (fingerprint from a small pool, block).
    Insert(u32, u32, u32),
    /// Insert a live pair again, or its block under another fingerprint
    /// with the same prefix: a second copy.
    InsertAgain(usize, u32),
    /// Remove (fingerprint, block), usually missing.
    Remove(u32, u32, u32),
    /// Remove a live pair.
    RemoveLive(usize),
    Lookup(u32, u32),
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u32..24, any::<u32>(), 0u32..48).prop_map(|(a, b, c)| Op::Insert(a, b, c)),
        1 => (any::<usize>(), any::<u32>()).prop_map(|(a, b)| Op::InsertAgain(a, b)),
        1 => (0u32..24, any::<u32>(), 0u32..48).prop_map(|(a, b, c)| Op::Remove(a, b, c)),
        4 => any::<usize>().prop_map(Op::RemoveLive),
        3 => (0u32..24, any::<u32>()).prop_map(|(a, b)| Op::Lookup(a, b)),
        1 => Just(Op::Compact),
    ]
}

/// A fingerprint whose first n + k bits come from pool entry `which`
/// and whose other bits are `noise`.
fn fp(p: &FpParams, which: u32, noise: u32) -> [u8; 32] {
    let bits = p.index_bits() + p.bucket_bits();
    let prefix = (splitmix(u64::from(which)) as u32) >> (32 - bits);
    let noise_mask = if bits == 32 { 0 } else { u32::MAX >> bits };
    let top = if bits == 0 { 0 } else { prefix << (32 - bits) };
    let mut f = random_fp(u64::from(noise));
    f[..4].copy_from_slice(&(top | (noise & noise_mask)).to_be_bytes());
    f
}

fn params() -> impl Strategy<Value = FpParams> {
    (
        0u32..=3,
        1u32..=6,
        1u64..=40,
        prop_oneof![
            Just((DEFAULT_MERGE_MIN, DEFAULT_MERGE_SHIFT)),
            (1u32..=4, 0u32..=32),
        ],
    )
        .prop_map(|(n, k, b, (min, shift))| {
            FpParams::new(b, n, k)
                .unwrap()
                .with_merge(min, shift)
                .unwrap()
        })
}

fn check_chain(f: &VecFilter, idx: usize) {
    let p = f.params();
    let c = f.chain(idx).unwrap();
    c.validate(p).unwrap();
    let (m, d, t) = c.parts();
    let (min, shift) = p.merge_policy();
    let threshold = (m.checked_shr(shift).unwrap_or(0)).max(min);
    assert!(
        d + t <= threshold,
        "pending {d}+{t} over threshold {threshold}"
    );
    assert_eq!(c.len(), m - t + d);
}

fn check_all(f: &VecFilter, model: &Model) {
    let p = *f.params();
    let mut expect: Vec<Vec<(u32, u32)>> = vec![Vec::new(); p.chain_count()];
    for (&(i, q), blocks) in &model.map {
        for &b in blocks.iter() {
            expect[i as usize].push((q, b));
        }
    }
    let mut mem = 0u64;
    for (i, e) in expect.iter_mut().enumerate() {
        e.sort();
        let c = f.chain(i).unwrap();
        c.validate(&p).unwrap();
        let got: Vec<(u32, u32)> = c.entries(&p).collect();
        assert_eq!(&got, e, "chain {i}");
        assert_eq!(c.len() as usize, e.len());
        if e.is_empty() {
            assert_eq!(c.memory_bytes(), 0, "an empty chain holds no memory");
        }
        mem += c.memory_bytes() as u64;
    }
    assert_eq!(f.entries(), model.total());
    assert_eq!(
        f.memory_bytes(),
        mem + (p.chain_count() * std::mem::size_of::<Chain<VecBytes>>()) as u64
    );
}

fn run(p: FpParams, ops: &[Op]) {
    let mut f = VecFilter::new(p).unwrap();
    let mut model = Model::default();
    for op in ops {
        match *op {
            Op::Insert(which, noise, block) => {
                let x = fp(&p, which, noise);
                let k = key(&p, &x);
                let r = f.insert(&x, block);
                if u64::from(block) >= p.blocks() {
                    assert_eq!(r, Err(FilterError::OutOfRange));
                } else if model.held(k) >= MAX_COPIES as usize {
                    assert_eq!(r, Err(FilterError::Saturated));
                } else {
                    assert_eq!(r, Ok(()));
                    model.add(k, block);
                    model.live.push((x, block));
                }
                check_chain(&f, k.0 as usize);
            }
            Op::InsertAgain(i, noise) => {
                if model.live.is_empty() {
                    continue;
                }
                let (x, block) = model.live[i % model.live.len()];
                // Same pair, or the same block under another fingerprint
                // with the same n + k prefix bits.
                let mut y = x;
                if noise % 2 == 1 {
                    y[31] ^= 0xff;
                    y[20] ^= noise as u8;
                }
                if model.held(key(&p, &y)) >= MAX_COPIES as usize {
                    assert_eq!(f.insert(&y, block), Err(FilterError::Saturated));
                    continue;
                }
                assert_eq!(f.insert(&y, block), Ok(()));
                model.add(key(&p, &y), block);
                model.live.push((y, block));
                check_chain(&f, key(&p, &x).0 as usize);
            }
            Op::Remove(which, noise, block) => {
                let x = fp(&p, which, noise);
                let k = key(&p, &x);
                let r = f.remove(&x, block);
                if u64::from(block) >= p.blocks() {
                    assert_eq!(r, Err(FilterError::OutOfRange));
                } else if model.remove_one(k, block) {
                    assert_eq!(r, Ok(()));
                    let i = model
                        .live
                        .iter()
                        .position(|(y, b)| key(&p, y) == k && *b == block)
                        .unwrap();
                    model.live.swap_remove(i);
                } else {
                    assert_eq!(r, Err(FilterError::Missing));
                }
                check_chain(&f, k.0 as usize);
            }
            Op::RemoveLive(i) => {
                if model.live.is_empty() {
                    continue;
                }
                let (x, block) = model.live.swap_remove(i % model.live.len());
                let k = key(&p, &x);
                assert_eq!(f.remove(&x, block), Ok(()));
                assert!(model.remove_one(k, block));
                // Another copy of the pair (inserted twice) stays.
                let left = model.count(k, block);
                assert_eq!(f.contains(&x, block), left > 0);
                if left == 0 {
                    assert_eq!(f.remove(&x, block), Err(FilterError::Missing));
                }
                check_chain(&f, k.0 as usize);
            }
            Op::Lookup(which, noise) => {
                let x = fp(&p, which, noise);
                let k = key(&p, &x);
                let mut got: Vec<u32> = f.candidates(&x).collect();
                got.sort();
                let want: Vec<u32> = model.map.get(&k).cloned().unwrap_or_default();
                assert_eq!(got, want);
                for &b in &want {
                    assert!(f.contains(&x, b));
                }
            }
            Op::Compact => {
                f.compact().unwrap();
                for i in 0..p.chain_count() {
                    let (_, d, t) = f.chain(i).unwrap().parts();
                    assert_eq!((d, t), (0, 0));
                }
            }
        }
        assert_eq!(f.entries(), model.total());
    }
    check_all(&f, &model);
    // Emptying the filter frees every chain.
    for (x, block) in std::mem::take(&mut model.live) {
        f.remove(&x, block).unwrap();
    }
    model.map.clear();
    check_all(&f, &model);
    assert_eq!(
        f.memory_bytes(),
        (p.chain_count() * std::mem::size_of::<Chain<VecBytes>>()) as u64
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn filter_matches_model(p in params(), ops in prop::collection::vec(op(), 0..300)) {
        run(p, &ops);
    }

    /// The chain API directly: bucket keys past k bits are out of range,
    /// a pair inserted n times is held n times, and candidates come back
    /// in ascending block order within the base and within the delta.
    #[test]
    fn chain_api(
        k in 1u32..=32,
        b in 1u64..=u64::from(u32::MAX) + 1,
        keys in prop::collection::vec((any::<u32>(), any::<u32>()), 0..400),
    ) {
        let p = FpParams::new(b, 0, k).unwrap().with_merge(3, 2).unwrap();
        let mut c: Chain<VecBytes> = Chain::new();
        let mut model: BTreeMap<(u32, u32), usize> = BTreeMap::new();
        let kmask = if k == 32 { u32::MAX } else { (1 << k) - 1 };
        // Few distinct keys (many candidates per key), clustered at both
        // ends and in the middle of the key space (long runs of empty
        // Elias-Fano buckets), and one out of range.
        let pool = |i: u32| match i % 8 {
            0..=3 => (i % 8) & kmask,
            4 => kmask / 2,
            5 => kmask - 1,
            6 => kmask,
            _ => if k == 32 { u32::MAX } else { kmask + 1 },
        };
        for (q, block) in keys {
            let q = pool(q);
            let block = (u64::from(block) % (b + 1)) as u32;
            let r = c.insert(&p, q, block);
            let held: usize = model.range((q, 0)..=(q, u32::MAX)).map(|(_, &n)| n).sum();
            if (k < 32 && q > kmask) || u64::from(block) >= b {
                prop_assert_eq!(r, Err(FilterError::OutOfRange));
            } else if held >= MAX_COPIES as usize {
                prop_assert_eq!(r, Err(FilterError::Saturated));
            } else {
                prop_assert_eq!(r, Ok(()));
                *model.entry((q, block)).or_default() += 1;
            }
            c.validate(&p).unwrap();
        }
        let expand = |m: &BTreeMap<(u32, u32), usize>| -> Vec<(u32, u32)> {
            m.iter().flat_map(|(&e, &n)| std::iter::repeat_n(e, n)).collect()
        };
        let got: Vec<(u32, u32)> = c.entries(&p).collect();
        prop_assert_eq!(got, expand(&model));
        for i in 0..7u32 {
            let q = pool(i);
            let mut got: Vec<u32> = c.candidates(&p, q).collect();
            got.sort();
            let want: Vec<u32> = expand(&model)
                .into_iter()
                .filter(|e| e.0 == q)
                .map(|e| e.1)
                .collect();
            prop_assert_eq!(got, want);
        }
        // Remove everything, in an order unrelated to the insertions.
        let mut all: Vec<(u32, u32)> = expand(&model);
        all.sort_by_key(|&(q, b)| (b.wrapping_mul(2654435761), q));
        for (q, block) in all {
            prop_assert_eq!(c.remove(&p, q, block), Ok(()));
            let n = model.get_mut(&(q, block)).unwrap();
            *n -= 1;
            prop_assert_eq!(c.contains(&p, q, block), *n > 0);
            if *n == 0 {
                prop_assert_eq!(c.remove(&p, q, block), Err(FilterError::Missing));
            }
            c.validate(&p).unwrap();
        }
        prop_assert!(c.is_empty());
        prop_assert_eq!(c.memory_bytes(), 0);
    }

    /// Key extraction matches the reference bit arithmetic of filter.rs
    /// for every width, and for short fingerprints (bits past the end are
    /// zero).
    #[test]
    fn keys_match_filter_rs(
        n in 0u32..=24,
        k in 1u32..=32,
        bytes in prop::collection::vec(any::<u8>(), 0..=32),
    ) {
        let p = FpParams::new(1 << 20, n, k).unwrap();
        let f = Fingerprint::from_slice(&bytes).unwrap();
        let fpp = FilterParams { index_bits: n, bucket_bits: k };
        prop_assert_eq!(p.chain_index(&bytes), fpp.index_key(&f) as usize);
        prop_assert_eq!(p.bucket_key(&bytes), fpp.bucket_key(&f));
        prop_assert!(p.chain_index(&bytes) < p.chain_count());
    }
}

#[test]
fn params_follow_filter_rs() {
    // The paper's setting: 1 TB of 4 KiB blocks, n = 19, k = 24.
    let p = FpParams::for_blocks(1 << 28).unwrap();
    assert_eq!(
        (p.index_bits(), p.bucket_bits(), p.block_bits()),
        (19, 24, 28)
    );
    assert_eq!(p.filter_params(), FilterParams::for_blocks(1 << 28));
    assert_eq!(p.false_candidate_log2(1 << 28), -15);
    for r in [15, 12, 10] {
        let p = FpParams::with_false_candidate_bits(1 << 24, r).unwrap();
        assert_eq!(
            (p.index_bits(), p.bucket_bits(), p.block_bits()),
            (15, 9 + r, 24)
        );
        assert_eq!(p.false_candidate_log2(1 << 24), -i64::from(r));
    }
    for blocks in [1u64, 2, 1000, 1 << 20, (1 << 32) - 1, 1 << 32] {
        assert_eq!(
            FilterParams::for_blocks(blocks),
            FilterParams::for_blocks_with(blocks, FALSE_CANDIDATE_BITS)
        );
        let p = FpParams::for_blocks(blocks).unwrap();
        assert_eq!(p.filter_params(), FilterParams::for_blocks(blocks));
        assert!(u64::from(p.block_bits()) <= 32 && (1u64 << p.block_bits()) >= blocks);
    }
    assert_eq!(FpParams::new(0, 4, 8), Err(FilterError::BadParams));
    assert_eq!(
        FpParams::new((1 << 32) + 1, 4, 8),
        Err(FilterError::BadParams)
    );
    assert_eq!(FpParams::new(100, 25, 8), Err(FilterError::BadParams));
    assert_eq!(FpParams::new(100, 4, 0), Err(FilterError::BadParams));
    assert_eq!(FpParams::new(100, 4, 33), Err(FilterError::BadParams));
    let p = FpParams::new(100, 4, 8).unwrap();
    assert_eq!(p.with_merge(0, 4), Err(FilterError::BadParams));
    assert_eq!(p.with_merge(1, 33), Err(FilterError::BadParams));
}

/// A realistic filter: default parameters for 2^16 blocks, full coverage
/// with SHA-256-like fingerprints, then half removed and re-inserted.
#[test]
fn full_volume() {
    let blocks = 1u32 << 16;
    let p = FpParams::for_blocks(u64::from(blocks)).unwrap();
    let mut f = VecFilter::new(p).unwrap();
    for b in 0..blocks {
        f.insert(&random_fp(u64::from(b)), b).unwrap();
    }
    assert_eq!(f.entries(), u64::from(blocks));
    for b in 0..blocks {
        let x = random_fp(u64::from(b));
        assert_eq!(f.candidates(&x).filter(|&c| c == b).count(), 1, "block {b}");
    }
    // A second copy of every 16th pair, then gone again.
    for b in (0..blocks).step_by(16) {
        f.insert(&random_fp(u64::from(b)), b).unwrap();
    }
    assert_eq!(f.entries(), u64::from(blocks + blocks / 16));
    for b in (0..blocks).step_by(16) {
        let x = random_fp(u64::from(b));
        assert_eq!(f.candidates(&x).filter(|&c| c == b).count(), 2, "block {b}");
        f.remove(&x, b).unwrap();
        assert!(f.contains(&x, b));
    }
    assert_eq!(f.entries(), u64::from(blocks));
    f.compact().unwrap();
    let per_entry = f.memory_bytes() as f64 / f.entries() as f64;
    // 16 bits of block, 15 + ~2 bits of key, and the table.
    assert!(per_entry < 4.5, "{per_entry} bytes per entry");
    for i in 0..p.chain_count() {
        f.chain(i).unwrap().validate(&p).unwrap();
    }
    // Absent fingerprints: about entries / 2^(n+k) = 2^-15 false
    // candidates per lookup.
    let false_candidates: usize = (0..1u64 << 16)
        .map(|i| f.candidates(&random_fp(u64::from(blocks) + i)).count())
        .sum();
    assert!(
        false_candidates <= 16,
        "{false_candidates} false candidates"
    );
    for b in (0..blocks).step_by(2) {
        f.remove(&random_fp(u64::from(b)), b).unwrap();
    }
    for b in 0..blocks {
        let x = random_fp(u64::from(b));
        assert_eq!(f.contains(&x, b), b % 2 == 1);
    }
    for b in (0..blocks).step_by(2) {
        f.insert(&random_fp(u64::from(b)), b).unwrap();
    }
    for i in 0..p.chain_count() {
        f.chain(i).unwrap().validate(&p).unwrap();
    }
    assert_eq!(f.entries(), u64::from(blocks));
}

/// Copies of one block's data written without deduplication (`nodedup`)
/// all have one fingerprint: the chain keeps `MAX_COPIES` of them and
/// refuses the rest, so no run of equal keys grows with the data; once
/// one is removed, another copy is taken again.
#[test]
fn repeated_fingerprint_is_bounded() {
    let p = FpParams::for_volume(1 << 18, 1 << 18).unwrap();
    let mut c: Chain<VecBytes> = Chain::new();
    let mut refused = 0u32;
    for block in 0..100_000u32 {
        // Slots repeat: many store entries to a slot.
        match c.insert(&p, 12345, block / 339) {
            Ok(()) => {}
            Err(FilterError::Saturated) => refused += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(c.len(), MAX_COPIES);
    assert_eq!(refused, 100_000 - MAX_COPIES);
    assert_eq!(
        c.candidates(&p, 12345).collect::<Vec<_>>(),
        vec![0; MAX_COPIES as usize]
    );
    // Another bucket key of the same chain is not affected.
    assert_eq!(c.insert(&p, 12346, 7), Ok(()));
    assert_eq!(c.remove(&p, 12345, 0), Ok(()));
    assert_eq!(c.remove(&p, 12345, 200), Err(FilterError::Missing));
    assert_eq!(c.insert(&p, 12345, 200), Ok(()));
    assert_eq!(c.insert(&p, 12345, 201), Err(FilterError::Saturated));
    c.validate(&p).unwrap();
}
