//! Reading inodes from the inode table and following their block maps.
//!
//! An inode is decoded, checksummed and validated by the format crate
//! before the VFS sees it; block pointers are checked when followed, so a
//! corrupted map yields EUCLEAN for that file, never a wild read.

use crate::errors::{corrupt, corrupt_msg};
use crate::format::group::BG_INODE_UNINIT;
use crate::format::inode::{self as finode, Inode as DiskInode, N_BLOCKS};
use crate::format::{FIRST_INO, ROOT_INO};
use crate::super_::sbi;
use crate::vfs::inode::{Iget, InodeKind};
use crate::vfs::{Buffer, Inode, InodeRef, SuperBlock};
use kernel::prelude::*;

/// livedfs's private per-inode data (next to the VFS inode).
pub(crate) struct InodeData {
    /// The block map (or device numbers), as on disk.
    pub(crate) block: [u32; N_BLOCKS],
    pub(crate) flags: u32,
    pub(crate) generation: u32,
    /// A fast symlink's target, NUL-terminated (`i_link` points here).
    pub(crate) fast_link: [u8; finode::FAST_SYMLINK_MAX + 1],
}

impl Default for InodeData {
    fn default() -> Self {
        Self {
            block: [0; N_BLOCKS],
            flags: 0,
            generation: 0,
            fast_link: [0; finode::FAST_SYMLINK_MAX + 1],
        }
    }
}

/// Reads and validates on-disk inode `ino`.
fn read_disk_inode(sb: &SuperBlock, ino: u32) -> Result<DiskInode> {
    let info = sbi(sb)?;
    let geo = &info.geo;
    let g = geo.group_of_ino(ino).map_err(|e| corrupt(sb, "inode number", e))?;
    let desc = info.groups.get(g as usize).ok_or(EINVAL)?;
    let idx = ino.saturating_sub(1).checked_rem(geo.inodes_per_group).unwrap_or(0);
    // An inode past the group's high-water mark was never written: a
    // directory entry pointing there is corruption, and its bytes are junk.
    if desc.flags & BG_INODE_UNINIT != 0 || idx >= geo.inodes_per_group.saturating_sub(desc.itable_unused) {
        return Err(corrupt_msg(sb, format_args!("inode {} is in an uninitialised part of group {}", ino, g)));
    }
    let (blk, off) = geo.inode_location(ino).map_err(|e| corrupt(sb, "inode number", e))?;
    let bh = Buffer::read(sb, u64::from(blk))?;
    let raw = bh
        .data()
        .get(off..off.saturating_add(geo.inode_size as usize))
        .ok_or(EINVAL)?;
    let di = DiskInode::decode(raw, ino, info.seed, &crate::vfs::crc::KernelCrc).map_err(|e| {
        pr_err!("livedfs ({}): inode {}:\n", sb.id(), ino);
        corrupt(sb, "inode", e)
    })?;
    if !di.in_use() || di.links_count == 0 {
        return Err(corrupt_msg(sb, format_args!("deleted inode {} referenced", ino)));
    }
    di.validate(geo).map_err(|e| {
        pr_err!("livedfs ({}): inode {}:\n", sb.id(), ino);
        corrupt(sb, "inode", e)
    })?;
    Ok(di)
}

/// Gets inode `ino` (from the inode cache, or read from disk).
pub(crate) fn iget(sb: &SuperBlock, ino: u32) -> Result<InodeRef> {
    if ino != ROOT_INO && ino < FIRST_INO {
        return Err(corrupt_msg(sb, format_args!("reserved inode {} referenced", ino)));
    }
    let mut new = match crate::vfs::inode::iget(sb, ino)? {
        Iget::Cached(i) => return Ok(i),
        Iget::New(n) => n,
    };
    // On any error below, dropping `new` fails the I_NEW inode.
    let di = read_disk_inode(sb, ino)?;
    let bs512 = u64::from(sbi(sb)?.geo.block_size / 512);
    new.set_attrs(
        di.mode,
        di.uid,
        di.gid,
        di.links_count,
        di.size,
        di.blocks.saturating_mul(bs512),
        di.generation,
        [
            (di.atime.sec, di.atime.nsec),
            (di.mtime.sec, di.mtime.nsec),
            (di.ctime.sec, di.ctime.nsec),
        ],
    );
    let data = new.data_mut();
    data.block = di.block;
    data.flags = di.flags;
    data.generation = di.generation;
    let kind = if di.is_dir() {
        InodeKind::Dir
    } else if di.is_reg() {
        InodeKind::Regular
    } else if di.is_fast_symlink() {
        let bytes = di.fast_symlink_bytes();
        let n = (di.size as usize).min(finode::FAST_SYMLINK_MAX);
        if let (Some(dst), Some(src)) = (data.fast_link.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        InodeKind::FastSymlink
    } else if di.is_symlink() {
        // Slow symlinks need the page cache: the read-write issue.
        return Err(crate::errors::eopnotsupp());
    } else {
        // Device numbers: major in block[0], minor in block[1].
        let dev = (di.block[0] << 20) | (di.block[1] & 0xfffff);
        InodeKind::Special(di.mode, dev)
    };
    new.set_kind(kind);
    Ok(new.finish())
}

/// Maps block `file_block` of `inode` to a device block (`None` = hole),
/// following indirect blocks and checking every pointer.
pub(crate) fn map_block(inode: &Inode, file_block: u64) -> Result<Option<u32>> {
    let sb = inode.sb();
    let geo = &sbi(sb)?.geo;
    let Some(path) = finode::block_path(geo.ptrs_per_block(), file_block) else {
        return Ok(None);
    };
    let data = inode.data();
    let mut ptr = data.block.get(path.offsets[0] as usize).copied().unwrap_or(0);
    for level in 1..=path.depth {
        if ptr == 0 {
            return Ok(None);
        }
        if !geo.is_data_block(ptr) {
            return Err(corrupt_msg(
                sb,
                format_args!("inode {} indirect pointer {} out of range", inode.ino(), ptr),
            ));
        }
        let bh = Buffer::read(sb, u64::from(ptr))?;
        let idx = path.offsets.get(level).copied().unwrap_or(0) as usize;
        ptr = crate::format::codec::get_u32(bh.data(), idx.saturating_mul(4)).map_err(|e| corrupt(sb, "indirect block", e))?;
    }
    if ptr != 0 && !geo.is_data_block(ptr) {
        return Err(corrupt_msg(
            sb,
            format_args!("inode {} block pointer {} out of range", inode.ino(), ptr),
        ));
    }
    Ok((ptr != 0).then_some(ptr))
}
