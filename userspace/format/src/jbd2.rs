//! The jbd2 journal superblock, as mkfs writes it (big-endian, like all
//! jbd2 structures; see the kernel's Documentation/filesystems/ext4/
//! journal.rst). mkfs writes a clean v2 superblock with no features and a
//! zeroed log; the kernel enables 64-bit and checksum v3 at mount.

use super::codec::*;
use super::csum::Crc32c;
use super::error::{FormatError, Result};

/// jbd2 block header magic.
pub const MAGIC: u32 = 0xC03B_3998;
/// Block type: descriptor.
pub const DESCRIPTOR_BLOCK: u32 = 1;
/// Block type: commit.
pub const COMMIT_BLOCK: u32 = 2;
/// Block type: superblock v1.
pub const SUPERBLOCK_V1: u32 = 3;
/// Block type: superblock v2.
pub const SUPERBLOCK_V2: u32 = 4;
/// Block type: revoke.
pub const REVOKE_BLOCK: u32 = 5;
/// Fewest blocks jbd2 accepts for a journal.
pub const MIN_JOURNAL_BLOCKS: u32 = 1024;
/// Checksum type crc32c.
pub const CSUM_TYPE_CRC32C: u8 = 4;
/// Incompatible feature: checksums v2.
pub const FEATURE_INCOMPAT_CSUM_V2: u32 = 0x8;
/// Incompatible feature: checksums v3 (what the kernel enables).
pub const FEATURE_INCOMPAT_CSUM_V3: u32 = 0x10;

/// Field offsets within the journal superblock.
pub mod off {
    pub const MAGIC: usize = 0x0;
    pub const BLOCKTYPE: usize = 0x4;
    pub const HSEQUENCE: usize = 0x8;
    pub const BLOCKSIZE: usize = 0xC;
    pub const MAXLEN: usize = 0x10;
    pub const FIRST: usize = 0x14;
    pub const SEQUENCE: usize = 0x18;
    pub const START: usize = 0x1C;
    pub const ERRNO: usize = 0x20;
    pub const FEATURE_COMPAT: usize = 0x24;
    pub const FEATURE_INCOMPAT: usize = 0x28;
    pub const FEATURE_RO_COMPAT: usize = 0x2C;
    pub const UUID: usize = 0x30;
    pub const NR_USERS: usize = 0x40;
    pub const CHECKSUM_TYPE: usize = 0x50;
    pub const CHECKSUM: usize = 0xFC;
    pub const USERS: usize = 0x100;
}

/// Encodes a clean, empty v2 journal superblock into `buf` (one block),
/// for a journal occupying blocks `[start, start + blocks)` of the device.
pub fn encode_fresh_superblock(
    buf: &mut [u8],
    block_size: u32,
    start: u32,
    blocks: u32,
    uuid: &[u8; 16],
) -> Result<()> {
    if blocks < MIN_JOURNAL_BLOCKS {
        return Err(FormatError::BadField {
            field: "journal size in blocks",
            value: u64::from(blocks),
        });
    }
    // The kernel opens the journal with jbd2_journal_init_dev, for which
    // log block numbers are absolute device blocks: the log runs from the
    // block after this superblock to the end of the extent.
    let first = start.checked_add(1).ok_or(FormatError::BadField {
        field: "journal start",
        value: u64::from(start),
    })?;
    let maxlen = start.checked_add(blocks).ok_or(FormatError::BadField {
        field: "journal end",
        value: u64::from(start).saturating_add(u64::from(blocks)),
    })?;
    need(buf, 1024, "journal superblock")?;
    buf.fill(0);
    put_be32(buf, off::MAGIC, MAGIC)?;
    put_be32(buf, off::BLOCKTYPE, SUPERBLOCK_V2)?;
    put_be32(buf, off::BLOCKSIZE, block_size)?;
    put_be32(buf, off::MAXLEN, maxlen)?;
    put_be32(buf, off::FIRST, first)?;
    put_be32(buf, off::SEQUENCE, 1)?;
    put_be32(buf, off::START, 0)?;
    put_bytes(buf, off::UUID, uuid)?;
    put_be32(buf, off::NR_USERS, 1)?;
    put_bytes(buf, off::USERS, uuid)
}

/// The journal size mke2fs would pick for a volume of `blocks` blocks of
/// `block_size` bytes, as in e2fsprogs' ext2fs_default_journal_size (in
/// blocks of that size); `None` for volumes too small for a journal.
pub fn default_journal_blocks(blocks: u64) -> Option<u32> {
    Some(match blocks {
        b if b < 2048 => return None,
        b if b < 32768 => 1024,
        b if b < 256 * 1024 => 4096,
        b if b < 512 * 1024 => 8192,
        b if b < 4096 * 1024 => 16384,
        b if b < 8192 * 1024 => 32768,
        b if b < 16384 * 1024 => 65536,
        b if b < 32768 * 1024 => 131072,
        _ => 262144,
    })
}

/// Whether the journal superblock in `buf` has checksums (v2 or v3), so
/// that its `checksum` field must be kept right.
pub fn superblock_has_csum(buf: &[u8]) -> Result<bool> {
    Ok(get_be32(buf, off::FEATURE_INCOMPAT)?
        & (FEATURE_INCOMPAT_CSUM_V2 | FEATURE_INCOMPAT_CSUM_V3)
        != 0)
}

/// The checksum of the journal superblock in `buf` (its first 1024
/// bytes), as the kernel's `jbd2_superblock_csum`: crc32c seeded with
/// `!0` over the superblock with the checksum field taken as zero.
pub fn superblock_checksum(buf: &[u8], crc: &impl Crc32c) -> Result<u32> {
    let body = slice(buf, 0, 1024)?;
    let head = slice(body, 0, off::CHECKSUM)?;
    let tail = slice(body, off::CHECKSUM + 4, 1024 - off::CHECKSUM - 4)?;
    let c = crc.crc32c(!0, head);
    let c = crc.crc32c(c, &[0u8; 4]);
    Ok(crc.crc32c(c, tail))
}
