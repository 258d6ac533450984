//! Group descriptors: 64 bytes per group, in the descriptor table that
//! follows the superblock (and its backups).
//!
//! A descriptor locates its group's bitmaps, inode table and fingerprint
//! store (positions that [`super::Geometry::group`] also derives; a
//! mismatch is corruption), counts free blocks and inodes, and says which
//! parts of the group were never initialised, so mkfs need not write them.

use super::codec::*;
use super::csum::Crc32c;
use super::error::{FormatError, Result};
use super::geometry::{Geometry, GroupLayout};
use super::DESC_SIZE;

/// Flag: the inode bitmap and table were never initialised; all inodes free.
pub const BG_INODE_UNINIT: u16 = 0x0001;
/// Flag: the block bitmap was never written; it is implied by the layout
/// (fixed metadata used, everything else free).
pub const BG_BLOCK_UNINIT: u16 = 0x0002;
/// Flag: the fingerprint store was never written; every entry is empty.
pub const BG_FP_UNINIT: u16 = 0x0004;
/// All descriptor flags this code knows.
pub const BG_FLAGS_KNOWN: u16 = BG_INODE_UNINIT | BG_BLOCK_UNINIT | BG_FP_UNINIT;

/// Field offsets within a descriptor.
pub mod off {
    pub const BLOCK_BITMAP: usize = 0;
    pub const INODE_BITMAP: usize = 4;
    pub const INODE_TABLE: usize = 8;
    pub const FP_STORE: usize = 12;
    pub const FREE_BLOCKS: usize = 16;
    pub const FREE_INODES: usize = 20;
    pub const USED_DIRS: usize = 24;
    pub const ITABLE_UNUSED: usize = 28;
    pub const FLAGS: usize = 32;
    pub const BLOCK_BITMAP_CSUM: usize = 36;
    pub const INODE_BITMAP_CSUM: usize = 40;
    pub const FP_USED: usize = 44;
    pub const CHECKSUM: usize = 60;
}

/// One group descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupDesc {
    pub block_bitmap: u32,
    pub inode_bitmap: u32,
    pub inode_table: u32,
    pub fp_store: u32,
    pub free_blocks: u32,
    pub free_inodes: u32,
    pub used_dirs: u32,
    /// Inodes at the end of the table that were never used (not read).
    pub itable_unused: u32,
    pub flags: u16,
    pub block_bitmap_csum: u32,
    pub inode_bitmap_csum: u32,
    /// Fingerprint-store entries in use (refcount > 0): the blocks of this
    /// group holding deduplicated file data. 0 lets mount skip the store.
    pub fp_used: u32,
}

impl GroupDesc {
    /// The descriptor of a group as mkfs leaves it when it writes nothing
    /// in the group.
    pub fn fresh(geo: &Geometry, l: &GroupLayout) -> Self {
        Self {
            block_bitmap: l.block_bitmap,
            inode_bitmap: l.inode_bitmap,
            inode_table: l.inode_table,
            fp_store: l.fp_store,
            free_blocks: l.fresh_free_blocks(),
            free_inodes: geo.inodes_per_group,
            used_dirs: 0,
            itable_unused: geo.inodes_per_group,
            flags: BG_INODE_UNINIT | BG_BLOCK_UNINIT | BG_FP_UNINIT,
            block_bitmap_csum: 0,
            inode_bitmap_csum: 0,
            fp_used: 0,
        }
    }

    /// Decodes descriptor `group` from `buf` (64 bytes), checking its checksum.
    pub fn decode(buf: &[u8], group: u32, seed: u32, crc: &impl Crc32c) -> Result<Self> {
        let d = Self::decode_fields(buf)?;
        let stored = get_u32(buf, off::CHECKSUM)?;
        let computed = Self::checksum_of(buf, group, seed, crc)?;
        if stored != computed {
            return Err(FormatError::BadChecksum {
                what: "group descriptor",
                stored,
                computed,
            });
        }
        Ok(d)
    }

    /// Decodes the fields without the checksum check.
    pub fn decode_fields(buf: &[u8]) -> Result<Self> {
        need(buf, DESC_SIZE as usize, "group descriptor")?;
        Ok(Self {
            block_bitmap: get_u32(buf, off::BLOCK_BITMAP)?,
            inode_bitmap: get_u32(buf, off::INODE_BITMAP)?,
            inode_table: get_u32(buf, off::INODE_TABLE)?,
            fp_store: get_u32(buf, off::FP_STORE)?,
            free_blocks: get_u32(buf, off::FREE_BLOCKS)?,
            free_inodes: get_u32(buf, off::FREE_INODES)?,
            used_dirs: get_u32(buf, off::USED_DIRS)?,
            itable_unused: get_u32(buf, off::ITABLE_UNUSED)?,
            flags: get_u16(buf, off::FLAGS)?,
            block_bitmap_csum: get_u32(buf, off::BLOCK_BITMAP_CSUM)?,
            inode_bitmap_csum: get_u32(buf, off::INODE_BITMAP_CSUM)?,
            fp_used: get_u32(buf, off::FP_USED)?,
        })
    }

    /// Encodes descriptor `group` into `buf` (64 bytes) with its checksum.
    pub fn encode(&self, buf: &mut [u8], group: u32, seed: u32, crc: &impl Crc32c) -> Result<()> {
        need(buf, DESC_SIZE as usize, "group descriptor")?;
        if let Some(d) = buf.get_mut(..DESC_SIZE as usize) {
            d.fill(0);
        }
        put_u32(buf, off::BLOCK_BITMAP, self.block_bitmap)?;
        put_u32(buf, off::INODE_BITMAP, self.inode_bitmap)?;
        put_u32(buf, off::INODE_TABLE, self.inode_table)?;
        put_u32(buf, off::FP_STORE, self.fp_store)?;
        put_u32(buf, off::FREE_BLOCKS, self.free_blocks)?;
        put_u32(buf, off::FREE_INODES, self.free_inodes)?;
        put_u32(buf, off::USED_DIRS, self.used_dirs)?;
        put_u32(buf, off::ITABLE_UNUSED, self.itable_unused)?;
        put_u16(buf, off::FLAGS, self.flags)?;
        put_u32(buf, off::BLOCK_BITMAP_CSUM, self.block_bitmap_csum)?;
        put_u32(buf, off::INODE_BITMAP_CSUM, self.inode_bitmap_csum)?;
        put_u32(buf, off::FP_USED, self.fp_used)?;
        let c = Self::checksum_of(buf, group, seed, crc)?;
        put_u32(buf, off::CHECKSUM, c)
    }

    /// Checksum: crc32c from the volume seed over the group number (LE) and
    /// bytes 0..60 of the descriptor.
    pub fn checksum_of(buf: &[u8], group: u32, seed: u32, crc: &impl Crc32c) -> Result<u32> {
        let c = crc.crc32c(seed, &group.to_le_bytes());
        Ok(crc.crc32c(c, slice(buf, 0, off::CHECKSUM)?))
    }

    /// Checks a decoded descriptor against the geometry: positions equal the
    /// derived layout, counts within the group's capacity, flags known.
    pub fn validate(&self, geo: &Geometry, group: u32) -> Result<()> {
        let l = geo.group(group)?;
        let pos: [(&'static str, u32, u32); 4] = [
            (
                "group descriptor.block_bitmap",
                self.block_bitmap,
                l.block_bitmap,
            ),
            (
                "group descriptor.inode_bitmap",
                self.inode_bitmap,
                l.inode_bitmap,
            ),
            (
                "group descriptor.inode_table",
                self.inode_table,
                l.inode_table,
            ),
            ("group descriptor.fp_store", self.fp_store, l.fp_store),
        ];
        for (what, found, expected) in pos {
            if found != expected {
                return Err(FormatError::Inconsistent {
                    what,
                    found: u64::from(found),
                    expected: u64::from(expected),
                });
            }
        }
        let limits: [(&'static str, u32, u32); 5] = [
            (
                "group descriptor.free_blocks",
                self.free_blocks,
                l.fresh_free_blocks(),
            ),
            (
                "group descriptor.free_inodes",
                self.free_inodes,
                geo.inodes_per_group,
            ),
            (
                "group descriptor.used_dirs",
                self.used_dirs,
                geo.inodes_per_group,
            ),
            (
                "group descriptor.itable_unused",
                self.itable_unused,
                geo.inodes_per_group,
            ),
            (
                "group descriptor.fp_used",
                self.fp_used,
                l.fresh_free_blocks(),
            ),
        ];
        for (field, value, max) in limits {
            if value > max {
                return Err(FormatError::BadField {
                    field,
                    value: u64::from(value),
                });
            }
        }
        if self.flags & !BG_FLAGS_KNOWN != 0 {
            return Err(FormatError::BadField {
                field: "group descriptor.flags",
                value: u64::from(self.flags),
            });
        }
        Ok(())
    }
}

/// Checksum of a block bitmap (whole block) or inode bitmap (the first
/// `inodes_per_group / 8` bytes): crc32c from the volume seed over the
/// group number and the bitmap bytes.
pub fn bitmap_checksum(bitmap: &[u8], group: u32, seed: u32, crc: &impl Crc32c) -> u32 {
    let c = crc.crc32c(seed, &group.to_le_bytes());
    crc.crc32c(c, bitmap)
}
