//! Inodes: 256 bytes each in the per-group inode table.
//!
//! The block map is ext3's: 12 direct pointers, then single, double and
//! triple indirect blocks of 32-bit block numbers (0 = hole), and with
//! `RO_COMPAT_HUGE_FILE` a quadruple-indirect block past those. With
//! deduplication several pointers, in one file or many, may hold the same
//! block number; the block's fingerprint-store refcount counts them.

use super::codec::*;
use super::csum::Crc32c;
use super::error::{FormatError, Result};
use super::geometry::Geometry;
use super::INODE_SIZE;

/// Direct block pointers in an inode.
pub const N_DIRECT: usize = 12;
/// Index of the single-indirect pointer.
pub const IND_BLOCK: usize = 12;
/// Index of the double-indirect pointer.
pub const DIND_BLOCK: usize = 13;
/// Index of the triple-indirect pointer.
pub const TIND_BLOCK: usize = 14;
/// Index of the quadruple-indirect pointer (only with
/// `RO_COMPAT_HUGE_FILE`, only in regular files). Stored apart from the
/// other 15 (at `off::QIND_BLOCK`), so the block array a fast symlink
/// reuses keeps its 60 bytes.
pub const QIND_BLOCK: usize = 15;
/// Block pointers in an inode.
pub const N_BLOCKS: usize = 16;
/// Pointers stored contiguously at `off::BLOCK` (all but `QIND_BLOCK`).
pub const N_ARRAY_BLOCKS: usize = 15;
/// A block pointer that maps no block: the file block is preallocated
/// (`fallocate`) and not yet written, so it reads as zeros and FIEMAP
/// reports it unwritten. Only in a regular file's direct pointers or in
/// the last level of its indirect tree (never as an indirect block), only
/// with `INCOMPAT_UNWRITTEN`. Not counted in `blocks`; no block number
/// can equal it (`blocks_count` is a `u32`, so the last block is one
/// below it).
pub const UNWRITTEN: u32 = u32::MAX;

/// Whether block pointer `p` maps a block (neither a hole nor `UNWRITTEN`).
pub fn maps_block(p: u32) -> bool {
    p != 0 && p != UNWRITTEN
}

/// Bytes of the block array: a fast symlink keeps its target here.
pub const FAST_SYMLINK_MAX: usize = N_ARRAY_BLOCKS * 4;

/// File type bits of `mode` (as in `<sys/stat.h>`).
pub const S_IFMT: u16 = 0o170000;
pub const S_IFSOCK: u16 = 0o140000;
pub const S_IFLNK: u16 = 0o120000;
pub const S_IFREG: u16 = 0o100000;
pub const S_IFBLK: u16 = 0o060000;
pub const S_IFDIR: u16 = 0o040000;
pub const S_IFCHR: u16 = 0o020000;
pub const S_IFIFO: u16 = 0o010000;

/// Inode flags, with the values of the `FS_IOC_GETFLAGS` interface.
pub const FL_SYNC: u32 = 0x0000_0008;
pub const FL_IMMUTABLE: u32 = 0x0000_0010;
pub const FL_APPEND: u32 = 0x0000_0020;
pub const FL_NODUMP: u32 = 0x0000_0040;
pub const FL_NOATIME: u32 = 0x0000_0080;
pub const FL_DIRSYNC: u32 = 0x0001_0000;
/// Direct access (DAX) asked for (`chattr +x`, `FS_XFLAG_DAX`): kept and
/// inherited as ext4 does, with no effect: livedfs has no DAX (every
/// write goes through the page cache to be deduplicated).
pub const FL_DAX: u32 = 0x0200_0000;
/// All flags this code knows; others are refused by validation.
pub const FL_KNOWN: u32 =
    FL_SYNC | FL_IMMUTABLE | FL_APPEND | FL_NODUMP | FL_NOATIME | FL_DIRSYNC | FL_DAX;
/// Flags a new inode takes from its directory, as ext4: all of these for
/// a directory, all but `FL_DIRSYNC` for a regular file, `FL_NODUMP` and
/// `FL_NOATIME` for anything else.
pub const FL_INHERITED: u32 = FL_SYNC | FL_NODUMP | FL_NOATIME | FL_DIRSYNC | FL_DAX;

/// The flags a new inode of type `mode` inherits from a directory with
/// `dir_flags`.
pub fn inherited_flags(dir_flags: u32, mode: u16) -> u32 {
    let f = dir_flags & FL_INHERITED;
    match mode & S_IFMT {
        S_IFDIR => f,
        S_IFREG => f & !FL_DIRSYNC,
        _ => f & (FL_NODUMP | FL_NOATIME),
    }
}

/// Field offsets within an inode.
pub mod off {
    pub const MODE: usize = 0;
    pub const UID: usize = 4;
    pub const GID: usize = 8;
    pub const LINKS: usize = 12;
    pub const SIZE: usize = 16;
    pub const BLOCKS: usize = 24;
    pub const ATIME: usize = 32;
    pub const MTIME: usize = 40;
    pub const CTIME: usize = 48;
    pub const CRTIME: usize = 56;
    pub const ATIME_NSEC: usize = 64;
    pub const MTIME_NSEC: usize = 68;
    pub const CTIME_NSEC: usize = 72;
    pub const CRTIME_NSEC: usize = 76;
    pub const FLAGS: usize = 80;
    pub const GENERATION: usize = 84;
    pub const NEXT_ORPHAN: usize = 88;
    pub const DTIME: usize = 96;
    pub const BLOCK: usize = 104;
    pub const XATTR_BLOCK: usize = 164;
    pub const QIND_BLOCK: usize = 168;
    pub const PREALLOC: usize = 248;
    pub const CHECKSUM: usize = 252;
}

/// Byte offset in the inode of block pointer `i` (`0..N_BLOCKS`).
fn block_offset(i: usize) -> usize {
    if i == QIND_BLOCK {
        off::QIND_BLOCK
    } else {
        off::BLOCK.saturating_add(i.saturating_mul(4))
    }
}

/// A timestamp: seconds since the epoch and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamp {
    pub sec: i64,
    pub nsec: u32,
}

/// An inode, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inode {
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub links_count: u32,
    pub size: u64,
    /// File-system blocks mapped by this inode (data and indirect blocks;
    /// shared blocks count once per pointer, as `st_blocks` shows them).
    pub blocks: u64,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    pub crtime: Timestamp,
    pub flags: u32,
    pub generation: u32,
    /// Next inode in the orphan list (0 ends it).
    pub next_orphan: u32,
    /// Blocks of space held for writes into the file's holes (fallocate),
    /// not yet used; summed in the superblock's `prealloc_blocks`.
    pub prealloc: u32,
    /// Deletion time, 0 while the inode is live.
    pub dtime: i64,
    /// Block map, or a fast symlink's target, or a device's major/minor.
    pub block: [u32; N_BLOCKS],
    /// The inode's extended-attribute block (see [`super::xattr`]); 0:
    /// none. Counted in `blocks`.
    pub xattr_block: u32,
}

impl Inode {
    /// The file type bits of `mode`.
    pub fn file_type(&self) -> u16 {
        self.mode & S_IFMT
    }
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }
    /// Whether this is a regular file.
    pub fn is_reg(&self) -> bool {
        self.file_type() == S_IFREG
    }
    /// Whether this is a symlink.
    pub fn is_symlink(&self) -> bool {
        self.file_type() == S_IFLNK
    }
    /// Whether this is a device node (character or block).
    pub fn is_device(&self) -> bool {
        matches!(self.file_type(), S_IFCHR | S_IFBLK)
    }
    /// Blocks of `blocks` that are not the inode's own data or map: its
    /// attribute block (1 if it has one).
    pub fn xattr_blocks(&self) -> u64 {
        u64::from(self.xattr_block != 0)
    }
    /// Whether this symlink keeps its target in the block array (it maps
    /// no block; an attribute block does not count).
    pub fn is_fast_symlink(&self) -> bool {
        self.is_symlink()
            && self.blocks.saturating_sub(self.xattr_blocks()) == 0
            && self.size < FAST_SYMLINK_MAX as u64
    }
    /// Whether the inode is in use.
    pub fn in_use(&self) -> bool {
        self.mode != 0 && self.dtime == 0
    }

    /// The fast symlink target bytes (block array as little-endian bytes).
    pub fn fast_symlink_bytes(&self) -> [u8; FAST_SYMLINK_MAX] {
        let mut out = [0u8; FAST_SYMLINK_MAX];
        for (i, word) in self.block.iter().take(N_ARRAY_BLOCKS).enumerate() {
            // 15 words fill the 60 bytes exactly; put_bytes can't fail here.
            let _ = put_bytes(&mut out, i.saturating_mul(4), &word.to_le_bytes());
        }
        out
    }

    /// Stores a fast symlink target (at most 59 bytes) in the block array.
    pub fn set_fast_symlink(&mut self, target: &[u8]) -> Result<()> {
        if target.len() >= FAST_SYMLINK_MAX {
            return Err(FormatError::BadField {
                field: "inode fast symlink length",
                value: target.len() as u64,
            });
        }
        let mut bytes = [0u8; FAST_SYMLINK_MAX];
        put_bytes(&mut bytes, 0, target)?;
        for (i, word) in self.block.iter_mut().take(N_ARRAY_BLOCKS).enumerate() {
            *word = get_u32(&bytes, i.saturating_mul(4))?;
        }
        if let Some(q) = self.block.get_mut(QIND_BLOCK) {
            *q = 0;
        }
        self.size = target.len() as u64;
        Ok(())
    }

    /// Decodes inode `ino` from `buf` (256 bytes), checking its checksum.
    pub fn decode(buf: &[u8], ino: u32, seed: u32, crc: &impl Crc32c) -> Result<Self> {
        let i = Self::decode_fields(buf)?;
        let stored = get_u32(buf, off::CHECKSUM)?;
        let computed = Self::checksum_of(buf, ino, i.generation, seed, crc)?;
        if stored != computed {
            return Err(FormatError::BadChecksum {
                what: "inode",
                stored,
                computed,
            });
        }
        Ok(i)
    }

    /// Decodes the fields without the checksum check.
    pub fn decode_fields(buf: &[u8]) -> Result<Self> {
        need(buf, INODE_SIZE as usize, "inode")?;
        let ts = |s: usize, n: usize| -> Result<Timestamp> {
            Ok(Timestamp {
                sec: get_i64(buf, s)?,
                nsec: get_u32(buf, n)?,
            })
        };
        let mut block = [0u32; N_BLOCKS];
        for (i, b) in block.iter_mut().enumerate() {
            *b = get_u32(buf, block_offset(i))?;
        }
        Ok(Self {
            mode: get_u16(buf, off::MODE)?,
            uid: get_u32(buf, off::UID)?,
            gid: get_u32(buf, off::GID)?,
            links_count: get_u32(buf, off::LINKS)?,
            size: get_u64(buf, off::SIZE)?,
            blocks: get_u64(buf, off::BLOCKS)?,
            atime: ts(off::ATIME, off::ATIME_NSEC)?,
            mtime: ts(off::MTIME, off::MTIME_NSEC)?,
            ctime: ts(off::CTIME, off::CTIME_NSEC)?,
            crtime: ts(off::CRTIME, off::CRTIME_NSEC)?,
            flags: get_u32(buf, off::FLAGS)?,
            generation: get_u32(buf, off::GENERATION)?,
            next_orphan: get_u32(buf, off::NEXT_ORPHAN)?,
            prealloc: get_u32(buf, off::PREALLOC)?,
            dtime: get_i64(buf, off::DTIME)?,
            block,
            xattr_block: get_u32(buf, off::XATTR_BLOCK)?,
        })
    }

    /// Encodes inode `ino` into `buf` (256 bytes) with its checksum.
    pub fn encode(&self, buf: &mut [u8], ino: u32, seed: u32, crc: &impl Crc32c) -> Result<()> {
        need(buf, INODE_SIZE as usize, "inode")?;
        if let Some(b) = buf.get_mut(..INODE_SIZE as usize) {
            b.fill(0);
        }
        put_u16(buf, off::MODE, self.mode)?;
        put_u32(buf, off::UID, self.uid)?;
        put_u32(buf, off::GID, self.gid)?;
        put_u32(buf, off::LINKS, self.links_count)?;
        put_u64(buf, off::SIZE, self.size)?;
        put_u64(buf, off::BLOCKS, self.blocks)?;
        for (t, s, n) in [
            (self.atime, off::ATIME, off::ATIME_NSEC),
            (self.mtime, off::MTIME, off::MTIME_NSEC),
            (self.ctime, off::CTIME, off::CTIME_NSEC),
            (self.crtime, off::CRTIME, off::CRTIME_NSEC),
        ] {
            put_i64(buf, s, t.sec)?;
            put_u32(buf, n, t.nsec)?;
        }
        put_u32(buf, off::FLAGS, self.flags)?;
        put_u32(buf, off::GENERATION, self.generation)?;
        put_u32(buf, off::NEXT_ORPHAN, self.next_orphan)?;
        put_u32(buf, off::PREALLOC, self.prealloc)?;
        put_i64(buf, off::DTIME, self.dtime)?;
        for (i, b) in self.block.iter().enumerate() {
            put_u32(buf, block_offset(i), *b)?;
        }
        put_u32(buf, off::XATTR_BLOCK, self.xattr_block)?;
        let c = Self::checksum_of(buf, ino, self.generation, seed, crc)?;
        put_u32(buf, off::CHECKSUM, c)
    }

    /// Checksum: crc32c from the volume seed over the inode number and
    /// generation (LE) and bytes 0..252 of the inode.
    pub fn checksum_of(
        buf: &[u8],
        ino: u32,
        generation: u32,
        seed: u32,
        crc: &impl Crc32c,
    ) -> Result<u32> {
        let c = crc.crc32c(seed, &ino.to_le_bytes());
        let c = crc.crc32c(c, &generation.to_le_bytes());
        Ok(crc.crc32c(c, slice(buf, 0, off::CHECKSUM)?))
    }

    /// Checks an in-use inode's fields against the format's rules (block
    /// pointers are checked where they are followed).
    pub fn validate(&self, geo: &Geometry) -> Result<()> {
        let bad = |field: &'static str, value: u64| Err(FormatError::BadField { field, value });
        match self.file_type() {
            S_IFREG | S_IFDIR | S_IFLNK | S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK => {}
            _ => return bad("inode.mode", u64::from(self.mode)),
        }
        if self.size > geo.max_file_size() {
            return bad("inode.size", self.size);
        }
        for (f, t) in [
            ("inode.atime_nsec", self.atime),
            ("inode.mtime_nsec", self.mtime),
            ("inode.ctime_nsec", self.ctime),
            ("inode.crtime_nsec", self.crtime),
        ] {
            if t.nsec >= 1_000_000_000 {
                return bad(f, u64::from(t.nsec));
            }
        }
        if self.flags & !FL_KNOWN != 0 {
            return bad("inode.flags", u64::from(self.flags));
        }
        if self.prealloc != 0
            && (!self.is_reg() || u64::from(self.prealloc) > u64::from(geo.blocks_count))
        {
            return bad("inode.prealloc", u64::from(self.prealloc));
        }
        if self.is_dir() && self.size.checked_rem(u64::from(geo.block_size)) != Some(0) {
            return bad("inode.size (directory)", self.size);
        }
        if self.is_symlink() && (self.size == 0 || self.size >= u64::from(geo.block_size)) {
            return bad("inode.size (symlink)", self.size);
        }
        let qind = self.block.get(QIND_BLOCK).copied().unwrap_or(0);
        if qind != 0 && (!self.is_reg() || !geo.huge_file) {
            return bad("inode.block (quadruple indirect)", u64::from(qind));
        }
        if !self.is_device() && !self.is_fast_symlink() {
            for (k, &b) in self.block.iter().enumerate() {
                // A regular file's direct pointer may be UNWRITTEN (whether
                // the volume allows it is the superblock's business).
                let unwritten = b == UNWRITTEN && k < N_DIRECT && self.is_reg();
                if b != 0 && !unwritten && !geo.valid_block(b) {
                    return bad("inode.block", u64::from(b));
                }
            }
        }
        if self.xattr_block != 0 && !geo.valid_block(self.xattr_block) {
            return bad("inode.xattr_block", u64::from(self.xattr_block));
        }
        if self.blocks < self.xattr_blocks() {
            return bad("inode.blocks (attribute block not counted)", self.blocks);
        }
        Ok(())
    }
}

/// Where a file block lives in the block map: the chain of indices from the
/// inode's block array down through indirect blocks. `depth` is 0 for a
/// direct pointer, up to 4 for quadruple indirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockPath {
    /// Number of indirect levels (0..=4).
    pub depth: usize,
    /// `offsets[0]` indexes the inode's block array; `offsets[1..=depth]`
    /// index successive indirect blocks.
    pub offsets: [u32; 5],
}

/// The inode slot of each indirect tree with its depth, in file order.
pub const TREES: [(usize, usize); 4] = [
    (IND_BLOCK, 1),
    (DIND_BLOCK, 2),
    (TIND_BLOCK, 3),
    (QIND_BLOCK, 4),
];

/// File blocks a tree of `depth` levels covers (`p^depth`, saturating).
pub fn tree_span(ptrs_per_block: u32, depth: usize) -> u64 {
    (0..depth).fold(1u64, |a, _| a.saturating_mul(u64::from(ptrs_per_block)))
}

/// First file block the tree rooted at `TREES[k]`'s slot covers.
pub fn tree_base(ptrs_per_block: u32, depth: usize) -> u64 {
    (1..depth).fold(N_DIRECT as u64, |a, d| {
        a.saturating_add(tree_span(ptrs_per_block, d))
    })
}

/// Maps a file block index to its path through the block map, or `None`
/// past the largest map (quadruple indirect; whether the volume allows
/// that depth is `Geometry::max_file_size`'s business).
pub fn block_path(ptrs_per_block: u32, file_block: u64) -> Option<BlockPath> {
    // p <= 1024 for real block sizes, so p^4 <= 2^40. For a huge u32 p the
    // spans saturate at u64::MAX: every u64 block index is below the true
    // span, as it is below u64::MAX. Nothing here can panic.
    let p = u64::from(ptrs_per_block);
    if p == 0 {
        return None;
    }
    let d = N_DIRECT as u64;
    if file_block < d {
        let mut offsets = [0u32; 5];
        offsets[0] = file_block as u32;
        return Some(BlockPath { depth: 0, offsets });
    }
    let mut i = file_block.checked_sub(d)?;
    for (slot, depth) in TREES {
        let span = tree_span(ptrs_per_block, depth);
        if i < span {
            let mut offsets = [0u32; 5];
            offsets[0] = slot as u32;
            // Entry at level L (1..=depth) is (i / p^(depth - L)) mod p.
            let mut rest = i;
            for level in (1..=depth).rev() {
                *offsets.get_mut(level)? = rest.checked_rem(p)? as u32;
                rest = rest.checked_div(p)?;
            }
            return Some(BlockPath { depth, offsets });
        }
        i = i.checked_sub(span)?;
    }
    None
}
