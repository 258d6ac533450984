//! The orphan list, finished before the decision to check (e2fsck's
//! `release_orphan_inodes`): after a power cut the journal is replayed and
//! the inodes on the list are released (unlinked while open) or truncated
//! to their size (a truncation in progress), with their blocks given back
//! exactly as the kernel would: refcounts dropped, entries and bitmap bits
//! cleared at zero, a released inode's attribute block unreferenced (its
//! refcount lowered, the block freed at zero), group and superblock
//! counts adjusted. A volume whose
//! superblock is otherwise clean then needs no check, and a check that
//! runs anyway finds nothing left to repair.
//!
//! Nothing is written unless everything the release touches is sound:
//! the list, each block map, the bitmaps and store blocks (checksums, bits
//! set, refcounts high enough) and the descriptors' counts. Otherwise the
//! list is left alone, the superblock's orphan head forces the full check,
//! and pass 1 finishes the orphans with every repair reported.

use std::collections::btree_map::Entry as BEntry;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use livedfs_format::bitmap;
use livedfs_format::fpstore;
use livedfs_format::group::{
    bitmap_checksum, GroupDesc, BG_BLOCK_UNINIT, BG_FP_UNINIT, BG_INODE_UNINIT,
};
use livedfs_format::inode::{
    Inode, N_BLOCKS, N_DIRECT, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, UNWRITTEN,
};
use livedfs_format::superblock::{INCOMPAT_UNWRITTEN, STATE_ORPHANS};
use livedfs_format::xattr;
use livedfs_format::DESC_SIZE;

use crate::crc::Crc;
use crate::ctx::{Abort, Fsck, R};
use crate::problem::{PCtx, P};

/// What releasing the list changes, gathered before anything is written.
#[derive(Default)]
struct Plan {
    /// Data blocks of regular files: references dropped.
    drops: BTreeMap<u32, u32>,
    /// Metadata blocks freed (indirect, directory, slow-symlink blocks).
    meta: BTreeSet<u32>,
    /// Indirect blocks followed (each at most once).
    seen: HashSet<u32>,
    /// Indirect blocks that keep some pointers, rewritten.
    rewrites: Vec<(u32, Vec<u8>)>,
    /// The orphans' new images, and whether each is released.
    inodes: Vec<(u32, Inode, bool)>,
    /// Attribute blocks of released orphans: references dropped.
    attrs: BTreeMap<u32, u32>,
}

/// Why the list is left to the full check (not a problem report: the
/// check reports what it finds).
struct Unsound;

type Step<T> = Result<T, Unsound>;

/// Releases the orphan list if it is sound; true if it did (the list is
/// then empty). Only when writing.
pub fn release(f: &mut Fsck) -> R<bool> {
    if !f.rw() || f.sb.orphan_head == 0 {
        return Ok(false);
    }
    let plan = match plan(f)? {
        Ok(p) => p,
        Err(Unsound) => return Ok(false),
    };
    let Ok(writes) = check_groups(f, &plan)? else {
        return Ok(false);
    };
    let dev = f.name();
    for (ino, i, released) in &plan.inodes {
        let p = if *released {
            P::ORPHAN_CLEARED
        } else {
            P::ORPHAN_TRUNCATED
        };
        let mode = format!("0{:o}", i.mode);
        f.fix(
            p,
            PCtx::new()
                .s(dev.clone())
                .ino(*ino)
                .name(mode.as_bytes())
                .n(i.size),
        )?;
    }
    // Block maps first, then what they gave back: a crash in between
    // leaves blocks marked in use that nothing points to (found by a
    // check), never a pointer to a free block.
    for (b, data) in &plan.rewrites {
        f.write_block(*b, data)?;
    }
    for (ino, i, _) in &plan.inodes {
        f.write_inode(*ino, i)?;
    }
    for (b, data) in &writes.blocks {
        f.write_block(*b, data)?;
    }
    // The descriptors (not loaded yet: the check, if one follows, reads
    // them after this).
    for (g, d) in &writes.descs {
        let Ok((blk, off)) = f.geo.desc_location(*g) else {
            continue; // located when read
        };
        let mut raw = f.read_block(blk)?;
        d.encode(&mut raw[off..off + DESC_SIZE as usize], *g, f.seed, &Crc)
            .map_err(|e| Abort::Op(format!("encoding descriptor {g}: {e}")))?;
        f.write_block(blk, &raw)?;
    }
    f.sb.free_blocks = f.sb.free_blocks.saturating_add(writes.freed_blocks);
    f.sb.free_inodes = f.sb.free_inodes.saturating_add(writes.freed_inodes);
    f.sb.orphan_head = 0;
    f.sb.state &= !STATE_ORPHANS;
    f.sb_dirty = true;
    f.write_super()?;
    Ok(true)
}

/// Walks the list and the orphans' maps.
fn plan(f: &mut Fsck) -> R<Step<Plan>> {
    let mut p = Plan::default();
    let mut listed = HashSet::new();
    let mut cur = f.sb.orphan_head;
    let bs = u64::from(f.geo.block_size);
    while cur != 0 {
        if !f.geo.valid_ino(cur) || cur < livedfs_format::FIRST_INO || !listed.insert(cur) {
            return Ok(Err(Unsound));
        }
        let raw = f.read_inode_raw(cur)?;
        let Ok(mut i) = Inode::decode(&raw, cur, f.seed, &Crc) else {
            return Ok(Err(Unsound));
        };
        if i.mode == 0 || i.dtime != 0 || i.validate(&f.geo).is_err() {
            return Ok(Err(Unsound));
        }
        let next = i.next_orphan;
        let released = i.links_count == 0;
        let ft = i.mode & S_IFMT;
        let maps_blocks = ft == S_IFREG || ft == S_IFDIR || (ft == S_IFLNK && !i.is_fast_symlink());
        if maps_blocks {
            let keep = if released { 0 } else { i.size.div_ceil(bs) };
            let data = ft == S_IFREG;
            let Ok(freed) = cut_map(f, &mut p, &mut i, keep, data)? else {
                return Ok(Err(Unsound));
            };
            let Some(left) = i.blocks.checked_sub(freed) else {
                return Ok(Err(Unsound));
            };
            i.blocks = left;
        }
        i.next_orphan = 0;
        if released && i.xattr_block != 0 {
            if !sound_target(f, i.xattr_block) {
                return Ok(Err(Unsound));
            }
            *p.attrs.entry(i.xattr_block).or_insert(0) += 1;
            i.xattr_block = 0;
        }
        if released {
            i.dtime = f.now.max(1);
            i.size = 0;
            i.blocks = 0;
            i.block = [0; N_BLOCKS];
        }
        p.inodes.push((cur, i, released));
        cur = next;
    }
    Ok(Ok(p))
}

/// Whether an `UNWRITTEN` pointer may stand in this map's data pointers:
/// a regular file's (`data`), on a volume with the feature. Any other is
/// left to the check, which reports it.
fn unwritten_ok(f: &Fsck, data: bool) -> bool {
    data && f.sb.has_incompat(INCOMPAT_UNWRITTEN)
}

/// Frees the blocks of `i` from file block `keep` on; returns how many
/// (data and indirect). `UNWRITTEN` pointers there are cleared: they map
/// no block, so nothing is freed for them.
fn cut_map(f: &mut Fsck, p: &mut Plan, i: &mut Inode, keep: u64, data: bool) -> R<Step<u64>> {
    let mut freed = 0;
    for (slot, ptr) in i.block.iter_mut().enumerate().take(N_DIRECT) {
        if *ptr == UNWRITTEN {
            if !unwritten_ok(f, data) {
                return Ok(Err(Unsound));
            }
            if slot as u64 >= keep {
                *ptr = 0;
            }
            continue;
        }
        if *ptr != 0 && slot as u64 >= keep {
            if free_one(f, p, *ptr, data).is_err() {
                return Ok(Err(Unsound));
            }
            *ptr = 0;
            freed += 1;
        }
    }
    for (slot, depth, base) in crate::map::indirect_roots(f.geo.ptrs_per_block()) {
        let ptr = i.block[slot];
        if ptr == 0 {
            continue;
        }
        match cut_ind(f, p, ptr, depth, base, keep, data)? {
            Err(Unsound) => return Ok(Err(Unsound)),
            Ok((n, emptied)) => {
                freed += n;
                if emptied {
                    i.block[slot] = 0;
                }
            }
        }
    }
    Ok(Ok(freed))
}

/// Indirect block `blk` (level `depth`, first file block `base`): frees
/// what lies at or past `keep`. Returns the blocks freed and whether
/// `blk` itself was (nothing left in it), as pass 1's truncation does.
fn cut_ind(
    f: &mut Fsck,
    p: &mut Plan,
    blk: u32,
    depth: u32,
    base: u64,
    keep: u64,
    data: bool,
) -> R<Step<(u64, bool)>> {
    if !p.seen.insert(blk) || !sound_target(f, blk) {
        return Ok(Err(Unsound));
    }
    let ptrs = u64::from(f.geo.ptrs_per_block());
    let span = ptrs.pow(depth - 1);
    let mut raw = f.read_block(blk)?;
    let mut freed = 0u64;
    let mut changed = false;
    let mut left = 0u64;
    for k in 0..ptrs as usize {
        let at = k * 4;
        let ptr = u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        if ptr == 0 {
            continue;
        }
        let cbase = base + k as u64 * span;
        let gone = if depth == 1 && ptr == UNWRITTEN {
            if !unwritten_ok(f, data) {
                return Ok(Err(Unsound));
            }
            cbase >= keep // cleared, nothing freed
        } else if depth == 1 {
            if cbase >= keep {
                if free_one(f, p, ptr, data).is_err() {
                    return Ok(Err(Unsound));
                }
                freed += 1;
                true
            } else {
                false
            }
        } else if cbase.saturating_add(span) <= keep {
            false // wholly kept: not followed
        } else {
            match cut_ind(f, p, ptr, depth - 1, cbase, keep, data)? {
                Err(Unsound) => return Ok(Err(Unsound)),
                Ok((n, emptied)) => {
                    freed += n;
                    emptied
                }
            }
        };
        if gone {
            raw[at..at + 4].fill(0);
            changed = true;
        } else {
            left += 1;
        }
    }
    if left == 0 {
        if p.meta.contains(&blk) || p.drops.contains_key(&blk) {
            return Ok(Err(Unsound));
        }
        p.meta.insert(blk);
        return Ok(Ok((freed + 1, true)));
    }
    if changed {
        p.rewrites.push((blk, raw));
    }
    Ok(Ok((freed, false)))
}

/// Records the release of one mapped block.
fn free_one(f: &Fsck, p: &mut Plan, b: u32, data: bool) -> Step<()> {
    if !sound_target(f, b) || p.meta.contains(&b) {
        return Err(Unsound);
    }
    if data {
        *p.drops.entry(b).or_insert(0) += 1;
    } else if p.drops.contains_key(&b) || !p.meta.insert(b) {
        return Err(Unsound);
    }
    Ok(())
}

/// A block a file may point to: in a group's data region, not fixed
/// metadata or the journal.
fn sound_target(f: &Fsck, b: u32) -> bool {
    f.geo.is_data_block(b) && !f.is_fixed_meta(b) && !f.in_journal(b)
}

/// The blocks to write and the descriptors' new values.
struct Writes {
    blocks: Vec<(u32, Vec<u8>)>,
    descs: Vec<(u32, GroupDesc)>,
    freed_blocks: u64,
    freed_inodes: u32,
}

/// Checks the groups the plan touches and computes their new bitmaps,
/// store blocks and descriptors.
fn check_groups(f: &mut Fsck, p: &Plan) -> R<Step<Writes>> {
    let geo = f.geo;
    let fs = usize::from(geo.fp_algo.size());
    let ipg = geo.inodes_per_group as usize;
    let mut descs: BTreeMap<u32, GroupDesc> = BTreeMap::new();
    let mut bitmaps: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    // Store blocks by number, with their group and index (a store need
    // not lie in its group: the no-spatial-locality layout).
    let mut stores: HashMap<u32, (u32, u32, Vec<u8>)> = HashMap::new();
    let mut w = Writes {
        blocks: Vec::new(),
        descs: Vec::new(),
        freed_blocks: 0,
        freed_inodes: 0,
    };
    // Attribute blocks: their refcount lowered, or freed (as metadata)
    // when no other inode points to them.
    let mut attr_frees = Vec::new();
    for (&b, &n) in &p.attrs {
        if p.meta.contains(&b) || p.drops.contains_key(&b) {
            return Ok(Err(Unsound));
        }
        let mut raw = f.read_block(b)?;
        let Ok(v) = xattr::verify_block(&raw, b, f.seed, &Crc) else {
            return Ok(Err(Unsound));
        };
        match v.refcount.checked_sub(n) {
            None => return Ok(Err(Unsound)),
            Some(0) => attr_frees.push(b),
            Some(left) => {
                if xattr::set_refcount(&mut raw, left, b, f.seed, &Crc).is_err() {
                    return Ok(Err(Unsound));
                }
                w.blocks.push((b, raw));
            }
        }
    }
    // Every block freed: its bit cleared; data blocks: the reference
    // dropped, the entry cleared at zero.
    let freed = p
        .meta
        .iter()
        .chain(attr_frees.iter())
        .map(|&b| (b, None))
        .chain(p.drops.iter().map(|(&b, &n)| (b, Some(n))));
    for (b, drops) in freed {
        let Ok(g) = geo.group_of_block(b) else {
            return Ok(Err(Unsound));
        };
        let Ok(l) = geo.group(g) else {
            return Ok(Err(Unsound));
        };
        let Some(mut d) = desc_of(f, &mut descs, g)? else {
            return Ok(Err(Unsound));
        };
        if d.flags & (BG_BLOCK_UNINIT | BG_FP_UNINIT) != 0
            || d.block_bitmap != l.block_bitmap
            || d.fp_store != l.fp_store
        {
            return Ok(Err(Unsound));
        }
        let Ok((sblk, off)) = geo.fp_entry_location(b) else {
            return Ok(Err(Unsound));
        };
        let store = match stores.entry(sblk) {
            Entry::Occupied(o) => &mut o.into_mut().2,
            Entry::Vacant(v) => {
                let raw = f.read_block(sblk)?;
                let j = sblk - l.fp_store;
                let ok = fpstore::checksum_of(&raw, g, j, f.seed, &Crc)
                    .is_ok_and(|c| raw[raw.len() - 4..] == c.to_le_bytes());
                if !ok {
                    return Ok(Err(Unsound));
                }
                &mut v.insert((g, j, raw)).2
            }
        };
        let Ok(e) = fpstore::read_entry(store, off, fs) else {
            return Ok(Err(Unsound));
        };
        let frees = match drops {
            // Metadata blocks have no entry.
            None if e.refcount == 0 => true,
            None => return Ok(Err(Unsound)),
            Some(n) => {
                let Some(left) = e.refcount.checked_sub(n) else {
                    return Ok(Err(Unsound));
                };
                if fpstore::write_entry(store, off, e.fingerprint.as_slice(), left).is_err() {
                    return Ok(Err(Unsound));
                }
                if left == 0 {
                    let Some(used) = d.fp_used.checked_sub(1) else {
                        return Ok(Err(Unsound));
                    };
                    d.fp_used = used;
                }
                left == 0
            }
        };
        if frees {
            let map = match bitmaps.entry(l.block_bitmap) {
                BEntry::Occupied(o) => o.into_mut(),
                BEntry::Vacant(v) => {
                    let raw = f.read_block(l.block_bitmap)?;
                    if bitmap_checksum(&raw, g, f.seed, &Crc) != d.block_bitmap_csum {
                        return Ok(Err(Unsound));
                    }
                    v.insert(raw)
                }
            };
            if !bitmap::clear(map, (b - l.first) as usize) {
                return Ok(Err(Unsound));
            }
            d.block_bitmap_csum = bitmap_checksum(map, g, f.seed, &Crc);
            d.free_blocks += 1;
            if d.free_blocks > l.blocks() {
                return Ok(Err(Unsound));
            }
            w.freed_blocks += 1;
        }
        descs.insert(g, d);
    }
    // Released inodes: their bits cleared.
    for (ino, i, released) in &p.inodes {
        if !released {
            continue;
        }
        let Ok(g) = geo.group_of_ino(*ino) else {
            return Ok(Err(Unsound));
        };
        let Ok(l) = geo.group(g) else {
            return Ok(Err(Unsound));
        };
        let Some(mut d) = desc_of(f, &mut descs, g)? else {
            return Ok(Err(Unsound));
        };
        if d.flags & BG_INODE_UNINIT != 0 || d.inode_bitmap != l.inode_bitmap {
            return Ok(Err(Unsound));
        }
        let map = match bitmaps.entry(l.inode_bitmap) {
            BEntry::Occupied(o) => o.into_mut(),
            BEntry::Vacant(v) => {
                let raw = f.read_block(l.inode_bitmap)?;
                if bitmap_checksum(&raw[..ipg / 8], g, f.seed, &Crc) != d.inode_bitmap_csum {
                    return Ok(Err(Unsound));
                }
                v.insert(raw)
            }
        };
        let idx = ((*ino - 1) % geo.inodes_per_group) as usize;
        if !bitmap::clear(map, idx) {
            return Ok(Err(Unsound));
        }
        d.inode_bitmap_csum = bitmap_checksum(&map[..ipg / 8], g, f.seed, &Crc);
        d.free_inodes += 1;
        if d.free_inodes > geo.inodes_per_group {
            return Ok(Err(Unsound));
        }
        if i.mode & S_IFMT == S_IFDIR {
            let Some(dirs) = d.used_dirs.checked_sub(1) else {
                return Ok(Err(Unsound));
            };
            d.used_dirs = dirs;
        }
        descs.insert(g, d);
        w.freed_inodes += 1;
    }
    for (sblk, (g, j, mut raw)) in stores {
        if fpstore::set_checksum(&mut raw, g, j, f.seed, &Crc).is_err() {
            return Ok(Err(Unsound));
        }
        w.blocks.push((sblk, raw));
    }
    w.blocks.extend(bitmaps);
    w.blocks.sort_unstable_by_key(|(b, _)| *b);
    w.descs = descs.into_iter().collect();
    Ok(Ok(w))
}

/// Group `g`'s descriptor as on disk, if it verifies (checksum, fields).
fn desc_of(f: &Fsck, descs: &mut BTreeMap<u32, GroupDesc>, g: u32) -> R<Option<GroupDesc>> {
    if let Some(d) = descs.get(&g) {
        return Ok(Some(*d));
    }
    let Ok((blk, off)) = f.geo.desc_location(g) else {
        return Ok(None);
    };
    let raw = f.read_block(blk)?;
    let Some(bytes) = raw.get(off..off + DESC_SIZE as usize) else {
        return Ok(None);
    };
    match GroupDesc::decode(bytes, g, f.seed, &Crc) {
        Ok(d) if d.validate(&f.geo, g).is_ok() => {
            descs.insert(g, d);
            Ok(Some(d))
        }
        _ => Ok(None),
    }
}
