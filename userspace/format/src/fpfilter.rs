//! The in-memory fingerprint filter (paper §2.2, Fig. 4), compressed.
//!
//! # What it is
//!
//! A multiset of (fingerprint prefix, value) pairs: the first `n` bits of
//! a fingerprint (index key) pick one of `2^n` [`Chain`]s, the next `k`
//! (bucket key) are stored in the chain with the value. The value is the
//! caller's and the code calls it "block": userspace tests store block
//! numbers; the kernel stores the fingerprint-store *slot* holding the
//! block's entry ([`crate::geometry::FpSlots`]: 3 store blocks, 339
//! entries, for SHA-256 on 4 KiB blocks), about 8 bits shorter than a
//! block number, and confirms a candidate slot by scanning its entries for
//! the full fingerprint ([`crate::fpstore::entries_holding`]).
//!
//! [`insert`](Chain::insert) adds one (fingerprint, block) pair; a pair
//! already present gains a second copy (two blocks of one slot can share
//! a prefix, and the filter must keep one entry per store entry so that
//! removing either leaves the other). [`remove`](Chain::remove) takes one
//! copy away ([`FilterError::Missing`] if there is none), and
//! [`candidates`](Chain::candidates) returns every value stored under a
//! fingerprint's (index key, bucket key), once per copy: possibly several,
//! some of them false candidates (other fingerprints with the same `n + k`
//! prefix bits) that the caller rules out against the full fingerprint in
//! the fingerprint store. The filter knows only prefixes, so a pair is
//! (index key, bucket key, block) whatever the bits past `n + k`.
//!
//! # Parameters and the memory budget
//!
//! For a volume of B blocks whose filter stores values below V, a value
//! takes `b = ceil(log2 V)` bits (V = B for block numbers; the kernel's
//! slots: V = 794624 for 1 TiB, b = 20 where a block number takes 28). `n`
//! is [`FilterParams::for_blocks`]'s (chains of about 2^9 entries at full
//! coverage) and `k = ceil(log2 B) + R - n`, so that an absent fingerprint
//! meets about `entries / 2^(n+k)` = 2^-R false candidates per lookup at
//! full coverage ([`FpParams::for_volume`]). R is [`FALSE_CANDIDATE_BITS`]
//! (15, the paper's rate) unless chosen with
//! [`FpParams::for_volume_with`]: every bit of R costs one bit per entry.
//! The paper stores each entry as a 24-bit bucket key and a 32-bit block:
//! 7 bytes. Here a chain's keys are sorted and Elias-Fano coded, which
//! takes `log2(2^k / m) + ~2` bits per key for `m` keys (R + 2 at full
//! coverage; any code needs R + 1.44), and values take `b` bits, so an
//! entry costs about `R + 2 + b` bits plus a per-chain overhead (9-byte
//! header, directory, rounding, and the chain's storage handle in the
//! table: about 0.07 byte per entry). A partly filled volume costs more
//! per entry: one more key bit each time the coverage halves.
//!
//! Measured by `examples/filter_bench.rs` (one SHA-256-like random
//! fingerprint per block, full coverage; "compact" after
//! [`Filter::compact`], "live" right after the inserts, with the chains'
//! pending updates; "kernel" counts each buffer at the kernel module's
//! size class, `rust/vfs/fpmem.rs`, and its 16-byte table slot):
//!
//! | B, values stored        | R  | n, k, b    | compact | live  | kernel compact / live | false candidates/lookup (predicted) |
//! |-------------------------|----|------------|---------|-------|-----------------------|-------------------------------------|
//! | 2^28 (1 TiB), slots     | 15 | 19, 24, 20 | 4.707   | 4.786 | 4.816 / 4.877         | 2^-15.01 (2^-15.00)                 |
//! | 2^24 (64 GiB), slots    | 15 | 15, 24, 16 | 4.207   | 4.266 | 4.311 / 4.378         | 2^-15.00 (2^-15.00)                 |
//! | 2^24 (64 GiB), slots    | 12 | 15, 21, 16 | 3.832   | 3.900 | 3.887 / 3.967         | 2^-12.03 (2^-12.00)                 |
//! | 2^24 (64 GiB), blocks   | 15 | 15, 24, 24 | 5.207   | 5.273 |                       | 2^-15.00 (2^-15.00)                 |
//!
//! So at the paper's false-candidate rate, 1 TiB of 4 KiB blocks costs
//! 4.82 B per stored block in the kernel when full (the paper: 7 B; the
//! same filter storing block numbers: 8 bits more, 5.8 B). With half the blocks
//! removed (tombstones pending) the same run measured 5.24 B (kernel
//! classes): the per-entry cost grows as the volume empties, the total
//! shrinks.
//!
//! # Encoding of a chain
//!
//! One buffer ([`Bytes`]) per chain, empty (no memory) while the chain is:
//!
//! ```text
//! header   9 bytes: base entries m (u32), delta entries d (u16),
//!          tombstones t (u16), Elias-Fano low bits l (u8)
//! base     m entries sorted by (bucket key, block), one bit stream:
//!            high parts  m + 2^(k-l) bits: entry i sets bit (key_i >> l) + i
//!            low parts   m * l bits: key_i & (2^l - 1), l = floor(log2(2^k / m))
//!            blocks      m * b bits
//!          then the select directory: where every 128th high-part bucket
//!          starts (u16, or u32 for huge chains)
//! tombs    t sorted base indices (1 to 4 bytes) of removed base entries
//! delta    d sorted entries (key << b | block), ceil((k + b) / 8) bytes
//! spare    unused bytes, so that updates do not reallocate every time
//! ```
//!
//! A lookup of key `q` finds bucket `h = q >> l` from the directory and a
//! word-wise select over at most a few 64-bit words of high parts, compares
//! the (usually zero to two) entries of that bucket by their low parts,
//! skips tombstoned ones, then binary-searches the delta. O(log m) plus a
//! few words: no decoding of the chain.
//!
//! # Updates: a small delta, merged now and then
//!
//! An insert refuses a pair whose bucket key already holds [`MAX_COPIES`]
//! live entries (so no run of equal keys grows past it, whatever the data),
//! checks for a duplicate (base and delta), revives the entry if
//! it is a tombstoned base entry, else puts it in the sorted delta (a
//! memmove of at most the delta). A remove takes the entry out of the
//! delta if it is there, else adds a tombstone for its base entry. Once the
//! pending updates (`d + t`) would exceed `max(16, m / 16)`
//! ([`FpParams::with_merge`]), the chain is re-encoded in one pass (base
//! minus tombstones, merged with the delta) into a fresh buffer of exactly
//! the right size, which replaces the old one only once complete: each
//! merge costs O(m) and comes m / 16 updates after the last, about 16
//! entry re-encodings per update. Growing the buffer for the delta adds
//! 1/64 of its size as spare. A chain that becomes empty frees its buffer.
//!
//! Measured on the same run (2 shared cores, CPU time of the benchmark
//! thread, 2^24 entries, i.e. 85 MB of filter, mostly cache misses; R =
//! 15): 0.95 µs per insert, 0.79 µs per lookup of a present fingerprint,
//! 0.67 µs of an absent one, 1.1 µs per remove. The paper's layout (a
//! sorted array of 7-byte entries per chain, binary search), timed on the
//! same fingerprints in the same run: 0.74 µs per insert, 0.54 µs per
//! lookup, 1.0 µs per remove. So the compressed chains cost about 1.3x
//! the paper's insert time and 1.5x its lookup time for 26 % less memory;
//! either is small next to hashing a 4 KiB block.
//!
//! # Memory, failures, panics
//!
//! A chain's memory is one [`Bytes`] buffer, which the kernel implements
//! over its own allocator and userspace over `Vec<u8>`; [`ChainTable`]
//! holds the chains of a [`Filter`] (the kernel keeps chains in locked
//! shards and uses [`Chain`] and [`FpParams::chain_index`] directly).
//! [`Filter::memory_bytes`] is every byte held: the table plus each
//! buffer's [`Bytes::heap_bytes`]. Allocator rounding counts: a chain of
//! 2.6 KiB in a 4 KiB kmalloc bucket would cost 8 bytes per entry, so the
//! kernel's buffers must come from finer-grained caches (or an arena).
//!
//! Every update that can allocate returns a `Result`; on
//! [`FilterError::AllocFailed`] the chain is exactly as it was (a merge that
//! cannot allocate falls back to the delta when it can). Nothing here
//! panics or indexes unchecked, on any bytes: a chain over arbitrary bytes
//! ([`Chain::from_storage`]) answers every query and refuses or performs
//! every update, and [`Chain::validate`] says whether its bytes are
//! consistent, which every chain built by these functions is.

#![deny(clippy::arithmetic_side_effects)]

use core::marker::PhantomData;

use super::filter::{log2_ceil, FilterParams, FALSE_CANDIDATE_BITS};

// ---------------------------------------------------------------------------
// Storage abstraction
// ---------------------------------------------------------------------------

/// An allocation failed; the structure it was meant for is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocFailed;

/// A growable, contiguous byte buffer: the one kind of memory a [`Chain`]
/// holds. The kernel implements it over its own allocator; userspace over
/// `Vec<u8>`.
///
/// Contract (nothing here is trusted for memory safety, only for
/// correctness): `as_slice().len() == len()`; [`try_resize`] either
/// succeeds, leaving `len() == new_len` and the first
/// `min(old, new_len)` bytes unchanged, or fails and changes nothing;
/// [`heap_bytes`] is the memory the buffer really holds (its capacity,
/// including allocator rounding if the implementation knows it).
///
/// [`try_resize`]: Bytes::try_resize
/// [`heap_bytes`]: Bytes::heap_bytes
pub trait Bytes {
    /// An empty buffer (holding no memory).
    fn new() -> Self
    where
        Self: Sized;
    /// Bytes in the buffer.
    fn len(&self) -> usize;
    /// Whether the buffer is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The bytes.
    fn as_slice(&self) -> &[u8];
    /// The bytes, writable.
    fn as_mut_slice(&mut self) -> &mut [u8];
    /// Grows (zero-filled) or shrinks the buffer to `new_len` bytes.
    fn try_resize(&mut self, new_len: usize) -> Result<(), AllocFailed>;
    /// Memory held, in bytes (>= `len()`).
    fn heap_bytes(&self) -> usize {
        self.len()
    }
}

/// The table of all `2^n` chains of a [`Filter`]: any owner of a
/// `[Chain<S>]` slice.
pub trait ChainTable<S: Bytes>: Sized {
    /// A table of `chains` empty chains ([`Chain::new`]).
    fn try_new(chains: usize) -> Result<Self, AllocFailed>;
    /// The chains.
    fn chains(&self) -> &[Chain<S>];
    /// The chains, writable.
    fn chains_mut(&mut self) -> &mut [Chain<S>];
    /// Memory held by the table itself (not by the chains' buffers).
    fn heap_bytes(&self) -> usize {
        core::mem::size_of::<Chain<S>>().saturating_mul(self.chains().len())
    }
}

/// Why a filter operation failed. A failed operation changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterError {
    /// Memory could not be allocated.
    AllocFailed,
    /// `remove`: the (fingerprint, block) pair is not present.
    Missing,
    /// A block number >= the volume's block count, or a bucket key wider
    /// than the parameters' bucket key.
    OutOfRange,
    /// Parameters out of their ranges (see [`FpParams::new`]).
    BadParams,
    /// `insert`: the chain already holds [`MAX_COPIES`] entries under the
    /// same (index key, bucket key); the pair is not stored, the chain is
    /// unchanged.
    Saturated,
    /// A chain's bytes are not self-consistent (never happens to chains
    /// built by this module with one set of parameters).
    Corrupt,
}

impl From<AllocFailed> for FilterError {
    fn from(_: AllocFailed) -> Self {
        Self::AllocFailed
    }
}

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

/// Most live entries one chain keeps under one bucket key. A lookup only
/// needs one block holding a fingerprint, but a volume mounted `nodedup`
/// stores every copy of repeated data, each with its store entry: kept
/// without a bound, N copies of one block make a run of N equal keys that
/// every insert, remove and lookup of that fingerprint walks (N² work to
/// write them: minutes for 768 MiB of one repeated byte). Past the bound
/// an insert is refused ([`FilterError::Saturated`]): the copy is stored
/// on disk, just not offered for sharing, and a lookup still finds the
/// others. Distinct fingerprints share a bucket key with probability
/// about 2^-(n + k) each, so the bound costs nothing else.
pub const MAX_COPIES: u32 = 8;

/// Default: a chain merges its delta once it holds more than this many
/// pending updates...
pub const DEFAULT_MERGE_MIN: u32 = 16;
/// ... or more than its base's entries `>>` this.
pub const DEFAULT_MERGE_SHIFT: u32 = 4;

/// The parameters a filter and all its chains share. Every [`Chain`]
/// method takes them: a chain stores none of them, and must always be used
/// with the same index/bucket/block widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FpParams {
    index_bits: u32,
    bucket_bits: u32,
    block_bits: u32,
    blocks: u64,
    merge_min: u32,
    merge_shift: u32,
}

impl FpParams {
    /// Parameters for a volume of `blocks` blocks with the paper's
    /// false-candidate rate, 2^-[`FALSE_CANDIDATE_BITS`] at full coverage.
    pub fn for_blocks(blocks: u64) -> Result<Self, FilterError> {
        Self::with_false_candidate_bits(blocks, FALSE_CANDIDATE_BITS)
    }

    /// Parameters for a volume of `blocks` blocks with a false-candidate
    /// rate near 2^-`r` per lookup at full coverage (R: bucket key
    /// `k = ceil(log2 B) + r - n`, see [`FilterParams::for_blocks_with`]).
    pub fn with_false_candidate_bits(blocks: u64, r: u32) -> Result<Self, FilterError> {
        let f = FilterParams::for_blocks_with(blocks, r);
        Self::new(blocks, f.index_bits, f.bucket_bits)
    }

    /// Parameters for a volume of `blocks` blocks whose filter stores
    /// values below `values` instead of block numbers (the kernel stores
    /// fingerprint-store slots, [`crate::geometry::FpSlots`]): the key
    /// widths follow the block count (as [`for_blocks`](Self::for_blocks):
    /// the false-candidate rate is per fingerprint stored), the stored
    /// value's width follows `values`.
    pub fn for_volume(blocks: u64, values: u64) -> Result<Self, FilterError> {
        Self::for_volume_with(blocks, values, FALSE_CANDIDATE_BITS)
    }

    /// [`for_volume`](Self::for_volume) with a false-candidate rate near
    /// 2^-`r` per lookup at full coverage.
    pub fn for_volume_with(blocks: u64, values: u64, r: u32) -> Result<Self, FilterError> {
        let f = FilterParams::for_blocks_with(blocks, r);
        Self::new(values, f.index_bits, f.bucket_bits)
    }

    /// Explicit key widths: `index_bits` (n) in 0..=24, `bucket_bits` (k)
    /// in 1..=32, `blocks` (B) in 1..=2^32; stored values ("block
    /// numbers", whatever the caller stores) must be < B.
    pub fn new(blocks: u64, index_bits: u32, bucket_bits: u32) -> Result<Self, FilterError> {
        if index_bits > 24 || bucket_bits == 0 || bucket_bits > 32 {
            return Err(FilterError::BadParams);
        }
        if blocks == 0 || blocks > 1u64 << 32 {
            return Err(FilterError::BadParams);
        }
        Ok(Self {
            index_bits,
            bucket_bits,
            block_bits: log2_ceil(blocks).max(1),
            blocks,
            merge_min: DEFAULT_MERGE_MIN,
            merge_shift: DEFAULT_MERGE_SHIFT,
        })
    }

    /// The same parameters with another merge policy: a chain re-encodes
    /// once its pending updates (delta entries + tombstones) exceed
    /// `max(min, base_entries >> shift)`; `min` >= 1, `shift` <= 32.
    pub fn with_merge(self, min: u32, shift: u32) -> Result<Self, FilterError> {
        if min == 0 || shift > 32 {
            return Err(FilterError::BadParams);
        }
        Ok(Self {
            merge_min: min,
            merge_shift: shift,
            ..self
        })
    }

    /// Index-key bits (n): the filter has `2^n` chains.
    pub fn index_bits(&self) -> u32 {
        self.index_bits
    }
    /// Bucket-key bits (k).
    pub fn bucket_bits(&self) -> u32 {
        self.bucket_bits
    }
    /// Bits of a stored block number: ceil(log2 B).
    pub fn block_bits(&self) -> u32 {
        self.block_bits
    }
    /// The volume's block count B.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }
    /// The merge policy: (min, shift), see [`with_merge`](Self::with_merge).
    pub fn merge_policy(&self) -> (u32, u32) {
        (self.merge_min, self.merge_shift)
    }
    /// The key widths as [`FilterParams`].
    pub fn filter_params(&self) -> FilterParams {
        FilterParams {
            index_bits: self.index_bits,
            bucket_bits: self.bucket_bits,
        }
    }

    /// Number of chains: `2^n`.
    pub fn chain_count(&self) -> usize {
        1usize.checked_shl(self.index_bits).unwrap_or(0)
    }

    /// The chain holding `fp`: its index key (first n bits, MSB first; bits
    /// past the end of `fp` read as zero), as [`FilterParams::index_key`].
    pub fn chain_index(&self, fp: &[u8]) -> usize {
        shr64(prefix(fp), 64u32.saturating_sub(self.index_bits)) as usize
    }

    /// `fp`'s bucket key (the k bits after the index key), as
    /// [`FilterParams::bucket_key`].
    pub fn bucket_key(&self, fp: &[u8]) -> u32 {
        let shift = 64u32
            .saturating_sub(self.index_bits)
            .saturating_sub(self.bucket_bits);
        (shr64(prefix(fp), shift) & mask(self.bucket_bits)) as u32
    }

    /// log2 of the expected number of false candidates per lookup of an
    /// absent fingerprint with `entries` stored, rounded up: about
    /// `log2(entries) - (n + k)`.
    pub fn false_candidate_log2(&self, entries: u64) -> i64 {
        self.filter_params().false_candidate_log2(entries)
    }

    /// Bytes of one delta entry: ceil((k + b) / 8).
    fn delta_width(&self) -> usize {
        (self
            .bucket_bits
            .saturating_add(self.block_bits)
            .saturating_add(7)
            >> 3) as usize
    }

    /// Merge threshold for a base of `m` entries.
    fn threshold(&self, m: u32) -> u32 {
        shr32(m, self.merge_shift).max(self.merge_min)
    }

    fn check(&self, bucket: u32, block: u32) -> Result<u64, FilterError> {
        if u64::from(bucket) > mask(self.bucket_bits) || u64::from(block) >= self.blocks {
            return Err(FilterError::OutOfRange);
        }
        Ok(shl64(u64::from(bucket), self.block_bits) | u64::from(block))
    }
}

/// The first 64 bits of a fingerprint, MSB first, zero-padded.
fn prefix(fp: &[u8]) -> u64 {
    if let Some(a) = fp.first_chunk::<8>() {
        return u64::from_be_bytes(*a);
    }
    let mut a = [0u8; 8];
    for (d, s) in a.iter_mut().zip(fp) {
        *d = *s;
    }
    u64::from_be_bytes(a)
}

// ---------------------------------------------------------------------------
// Bit and byte helpers (all total: out-of-range reads give zeros, writes
// are dropped)
// ---------------------------------------------------------------------------

fn shl64(x: u64, s: u32) -> u64 {
    x.checked_shl(s).unwrap_or(0)
}
fn shr64(x: u64, s: u32) -> u64 {
    x.checked_shr(s).unwrap_or(0)
}
fn shr32(x: u32, s: u32) -> u32 {
    x.checked_shr(s).unwrap_or(0)
}
/// The low `w` bits set (all 64 for w >= 64).
fn mask(w: u32) -> u64 {
    shl64(1, w).wrapping_sub(1)
}

/// Eight bytes at `off`, little-endian; missing bytes read as zero.
#[inline]
fn load_u64(buf: &[u8], off: usize) -> u64 {
    match buf.get(off..) {
        Some(s) => match s.first_chunk::<8>() {
            Some(a) => u64::from_le_bytes(*a),
            None => {
                let mut a = [0u8; 8];
                for (d, s) in a.iter_mut().zip(s) {
                    *d = *s;
                }
                u64::from_le_bytes(a)
            }
        },
        None => 0,
    }
}

/// `w` (<= 56) bits at bit offset `bit` (LSB-first stream).
#[inline]
fn get_bits(buf: &[u8], bit: usize, w: u32) -> u64 {
    shr64(load_u64(buf, bit >> 3), (bit & 7) as u32) & mask(w)
}

/// ORs the low `w` (<= 56) bits of `v` in at bit offset `bit`.
#[inline]
fn or_bits(buf: &mut [u8], bit: usize, w: u32, v: u64) {
    let v = shl64(v & mask(w), (bit & 7) as u32);
    let at = bit >> 3;
    if let Some(s) = buf.get_mut(at..) {
        match s.first_chunk_mut::<8>() {
            Some(a) => *a = (u64::from_le_bytes(*a) | v).to_le_bytes(),
            None => {
                for (j, d) in s.iter_mut().enumerate().take(8) {
                    *d |= shr64(v, (j as u32).saturating_mul(8)) as u8;
                }
            }
        }
    }
}

/// One bits among the `bits` bits from byte `off` (a word at a time: a
/// chain's check at mount counts its whole high part).
fn count_ones(buf: &[u8], off: usize, bits: usize) -> usize {
    let mut n = 0usize;
    let mut pos = 0usize;
    while pos < bits {
        let mut w = load_u64(buf, off.saturating_add(pos >> 3));
        let valid = bits.saturating_sub(pos);
        if valid < 64 {
            w &= mask(valid as u32);
        }
        n = n.saturating_add(w.count_ones() as usize);
        pos = pos.saturating_add(64);
    }
    n
}

fn bit_set(buf: &[u8], bit: usize) -> bool {
    buf.get(bit >> 3)
        .is_some_and(|x| (x.checked_shr((bit & 7) as u32).unwrap_or(0)) & 1 != 0)
}

/// A `w`-byte (<= 8) little-endian integer at `off`.
#[inline]
fn read_uint(buf: &[u8], off: usize, w: usize) -> u64 {
    load_u64(buf, off) & mask((w as u32).saturating_mul(8))
}

fn write_uint(buf: &mut [u8], off: usize, w: usize, v: u64) {
    let bytes = v.to_le_bytes();
    if let Some(d) = buf.get_mut(off..) {
        for (d, s) in d.iter_mut().zip(bytes.iter().take(w)) {
            *d = *s;
        }
    }
}

fn rd_u32(buf: &[u8], off: usize) -> u32 {
    buf.get(off..)
        .and_then(|s| s.first_chunk::<4>())
        .map_or(0, |a| u32::from_le_bytes(*a))
}
fn rd_u16(buf: &[u8], off: usize) -> u16 {
    buf.get(off..)
        .and_then(|s| s.first_chunk::<2>())
        .map_or(0, |a| u16::from_le_bytes(*a))
}

/// Moves `buf[start..end]` to `buf[start + by..end + by]` (nothing if out
/// of range).
fn move_right(buf: &mut [u8], start: usize, end: usize, by: usize) {
    let Some(stop) = end.checked_add(by) else {
        return;
    };
    if let Some(r) = buf.get_mut(start..stop) {
        if let Some(n) = r.len().checked_sub(by) {
            r.copy_within(..n, by);
        }
    }
}

/// Moves `buf[start + by..end]` to `buf[start..end - by]`.
fn move_left(buf: &mut [u8], start: usize, end: usize, by: usize) {
    if let Some(r) = buf.get_mut(start..end) {
        if by <= r.len() {
            r.copy_within(by.., 0);
        }
    }
}

/// Four bytes at `off`, little-endian; missing bytes read as zero.
#[inline(always)]
fn load_u32(buf: &[u8], off: usize) -> u64 {
    match buf.get(off..).and_then(|s| s.first_chunk::<4>()) {
        Some(a) => u64::from(u32::from_le_bytes(*a)),
        None => load_u64(buf, off) & 0xffff_ffff,
    }
}

/// Reads consecutive `w`-bit fields (w <= 32) from a bit stream.
#[derive(Debug, Clone, Copy)]
struct BitSource {
    /// Next byte to load.
    at: usize,
    /// Loaded bits not yet read (the low `n`; n < 64).
    acc: u64,
    n: u32,
    w: u32,
    wmask: u64,
}

impl BitSource {
    fn new(buf: &[u8], bit: usize, w: u32) -> Self {
        let at = bit >> 3;
        let skip = (bit & 7) as u32;
        let w = w.min(32);
        Self {
            at: at.saturating_add(4),
            // skip < 8: plain shifts.
            acc: load_u32(buf, at).wrapping_shr(skip),
            n: 32u32.wrapping_sub(skip),
            w,
            wmask: mask(w),
        }
    }

    /// The next field.
    #[inline(always)]
    fn read(&mut self, buf: &[u8]) -> u64 {
        if self.n < self.w {
            // n < w <= 32: the 32 new bits fit above the n old ones.
            self.acc |= load_u32(buf, self.at).wrapping_shl(self.n);
            self.n = self.n.wrapping_add(32);
            self.at = self.at.wrapping_add(4);
        }
        let v = self.acc & self.wmask;
        // w <= 32 < 64 and w <= n.
        self.acc = self.acc.wrapping_shr(self.w);
        self.n = self.n.wrapping_sub(self.w);
        v
    }
}

/// Appends `w`-bit fields (w <= 32) to a zero-filled bit stream (ORing,
/// so streams may share their boundary bytes).
#[derive(Debug, Clone, Copy)]
struct BitSink {
    at: usize,
    /// Bits not yet written (the low `n`; n < 32 between pushes).
    acc: u64,
    n: u32,
    w: u32,
    wmask: u64,
}

impl BitSink {
    fn new(bit: usize, w: u32) -> Self {
        let w = w.min(32);
        Self {
            at: bit >> 3,
            acc: 0,
            n: (bit & 7) as u32,
            w,
            wmask: mask(w),
        }
    }

    /// Appends the low `w` bits of `v`.
    #[inline(always)]
    fn push(&mut self, buf: &mut [u8], v: u64) {
        // n < 32 and w <= 32: the field fits in the 64-bit accumulator.
        self.acc |= (v & self.wmask).wrapping_shl(self.n);
        self.n = self.n.wrapping_add(self.w);
        if self.n >= 32 {
            if let Some(a) = buf
                .get_mut(self.at..)
                .and_then(|s| s.first_chunk_mut::<4>())
            {
                *a = (u32::from_le_bytes(*a) | self.acc as u32).to_le_bytes();
            }
            self.acc = self.acc.wrapping_shr(32);
            self.n = self.n.wrapping_sub(32);
            self.at = self.at.wrapping_add(4);
        }
    }

    /// Writes out what is left.
    fn flush(&mut self, buf: &mut [u8]) {
        or_bits(buf, self.at.saturating_mul(8), self.n, self.acc);
        self.acc = 0;
        self.n = 0;
    }
}

/// The number of one bits of `x`, and the position of its `j`-th (0-based)
/// one bit if it has more than `j`.
#[inline]
fn select_in_word(x: u64, j: usize) -> (usize, Option<usize>) {
    const M1: u64 = 0x5555_5555_5555_5555;
    const M2: u64 = 0x3333_3333_3333_3333;
    const M4: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    // Bytewise counts (SWAR; no field can borrow or carry into the next),
    // then their prefix sums: byte i of `p` counts bytes 0..=i.
    let s = x.wrapping_sub((x >> 1) & M1);
    let s = (s & M2).wrapping_add((s >> 2) & M2);
    let s = s.wrapping_add(s >> 4) & M4;
    let p = s.wrapping_mul(ONES);
    let total = (p >> 56) as usize;
    if j >= total {
        return (total, None);
    }
    let mut before = 0usize;
    let mut byte = 0u32;
    while byte < 56 && (shr64(p, byte) & 0xff) as usize <= j {
        before = (shr64(p, byte) & 0xff) as usize;
        byte = byte.saturating_add(8);
    }
    let mut y = shr64(x, byte) & 0xff;
    for _ in 0..j.saturating_sub(before) {
        y &= y.wrapping_sub(1);
    }
    (
        total,
        Some((byte as usize).saturating_add(y.trailing_zeros() as usize)),
    )
}

// ---------------------------------------------------------------------------
// Chain layout
// ---------------------------------------------------------------------------

/// Header bytes: base entries (u32), delta entries (u16), tombstones (u16),
/// low bits of the Elias-Fano base (u8).
const HDR: usize = 9;
/// The header in bits: where the base's bit stream starts.
const HDR_BITS: usize = 72;
/// The select directory samples every 2^DIR_SHIFT buckets' start.
const DIR_SHIFT: u32 = 7;
const DIR_BUCKETS: usize = 1 << DIR_SHIFT;

/// Where everything is in a chain's buffer, derived from its header and
/// the parameters.
#[derive(Debug, Clone, Copy, Default)]
struct Layout {
    /// Base entries (tombstoned ones included).
    m: u32,
    /// Delta entries.
    d: u32,
    /// Tombstones.
    t: u32,
    /// Elias-Fano low bits.
    l: u32,
    /// Bits of the unary high part.
    hbits: usize,
    /// Absolute bit offset of the low parts.
    lo_bit: usize,
    /// Absolute bit offset of the block numbers.
    blk_bit: usize,
    /// Byte offset of the select directory, its entries and their width.
    dir_off: usize,
    dir_n: usize,
    dir_w: usize,
    /// Byte offset of the tombstones.
    tomb_off: usize,
    /// Bytes per tombstone.
    tw: usize,
    /// Byte offset of the delta.
    delta_off: usize,
    /// Bytes per delta entry.
    w: usize,
    /// Bytes in use (the header's bytes when the buffer is empty).
    used: usize,
}

fn tomb_width(m: u32) -> usize {
    if m <= 1 << 8 {
        1
    } else if m <= 1 << 16 {
        2
    } else if m <= 1 << 24 {
        3
    } else {
        4
    }
}

/// Bits of the unary high part for `m` entries with `l` low bits of `k`.
fn high_bits(m: u32, k: u32, l: u32) -> usize {
    if m == 0 {
        0
    } else {
        (m as usize).saturating_add(shl64(1, k.saturating_sub(l)) as usize)
    }
}

/// Optimal Elias-Fano low bits for `m` keys of `k` bits: floor(log2(2^k/m)).
fn low_bits(m: u32, k: u32) -> u32 {
    k.saturating_sub(log2_ceil(u64::from(m)))
}

impl Layout {
    /// The layout of `buf`, or `None` if its header claims more bytes than
    /// it has (so every loop over a chain is bounded by its length).
    fn read(buf: &[u8], p: &FpParams) -> Option<Self> {
        let m = rd_u32(buf, 0);
        let d = u32::from(rd_u16(buf, 4));
        let t = u32::from(rd_u16(buf, 6));
        let l = u32::from(buf.get(8).copied().unwrap_or(0));
        let lay = Self::compute(m, d, t, l, p);
        (buf.is_empty() || (lay.used <= buf.len() && l <= p.bucket_bits)).then_some(lay)
    }

    fn compute(m: u32, d: u32, t: u32, l: u32, p: &FpParams) -> Self {
        let b = p.block_bits;
        let hbits = high_bits(m, p.bucket_bits, l);
        let lo_bit = HDR_BITS.saturating_add(hbits);
        let blk_bit = lo_bit.saturating_add((m as usize).saturating_mul(l as usize));
        let end_bit = blk_bit.saturating_add((m as usize).saturating_mul(b as usize));
        let dir_off = end_bit.saturating_add(7) >> 3;
        let buckets = hbits.saturating_sub(m as usize);
        let dir_n = buckets.saturating_sub(1) >> DIR_SHIFT;
        let dir_w = if hbits <= 1 << 16 { 2 } else { 4 };
        let tomb_off = dir_off.saturating_add(dir_n.saturating_mul(dir_w));
        let tw = tomb_width(m);
        let delta_off = tomb_off.saturating_add((t as usize).saturating_mul(tw));
        let w = p.delta_width();
        let used = delta_off.saturating_add((d as usize).saturating_mul(w));
        Self {
            m,
            d,
            t,
            l,
            hbits,
            lo_bit,
            blk_bit,
            dir_off,
            dir_n,
            dir_w,
            tomb_off,
            tw,
            delta_off,
            w,
            used,
        }
    }

    fn write_header(&self, buf: &mut [u8]) {
        if let Some(h) = buf.first_chunk_mut::<HDR>() {
            let m = self.m.to_le_bytes();
            let d = (self.d as u16).to_le_bytes();
            let t = (self.t as u16).to_le_bytes();
            *h = [m[0], m[1], m[2], m[3], d[0], d[1], t[0], t[1], self.l as u8];
        }
    }

    fn live(&self) -> u32 {
        self.m.saturating_sub(self.t).saturating_add(self.d)
    }

    #[inline]
    fn low(&self, buf: &[u8], idx: u32) -> u64 {
        get_bits(
            buf,
            self.lo_bit
                .saturating_add((idx as usize).saturating_mul(self.l as usize)),
            self.l,
        )
    }

    #[inline]
    fn block(&self, buf: &[u8], b: u32, idx: u32) -> u32 {
        get_bits(
            buf,
            self.blk_bit
                .saturating_add((idx as usize).saturating_mul(b as usize)),
            b,
        ) as u32
    }

    #[inline]
    fn tomb(&self, buf: &[u8], i: u32) -> u32 {
        read_uint(
            buf,
            self.tomb_off
                .saturating_add((i as usize).saturating_mul(self.tw)),
            self.tw,
        ) as u32
    }

    /// `Ok(position)` if base entry `idx` is tombstoned, else `Err(where its
    /// tombstone would go)`.
    fn tomb_search(&self, buf: &[u8], idx: u32) -> Result<u32, u32> {
        let (mut lo, mut hi) = (0u32, self.t);
        while lo < hi {
            let mid = lo.saturating_add(hi.saturating_sub(lo) >> 1);
            let v = self.tomb(buf, mid);
            if v < idx {
                lo = mid.saturating_add(1);
            } else if v > idx {
                hi = mid;
            } else {
                return Ok(mid);
            }
        }
        Err(lo)
    }

    #[inline]
    fn delta(&self, buf: &[u8], i: u32) -> u64 {
        read_uint(
            buf,
            self.delta_off
                .saturating_add((i as usize).saturating_mul(self.w)),
            self.w,
        )
    }

    /// First delta position whose value is >= `v`.
    fn delta_lower_bound(&self, buf: &[u8], v: u64) -> u32 {
        let (mut lo, mut hi) = (0u32, self.d);
        while lo < hi {
            let mid = lo.saturating_add(hi.saturating_sub(lo) >> 1);
            if self.delta(buf, mid) < v {
                lo = mid.saturating_add(1);
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Position in the high part of the `j`-th (0-based) zero bit at or
    /// after position `from`.
    fn select0_from(&self, buf: &[u8], from: usize, j: usize) -> Option<usize> {
        let mut j = j;
        let mut base = from & !63;
        // Bits of the first word below `from` do not count.
        let mut below = !mask((from & 63) as u32);
        while base < self.hbits {
            let mut x = !load_u64(buf, HDR.saturating_add(base >> 3)) & below;
            below = u64::MAX;
            let valid = self.hbits.saturating_sub(base);
            if valid < 64 {
                // The last, partial word: the low parts follow it.
                x &= mask(valid as u32);
            }
            let (z, at) = select_in_word(x, j);
            if let Some(at) = at {
                return Some(base.saturating_add(at));
            }
            j = j.saturating_sub(z);
            base = base.saturating_add(64);
        }
        None
    }

    /// Where bucket `h` starts in the high part.
    fn bucket_start(&self, buf: &[u8], h: usize) -> Option<usize> {
        let sample = h >> DIR_SHIFT;
        let from = match sample.checked_sub(1) {
            None => 0,
            Some(i) if i < self.dir_n => read_uint(
                buf,
                self.dir_off.saturating_add(i.saturating_mul(self.dir_w)),
                self.dir_w,
            ) as usize,
            Some(_) => return None,
        };
        match (h & (DIR_BUCKETS - 1)).checked_sub(1) {
            None => Some(from),
            Some(j) => Some(self.select0_from(buf, from, j)?.saturating_add(1)),
        }
    }

    /// Scan of the base entries whose key is `q`.
    fn scan(&self, buf: &[u8], q: u32) -> BucketScan {
        let h = shr64(u64::from(q), self.l) as usize;
        let low = u64::from(q) & mask(self.l);
        let done = BucketScan {
            pos: 0,
            idx: 0,
            low,
            done: true,
        };
        if self.m == 0 {
            return done;
        }
        let Some(start) = self.bucket_start(buf, h) else {
            return done;
        };
        BucketScan {
            pos: start,
            idx: start.saturating_sub(h) as u32,
            low,
            done: false,
        }
    }

    /// A base entry (bucket key `q`, `block`) that is tombstoned
    /// (`removed`) or live (`!removed`): its index and where its tombstone
    /// is (`Ok`) or would go (`Err`). The base may hold equal entries.
    fn base_find(
        &self,
        buf: &[u8],
        p: &FpParams,
        q: u32,
        block: u32,
        removed: bool,
    ) -> Option<(u32, Result<u32, u32>)> {
        let mut s = self.scan(buf, q);
        while let Some(idx) = s.next(self, buf) {
            if self.block(buf, p.block_bits, idx) == block {
                let t = self.tomb_search(buf, idx);
                if t.is_ok() == removed {
                    return Some((idx, t));
                }
            }
        }
        None
    }
}

/// Walks the base entries of one bucket whose low part equals `low`.
#[derive(Debug, Clone)]
struct BucketScan {
    /// Position in the high part.
    pos: usize,
    /// Base index of the entry at `pos`.
    idx: u32,
    low: u64,
    done: bool,
}

impl BucketScan {
    fn next(&mut self, lay: &Layout, buf: &[u8]) -> Option<u32> {
        while !self.done {
            if self.idx >= lay.m
                || self.pos >= lay.hbits
                || !bit_set(buf, HDR_BITS.saturating_add(self.pos))
            {
                self.done = true;
                break;
            }
            let idx = self.idx;
            self.idx = self.idx.saturating_add(1);
            self.pos = self.pos.saturating_add(1);
            let low = lay.low(buf, idx);
            if low == self.low {
                return Some(idx);
            }
            if low > self.low {
                self.done = true;
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------
// Iterators
// ---------------------------------------------------------------------------

/// Blocks whose stored (index key, bucket key) equal a looked-up
/// fingerprint's: the base's first, then the delta's, each in ascending
/// block order. Some may be false candidates (other fingerprints with the
/// same n + k prefix bits), to be confirmed on disk.
#[derive(Debug, Clone)]
pub struct Candidates<'a> {
    buf: &'a [u8],
    lay: Layout,
    block_bits: u32,
    scan: BucketScan,
    q: u64,
    di: u32,
}

impl<'a> Candidates<'a> {
    /// No candidates.
    pub fn empty() -> Self {
        Self {
            buf: &[],
            lay: Layout::default(),
            block_bits: 0,
            scan: BucketScan {
                pos: 0,
                idx: 0,
                low: 0,
                done: true,
            },
            q: 0,
            di: 0,
        }
    }
}

impl Iterator for Candidates<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        while let Some(idx) = self.scan.next(&self.lay, self.buf) {
            if self.lay.tomb_search(self.buf, idx).is_err() {
                return Some(self.lay.block(self.buf, self.block_bits, idx));
            }
        }
        if self.di < self.lay.d {
            let v = self.lay.delta(self.buf, self.di);
            if shr64(v, self.block_bits) == self.q {
                self.di = self.di.saturating_add(1);
                return Some((v & mask(self.block_bits)) as u32);
            }
            self.di = self.lay.d;
        }
        None
    }
}

/// All live entries of a chain as `(bucket_key << block_bits) | block`, in
/// ascending order: the base minus its tombstones (and minus `skip`),
/// merged with the delta and one optional extra value.
#[derive(Debug, Clone)]
struct Merged<'a> {
    buf: &'a [u8],
    lay: Layout,
    b: u32,
    /// The high part's word being decoded (bits already used cleared),
    /// and the high-part bit position of its bit 0.
    word: u64,
    word_pos: usize,
    /// Base index of the next entry, and the streams of low parts and
    /// blocks.
    idx: u32,
    lows: BitSource,
    blocks: BitSource,
    /// Next tombstone position, and the base index it names.
    ti: u32,
    tomb: Option<u32>,
    skip: Option<u32>,
    base_peek: Option<u64>,
    /// Next delta position, and its value (or `extra`, whichever is
    /// smaller).
    di: u32,
    extra: Option<u64>,
    delta_peek: Option<u64>,
}

impl<'a> Merged<'a> {
    fn new(buf: &'a [u8], lay: Layout, b: u32, skip: Option<u32>, extra: Option<u64>) -> Self {
        let mut s = Self {
            buf,
            lay,
            b,
            word: 0,
            word_pos: 0,
            idx: 0,
            lows: BitSource::new(buf, lay.lo_bit, lay.l),
            blocks: BitSource::new(buf, lay.blk_bit, b),
            ti: 0,
            tomb: (lay.t > 0).then(|| lay.tomb(buf, 0)),
            skip,
            base_peek: None,
            di: 0,
            extra,
            delta_peek: None,
        };
        s.word = s.high_word(0);
        s.base_peek = s.next_base();
        s.delta_peek = s.next_delta();
        s
    }

    /// The high part's 64 bits from position `pos` (a multiple of 64),
    /// masked to its length.
    #[inline(always)]
    fn high_word(&self, pos: usize) -> u64 {
        let w = load_u64(self.buf, HDR.saturating_add(pos >> 3));
        let valid = self.lay.hbits.saturating_sub(pos);
        if valid < 64 {
            w & mask(valid as u32)
        } else {
            w
        }
    }

    /// The next value of the delta merged with `extra`.
    #[inline(always)]
    fn next_delta(&mut self) -> Option<u64> {
        let d = (self.di < self.lay.d).then(|| self.lay.delta(self.buf, self.di));
        match (d, self.extra) {
            (Some(d), Some(e)) if e < d => {
                self.extra = None;
                Some(e)
            }
            (Some(d), _) => {
                self.di = self.di.saturating_add(1);
                Some(d)
            }
            (None, e) => {
                self.extra = None;
                e
            }
        }
    }

    #[inline(always)]
    fn next_base(&mut self) -> Option<u64> {
        loop {
            if self.idx >= self.lay.m {
                return None;
            }
            // The next one bit of the high part: entry `idx` sits at
            // position h + idx, h being its high part.
            while self.word == 0 {
                self.word_pos = self.word_pos.saturating_add(64);
                if self.word_pos >= self.lay.hbits {
                    return None;
                }
                self.word = self.high_word(self.word_pos);
            }
            let pos = self
                .word_pos
                .saturating_add(self.word.trailing_zeros() as usize);
            self.word &= self.word.wrapping_sub(1);
            let idx = self.idx;
            let h = pos.saturating_sub(idx as usize) as u64;
            let low = self.lows.read(self.buf);
            let block = self.blocks.read(self.buf);
            self.idx = self.idx.saturating_add(1);
            if let Some(mut t) = self.tomb {
                while t < idx {
                    self.ti = self.ti.saturating_add(1);
                    if self.ti >= self.lay.t {
                        break;
                    }
                    t = self.lay.tomb(self.buf, self.ti);
                }
                self.tomb = (self.ti < self.lay.t).then_some(t);
                if t == idx {
                    continue;
                }
            }
            if self.skip == Some(idx) {
                continue;
            }
            let q = shl64(h, self.lay.l) | low;
            return Some(shl64(q, self.b) | block);
        }
    }
}

impl Iterator for Merged<'_> {
    type Item = u64;

    #[inline(always)]
    fn next(&mut self) -> Option<u64> {
        match (self.base_peek, self.delta_peek) {
            (Some(b), Some(d)) if d < b => {
                self.delta_peek = self.next_delta();
                Some(d)
            }
            (Some(b), _) => {
                self.base_peek = self.next_base();
                Some(b)
            }
            (None, Some(d)) => {
                self.delta_peek = self.next_delta();
                Some(d)
            }
            (None, None) => None,
        }
    }
}

/// The live entries of a chain, `(bucket_key, block)` in ascending order.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    inner: Merged<'a>,
}

impl Iterator for Entries<'_> {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        let b = self.inner.b;
        self.inner
            .next()
            .map(|v| (shr64(v, b) as u32, (v & mask(b)) as u32))
    }
}

// ---------------------------------------------------------------------------
// Chain
// ---------------------------------------------------------------------------

/// One chain: the entries of one index key, in one buffer.
///
/// See the module documentation for the encoding. Every method takes the
/// filter's [`FpParams`]; a chain must always be used with the same ones.
#[derive(Debug)]
pub struct Chain<S> {
    buf: S,
}

impl<S: Bytes> Default for Chain<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Bytes> Chain<S> {
    /// An empty chain (holding no memory).
    pub fn new() -> Self {
        Self { buf: S::new() }
    }

    /// A chain over existing bytes, trusted for nothing: every method stays
    /// panic-free whatever they hold, and [`validate`](Self::validate) says
    /// whether they are consistent. For tests and debugging.
    pub fn from_storage(buf: S) -> Self {
        Self { buf }
    }

    /// The chain's buffer.
    pub fn storage(&self) -> &S {
        &self.buf
    }

    fn layout(&self, p: &FpParams) -> Result<Layout, FilterError> {
        Layout::read(self.buf.as_slice(), p).ok_or(FilterError::Corrupt)
    }

    /// Live entries.
    pub fn len(&self) -> u32 {
        let b = self.buf.as_slice();
        rd_u32(b, 0)
            .saturating_sub(u32::from(rd_u16(b, 6)))
            .saturating_add(u32::from(rd_u16(b, 4)))
    }

    /// Whether the chain holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (encoded base entries including tombstoned ones, delta entries,
    /// tombstones).
    pub fn parts(&self) -> (u32, u32, u32) {
        let b = self.buf.as_slice();
        (
            rd_u32(b, 0),
            u32::from(rd_u16(b, 4)),
            u32::from(rd_u16(b, 6)),
        )
    }

    /// Heap bytes held by the chain's buffer (the `Chain` value itself
    /// lives in the table).
    pub fn memory_bytes(&self) -> usize {
        self.buf.heap_bytes()
    }

    /// Blocks stored under bucket key `bucket` (see [`Candidates`]).
    pub fn candidates(&self, p: &FpParams, bucket: u32) -> Candidates<'_> {
        let buf = self.buf.as_slice();
        let Some(lay) = Layout::read(buf, p) else {
            return Candidates::empty();
        };
        let q = u64::from(bucket);
        let di = lay.delta_lower_bound(buf, shl64(q, p.block_bits));
        Candidates {
            buf,
            lay,
            block_bits: p.block_bits,
            scan: lay.scan(buf, bucket),
            q,
            di,
        }
    }

    /// Whether (bucket, block) is stored.
    pub fn contains(&self, p: &FpParams, bucket: u32, block: u32) -> bool {
        let Ok(v) = p.check(bucket, block) else {
            return false;
        };
        let buf = self.buf.as_slice();
        let Some(lay) = Layout::read(buf, p) else {
            return false;
        };
        if lay.base_find(buf, p, bucket, block, false).is_some() {
            return true;
        }
        let di = lay.delta_lower_bound(buf, v);
        di < lay.d && lay.delta(buf, di) == v
    }

    /// All live entries, `(bucket key, block)` ascending.
    pub fn entries(&self, p: &FpParams) -> Entries<'_> {
        let buf = self.buf.as_slice();
        Entries {
            inner: Merged::new(
                buf,
                Layout::read(buf, p).unwrap_or_default(),
                p.block_bits,
                None,
                None,
            ),
        }
    }

    /// Stores one more (bucket, block) pair (a chain is a multiset: a
    /// present pair gains a copy). Errors: [`FilterError::OutOfRange`],
    /// [`FilterError::Saturated`] (already [`MAX_COPIES`] entries under
    /// `bucket`) and [`FilterError::AllocFailed`], after which the chain is
    /// unchanged.
    pub fn insert(&mut self, p: &FpParams, bucket: u32, block: u32) -> Result<(), FilterError> {
        let v = p.check(bucket, block)?;
        let lay = self.layout(p)?;
        if self
            .candidates(p, bucket)
            .nth((MAX_COPIES as usize).saturating_sub(1))
            .is_some()
        {
            return Err(FilterError::Saturated);
        }
        let buf = self.buf.as_slice();
        if let Some((_, Ok(ti))) = lay.base_find(buf, p, bucket, block, true) {
            // Removed earlier: revive it.
            self.untomb(lay, ti);
            return Ok(());
        }
        let di = lay.delta_lower_bound(buf, v);
        let full = lay.d >= u32::from(u16::MAX);
        if full || lay.d.saturating_add(lay.t) >= p.threshold(lay.m) {
            match self.rebuild(p, lay, None, Some(v)) {
                Err(FilterError::AllocFailed) if !full => {}
                r => return r,
            }
        }
        // Into the delta, keeping it sorted.
        let need = lay.used.saturating_add(lay.w);
        self.reserve(lay, need)?;
        let at = lay
            .delta_off
            .saturating_add((di as usize).saturating_mul(lay.w));
        let buf = self.buf.as_mut_slice();
        move_right(buf, at, lay.used, lay.w);
        write_uint(buf, at, lay.w, v);
        Layout {
            d: lay.d.saturating_add(1),
            ..lay
        }
        .write_header(buf);
        Ok(())
    }

    /// Forgets one copy of (bucket, block). Errors: [`FilterError::Missing`]
    /// if the pair is not stored, [`FilterError::OutOfRange`], and
    /// [`FilterError::AllocFailed`] (a tombstone may need a few bytes),
    /// after which the chain is unchanged.
    pub fn remove(&mut self, p: &FpParams, bucket: u32, block: u32) -> Result<(), FilterError> {
        let v = p.check(bucket, block)?;
        let lay = self.layout(p)?;
        let buf = self.buf.as_slice();
        let di = lay.delta_lower_bound(buf, v);
        if di < lay.d && lay.delta(buf, di) == v {
            if lay.live() <= 1 {
                self.buf = S::new();
                return Ok(());
            }
            let at = lay
                .delta_off
                .saturating_add((di as usize).saturating_mul(lay.w));
            let buf = self.buf.as_mut_slice();
            move_left(buf, at, lay.used, lay.w);
            Layout {
                d: lay.d.saturating_sub(1),
                ..lay
            }
            .write_header(buf);
            return Ok(());
        }
        let Some((i, Err(ti))) = lay.base_find(buf, p, bucket, block, false) else {
            return Err(FilterError::Missing);
        };
        if lay.live() <= 1 {
            self.buf = S::new();
            return Ok(());
        }
        let full = lay.t >= u32::from(u16::MAX);
        if full || lay.d.saturating_add(lay.t) >= p.threshold(lay.m) {
            match self.rebuild(p, lay, Some(i), None) {
                Err(FilterError::AllocFailed) if !full => {}
                r => return r,
            }
        }
        let need = lay.used.saturating_add(lay.tw);
        self.reserve(lay, need)?;
        let at = lay
            .tomb_off
            .saturating_add((ti as usize).saturating_mul(lay.tw));
        let buf = self.buf.as_mut_slice();
        move_right(buf, at, lay.used, lay.tw);
        write_uint(buf, at, lay.tw, u64::from(i));
        Layout {
            t: lay.t.saturating_add(1),
            ..lay
        }
        .write_header(buf);
        Ok(())
    }

    /// Re-encodes the chain with no delta, no tombstones and no spare
    /// bytes (e.g. after building the filter at mount). On
    /// [`FilterError::AllocFailed`] the chain is unchanged (and correct).
    pub fn compact(&mut self, p: &FpParams) -> Result<(), FilterError> {
        let lay = self.layout(p)?;
        if lay.d == 0 && lay.t == 0 && (self.buf.as_slice().len() == lay.used || lay.m == 0) {
            if lay.m == 0 && !self.buf.is_empty() {
                self.buf = S::new();
            }
            return Ok(());
        }
        self.rebuild(p, lay, None, None)
    }

    /// Checks that the chain's bytes are self-consistent for `p`: header,
    /// lengths, every key and block in range, base and delta ascending
    /// (equal entries allowed), tombstones strictly ascending and in range,
    /// no delta entry equal to a tombstoned base entry (an insert revives
    /// that one instead).
    pub fn validate(&self, p: &FpParams) -> Result<(), FilterError> {
        let buf = self.buf.as_slice();
        if buf.is_empty() {
            return Ok(());
        }
        let lay = self.layout(p)?;
        let bad = Err(FilterError::Corrupt);
        if buf.len() < lay.used || lay.l > p.bucket_bits || lay.live() == 0 {
            return bad;
        }
        if lay.m > 0 && lay.l != low_bits(lay.m, p.bucket_bits) {
            return bad;
        }
        if lay.m == 0 && (lay.t != 0 || lay.l != 0) {
            return bad;
        }
        // Base: exactly m one bits, entries ascending.
        if count_ones(buf, HDR, lay.hbits) != lay.m as usize {
            return bad;
        }
        let mut all = Merged::new(buf, Layout { t: 0, d: 0, ..lay }, p.block_bits, None, None);
        let mut prev: Option<u64> = None;
        let mut n = 0u32;
        for v in all.by_ref() {
            if prev.is_some_and(|x| x > v) || (v & mask(p.block_bits)) >= p.blocks {
                return bad;
            }
            prev = Some(v);
            n = n.saturating_add(1);
        }
        if n != lay.m {
            return bad;
        }
        // Bits past the end of the base stream are zero.
        let end_bit = lay
            .blk_bit
            .saturating_add((lay.m as usize).saturating_mul(p.block_bits as usize));
        if end_bit & 7 != 0
            && get_bits(buf, end_bit, 8u32.saturating_sub((end_bit & 7) as u32)) != 0
        {
            return bad;
        }
        // The select directory: sample i is where bucket (i + 1) * 128
        // starts.
        for i in 0..lay.dir_n {
            let h = i.saturating_add(1).saturating_mul(DIR_BUCKETS);
            let want = lay
                .select0_from(buf, 0, h.saturating_sub(1))
                .map(|x| x.saturating_add(1));
            let got = read_uint(
                buf,
                lay.dir_off.saturating_add(i.saturating_mul(lay.dir_w)),
                lay.dir_w,
            ) as usize;
            if want != Some(got) {
                return bad;
            }
        }
        // Tombstones ascending, in range.
        let mut prev_t: Option<u32> = None;
        for i in 0..lay.t {
            let x = lay.tomb(buf, i);
            if x >= lay.m || prev_t.is_some_and(|y| y >= x) {
                return bad;
            }
            prev_t = Some(x);
        }
        // Delta ascending, in range, not in the base.
        let mut prev_d: Option<u64> = None;
        for i in 0..lay.d {
            let v = lay.delta(buf, i);
            let q = shr64(v, p.block_bits);
            let block = v & mask(p.block_bits);
            if q > mask(p.bucket_bits) || block >= p.blocks || prev_d.is_some_and(|y| y > v) {
                return bad;
            }
            if lay
                .base_find(buf, p, q as u32, block as u32, true)
                .is_some()
            {
                return bad;
            }
            prev_d = Some(v);
        }
        Ok(())
    }

    /// Grows the buffer to at least `need` bytes, with some spare so that
    /// a run of updates does not reallocate every time.
    fn reserve(&mut self, lay: Layout, need: usize) -> Result<(), FilterError> {
        let len = self.buf.as_slice().len();
        if len >= need {
            return Ok(());
        }
        let spare = (lay.used >> 6).max(lay.w.saturating_mul(2));
        let fresh = len == 0;
        if self.buf.try_resize(need.saturating_add(spare)).is_err() {
            self.buf.try_resize(need)?;
        }
        if self.buf.as_slice().len() < need {
            return Err(FilterError::AllocFailed);
        }
        if fresh {
            // A new buffer: write an empty header (the caller writes its own
            // counts after).
            if let Some(h) = self.buf.as_mut_slice().first_chunk_mut::<HDR>() {
                *h = [0; HDR];
            }
        }
        Ok(())
    }

    /// Revives tombstoned base entry (tombstone position `ti`).
    fn untomb(&mut self, lay: Layout, ti: u32) {
        let at = lay
            .tomb_off
            .saturating_add((ti as usize).saturating_mul(lay.tw));
        let buf = self.buf.as_mut_slice();
        move_left(buf, at, lay.used, lay.tw);
        Layout {
            t: lay.t.saturating_sub(1),
            ..lay
        }
        .write_header(buf);
    }

    /// Re-encodes the live entries minus base entry `skip` plus `extra`
    /// into a fresh, exactly sized buffer, which replaces the old one only
    /// once complete.
    fn rebuild(
        &mut self,
        p: &FpParams,
        lay: Layout,
        skip: Option<u32>,
        extra: Option<u64>,
    ) -> Result<(), FilterError> {
        let count = lay
            .live()
            .saturating_sub(u32::from(skip.is_some()))
            .saturating_add(u32::from(extra.is_some()));
        if count == 0 {
            self.buf = S::new();
            return Ok(());
        }
        let (mut new, nlay) = alloc_chain::<S>(p, count)?;
        let enc = Encoder::new(new.as_mut_slice(), &nlay, p);
        merge_into(self.buf.as_slice(), &lay, p, skip, extra, enc).finish()?;
        self.buf = new;
        Ok(())
    }
}

/// A zeroed buffer for a chain of `count` (> 0) entries and no delta, its
/// header written, and its layout.
fn alloc_chain<S: Bytes>(p: &FpParams, count: u32) -> Result<(S, Layout), FilterError> {
    let l = low_bits(count, p.bucket_bits);
    let lay = Layout::compute(count, 0, 0, l, p);
    // The saturating layout arithmetic must not have hit the top.
    let bits =
        u64::from(count).checked_mul(u64::from(l.saturating_add(p.block_bits)).saturating_add(3));
    if bits.is_none_or(|x| x >= (usize::MAX >> 4) as u64) {
        return Err(FilterError::AllocFailed);
    }
    let mut s = S::new();
    s.try_resize(lay.used)?;
    let buf = s.as_mut_slice();
    if buf.len() != lay.used {
        return Err(FilterError::AllocFailed);
    }
    buf.fill(0);
    lay.write_header(buf);
    Ok((s, lay))
}

/// Writes ascending values `(bucket_key << b) | block` (repeats allowed) into a
/// buffer from [`alloc_chain`], checking everything it is given.
struct Encoder<'b> {
    buf: &'b mut [u8],
    hbits: usize,
    count: u32,
    l: u32,
    b: u32,
    bmask: u64,
    qmax: u64,
    blocks: u64,
    lows: BitSink,
    blks: BitSink,
    /// Select directory: where it is, and the next sample to write.
    dir_off: usize,
    dir_n: usize,
    dir_w: usize,
    dir_c: usize,
    dir_next: u64,
    i: u32,
    /// The last value pushed (none yet while `i` is 0).
    prev: u64,
    bad: bool,
}

impl<'b> Encoder<'b> {
    fn new(buf: &'b mut [u8], lay: &Layout, p: &FpParams) -> Self {
        Self {
            buf,
            hbits: lay.hbits,
            count: lay.m,
            l: lay.l,
            b: p.block_bits,
            bmask: mask(p.block_bits),
            qmax: mask(p.bucket_bits),
            blocks: p.blocks,
            lows: BitSink::new(lay.lo_bit, lay.l),
            blks: BitSink::new(lay.blk_bit, p.block_bits),
            dir_off: lay.dir_off,
            dir_n: lay.dir_n,
            dir_w: lay.dir_w,
            dir_c: 0,
            dir_next: DIR_BUCKETS as u64,
            i: 0,
            prev: 0,
            bad: false,
        }
    }

    #[inline(always)]
    fn push(&mut self, v: u64) {
        // b, l <= 32: plain shifts. A wrapped position is flagged below
        // (the buffer is then discarded).
        let q = v.wrapping_shr(self.b);
        let block = v & self.bmask;
        let hi = q.wrapping_shr(self.l);
        let pos = (hi as usize).wrapping_add(self.i as usize);
        if hi >= self.dir_next {
            self.samples(hi);
        }
        self.bad |= (self.i > 0 && self.prev > v)
            | (q > self.qmax)
            | (block >= self.blocks)
            | (pos >= self.hbits)
            | (self.i >= self.count);
        self.prev = v;
        let bit = HDR_BITS.wrapping_add(pos);
        if let Some(x) = self.buf.get_mut(bit >> 3) {
            *x |= 1u8.wrapping_shl((bit & 7) as u32);
        }
        self.lows.push(self.buf, q);
        self.blks.push(self.buf, block);
        self.i = self.i.wrapping_add(1);
    }

    /// Records the start of every sampled bucket up to `hi` (all entries
    /// pushed so far are in lower buckets).
    #[inline(never)]
    fn samples(&mut self, hi: u64) {
        while self.dir_c < self.dir_n && hi >= self.dir_next {
            let off = self
                .dir_off
                .saturating_add(self.dir_c.saturating_mul(self.dir_w));
            write_uint(
                self.buf,
                off,
                self.dir_w,
                self.dir_next.saturating_add(u64::from(self.i)),
            );
            self.dir_c = self.dir_c.saturating_add(1);
            self.dir_next = self.dir_next.saturating_add(DIR_BUCKETS as u64);
        }
        if self.dir_c >= self.dir_n {
            self.dir_next = u64::MAX;
        }
    }

    fn finish(mut self) -> Result<(), FilterError> {
        self.samples(u64::MAX);
        self.lows.flush(self.buf);
        self.blks.flush(self.buf);
        if self.bad || self.i != self.count {
            return Err(FilterError::Corrupt);
        }
        Ok(())
    }
}

/// Feeds `enc` the live entries of the chain in `old` (layout `lay`),
/// minus base entry `skip`, plus `extra`, in ascending order: one pass over
/// the base's three streams, merged with the delta.
fn merge_into<'b>(
    old: &[u8],
    lay: &Layout,
    p: &FpParams,
    skip: Option<u32>,
    extra: Option<u64>,
    enc: Encoder<'b>,
) -> Encoder<'b> {
    let mut enc = enc;
    let b = p.block_bits;
    let l = lay.l;
    // Base indices are < m <= u32::MAX: u32::MAX names none.
    let skip = skip.unwrap_or(u32::MAX);
    let mut extra = extra;
    let mut di = 0u32;
    let mut next_delta = || {
        let d = (di < lay.d).then(|| lay.delta(old, di));
        match (d, extra) {
            (Some(d), Some(e)) if e < d => {
                extra = None;
                Some(e)
            }
            (Some(d), _) => {
                di = di.saturating_add(1);
                Some(d)
            }
            (None, e) => {
                extra = None;
                e
            }
        }
    };
    let mut dnext = next_delta();
    let mut ti = 0u32;
    let mut tnext = if lay.t > 0 {
        lay.tomb(old, 0)
    } else {
        u32::MAX
    };
    let high_word = |pos: usize| {
        let w = load_u64(old, HDR.saturating_add(pos >> 3));
        let valid = lay.hbits.saturating_sub(pos);
        if valid < 64 {
            w & mask(valid as u32)
        } else {
            w
        }
    };
    let mut word_pos = 0usize;
    let mut word = high_word(0);
    let mut lows = BitSource::new(old, lay.lo_bit, l);
    let mut blks = BitSource::new(old, lay.blk_bit, b);
    let mut idx = 0u32;
    while idx < lay.m {
        while word == 0 {
            word_pos = word_pos.saturating_add(64);
            if word_pos >= lay.hbits {
                enc.bad = true;
                return enc;
            }
            word = high_word(word_pos);
        }
        // The idx-th one bit is at a position >= idx; l, b <= 32.
        let pos = word_pos.wrapping_add(word.trailing_zeros() as usize);
        word &= word.wrapping_sub(1);
        let low = lows.read(old);
        let block = blks.read(old);
        let this = idx;
        idx = idx.wrapping_add(1);
        if this == tnext {
            ti = ti.saturating_add(1);
            tnext = if ti < lay.t {
                lay.tomb(old, ti)
            } else {
                u32::MAX
            };
            continue;
        }
        if this == skip {
            continue;
        }
        let h = pos.wrapping_sub(this as usize) as u64;
        let v = (h.wrapping_shl(l) | low).wrapping_shl(b) | block;
        while let Some(d) = dnext {
            if d >= v {
                break;
            }
            enc.push(d);
            dnext = next_delta();
        }
        enc.push(v);
    }
    while let Some(d) = dnext {
        enc.push(d);
        dnext = next_delta();
    }
    enc
}

// ---------------------------------------------------------------------------
// Filter
// ---------------------------------------------------------------------------

/// All `2^n` chains of a filter, for single-threaded users (tests, fsck,
/// tools). The kernel keeps [`Chain`]s in locked shards instead and calls
/// [`FpParams::chain_index`] and the chain methods itself.
#[derive(Debug)]
pub struct Filter<S: Bytes, T: ChainTable<S>> {
    params: FpParams,
    table: T,
    entries: u64,
    _s: PhantomData<fn() -> S>,
}

impl<S: Bytes, T: ChainTable<S>> Filter<S, T> {
    /// An empty filter.
    pub fn new(params: FpParams) -> Result<Self, FilterError> {
        let table = T::try_new(params.chain_count())?;
        if table.chains().len() != params.chain_count() {
            return Err(FilterError::BadParams);
        }
        Ok(Self {
            params,
            table,
            entries: 0,
            _s: PhantomData,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &FpParams {
        &self.params
    }

    /// Entries stored.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Heap bytes: the table plus every chain's buffer.
    pub fn memory_bytes(&self) -> u64 {
        self.table
            .chains()
            .iter()
            .fold(self.table.heap_bytes() as u64, |a, c| {
                a.saturating_add(c.memory_bytes() as u64)
            })
    }

    /// The chain with index key `index`.
    pub fn chain(&self, index: usize) -> Option<&Chain<S>> {
        self.table.chains().get(index)
    }

    /// Stores (fp, block); see [`Chain::insert`].
    pub fn insert(&mut self, fp: &[u8], block: u32) -> Result<(), FilterError> {
        let p = self.params;
        let c = self
            .table
            .chains_mut()
            .get_mut(p.chain_index(fp))
            .ok_or(FilterError::Corrupt)?;
        c.insert(&p, p.bucket_key(fp), block)?;
        self.entries = self.entries.saturating_add(1);
        Ok(())
    }

    /// Forgets (fp, block); see [`Chain::remove`].
    pub fn remove(&mut self, fp: &[u8], block: u32) -> Result<(), FilterError> {
        let p = self.params;
        let c = self
            .table
            .chains_mut()
            .get_mut(p.chain_index(fp))
            .ok_or(FilterError::Corrupt)?;
        c.remove(&p, p.bucket_key(fp), block)?;
        self.entries = self.entries.saturating_sub(1);
        Ok(())
    }

    /// Blocks whose stored prefix equals `fp`'s (see [`Candidates`]).
    pub fn candidates(&self, fp: &[u8]) -> Candidates<'_> {
        match self.chain(self.params.chain_index(fp)) {
            Some(c) => c.candidates(&self.params, self.params.bucket_key(fp)),
            None => Candidates::empty(),
        }
    }

    /// Whether (fp, block) is stored.
    pub fn contains(&self, fp: &[u8], block: u32) -> bool {
        self.chain(self.params.chain_index(fp))
            .is_some_and(|c| c.contains(&self.params, self.params.bucket_key(fp), block))
    }

    /// Compacts every chain ([`Chain::compact`]); stops at the first
    /// allocation failure (the filter stays correct).
    pub fn compact(&mut self) -> Result<(), FilterError> {
        let p = self.params;
        for c in self.table.chains_mut() {
            c.compact(&p)?;
        }
        Ok(())
    }
}
