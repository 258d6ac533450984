//! Fingerprint-filter key arithmetic (paper §2.2, Fig. 4).
//!
//! The filter maps the first `n` bits of a fingerprint (the index key) to a
//! chain of buckets whose entries are sorted by the next `k` bits (the
//! bucket key). A lookup returning candidate blocks is confirmed against
//! the full fingerprint in the store. With B blocks on the volume, the
//! chance that an unrelated fingerprint shares all `n + k` bits is about
//! `B / 2^(n+k)`; the parameters keep that near the paper's 2^-15 and the
//! average chain near 2^9 entries (paper: n = 19, k = 24 for 2^28 blocks).

use super::fpstore::Fingerprint;

/// Target log2 of the false-candidate rate's inverse (paper: 15).
pub const FALSE_CANDIDATE_BITS: u32 = 15;
/// Target log2 of the average number of entries per index key.
pub const CHAIN_BITS: u32 = 9;

/// Filter key widths for a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterParams {
    /// Index-key bits (n).
    pub index_bits: u32,
    /// Bucket-key bits (k).
    pub bucket_bits: u32,
}

/// ceil(log2(x)) for x >= 1.
pub fn log2_ceil(x: u64) -> u32 {
    if x <= 1 {
        0
    } else {
        64u32.saturating_sub(x.saturating_sub(1).leading_zeros())
    }
}

impl FilterParams {
    /// Parameters for a volume of `blocks` blocks.
    pub fn for_blocks(blocks: u64) -> Self {
        Self::for_blocks_with(blocks, FALSE_CANDIDATE_BITS)
    }

    /// Parameters for a volume of `blocks` blocks and a false-candidate
    /// rate near 2^-`false_candidate_bits` at full coverage (the same index
    /// key as [`for_blocks`](Self::for_blocks); only the bucket key's width
    /// follows the rate).
    pub fn for_blocks_with(blocks: u64, false_candidate_bits: u32) -> Self {
        let b = log2_ceil(blocks.max(2));
        let index_bits = b.saturating_sub(CHAIN_BITS).clamp(4, 24);
        let bucket_bits = b
            .saturating_add(false_candidate_bits)
            .saturating_sub(index_bits)
            .clamp(8, 32);
        Self {
            index_bits,
            bucket_bits,
        }
    }

    /// The index key: the first `index_bits` bits of the fingerprint.
    pub fn index_key(&self, fp: &Fingerprint) -> u32 {
        bits(fp.as_slice(), 0, self.index_bits) as u32
    }

    /// The bucket key: the `bucket_bits` bits after the index key.
    pub fn bucket_key(&self, fp: &Fingerprint) -> u32 {
        bits(fp.as_slice(), self.index_bits, self.bucket_bits) as u32
    }

    /// Expected false-candidate probability per lookup with `blocks` stored,
    /// as log2 (negative).
    pub fn false_candidate_log2(&self, blocks: u64) -> i64 {
        i64::from(log2_ceil(blocks.max(1)))
            .saturating_sub(i64::from(self.index_bits.saturating_add(self.bucket_bits)))
    }
}

/// Reads `count` (<= 32) bits of `bytes` starting at bit `start`, MSB first;
/// bits past the end read as zero.
pub fn bits(bytes: &[u8], start: u32, count: u32) -> u64 {
    let mut v = 0u64;
    for i in start..start.saturating_add(count.min(32)) {
        let byte = bytes.get((i / 8) as usize).copied().unwrap_or(0);
        let bit = (byte >> (7u32.saturating_sub(i % 8))) & 1;
        v = (v << 1) | u64::from(bit);
    }
    v
}
