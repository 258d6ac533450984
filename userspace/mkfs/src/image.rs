//! The bytes of a fresh volume: every block mkfs writes, built in memory.
//!
//! Only what a fresh volume needs is produced: the superblock and the
//! descriptor table (primary and backups), group 0's bitmaps and the
//! inode-table blocks holding inodes 1..=11, the root directory and
//! lost+found, and, for the journal, its group's block bitmap and the jbd2
//! superblock (the rest of the log is zeroed by the writer, cheaply). Every
//! other group is described by its descriptor alone (INODE_UNINIT,
//! BLOCK_UNINIT, FP_UNINIT): its bitmap is implied by the layout, its inode
//! table and fingerprint store are never read until first used.

use anyhow::{Context, Result};
use livedfs_format::csum::volume_seed;
use livedfs_format::dirent;
use livedfs_format::group::{bitmap_checksum, GroupDesc, BG_BLOCK_UNINIT, BG_INODE_UNINIT};
use livedfs_format::inode::{Inode, Timestamp, IND_BLOCK, N_DIRECT, S_IFDIR};
use livedfs_format::superblock::{
    COMPAT_HAS_JOURNAL, RO_COMPAT_XATTR, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE,
};
use livedfs_format::{bitmap, jbd2, Crc32c, DESC_SIZE, FIRST_INO, LOST_FOUND_INO, ROOT_INO};

use crate::cli::Options;
use crate::crc::Crc;
use crate::layout::Plan;

/// The volume's metadata, ready to write.
pub struct Image {
    pub block_size: u32,
    /// Bytes 0 .. end of the primary descriptor table: boot area (zero),
    /// primary superblock at byte 1024, descriptor table.
    pub primary: Vec<u8>,
    /// A backup: superblock at the start of a block, descriptor table after.
    pub backup: Vec<u8>,
    /// First block of each backup (groups other than 0 with `has_super`).
    pub backup_blocks: Vec<u32>,
    /// Every other block written, by block number, in ascending order.
    pub blocks: Vec<(u32, Vec<u8>)>,
    /// Blocks of the journal log after its superblock, to be zeroed.
    pub zero_range: Option<(u32, u32)>,
}

/// Time stamps: now, or SOURCE_DATE_EPOCH for reproducible images.
pub fn now() -> Result<Timestamp> {
    if let Ok(s) = std::env::var("SOURCE_DATE_EPOCH") {
        let sec: i64 = s.trim().parse().with_context(|| {
            format!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds; fix or unset it")
        })?;
        return Ok(Timestamp { sec, nsec: 0 });
    }
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Timestamp {
        sec: d.as_secs() as i64,
        nsec: d.subsec_nanos(),
    })
}

/// The directory-hash seed: random, or derived from the UUID when
/// SOURCE_DATE_EPOCH asks for reproducible output.
fn hash_seed(uuid: &[u8; 16]) -> [u8; 16] {
    if std::env::var_os("SOURCE_DATE_EPOCH").is_some() {
        let mut out = [0u8; 16];
        for (i, chunk) in out.chunks_exact_mut(4).enumerate() {
            let c = Crc.crc32c(!0, uuid);
            let c = Crc.crc32c(c, b"livedfs hash seed");
            let c = Crc.crc32c(c, &[i as u8]);
            chunk.copy_from_slice(&c.to_le_bytes());
        }
        out
    } else {
        *uuid::Uuid::new_v4().as_bytes()
    }
}

fn fmt_err(what: &'static str) -> impl Fn(livedfs_format::FormatError) -> anyhow::Error {
    move |e| anyhow::anyhow!("internal error building {what}: {e}")
}

/// A group's block bitmap with its fixed metadata, `used` blocks, and (in
/// a short last group) the bits past its end set.
fn block_bitmap(plan: &Plan, g: u32, used: &[u32]) -> Result<Vec<u8>> {
    let geo = &plan.geo;
    let l = geo.group(g).map_err(fmt_err("a block bitmap"))?;
    let mut map = vec![0u8; geo.block_size as usize];
    bitmap::set_range(&mut map, 0, l.overhead() as usize);
    for &b in used {
        let i = geo
            .block_index_in_group(b)
            .map_err(fmt_err("a block bitmap"))?;
        bitmap::set(&mut map, i as usize);
    }
    bitmap::set_range(&mut map, l.blocks() as usize, geo.blocks_per_group as usize);
    Ok(map)
}

/// Builds every block of a fresh volume for `plan`.
pub fn build(o: &Options, plan: &Plan) -> Result<Image> {
    let geo = &plan.geo;
    let bs = geo.block_size as usize;
    let crc = Crc;
    let seed = volume_seed(&crc, &o.uuid);
    let t = now()?;
    let mut blocks: Vec<(u32, Vec<u8>)> = Vec::new();

    // Blocks mkfs allocates, per group.
    let mut g0_used: Vec<u32> = vec![plan.root_block];
    g0_used.extend_from_slice(&plan.lf_blocks);
    g0_used.extend(plan.lf_indirect);
    let mut journal_used: Vec<u32> = Vec::new();
    if let Some(j) = plan.journal {
        let list = if j.group == 0 {
            &mut g0_used
        } else {
            &mut journal_used
        };
        list.extend(j.start..j.start + j.blocks);
    }

    // Descriptors.
    let mut descs: Vec<GroupDesc> = Vec::with_capacity(geo.group_count as usize);
    for g in 0..geo.group_count {
        let l = geo.group(g).map_err(fmt_err("the descriptors"))?;
        descs.push(GroupDesc::fresh(geo, &l));
    }

    // Block bitmaps of group 0 and the journal's group.
    let mut touched: Vec<(u32, &[u32])> = vec![(0, &g0_used)];
    if let Some(j) = plan.journal {
        if j.group != 0 {
            touched.push((j.group, &journal_used));
        }
    }
    for (g, used) in touched {
        let map = block_bitmap(plan, g, used)?;
        let d = &mut descs[g as usize];
        let free =
            geo.blocks_per_group as usize - bitmap::count_set(&map, geo.blocks_per_group as usize);
        d.free_blocks = free as u32;
        d.flags &= !BG_BLOCK_UNINIT;
        d.block_bitmap_csum = bitmap_checksum(&map, g, seed, &crc);
        blocks.push((d.block_bitmap, map));
    }

    // Group 0's inode bitmap: inodes 1..=11 in use, padding bits set.
    let ipg = geo.inodes_per_group;
    let mut imap = vec![0u8; bs];
    bitmap::set_range(&mut imap, 0, FIRST_INO as usize);
    bitmap::set_range(&mut imap, ipg as usize, bs * 8);
    {
        let d = &mut descs[0];
        d.flags &= !BG_INODE_UNINIT;
        d.free_inodes = ipg - FIRST_INO;
        d.itable_unused = ipg - FIRST_INO;
        d.used_dirs = 2;
        d.inode_bitmap_csum = bitmap_checksum(&imap[..(ipg / 8) as usize], 0, seed, &crc);
        blocks.push((d.inode_bitmap, imap));
    }

    // Inodes 1..=11: the inode-table blocks holding them, zeroed, with the
    // root directory and lost+found.
    let (it_first, _) = geo.inode_location(1).map_err(fmt_err("the inode table"))?;
    let (it_last, _) = geo
        .inode_location(FIRST_INO)
        .map_err(fmt_err("the inode table"))?;
    let mut itable = vec![0u8; (it_last - it_first + 1) as usize * bs];
    let dir_inode = |mode: u16, uid: u32, gid: u32, links: u32, data: &[u32], ind: Option<u32>| {
        let mut i = Inode {
            mode: S_IFDIR | mode,
            uid,
            gid,
            links_count: links,
            size: data.len() as u64 * bs as u64,
            blocks: data.len() as u64 + u64::from(ind.is_some()),
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
            ..Inode::default()
        };
        for (slot, &b) in i.block.iter_mut().zip(data.iter().take(N_DIRECT)) {
            *slot = b;
        }
        if let Some(b) = ind {
            i.block[IND_BLOCK] = b;
        }
        i
    };
    let root = dir_inode(0o755, o.root_uid, o.root_gid, 3, &[plan.root_block], None);
    let lf = dir_inode(0o700, 0, 0, 2, &plan.lf_blocks, plan.lf_indirect);
    for (ino, inode) in [(ROOT_INO, &root), (LOST_FOUND_INO, &lf)] {
        let (b, off) = geo
            .inode_location(ino)
            .map_err(fmt_err("the inode table"))?;
        let at = (b - it_first) as usize * bs + off;
        inode
            .encode(
                &mut itable[at..at + geo.inode_size as usize],
                ino,
                seed,
                &crc,
            )
            .map_err(fmt_err("an inode"))?;
    }
    for (k, chunk) in itable.chunks_exact(bs).enumerate() {
        blocks.push((it_first + k as u32, chunk.to_vec()));
    }

    // The root directory: ".", "..", "lost+found".
    let mut rb = vec![0u8; bs];
    dirent::init_first_block(&mut rb, ROOT_INO, ROOT_INO).map_err(fmt_err("the root directory"))?;
    let name = b"lost+found";
    let at = dirent::find_room(&rb, name.len())
        .map_err(fmt_err("the root directory"))?
        .context("internal error: no room for lost+found in the root directory")?;
    dirent::insert_at(&mut rb, at, LOST_FOUND_INO, name, dirent::FT_DIR)
        .map_err(fmt_err("the root directory"))?;
    dirent::set_checksum(&mut rb, ROOT_INO, root.generation, seed, &crc)
        .map_err(fmt_err("the root directory"))?;
    blocks.push((plan.root_block, rb));

    // lost+found: "." and ".." in the first block, the rest empty.
    for (k, &b) in plan.lf_blocks.iter().enumerate() {
        let mut db = vec![0u8; bs];
        if k == 0 {
            dirent::init_first_block(&mut db, LOST_FOUND_INO, ROOT_INO)
        } else {
            dirent::init_block(&mut db)
        }
        .map_err(fmt_err("lost+found"))?;
        dirent::set_checksum(&mut db, LOST_FOUND_INO, lf.generation, seed, &crc)
            .map_err(fmt_err("lost+found"))?;
        blocks.push((b, db));
    }
    if let Some(ind) = plan.lf_indirect {
        let mut ib = vec![0u8; bs];
        for (k, &b) in plan.lf_blocks.iter().skip(N_DIRECT).enumerate() {
            ib[k * 4..k * 4 + 4].copy_from_slice(&b.to_le_bytes());
        }
        blocks.push((ind, ib));
    }

    // The journal superblock.
    let mut zero_range = None;
    if let Some(j) = plan.journal {
        let mut jb = vec![0u8; bs];
        jbd2::encode_fresh_superblock(&mut jb, geo.block_size, j.start, j.blocks, &o.uuid)
            .map_err(fmt_err("the journal superblock"))?;
        blocks.push((j.start, jb));
        zero_range = Some((j.start + 1, j.blocks - 1));
    }

    // The superblock.
    let mut sb = geo.superblock_template();
    sb.free_blocks = descs.iter().map(|d| u64::from(d.free_blocks)).sum();
    sb.free_inodes = descs.iter().map(|d| d.free_inodes).sum();
    sb.mkfs_time = t.sec;
    sb.write_time = t.sec;
    sb.lastcheck_time = t.sec;
    sb.uuid = o.uuid;
    sb.label = o.label;
    sb.errors = o.errors;
    sb.hash_seed = hash_seed(&o.uuid);
    sb.r_blocks_count = plan.r_blocks;
    if o.xattr {
        sb.feature_ro_compat |= RO_COMPAT_XATTR;
    }
    if let Some(j) = plan.journal {
        sb.feature_compat |= COMPAT_HAS_JOURNAL;
        sb.journal_start = j.start;
        sb.journal_blocks = j.blocks;
    }
    let mut sbuf = [0u8; SUPERBLOCK_SIZE];
    sb.encode(&mut sbuf, &crc)
        .map_err(fmt_err("the superblock"))?;

    // The descriptor table.
    let mut gdt = vec![0u8; geo.gdt_blocks as usize * bs];
    for (g, d) in descs.iter().enumerate() {
        let at = g * DESC_SIZE as usize;
        d.encode(&mut gdt[at..at + DESC_SIZE as usize], g as u32, seed, &crc)
            .map_err(fmt_err("a group descriptor"))?;
    }

    let gdt_at = (geo.first_data_block as usize + 1) * bs;
    let mut primary = vec![0u8; gdt_at + gdt.len()];
    let so = SUPERBLOCK_OFFSET as usize;
    primary[so..so + SUPERBLOCK_SIZE].copy_from_slice(&sbuf);
    primary[gdt_at..].copy_from_slice(&gdt);
    let mut backup = vec![0u8; bs + gdt.len()];
    backup[..SUPERBLOCK_SIZE].copy_from_slice(&sbuf);
    backup[bs..].copy_from_slice(&gdt);
    let mut backup_blocks = Vec::new();
    for g in 1..geo.group_count {
        if geo.group_has_super(g) {
            let l = geo.group(g).map_err(fmt_err("the superblock backups"))?;
            if let Some(b) = l.super_block {
                backup_blocks.push(b);
            }
        }
    }

    blocks.sort_by_key(|(b, _)| *b);
    Ok(Image {
        block_size: geo.block_size,
        primary,
        backup,
        backup_blocks,
        blocks,
        zero_range,
    })
}
