//! Read-only access to a livedfs volume (block device or image file),
//! decoded with the shared format crate. Nothing here writes.

use anyhow::{bail, Context, Result};
use livedfs_format::csum::volume_seed;
use livedfs_format::fpstore::{self, FpEntry};
use livedfs_format::group::{GroupDesc, BG_FP_UNINIT};
use livedfs_format::inode::{tree_base, Inode, N_DIRECT, TREES, UNWRITTEN};
use livedfs_format::superblock::{SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE};
use livedfs_format::{Crc32c, FormatError, Geometry, Superblock, DESC_SIZE, INODE_SIZE};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// crc32c in the kernel's convention (no inversions), from the `crc32c` crate.
pub struct Crc;

impl Crc32c for Crc {
    fn crc32c(&self, crc: u32, data: &[u8]) -> u32 {
        !crc32c::crc32c_append(!crc, data)
    }
}

/// Turns a format-crate error (which is `no_std`, without
/// `std::error::Error`) into an anyhow error.
pub trait Fe<T> {
    fn fe(self) -> Result<T>;
}

impl<T> Fe<T> for std::result::Result<T, FormatError> {
    fn fe(self) -> Result<T> {
        self.map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// An opened volume: its superblock and geometry.
pub struct Volume {
    file: File,
    pub path: PathBuf,
    pub sb: Superblock,
    /// The superblock's checksum matched.
    pub sb_csum_ok: bool,
    pub geo: Geometry,
    pub seed: u32,
    /// Store blocks read so far (group, index) -> bytes.
    fp_cache: HashMap<u32, Vec<u8>>,
}

/// A decoded descriptor with the result of its checksum check.
pub struct Desc {
    pub desc: GroupDesc,
    pub csum_ok: bool,
}

/// One mapped block of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapped {
    pub file_block: u64,
    pub disk_block: u32,
}

/// A file's block map: its data blocks and the indirect blocks holding it.
#[derive(Debug, Default)]
pub struct BlockMap {
    pub data: Vec<Mapped>,
    /// (level 1..3, block).
    pub indirect: Vec<(u8, u32)>,
    /// Pointers found outside the volume (not followed), and `UNWRITTEN`
    /// where only a regular file's data pointer may hold it.
    pub bad_pointers: Vec<u32>,
    /// File blocks marked `UNWRITTEN` (preallocated, not yet written: no
    /// disk block, read as zeros), in order. Regular files only.
    pub unwritten: Vec<u64>,
}

impl BlockMap {
    /// The unwritten file blocks as runs (first, last), in order.
    pub fn unwritten_runs(&self) -> Vec<(u64, u64)> {
        runs(&self.unwritten)
    }
}

/// Ascending numbers as runs of consecutive ones (first, last).
pub fn runs(v: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &n in v {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == n => *last = n,
            _ => out.push((n, n)),
        }
    }
    out
}

impl Volume {
    /// Opens `path` read-only and decodes its superblock and geometry. A
    /// superblock with a bad checksum is still decoded (and says so).
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path)
            .with_context(|| format!("cannot open {} for reading", path.display()))?;
        let mut buf = vec![0u8; SUPERBLOCK_SIZE];
        file.read_exact_at(&mut buf, SUPERBLOCK_OFFSET)
            .with_context(|| format!("cannot read the superblock of {}", path.display()))?;
        let (sb, sb_csum_ok) = match Superblock::decode(&buf, &Crc) {
            Ok(sb) => (sb, true),
            Err(FormatError::BadChecksum { .. }) => (Superblock::decode_fields(&buf).fe()?, false),
            Err(FormatError::BadMagic) => {
                bail!(
                    "{} is not a livedfs volume (no livedfs magic at byte 1024)",
                    path.display()
                )
            }
            Err(e) => bail!("{}: bad superblock: {e}", path.display()),
        };
        let geo = Geometry::from_superblock(&sb).fe().with_context(|| {
            format!(
                "{}: the superblock's geometry is inconsistent",
                path.display()
            )
        })?;
        let seed = volume_seed(&Crc, &sb.uuid);
        Ok(Self {
            file,
            path: path.to_path_buf(),
            sb,
            sb_csum_ok,
            geo,
            seed,
            fp_cache: HashMap::new(),
        })
    }

    /// Reads block `b`.
    pub fn read_block(&self, b: u32) -> Result<Vec<u8>> {
        if u64::from(b) >= u64::from(self.geo.blocks_count) {
            bail!(
                "block {b} is past the end of the volume ({} blocks)",
                self.geo.blocks_count
            );
        }
        let mut buf = vec![0u8; self.geo.block_size as usize];
        self.file
            .read_exact_at(&mut buf, self.geo.block_offset(b))
            .with_context(|| format!("cannot read block {b} of {}", self.path.display()))?;
        Ok(buf)
    }

    /// The primary descriptor of group `g`.
    pub fn desc(&self, g: u32) -> Result<Desc> {
        let (blk, off) = self.geo.desc_location(g).fe()?;
        let buf = self.read_block(blk)?;
        let raw = buf
            .get(off..off + DESC_SIZE as usize)
            .context("descriptor outside its block")?;
        let desc = GroupDesc::decode_fields(raw).fe()?;
        let csum_ok = GroupDesc::decode(raw, g, self.seed, &Crc).is_ok();
        Ok(Desc { desc, csum_ok })
    }

    /// Every descriptor.
    pub fn descs(&self) -> Result<Vec<Desc>> {
        (0..self.geo.group_count).map(|g| self.desc(g)).collect()
    }

    /// Inode `ino`, and whether its checksum matched.
    pub fn inode(&self, ino: u32) -> Result<(Inode, bool)> {
        if !self.geo.valid_ino(ino) {
            bail!(
                "inode {ino} does not exist: inodes are 1 to {}",
                self.geo.inodes_count
            );
        }
        let (blk, off) = self.geo.inode_location(ino).fe()?;
        let buf = self.read_block(blk)?;
        let raw = buf
            .get(off..off + INODE_SIZE as usize)
            .context("inode outside its block")?;
        let inode = Inode::decode_fields(raw).fe()?;
        let ok = Inode::decode(raw, ino, self.seed, &Crc).is_ok();
        Ok((inode, ok))
    }

    /// Whether the inode's `block[]` holds block pointers (not a device
    /// number or a fast symlink's target).
    pub fn has_block_map(inode: &Inode) -> bool {
        !(inode.is_device() || inode.is_fast_symlink()) && inode.in_use()
    }

    /// Walks the inode's block map: every mapped file block, in order.
    pub fn block_map(&self, inode: &Inode) -> Result<BlockMap> {
        let mut map = BlockMap::default();
        if !Self::has_block_map(inode) {
            return Ok(map);
        }
        let reg = inode.is_reg();
        for (i, &b) in inode.block.iter().enumerate().take(N_DIRECT) {
            if b == UNWRITTEN && reg {
                map.unwritten.push(i as u64);
            } else if b == UNWRITTEN {
                map.bad_pointers.push(b);
            } else if b != 0 {
                map.data.push(Mapped {
                    file_block: i as u64,
                    disk_block: b,
                });
            }
        }
        for (slot, level) in TREES {
            let b = inode.block[slot];
            if b != 0 {
                let base = tree_base(self.geo.ptrs_per_block(), level);
                self.walk_indirect(b, level as u8, base, reg, &mut map)?;
            }
        }
        Ok(map)
    }

    /// Indirect block `b` (level 1..4) mapping file blocks from `base`;
    /// `reg`: of a regular file (whose leaves may be `UNWRITTEN`).
    fn walk_indirect(
        &self,
        b: u32,
        level: u8,
        base: u64,
        reg: bool,
        map: &mut BlockMap,
    ) -> Result<()> {
        if !self.geo.valid_block(b) {
            map.bad_pointers.push(b);
            return Ok(());
        }
        map.indirect.push((level, b));
        let buf = self.read_block(b)?;
        let p = u64::from(self.geo.ptrs_per_block());
        let span = p.pow(u32::from(level) - 1);
        for (i, c) in buf.chunks_exact(4).enumerate() {
            let ptr = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            if ptr == 0 {
                continue;
            }
            let start = base + i as u64 * span;
            if level == 1 {
                if ptr == UNWRITTEN && reg {
                    map.unwritten.push(start);
                } else if self.geo.valid_block(ptr) {
                    map.data.push(Mapped {
                        file_block: start,
                        disk_block: ptr,
                    });
                } else {
                    map.bad_pointers.push(ptr);
                }
            } else {
                self.walk_indirect(ptr, level - 1, start, reg, map)?;
            }
        }
        Ok(())
    }

    /// The fingerprint-store entry of block `b` (all zero when the
    /// group's store was never formatted).
    pub fn fp_entry(&mut self, b: u32) -> Result<FpEntry> {
        let g = self.geo.group_of_block(b).fe()?;
        let (blk, off) = self.geo.fp_entry_location(b).fe()?;
        if !self.fp_cache.contains_key(&blk) {
            let d = self.desc(g)?;
            let data = if d.desc.flags & BG_FP_UNINIT != 0 {
                vec![0u8; self.geo.block_size as usize]
            } else {
                self.read_block(blk)?
            };
            self.fp_cache.insert(blk, data);
        }
        let data = &self.fp_cache[&blk];
        fpstore::read_entry(data, off, usize::from(self.geo.fp_algo.size())).fe()
    }

    /// The reference count of block `b`.
    pub fn refcount(&mut self, b: u32) -> Result<u32> {
        Ok(self.fp_entry(b)?.refcount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_kernel_convention() {
        // Check value: !crc32c(!0, "123456789") = 0xE3069283.
        assert_eq!(!Crc.crc32c(!0, b"123456789"), 0xE306_9283);
    }
}
