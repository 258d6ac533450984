//! The fingerprint store: for every block of a group, the fingerprint of
//! its content and its reference count (paper §2.2, Fig. 3).
//!
//! Entry `i` of group `g`'s store describes block `first_block(g) + i`.
//! Entries are packed `fingerprint | refcount (u32 LE)`, as many per block
//! as fit before the 4-byte checksum at the block's end. An entry is valid
//! exactly while its refcount is > 0; a free entry is all zeros. Blocks the
//! file system uses for metadata (bitmaps, inode tables, directories,
//! indirect blocks, the journal, the stores themselves) keep refcount 0:
//! only deduplicated file data is counted here.

use super::codec::*;
use super::csum::Crc32c;
use super::error::{FormatError, Result};
use super::geometry::Geometry;

/// The largest reference count. A block whose count reaches it is no
/// longer offered for sharing, so counts stay exact and never wrap.
pub const REFCOUNT_MAX: u32 = u32::MAX;

/// Longest fingerprint any algorithm produces.
pub const FP_MAX: usize = 32;

/// A fingerprint of up to [`FP_MAX`] bytes (only `len` bytes are used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Fingerprint {
    pub bytes: [u8; FP_MAX],
    pub len: u8,
}

impl Fingerprint {
    /// Builds a fingerprint from a hash output (at most 32 bytes).
    pub fn from_slice(s: &[u8]) -> Result<Self> {
        let len = u8::try_from(s.len())
            .ok()
            .filter(|&l| usize::from(l) <= FP_MAX)
            .ok_or(FormatError::BadField {
                field: "fingerprint length",
                value: s.len() as u64,
            })?;
        let mut bytes = [0u8; FP_MAX];
        put_bytes(&mut bytes, 0, s)?;
        Ok(Self { bytes, len })
    }

    /// The fingerprint bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes
            .get(..usize::from(self.len))
            .unwrap_or(&self.bytes)
    }
}

/// One decoded store entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FpEntry {
    pub fingerprint: Fingerprint,
    pub refcount: u32,
}

/// Reads the entry at byte `off` of a store block.
pub fn read_entry(block: &[u8], off: usize, fp_size: usize) -> Result<FpEntry> {
    let fp = slice(block, off, fp_size)?;
    let refcount = get_u32(block, off.saturating_add(fp_size))?;
    Ok(FpEntry {
        fingerprint: Fingerprint::from_slice(fp)?,
        refcount,
    })
}

/// Writes the entry at byte `off` of a store block; a zero refcount writes
/// a zero (free) entry whatever the fingerprint.
pub fn write_entry(block: &mut [u8], off: usize, fp: &[u8], refcount: u32) -> Result<()> {
    // The whole entry must fit before anything is written.
    let len = fp.len().saturating_add(4);
    let have = block.len();
    let dst = block
        .get_mut(off..off.saturating_add(len))
        .ok_or(FormatError::Truncated {
            what: "fingerprint entry",
            need: off.saturating_add(len),
            have,
        })?;
    if refcount == 0 {
        dst.fill(0);
        return Ok(());
    }
    put_bytes(dst, 0, fp)?;
    put_u32(dst, fp.len(), refcount)
}

/// Sets only the refcount of the entry at `off`.
pub fn write_refcount(block: &mut [u8], off: usize, fp_size: usize, refcount: u32) -> Result<()> {
    put_u32(block, off.saturating_add(fp_size), refcount)
}

/// Checksum of store block `j` of group `g`: crc32c from the volume seed
/// over the group and block index (LE) and all bytes but the last four.
pub fn checksum_of(block: &[u8], group: u32, j: u32, seed: u32, crc: &impl Crc32c) -> Result<u32> {
    let body = block.len().checked_sub(4).ok_or(FormatError::Truncated {
        what: "fingerprint store block",
        need: 4,
        have: block.len(),
    })?;
    let c = crc.crc32c(seed, &group.to_le_bytes());
    let c = crc.crc32c(c, &j.to_le_bytes());
    Ok(crc.crc32c(c, slice(block, 0, body)?))
}

/// Stores the checksum of store block `j` of group `g`.
pub fn set_checksum(
    block: &mut [u8],
    group: u32,
    j: u32,
    seed: u32,
    crc: &impl Crc32c,
) -> Result<()> {
    let c = checksum_of(block, group, j, seed, crc)?;
    let at = block.len().saturating_sub(4);
    put_u32(block, at, c)
}

/// Verifies store block `j` of group `g`: checksum, and free entries all
/// zero; returns the number of entries in use.
pub fn verify_block(
    geo: &Geometry,
    block: &[u8],
    group: u32,
    j: u32,
    seed: u32,
    crc: &impl Crc32c,
) -> Result<u32> {
    let at = block.len().saturating_sub(4);
    let stored = get_u32(block, at)?;
    let computed = checksum_of(block, group, j, seed, crc)?;
    if stored != computed {
        return Err(FormatError::BadChecksum {
            what: "fingerprint store block",
            stored,
            computed,
        });
    }
    let es = geo.fp_entry_size as usize;
    let fs = usize::from(geo.fp_algo.size());
    let mut used = 0u32;
    for e in 0..geo.fp_entries_per_block as usize {
        let off = e.saturating_mul(es);
        // The count alone (no fingerprint copy): this runs for every entry
        // of every store block the mount reads.
        if get_u32(block, off.saturating_add(fs))? == 0 {
            if slice(block, off, es)?.iter().any(|&b| b != 0) {
                return Err(FormatError::BadField {
                    field: "fingerprint entry (free but not zero)",
                    value: off as u64,
                });
            }
        } else {
            used = used.saturating_add(1);
        }
    }
    Ok(used)
}

/// Formats an empty store block (all entries free) with its checksum.
pub fn init_block(
    block: &mut [u8],
    group: u32,
    j: u32,
    seed: u32,
    crc: &impl Crc32c,
) -> Result<()> {
    block.fill(0);
    set_checksum(block, group, j, seed, crc)
}

/// A set of entry indexes of one store block (a 4 KiB block holds at most
/// 204 entries, of the smallest size: MD5's 20 bytes; the set holds 256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntrySet([u64; 4]);

impl EntrySet {
    /// Adds entry `e`; false (and nothing added) if `e` >= 256.
    pub fn insert(&mut self, e: u32) -> bool {
        let Some(w) = self.0.get_mut((e / 64) as usize) else {
            return false;
        };
        *w |= 1u64 << (e % 64);
        true
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// The entries, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0u32..256).filter(|&e| {
            self.0
                .get((e / 64) as usize)
                .is_some_and(|w| w & (1u64 << (e % 64)) != 0)
        })
    }
}

/// The entries of store block `block` (its first `entries` entries of
/// `entry_size` bytes) that hold fingerprint `fp` with a reference count
/// a new reference may still go to: in use and below [`REFCOUNT_MAX`].
///
/// This is how a fingerprint-filter candidate is confirmed: the filter
/// names a slot of store blocks ([`crate::geometry::FpSlots`]), and each
/// of them is scanned. Entries past the block's end or past 256 are not
/// looked at; the first 8 bytes are compared first (fingerprints are
/// random, so nearly every other entry differs there).
pub fn entries_holding(block: &[u8], entries: u32, entry_size: usize, fp: &[u8]) -> EntrySet {
    let mut set = EntrySet::default();
    let fs = fp.len();
    let (Some(head), Some(count_end)) = (fp.first_chunk::<8>(), fs.checked_add(4)) else {
        return set;
    };
    if entry_size < count_end {
        return set;
    }
    let mut off = 0usize;
    for e in 0..entries.min(256) {
        let Some(ent) = block.get(off..off.saturating_add(entry_size)) else {
            break;
        };
        off = off.saturating_add(entry_size);
        if ent.first_chunk::<8>() != Some(head) || ent.get(..fs) != Some(fp) {
            continue;
        }
        let count = ent
            .get(fs..count_end)
            .and_then(|c| c.first_chunk::<4>())
            .map_or(0, |c| u32::from_le_bytes(*c));
        if count != 0 && count < REFCOUNT_MAX {
            set.insert(e);
        }
    }
    set
}
