//! The saved fingerprint filter (fast mount): header encode/decode round
//! trips, every damaged byte is caught, the payload streams back exactly,
//! and arbitrary bytes never panic.

mod common;

use common::*;
use livedfs_format::savedfilter::{self, ChainSink, Packer, Run, SavedHeader, Unpacker};
use livedfs_format::{Crc32c, FormatError};
use proptest::prelude::*;

fn header(index_bits: u32, data_bytes: u64, bs: usize) -> SavedHeader {
    SavedHeader {
        index_bits,
        bucket_bits: 24,
        value_bits: 20,
        values: 800_000,
        chains: 1 << index_bits,
        entries: 12345,
        data_bytes,
        data_blocks: savedfilter::data_blocks_for(data_bytes, bs).unwrap(),
        generation: savedfilter::generation(7, 1_700_000_000),
        referenced: 999,
        run_count: 1,
    }
}

/// `n` blocks laid across runs of `len` blocks each (the last shorter),
/// a gap of 3 blocks between runs, from block 1000.
fn runs(n: u32, len: u32) -> Vec<Run> {
    let mut out = Vec::new();
    let (mut left, mut at) = (n, 1000u32);
    while left > 0 {
        let b = left.min(len);
        out.push(Run {
            start: at,
            blocks: b,
        });
        at += b + 3;
        left -= b;
    }
    out
}

/// `h` with the table `runs(data_blocks, len)`, encoded.
fn encode_with(h: &mut SavedHeader, len: u32, bs: usize, seed: u32) -> (Vec<u8>, Vec<Run>) {
    let r = runs(h.data_blocks, len);
    h.run_count = r.len() as u32;
    let mut buf = vec![0u8; bs];
    h.encode(&mut buf, &r, seed, &Crc).unwrap();
    (buf, r)
}

/// Collects chains back from the payload.
#[derive(Default)]
struct Collect {
    chains: Vec<Vec<u8>>,
}

impl ChainSink for Collect {
    type Error = FormatError;
    fn begin(&mut self, chain: u64, len: u32) -> Result<(), FormatError> {
        assert_eq!(chain as usize, self.chains.len());
        self.chains.push(Vec::with_capacity(len as usize));
        Ok(())
    }
    fn bytes(&mut self, chain: u64, at: u32, data: &[u8]) -> Result<(), FormatError> {
        let c = &mut self.chains[chain as usize];
        assert_eq!(c.len(), at as usize);
        c.extend_from_slice(data);
        Ok(())
    }
    fn end(&mut self, _chain: u64) -> Result<(), FormatError> {
        Ok(())
    }
}

/// Packs `chains` into (header, data blocks).
fn pack(chains: &[Vec<u8>], bs: usize, seed: u32, generation: u64) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut p = Packer::new(generation, seed);
    let mut block = vec![0u8; bs];
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut flush = |i: u32, b: &[u8]| -> Result<(), FormatError> {
        assert_eq!(i as usize, out.len() + 1);
        out.push(b.to_vec());
        Ok(())
    };
    for c in chains {
        p.put_chain(&mut block, c, &Crc, &mut flush).unwrap();
    }
    let data_bytes = p.written();
    let n = p.finish(&mut block, &Crc, &mut flush).unwrap();
    let index_bits = chains.len().trailing_zeros();
    let mut h = header(index_bits, data_bytes, bs);
    h.generation = generation;
    assert_eq!(h.data_blocks, n);
    assert_eq!(out.len(), n as usize);
    let (hb, _) = encode_with(&mut h, 5, bs, seed);
    (hb, out)
}

fn unpack(hb: &[u8], blocks: &[Vec<u8>], seed: u32) -> Result<Vec<Vec<u8>>, FormatError> {
    let h = SavedHeader::decode(hb, seed, &Crc)?;
    let mut u = Unpacker::new(&h);
    let mut sink = Collect::default();
    for i in 1..=h.data_blocks {
        let b = blocks.get(i as usize - 1).ok_or(FormatError::OutOfRange {
            what: "block",
            value: u64::from(i),
        })?;
        let payload = savedfilter::open_data_block(b, i, h.generation, seed, &Crc)?;
        u.feed(payload, &mut sink)?;
    }
    u.finish()?;
    Ok(sink.chains)
}

fn chains_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    (0u32..5).prop_flat_map(|bits| {
        prop::collection::vec(
            prop_oneof![
                Just(Vec::new()),
                prop::collection::vec(any::<u8>(), 1..300),
                prop::collection::vec(any::<u8>(), 1000..5000),
            ],
            1usize << bits,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]

    #[test]
    fn header_round_trips(bits in 0u32..=24, extra in 0u64..1_000_000, bs in prop::sample::select(vec![1024usize, 2048, 4096]),
                          seed in any::<u32>(), mc in any::<u32>(), t in any::<i64>(), refs in any::<u64>(), entries in any::<u64>()) {
        let data_bytes = (1u64 << bits) * 4 + extra;
        let mut h = header(bits, data_bytes, bs);
        h.generation = savedfilter::generation(mc, t);
        h.referenced = refs;
        h.entries = entries;
        // Runs of 1..many blocks, as many as fit.
        let cap = savedfilter::run_capacity(bs);
        let len = (h.data_blocks.div_ceil(cap)).max(1 + (extra % 97) as u32);
        let (buf, table) = encode_with(&mut h, len, bs, seed);
        prop_assert!(h.run_count <= cap);
        prop_assert_eq!(SavedHeader::decode(&buf, seed, &Crc), Ok(h));
        let back: Vec<Run> = (0..h.run_count).map(|i| savedfilter::run(&buf, i).unwrap()).collect();
        prop_assert_eq!(&back, &table);
        // Every data block maps to its place in the runs, in order.
        let mut i = 1u32;
        for r in &table {
            for b in r.start..r.start + r.blocks {
                prop_assert_eq!(savedfilter::block_of(&table, i), Some(b));
                i += 1;
            }
        }
        prop_assert_eq!(savedfilter::block_of(&table, 0), None);
        prop_assert_eq!(savedfilter::block_of(&table, i), None);
        // Another volume's seed does not match.
        prop_assert!(SavedHeader::decode(&buf, seed ^ 1, &Crc).is_err());
    }

    #[test]
    fn any_damaged_header_byte_is_refused(bits in 0u32..=24, at in any::<prop::sample::Index>(), x in 1u8..=255) {
        let bs = 4096;
        let mut h = header(bits, (1u64 << bits) * 4 + 17, bs);
        let len = h.data_blocks.div_ceil(savedfilter::run_capacity(bs)).max(7);
        let (mut buf, _) = encode_with(&mut h, len, bs, 5);
        buf[at.index(bs)] ^= x;
        prop_assert!(SavedHeader::decode(&buf, 5, &Crc).is_err());
    }

    #[test]
    fn payload_round_trips(chains in chains_strategy(), bs in prop::sample::select(vec![1024usize, 2048, 4096]), seed in any::<u32>(), g in any::<u64>()) {
        let (hb, blocks) = pack(&chains, bs, seed, g);
        prop_assert_eq!(unpack(&hb, &blocks, seed), Ok(chains));
    }

    #[test]
    fn any_damaged_data_byte_is_refused(chains in chains_strategy(), which in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), x in 1u8..=255) {
        let bs = 1024;
        let (hb, mut blocks) = pack(&chains, bs, 3, 42);
        let b = which.index(blocks.len());
        let i = at.index(bs);
        blocks[b][i] ^= x;
        prop_assert!(unpack(&hb, &blocks, 3).is_err());
    }

    #[test]
    fn blocks_of_another_generation_are_refused(chains in chains_strategy()) {
        let (hb, _) = pack(&chains, 2048, 3, 42);
        let (_, old) = pack(&chains, 2048, 3, 41);
        prop_assert!(unpack(&hb, &old, 3).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(hdr in prop::collection::vec(any::<u8>(), 0..1100), data in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..1100), 0..4), seed in any::<u32>()) {
        let _ = unpack(&hdr, &data, seed);
        // A valid header over arbitrary data blocks, checksums bypassed:
        // the unpacker alone never panics and never over-reads.
        let h = header(2, 16 + 900, 1024);
        let mut u = Unpacker::new(&h);
        let mut sink = Collect::default();
        for d in &data {
            if u.feed(d, &mut sink).is_err() {
                break;
            }
        }
        let _ = u.finish();
        for c in &sink.chains {
            prop_assert!(c.len() <= 916);
        }
    }
}

#[test]
fn generation_changes_with_either_field() {
    let g = savedfilter::generation(3, 100);
    assert_ne!(g, savedfilter::generation(4, 100));
    assert_ne!(g, savedfilter::generation(3, 101));
}

#[test]
fn header_location_must_be_in_a_groups_data_region() {
    let geo = geo(
        4096,
        3 * 32768,
        livedfs_format::FingerprintAlgo::Sha256,
        false,
    );
    let l = geo.group(1).unwrap();
    let j = (0, 0);
    assert!(savedfilter::check_location(&geo, l.data_start, 10, j).is_ok());
    assert!(savedfilter::check_location(&geo, l.data_start, 1, j).is_err());
    assert!(savedfilter::check_location(&geo, l.data_start - 1, 10, j).is_err());
    // Only the header's block must be in the group: the data blocks are
    // in the header's runs, which may be anywhere.
    assert!(savedfilter::check_location(&geo, l.end - 1, 100_000, j).is_ok());
    assert!(savedfilter::check_location(&geo, l.data_start, 10, (l.data_start, 3)).is_err());
    assert!(savedfilter::check_location(&geo, l.data_start, 10, (l.data_start + 1, 3)).is_ok());
    assert!(savedfilter::check_run(&geo, l.data_start, 0, j).is_err());
    assert!(savedfilter::check_run(&geo, l.data_start, 1, j).is_ok());
    assert!(savedfilter::check_run(&geo, l.end - 5, 10, j).is_err());
    assert!(savedfilter::check_run(&geo, l.end - 5, 5, j).is_ok());
    assert!(savedfilter::check_location(&geo, u32::MAX - 1, 10, j).is_err());
    assert!(savedfilter::check_location(&geo, 0, 10, j).is_err());
}

/// A header with the table `table` (not checked by encode), re-sealed;
/// what decode says of it.
fn decode_table(table: &[Run], data_blocks: u32) -> Result<SavedHeader, FormatError> {
    let bs = 4096;
    let p = savedfilter::payload_per_block(bs) as u64;
    let mut h = header(4, u64::from(data_blocks) * p, bs);
    assert_eq!(h.data_blocks, data_blocks);
    h.run_count = table.len() as u32;
    let mut buf = vec![0u8; bs];
    h.encode(&mut buf, table, 9, &Crc)?;
    SavedHeader::decode(&buf, 9, &Crc)
}

/// Recomputes the checksum of a 4096-byte header block of seed 9.
fn reseal(buf: &mut [u8]) {
    let c = Crc.crc32c(9, &0u32.to_le_bytes());
    let c = Crc.crc32c(c, &0u64.to_le_bytes());
    let c = Crc.crc32c(c, &buf[..4092]);
    buf[4092..].copy_from_slice(&c.to_le_bytes());
}

#[test]
fn bad_run_tables_are_refused() {
    let r = |start, blocks| Run { start, blocks };
    assert!(decode_table(&[r(100, 10), r(200, 20)], 30).is_ok());
    // Overlapping, touching is fine.
    assert!(decode_table(&[r(100, 10), r(105, 20)], 30).is_err());
    assert!(decode_table(&[r(100, 10), r(110, 20)], 30).is_ok());
    // Out of order, the same run twice.
    assert!(decode_table(&[r(200, 20), r(100, 10)], 30).is_err());
    assert!(decode_table(&[r(100, 15), r(100, 15)], 30).is_err());
    // An empty run.
    assert!(decode_table(&[r(100, 30), r(200, 0)], 30).is_err());
    // Total mismatch, either way.
    assert!(decode_table(&[r(100, 10), r(200, 19)], 30).is_err());
    assert!(decode_table(&[r(100, 10), r(200, 21)], 30).is_err());
    // No run.
    assert!(decode_table(&[], 30).is_err());
    // Past the end of the block numbers.
    assert!(decode_table(&[r(u32::MAX - 5, 30)], 30).is_err());
    // Run count over the capacity: encode refuses, and a header whose
    // count says so is refused.
    let cap = savedfilter::run_capacity(4096);
    assert_eq!(cap, (4096 - 4 - 88) / 8);
    let many: Vec<Run> = (0..cap + 1).map(|i| r(1000 + 2 * i, 1)).collect();
    assert!(decode_table(&many, cap + 1).is_err());
    assert!(decode_table(&many[..cap as usize], cap).is_ok());
    let mut h = header(4, u64::from(cap) * 4092, 4096);
    h.run_count = cap;
    let mut buf = vec![0u8; 4096];
    h.encode(&mut buf, &many[..cap as usize], 9, &Crc).unwrap();
    buf[savedfilter::off::RUN_COUNT..savedfilter::off::RUN_COUNT + 4]
        .copy_from_slice(&(cap + 1).to_le_bytes());
    reseal(&mut buf);
    assert!(matches!(
        SavedHeader::decode(&buf, 9, &Crc),
        Err(FormatError::BadField {
            field: "saved filter.run_count",
            ..
        })
    ));
    // A table entry past run_count: not zero padding.
    let mut buf = vec![0u8; 4096];
    let mut h = header(4, 30 * 4092, 4096);
    h.run_count = 2;
    h.encode(&mut buf, &[r(100, 10), r(200, 20)], 9, &Crc)
        .unwrap();
    buf[88 + 16] = 1;
    reseal(&mut buf);
    assert!(SavedHeader::decode(&buf, 9, &Crc).is_err());
}

#[test]
fn a_version_1_header_is_refused() {
    let mut h = header(4, 30 * 4092, 4096);
    let (mut buf, _) = encode_with(&mut h, 10, 4096, 9);
    buf[savedfilter::off::VERSION..savedfilter::off::VERSION + 4]
        .copy_from_slice(&1u32.to_le_bytes());
    reseal(&mut buf);
    assert!(matches!(
        SavedHeader::decode(&buf, 9, &Crc),
        Err(FormatError::BadField {
            field: "saved filter.version",
            value: 1
        })
    ));
}

#[test]
fn runs_must_each_lie_in_one_groups_data_region() {
    let geo = geo(
        4096,
        3 * 32768,
        livedfs_format::FingerprintAlgo::Sha256,
        false,
    );
    let (l1, l2) = (geo.group(1).unwrap(), geo.group(2).unwrap());
    let j = (0, 0);
    let r = |start, blocks| Run { start, blocks };
    let check = |table: &[Run], at: u32, journal| {
        let n: u32 = table.iter().map(|r| r.blocks).sum();
        let mut h = header(4, u64::from(n) * 4092, 4096);
        h.run_count = table.len() as u32;
        let mut buf = vec![0u8; 4096];
        h.encode(&mut buf, table, 9, &Crc).unwrap();
        let h = SavedHeader::decode(&buf, 9, &Crc).unwrap();
        savedfilter::check_runs(&geo, &buf, &h, at, journal)
    };
    let a = l1.data_start;
    assert!(check(&[r(a + 1, 10), r(l2.data_start, 10)], a, j).is_ok());
    // A run crossing into the next group.
    assert!(check(&[r(l1.end - 5, 10)], a, j).is_err());
    assert!(check(&[r(l1.end - 5, 5)], a, j).is_ok());
    // A run over a group's metadata.
    assert!(check(&[r(a - 1, 10)], a + 20, j).is_err());
    // The header inside a run.
    assert!(check(&[r(a, 10)], a + 3, j).is_err());
    assert!(check(&[r(a, 10)], a + 10, j).is_ok());
    // A run over the journal.
    assert!(check(&[r(a + 1, 10)], a, (a + 10, 3)).is_err());
    assert!(check(&[r(a + 1, 10)], a, (a + 11, 3)).is_ok());
}
