//! Block-map walking, shared by pass 1 (claim every block, fix bad
//! pointers, finish orphan truncations) and pass 1b (find the owners of
//! blocks claimed twice), and setting a pointer (repairs that allocate).
//!
//! The walk is bounded by the map itself: every indirect block is
//! descended at most once in the whole check (a second claim is a
//! duplicate, resolved by pass 1b, not followed), so a crafted map costs
//! at most one read per block of the volume.

use std::collections::HashSet;

use livedfs_format::inode::{tree_base, Inode, N_DIRECT, UNWRITTEN};
use livedfs_format::superblock::INCOMPAT_UNWRITTEN;

use crate::ctx::{Abort, Fsck, R};
use crate::problem::{PCtx, P};

/// What kind of blocks an inode maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Regular file: deduplicated data, shareable.
    Reg,
    /// Directory or slow symlink: metadata blocks.
    Meta,
}

/// Where a pointer is: in the inode's array, or in an indirect block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    Inode(usize),
    Ind(u32, usize),
}

/// One pointer to a block of interest (pass 1b).
#[derive(Debug, Clone, Copy)]
pub struct Occ {
    pub ino: u32,
    pub fb: u64,
    pub loc: Loc,
    /// 0 for a data/directory block, else the indirect level.
    pub level: u32,
    pub kind: Kind,
}

/// The walk's mode.
pub enum Mode<'a> {
    /// Pass 1: claim, check, fix.
    Claim,
    /// Pass 1b: record the pointers to these blocks; `descended` are the
    /// indirect blocks already followed (once each).
    Collect(&'a HashSet<u32>, &'a mut HashSet<u32>, &'a mut Vec<Occ>),
}

/// One inode's walk.
pub struct Walk<'a> {
    pub ino: u32,
    pub kind: Kind,
    pub mode: Mode<'a>,
    /// Orphan truncation: blocks from this file block on are released.
    pub trunc_from: Option<u64>,
    /// Directories: mapped blocks past this file block are suspicious.
    pub dir_limit: Option<u64>,
    /// Blocks mapped (data and indirect).
    pub count: u64,
    /// Valid `UNWRITTEN` pointers (preallocated, unwritten: no block).
    pub unwritten: u64,
    pub last_fb: Option<u64>,
    /// Directory blocks (file block, block).
    pub dir_list: Vec<(u64, u32)>,
    /// The inode's own array changed.
    pub changed: bool,
}

impl<'a> Walk<'a> {
    pub fn new(ino: u32, kind: Kind, mode: Mode<'a>) -> Self {
        Self {
            ino,
            kind,
            mode,
            trunc_from: None,
            dir_limit: None,
            count: 0,
            unwritten: 0,
            last_fb: None,
            dir_list: Vec::new(),
            changed: false,
        }
    }
}

fn le32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]])
}

/// The inode's indirect slots: (slot, depth, first file block mapped
/// through it), for blocks of `ptrs` pointers. The quadruple-indirect
/// slot is in the list; pass 1 clears it where it may not be used.
pub fn indirect_roots(ptrs: u32) -> [(usize, u32, u64); 4] {
    livedfs_format::inode::TREES.map(|(slot, depth)| (slot, depth as u32, tree_base(ptrs, depth)))
}

/// Walks `inode`'s block map.
pub fn walk(f: &mut Fsck, inode: &mut Inode, w: &mut Walk<'_>) -> R<()> {
    for i in 0..N_DIRECT {
        let ptr = inode.block[i];
        let new = visit_data(f, w, i as u64, ptr, Loc::Inode(i))?;
        if new != ptr {
            inode.block[i] = new;
            w.changed = true;
        }
    }
    for (slot, depth, base) in indirect_roots(f.geo.ptrs_per_block()) {
        let ptr = inode.block[slot];
        if ptr == 0 {
            continue;
        }
        let new = visit_ind(f, w, ptr, depth, base, Loc::Inode(slot))?;
        if new != ptr {
            inode.block[slot] = new;
            w.changed = true;
        }
    }
    Ok(())
}

/// A pointer that may not point where it does: fixed metadata.
fn bad_target(f: &mut Fsck, w: &Walk<'_>, fb: u64, ptr: u32) -> R<Option<bool>> {
    if !f.is_fixed_meta(ptr) {
        return Ok(None);
    }
    if matches!(w.mode, Mode::Collect(..)) {
        return Ok(Some(false));
    }
    let p = if f.in_journal(ptr) {
        P::PTR_JOURNAL
    } else {
        P::PTR_RANGE
    };
    Ok(Some(f.fix(p, PCtx::new().ino(w.ino).n(fb).blk(ptr))?))
}

/// An `UNWRITTEN` data pointer: valid in a regular file of a volume with
/// the feature (no block: not claimed, not counted in `blocks`), cleared
/// by a truncation; anywhere else a problem, fixed by clearing it (it
/// maps nothing, so nothing is lost).
fn visit_unwritten(f: &mut Fsck, w: &mut Walk<'_>, fb: u64) -> R<u32> {
    let problem = if w.kind != Kind::Reg {
        Some((P::PTR_UNWRITTEN_BAD, "in a directory or symlink"))
    } else if !f.sb.has_incompat(INCOMPAT_UNWRITTEN) {
        Some((P::PTR_UNWRITTEN_NO_FEATURE, ""))
    } else {
        None
    };
    if matches!(w.mode, Mode::Collect(..)) {
        return Ok(UNWRITTEN);
    }
    if let Some((p, what)) = problem {
        if f.fix(p, PCtx::new().ino(w.ino).n(fb).s(what))? {
            return Ok(0);
        }
        return Ok(UNWRITTEN);
    }
    if w.trunc_from.is_some_and(|t| fb >= t) {
        return Ok(0);
    }
    w.unwritten += 1;
    f.stats.unwritten += 1;
    Ok(UNWRITTEN)
}

fn visit_data(f: &mut Fsck, w: &mut Walk<'_>, fb: u64, ptr: u32, loc: Loc) -> R<u32> {
    if ptr == 0 {
        return Ok(0);
    }
    if ptr == UNWRITTEN {
        return visit_unwritten(f, w, fb);
    }
    if w.trunc_from.is_some_and(|t| fb >= t) {
        return Ok(0);
    }
    if let Some(limit) = w.dir_limit {
        // A directory block far past the end is a stray pointer (a few
        // past it: the size is what is wrong).
        if fb >= limit.saturating_add(64) {
            if matches!(w.mode, Mode::Collect(..)) {
                return Ok(ptr);
            }
            if f.fix(P::PTR_RANGE, PCtx::new().ino(w.ino).n(fb).blk(ptr))? {
                return Ok(0);
            }
            return Ok(ptr);
        }
        if fb >= limit {
            w.dir_limit = Some(fb + 1);
        }
    }
    match bad_target(f, w, fb, ptr)? {
        Some(true) => return Ok(0),
        Some(false) => return Ok(ptr),
        None => {}
    }
    let b = u64::from(ptr);
    match &mut w.mode {
        Mode::Collect(dup, _, occ) => {
            if dup.contains(&ptr) {
                occ.push(Occ {
                    ino: w.ino,
                    fb,
                    loc,
                    level: 0,
                    kind: w.kind,
                });
            }
        }
        Mode::Claim => match w.kind {
            Kind::Reg => {
                if f.claims.meta.get(b) {
                    f.claims.dup.insert(ptr);
                } else {
                    f.claims.add_data(ptr);
                }
                f.stats.pointers += 1;
            }
            Kind::Meta => {
                if f.claims.meta.get(b) || f.claims.data.get(b) {
                    f.claims.dup.insert(ptr);
                } else {
                    f.claims.meta.set(b);
                }
            }
        },
    }
    if w.kind == Kind::Meta {
        w.dir_list.push((fb, ptr));
    }
    w.count += 1;
    w.last_fb = Some(w.last_fb.map_or(fb, |l| l.max(fb)));
    Ok(ptr)
}

fn visit_ind(f: &mut Fsck, w: &mut Walk<'_>, blk: u32, depth: u32, base: u64, loc: Loc) -> R<u32> {
    let p = u64::from(f.geo.ptrs_per_block());
    let span = p.pow(depth - 1);
    if w.trunc_from.is_some_and(|t| t <= base) {
        return Ok(0);
    }
    if blk == UNWRITTEN {
        // Never a pointer to an indirect block: nothing below to follow.
        if matches!(w.mode, Mode::Collect(..)) {
            return Ok(blk);
        }
        let c = PCtx::new()
            .ino(w.ino)
            .n(base)
            .s("in place of an indirect block");
        return Ok(if f.fix(P::PTR_UNWRITTEN_BAD, c)? {
            0
        } else {
            blk
        });
    }
    match bad_target(f, w, base, blk)? {
        Some(true) => return Ok(0),
        Some(false) => return Ok(blk),
        None => {}
    }
    let b = u64::from(blk);
    match &mut w.mode {
        Mode::Collect(dup, descended, occ) => {
            if dup.contains(&blk) {
                occ.push(Occ {
                    ino: w.ino,
                    fb: base,
                    loc,
                    level: depth,
                    kind: w.kind,
                });
                if !descended.insert(blk) {
                    w.count += 1;
                    return Ok(blk);
                }
            }
        }
        Mode::Claim => {
            if f.claims.meta.get(b) || f.claims.data.get(b) {
                f.claims.dup.insert(blk);
                w.count += 1;
                return Ok(blk);
            }
            f.claims.meta.set(b);
        }
    }
    w.count += 1;
    let mut data = f.read_block(blk)?;
    if depth > 1 {
        // The indirect blocks below, read ahead together (the walk reads
        // them one at a time, in file order, which on a cold cache is a
        // wait per block).
        let mut next: Vec<u64> = (0..p as usize)
            .map(|i| u64::from(le32(&data, i)))
            .filter(|&c| c != 0 && f.geo.is_data_block(c as u32))
            .collect();
        f.dev.will_need_each(&mut next);
    }
    let mut changed = false;
    let mut nonzero = 0u64;
    for i in 0..p as usize {
        let ptr = le32(&data, i);
        if ptr == 0 {
            continue;
        }
        let cbase = base + i as u64 * span;
        let new = if depth == 1 {
            visit_data(f, w, cbase, ptr, Loc::Ind(blk, i))?
        } else {
            visit_ind(f, w, ptr, depth - 1, cbase, Loc::Ind(blk, i))?
        };
        if new != ptr {
            data[i * 4..i * 4 + 4].copy_from_slice(&new.to_le_bytes());
            changed = true;
        }
        if new != 0 {
            nonzero += 1;
        }
    }
    if changed && f.rw() && matches!(w.mode, Mode::Claim) {
        f.write_block(blk, &data)?;
    }
    if nonzero == 0 && w.trunc_from.is_some() && matches!(w.mode, Mode::Claim) {
        // Emptied by the truncation: released, as the kernel does.
        f.claims.meta.clear(b);
        w.count -= 1;
        return Ok(0);
    }
    Ok(blk)
}

/// Sets the pointer at `loc` of inode `ino` (whose in-memory copy is
/// `inode`) to `b`.
pub fn set_at(f: &mut Fsck, inode: &mut Inode, loc: Loc, b: u32) -> R<()> {
    match loc {
        Loc::Inode(i) => {
            inode.block[i] = b;
            Ok(())
        }
        Loc::Ind(blk, i) => {
            let mut data = f.read_block(blk)?;
            data[i * 4..i * 4 + 4].copy_from_slice(&b.to_le_bytes());
            f.write_block(blk, &data)
        }
    }
}

/// Maps file block `fb` of `inode` to `b`, allocating missing indirect
/// blocks near `near` (claimed as metadata); returns the number of
/// indirect blocks allocated. The caller writes the inode.
pub fn set_block(f: &mut Fsck, inode: &mut Inode, fb: u64, b: u32, near: u32) -> R<u64> {
    let path = livedfs_format::inode::block_path(f.geo.ptrs_per_block(), fb)
        .ok_or_else(|| Abort::Op(format!("file block {fb} past the largest file")))?;
    let mut added = 0;
    if path.depth == 0 {
        inode.block[path.offsets[0] as usize] = b;
        return Ok(0);
    }
    let mut cur = inode.block[path.offsets[0] as usize];
    if cur == 0 {
        cur = new_indirect(f, near)?;
        added += 1;
        inode.block[path.offsets[0] as usize] = cur;
    }
    for level in 1..=path.depth {
        let idx = path.offsets[level] as usize;
        let mut data = f.read_block(cur)?;
        if level == path.depth {
            data[idx * 4..idx * 4 + 4].copy_from_slice(&b.to_le_bytes());
            f.write_block(cur, &data)?;
            break;
        }
        let mut next = le32(&data, idx);
        if next == 0 {
            next = new_indirect(f, near)?;
            added += 1;
            data[idx * 4..idx * 4 + 4].copy_from_slice(&next.to_le_bytes());
            f.write_block(cur, &data)?;
        }
        cur = next;
    }
    Ok(added)
}

fn new_indirect(f: &mut Fsck, near: u32) -> R<u32> {
    let g = f.geo.group_of_block(near).unwrap_or(0);
    let nb = f
        .alloc_block(g, false)
        .ok_or_else(|| Abort::Op("no free block left for a repair".into()))?;
    let zero = vec![0u8; f.geo.block_size as usize];
    f.write_block(nb, &zero)?;
    Ok(nb)
}
