//! Random bytes never make the fingerprint filter panic (in the kernel a
//! panic is BUG()): a chain over arbitrary bytes answers every query and
//! either performs or refuses every update, and `validate` tells whether
//! the bytes are a consistent chain. A chain that validates stays valid
//! under every operation.

mod fpfilter_support;

use fpfilter_support::*;
use livedfs_format::fpfilter::*;
use proptest::prelude::*;

fn params() -> impl Strategy<Value = FpParams> {
    (
        0u32..=24,
        1u32..=32,
        1u64..=(1u64 << 32),
        1u32..=20,
        0u32..=32,
    )
        .prop_map(|(n, k, b, min, shift)| {
            FpParams::new(b, n, k)
                .unwrap()
                .with_merge(min, shift)
                .unwrap()
        })
}

/// Exercises every method of `c`; returns whether it validated before.
fn poke(c: &mut Chain<VecBytes>, p: &FpParams, keys: &[(u32, u32)]) {
    let valid = c.validate(p).is_ok();
    let _ = c.len();
    let _ = c.parts();
    let _ = c.is_empty();
    let _ = c.memory_bytes();
    let _ = c.entries(p).take(100_000).count();
    for &(q, b) in keys {
        let _ = c.candidates(p, q).take(100_000).count();
        let _ = c.contains(p, q, b);
    }
    for &(q, b) in keys {
        let _ = c.insert(p, q, b);
        if valid {
            c.validate(p).unwrap();
        }
        let _ = c.remove(p, q ^ 1, b);
        if valid {
            c.validate(p).unwrap();
        }
    }
    let _ = c.compact(p);
    if valid {
        c.validate(p).unwrap();
    }
    let _ = c.entries(p).take(100_000).count();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(
        p in params(),
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        keys in prop::collection::vec((any::<u32>(), any::<u32>()), 0..20),
    ) {
        let mut c = Chain::from_storage(VecBytes(bytes));
        poke(&mut c, &p, &keys);
    }

    /// Valid chains with a few bytes damaged (or a header field set).
    #[test]
    fn damaged_chains(
        k in 1u32..=12,
        entries in prop::collection::vec((any::<u32>(), any::<u32>()), 1..300),
        compact in any::<bool>(),
        damage in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        keys in prop::collection::vec((any::<u32>(), any::<u32>()), 0..20),
    ) {
        let p = FpParams::new(1 << 12, 0, k).unwrap();
        let mut c: Chain<VecBytes> = Chain::new();
        for (q, b) in entries {
            let _ = c.insert(&p, q & ((1 << k) - 1), b & 0xfff);
            let _ = c.remove(&p, q.rotate_left(7) & ((1 << k) - 1), b & 0xfff);
        }
        if compact {
            c.compact(&p).unwrap();
        }
        c.validate(&p).unwrap();
        let mut bytes = c.storage().as_slice().to_vec();
        for (at, v) in damage {
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] = v;
            }
        }
        let mut c = Chain::from_storage(VecBytes(bytes));
        poke(&mut c, &p, &keys);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// The high part of a compacted chain holds exactly one one bit per
    /// base entry, so `validate` (which counts them a 64-bit word at a
    /// time) refuses every single-bit flip in it, in the last, partial
    /// word too.
    #[test]
    fn every_high_part_bit_flip_is_refused(
        k in 1u32..=12,
        entries in prop::collection::vec((any::<u32>(), any::<u32>()), 1..300),
    ) {
        let p = FpParams::new(1 << 12, 0, k).unwrap();
        let mut c: Chain<VecBytes> = Chain::new();
        for (q, b) in entries {
            let _ = c.insert(&p, q & ((1 << k) - 1), b & 0xfff);
        }
        c.compact(&p).unwrap();
        c.validate(&p).unwrap();
        let bytes = c.storage().as_slice().to_vec();
        // Header: m (u32), delta (u16), tombstones (u16), low bits (u8);
        // the high part follows, m + 2^(k - l) bits.
        let m = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
        let l = u32::from(bytes[8]);
        prop_assert!(m > 0);
        let hbits = m + (1usize << (k - l));
        for bit in 0..hbits {
            let mut b = bytes.clone();
            b[9 + bit / 8] ^= 1 << (bit % 8);
            let damaged = Chain::from_storage(VecBytes(b));
            prop_assert!(damaged.validate(&p).is_err(), "flip of high bit {} of {} accepted", bit, hbits);
        }
    }
}
