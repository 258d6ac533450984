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
        let ent = read_entry(block, off, fs)?;
        if ent.refcount == 0 {
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
