//! The saved fingerprint filter (fast mount): header encode/decode round
//! trips, every damaged byte is caught, the payload streams back exactly,
//! and arbitrary bytes never panic.

mod common;

use common::*;
use livedfs_format::savedfilter::{self, ChainSink, Packer, SavedHeader, Unpacker};
use livedfs_format::FormatError;
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
    }
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
    let mut hb = vec![0u8; bs];
    h.encode(&mut hb, seed, &Crc).unwrap();
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
        let mut buf = vec![0u8; bs];
        h.encode(&mut buf, seed, &Crc).unwrap();
        prop_assert_eq!(SavedHeader::decode(&buf, seed, &Crc), Ok(h));
        // Another volume's seed does not match.
        prop_assert!(SavedHeader::decode(&buf, seed ^ 1, &Crc).is_err());
    }

    #[test]
    fn any_damaged_header_byte_is_refused(bits in 0u32..=24, at in any::<prop::sample::Index>(), x in 1u8..=255) {
        let bs = 4096;
        let h = header(bits, (1u64 << bits) * 4 + 17, bs);
        let mut buf = vec![0u8; bs];
        h.encode(&mut buf, 5, &Crc).unwrap();
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
fn location_must_be_one_groups_data_region() {
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
    assert!(savedfilter::check_location(&geo, l.end - 5, 10, j).is_err());
    assert!(savedfilter::check_location(&geo, l.end - 5, 5, j).is_ok());
    assert!(savedfilter::check_location(&geo, l.data_start, 10, (l.data_start + 9, 3)).is_err());
    assert!(savedfilter::check_location(&geo, l.data_start, 10, (l.data_start + 10, 3)).is_ok());
    assert!(savedfilter::check_location(&geo, u32::MAX - 1, 10, j).is_err());
    assert!(savedfilter::check_location(&geo, 0, 10, j).is_err());
}
