//! Mounting: reading and validating the superblock and group descriptors,
//! the root inode, statfs and mount options.
//!
//! Nothing read from the disk is trusted before the format crate has
//! validated it: the superblock's geometry is re-derived from its primary
//! parameters (`Geometry::from_superblock`), every group descriptor is
//! checksummed and must point exactly where the geometry says. A volume
//! that is not livedfs is refused with EINVAL, a corrupted one with
//! EUCLEAN, each with a dmesg line naming the device.

use crate::errors::corrupt;
use crate::format::group::GroupDesc;
use crate::format::superblock::{self as fsb, Superblock};
use crate::format::{csum, FormatError, Geometry, DESC_SIZE, ROOT_INO};
use crate::options::MountOptions;
use crate::vfs::crc::KernelCrc;
use crate::vfs::fstype::SeqWriter;
use crate::vfs::{Buffer, SuperBlock};
use kernel::prelude::*;

/// `statfs` f_type and `s_magic`: "LDFS".
pub(crate) const LIVEDFS_MAGIC: u64 = 0x4C44_4653;

/// Per-mount state, hung off `s_fs_info`.
pub(crate) struct SbInfo {
    pub(crate) geo: Geometry,
    pub(crate) disk_sb: Superblock,
    /// Checksum seed: crc32c of the UUID.
    pub(crate) seed: u32,
    pub(crate) groups: KVVec<GroupDesc>,
    pub(crate) opts: MountOptions,
}

/// The private data of a mounted livedfs super block.
pub(crate) fn sbi(sb: &SuperBlock) -> Result<&SbInfo> {
    sb.info().ok_or(EINVAL)
}

/// Reads the primary superblock (1024 bytes at byte 1024) with the
/// device's current block size.
fn read_superblock(sb: &SuperBlock, bs: u32) -> Result<Superblock> {
    let off = fsb::SUPERBLOCK_OFFSET;
    let bh = Buffer::read(sb, off.checked_div(u64::from(bs)).unwrap_or(0))?;
    let start = off.checked_rem(u64::from(bs)).unwrap_or(0) as usize;
    let bytes = bh
        .data()
        .get(start..start.saturating_add(fsb::SUPERBLOCK_SIZE))
        .ok_or(EINVAL)?;
    match Superblock::decode(bytes, &KernelCrc) {
        Ok(s) => Ok(s),
        Err(e @ (FormatError::BadMagic | FormatError::UnsupportedVersion { .. })) => {
            pr_err!("livedfs ({}): can't mount: {}\n", sb.id(), e);
            Err(EINVAL)
        }
        Err(e) => Err(corrupt(sb, "superblock", e)),
    }
}

/// Reads, checksums and validates every group descriptor.
fn read_groups(sb: &SuperBlock, geo: &Geometry, seed: u32) -> Result<KVVec<GroupDesc>> {
    let n = geo.group_count as usize;
    let mut groups = KVVec::with_capacity(n, GFP_KERNEL)?;
    let mut cached: Option<(u32, Buffer)> = None;
    for g in 0..geo.group_count {
        let (blk, off) = geo.desc_location(g).map_err(|e| corrupt(sb, "descriptor table", e))?;
        // One buffer read per table block, not per descriptor.
        let bh = match cached.take() {
            Some((b, bh)) if b == blk => bh,
            _ => Buffer::read(sb, u64::from(blk))?,
        };
        let bytes = bh.data().get(off..off.saturating_add(DESC_SIZE as usize)).ok_or(EINVAL)?;
        let d = GroupDesc::decode(bytes, g, seed, &KernelCrc).map_err(|e| {
            pr_err!("livedfs ({}): group {} descriptor:\n", sb.id(), g);
            corrupt(sb, "group descriptor", e)
        })?;
        d.validate(geo, g).map_err(|e| {
            pr_err!("livedfs ({}): group {} descriptor:\n", sb.id(), g);
            corrupt(sb, "group descriptor", e)
        })?;
        groups.push(d, GFP_KERNEL)?;
        cached = Some((blk, bh));
    }
    Ok(groups)
}

/// `fill_super`: validates the volume and sets up the mount.
pub(crate) fn fill_super(sb: &SuperBlock, opts: &MountOptions) -> Result {
    let bs0 = sb.set_min_block_size(1024).map_err(|e| {
        pr_err!("livedfs ({}): unable to set a block size\n", sb.id());
        e
    })?;
    let disk_sb = read_superblock(sb, bs0)?;
    let geo = Geometry::from_superblock(&disk_sb).map_err(|e| corrupt(sb, "superblock", e))?;
    if sb.set_block_size(geo.block_size).is_err() {
        pr_err!(
            "livedfs ({}): device can't use the volume's {}-byte blocks\n",
            sb.id(),
            geo.block_size
        );
        return Err(EINVAL);
    }
    let dev_blocks = crate::vfs::super_block::device_blocks(sb);
    if dev_blocks < u64::from(geo.blocks_count) {
        pr_err!(
            "livedfs ({}): volume has {} blocks but the device only {}\n",
            sb.id(),
            geo.blocks_count,
            dev_blocks
        );
        return Err(EINVAL);
    }
    let unknown_ro = disk_sb.feature_ro_compat & !fsb::RO_COMPAT_KNOWN;
    if unknown_ro != 0 && !sb.is_rdonly() {
        pr_err!(
            "livedfs ({}): unknown read-only-compatible features {:#x}: mount read-only\n",
            sb.id(),
            unknown_ro
        );
        return Err(EROFS);
    }
    if disk_sb.state & fsb::STATE_ERROR != 0 {
        pr_warn!("livedfs ({}): volume has errors; run fsck.livedfs\n", sb.id());
    } else if disk_sb.state & fsb::STATE_VALID == 0 {
        pr_warn!("livedfs ({}): volume was not cleanly unmounted; run fsck.livedfs\n", sb.id());
    }
    let seed = csum::volume_seed(&KernelCrc, &disk_sb.uuid);
    let groups = read_groups(sb, &geo, seed)?;

    let max_bytes = geo.max_file_size().min(i64::MAX as u64) as i64;
    sb.setup(LIVEDFS_MAGIC, max_bytes, &disk_sb.uuid);
    // Write support lands with the read-write issue; until then every
    // mount is read-only, said plainly rather than failing writes later.
    sb.force_rdonly();
    let info = KBox::new(
        SbInfo {
            geo,
            disk_sb,
            seed,
            groups,
            opts: opts.clone(),
        },
        GFP_KERNEL,
    )?;
    sb.set_info(info);

    let root = crate::inode::iget(sb, ROOT_INO)?;
    if root.mode() & crate::format::inode::S_IFMT != crate::format::inode::S_IFDIR {
        return Err(crate::errors::corrupt_msg(sb, format_args!("root inode is not a directory")));
    }
    sb.set_root(root)?;
    pr_info!(
        "livedfs ({}): mounted read-only: {} blocks of {} bytes, {} groups, {} fingerprints{}\n",
        sb.id(),
        geo.blocks_count,
        geo.block_size,
        geo.group_count,
        geo.fp_algo.name(),
        if geo.fp_at_end { ", stores at end" } else { "" }
    );
    Ok(())
}

/// `reconfigure` (remount).
pub(crate) fn reconfigure(sb: &SuperBlock, _opts: &MountOptions, want_ro: bool) -> Result {
    if !want_ro {
        pr_err!("livedfs ({}): read-write mounts are not supported yet\n", sb.id());
        return Err(EROFS);
    }
    Ok(())
}

/// `put_super`: nothing to write back yet (read-only).
pub(crate) fn put_super(_sb: &SuperBlock) {}

/// What `statfs` reports.
pub(crate) struct StatFs {
    pub(crate) magic: u64,
    pub(crate) block_size: u32,
    pub(crate) blocks: u64,
    pub(crate) free_blocks: u64,
    pub(crate) avail_blocks: u64,
    pub(crate) files: u64,
    pub(crate) free_files: u64,
    pub(crate) name_len: u32,
    pub(crate) fsid: [i32; 2],
}

/// `statfs`: counts summed from the group descriptors.
pub(crate) fn statfs(sb: &SuperBlock) -> Result<StatFs> {
    let info = sbi(sb)?;
    let free_blocks = info.groups.iter().fold(0u64, |a, g| a.saturating_add(u64::from(g.free_blocks)));
    let free_files = info.groups.iter().fold(0u64, |a, g| a.saturating_add(u64::from(g.free_inodes)));
    let reserved = u64::from(info.disk_sb.r_blocks_count);
    let u = &info.disk_sb.uuid;
    let word = |i: usize| -> i32 {
        let b = [
            u.get(i).copied().unwrap_or(0),
            u.get(i.saturating_add(1)).copied().unwrap_or(0),
            u.get(i.saturating_add(2)).copied().unwrap_or(0),
            u.get(i.saturating_add(3)).copied().unwrap_or(0),
        ];
        i32::from_le_bytes(b)
    };
    Ok(StatFs {
        magic: LIVEDFS_MAGIC,
        block_size: info.geo.block_size,
        blocks: u64::from(info.geo.blocks_count),
        free_blocks,
        avail_blocks: free_blocks.saturating_sub(reserved),
        files: u64::from(info.geo.inodes_count),
        free_files,
        name_len: crate::format::dirent::NAME_MAX as u32,
        fsid: [word(0) ^ word(8), word(4) ^ word(12)],
    })
}

/// `show_options`: options that differ from the defaults.
pub(crate) fn show_options(sb: &SuperBlock, m: &mut SeqWriter) {
    let Ok(info) = sbi(sb) else { return };
    if let Some(e) = info.opts.errors {
        m.put(b",errors=");
        m.put(e.name().as_bytes());
    }
}
