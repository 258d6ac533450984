//! Pass 1: every inode of every group — in use per the inode bitmap (or
//! plainly live although its bit is clear) — is decoded, checksummed and
//! validated, and its block map walked: each pointer checked and claimed
//! (metadata once; regular-file data any number of times, counted for the
//! refcounts of pass 6). Orphans are finished here, as the kernel does at
//! mount. Pass 1b then resolves blocks claimed twice where sharing is not
//! allowed: the first claimer keeps the block, a later directory, symlink
//! or data claim gets a copy (e2fsck's clone), a later indirect claim is
//! cleared. Finally each inode's `blocks` and size are checked against
//! what its map holds.

use std::collections::{HashMap, HashSet};

use livedfs_format::bitmap;
use livedfs_format::group::BG_INODE_UNINIT;
use livedfs_format::inode::{
    Inode, FL_KNOWN, N_BLOCKS, QIND_BLOCK, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT,
    S_IFREG, S_IFSOCK,
};
use livedfs_format::{FIRST_INO, ROOT_INO};

use crate::crc::Crc;
use crate::ctx::{Abort, BitVec, Fsck, InodeRec, R};
use crate::map::{self, Kind, Loc, Mode, Occ, Walk};
use crate::problem::{PCtx, P};

/// Runs pass 1 (and 1b). `orphans`: (inode, links) from the orphan list.
pub fn run(f: &mut Fsck, orphans: &[(u32, u32)]) -> R<()> {
    let n = u64::from(f.geo.blocks_count);
    f.claims.meta = BitVec::new(n);
    f.claims.data = BitVec::new(n);
    let orphan: HashMap<u32, u32> = orphans.iter().copied().collect();
    let ipg = f.geo.inodes_per_group;
    let ipb = f.geo.inodes_per_block;
    let isz = f.geo.inode_size as usize;
    let groups = f.geo.group_count;
    for g in 0..groups {
        f.check_cancel()?;
        f.progress.update(1, u64::from(g), u64::from(groups));
        let d = f.descs[g as usize];
        if d.flags & BG_INODE_UNINIT != 0 {
            continue;
        }
        let l = f.geo.group(g).map_err(|e| Abort::Op(e.to_string()))?;
        let imap = f.read_block(l.inode_bitmap)?;
        let limit = ipg.saturating_sub(d.itable_unused);
        // The written part of the table, read at once.
        let nblocks = limit.div_ceil(ipb);
        let table = if nblocks > 0 {
            f.dev.read_blocks(u64::from(l.inode_table), nblocks)?
        } else {
            Vec::new()
        };
        for idx in 0..ipg {
            let ino = g * ipg + idx + 1;
            let bit = bitmap::test(&imap, idx as usize);
            if ino < FIRST_INO && ino != ROOT_INO {
                continue; // reserved: nothing to check
            }
            if idx >= limit {
                if !bit {
                    continue;
                }
                // In use past the high-water mark: believe it only if the
                // inode is really there.
                let raw = f.read_inode_raw(ino)?;
                let live = Inode::decode(&raw, ino, f.seed, &Crc)
                    .ok()
                    .filter(|i| i.mode != 0 && i.dtime == 0 && i.validate(&f.geo).is_ok());
                if live.is_some() && f.fix(P::INODE_UNINIT_USED, PCtx::new().ino(ino).grp(g))? {
                    let dm = &mut f.descs[g as usize];
                    dm.itable_unused = ipg - idx - 1;
                    f.desc_changed(g);
                    check_inode(f, ino, &raw, true, orphan.get(&ino).copied())?;
                }
                continue;
            }
            let at = idx as usize * isz;
            let raw = table[at..at + isz].to_vec();
            check_inode(f, ino, &raw, bit, orphan.get(&ino).copied())?;
        }
    }
    // The orphan list is finished.
    if f.rw() && !orphans.is_empty() {
        f.sb.orphan_head = 0;
        f.sb_dirty = true;
    }
    pass1b(f)?;
    crate::xattr::check_refcounts(f)?;
    check_counts(f)?;
    Ok(())
}

fn type_ok(mode: u16) -> bool {
    matches!(
        mode & S_IFMT,
        S_IFREG | S_IFDIR | S_IFLNK | S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK
    )
}

/// Frees an inode in memory and on disk (its blocks are simply not
/// claimed: passes 5 and 6 release them).
fn release(f: &mut Fsck, ino: u32, mut i: Inode) -> R<()> {
    i.links_count = 0;
    i.dtime = f.now.max(1);
    i.size = 0;
    i.blocks = 0;
    i.block = [0; N_BLOCKS];
    i.xattr_block = 0;
    i.next_orphan = 0;
    f.write_inode(ino, &i)
}

/// Checks one inode.
fn check_inode(f: &mut Fsck, ino: u32, raw: &[u8], bit: bool, orphan: Option<u32>) -> R<()> {
    let Ok(mut i) = Inode::decode_fields(raw) else {
        return Ok(());
    };
    let csum_ok = Inode::decode(raw, ino, f.seed, &Crc).is_ok();
    let live = i.mode != 0 && i.dtime == 0 && (i.links_count > 0 || orphan.is_some());
    if !bit {
        // Free per the bitmap: ignored unless plainly live (a bitmap bit
        // lost must not lose a file: pass 5 sets it again).
        if !(csum_ok && live && i.validate(&f.geo).is_ok()) {
            return Ok(());
        }
    }
    if ino == ROOT_INO && (i.mode == 0 || i.mode & S_IFMT != S_IFDIR) {
        return Ok(()); // pass 3 makes a new root
    }
    if i.mode == 0 {
        f.fix(P::INODE_DELETED_IN_USE, PCtx::new().ino(ino).s("mode is 0"))?;
        return Ok(());
    }
    let mut dirty = false;
    if !type_ok(i.mode) {
        if f.fix(P::INODE_BAD, PCtx::new().ino(ino).s("unknown file type"))? {
            release(f, ino, i)?;
        }
        return Ok(());
    }
    if !csum_ok {
        // Plausible fields: the checksum is what's wrong. Else the inode
        // is garbage.
        let sane = i.validate(&f.geo).is_ok() && i.flags & !FL_KNOWN == 0;
        if sane {
            if f.fix(P::INODE_CSUM, PCtx::new().ino(ino))? {
                dirty = true;
            }
        } else {
            if f.fix(
                P::INODE_BAD,
                PCtx::new().ino(ino).s("bad checksum and invalid fields"),
            )? {
                release(f, ino, i)?;
                return Ok(());
            }
            return Ok(());
        }
    }
    if i.dtime != 0 {
        if i.links_count > 0 {
            if f.fix(P::INODE_DTIME, PCtx::new().ino(ino))? {
                i.dtime = 0;
                dirty = true;
            }
        } else if orphan.is_none() {
            f.fix(
                P::INODE_DELETED_IN_USE,
                PCtx::new().ino(ino).s("deleted (dtime set, no links)"),
            )?;
            return Ok(());
        }
    }
    // Field checks (Inode::validate, one by one, each with its repair).
    for (what, t) in [
        ("atime_nsec", &mut i.atime),
        ("mtime_nsec", &mut i.mtime),
        ("ctime_nsec", &mut i.ctime),
        ("crtime_nsec", &mut i.crtime),
    ] {
        if t.nsec >= 1_000_000_000 {
            let v = u64::from(t.nsec);
            if f.fix(P::INODE_BAD_FIELD, PCtx::new().ino(ino).s(what).n(v))? {
                t.nsec = 0;
                dirty = true;
            }
        }
    }
    if i.flags & !FL_KNOWN != 0 {
        let v = u64::from(i.flags);
        if f.fix(P::INODE_BAD_FIELD, PCtx::new().ino(ino).s("flags").n(v))? {
            i.flags &= FL_KNOWN;
            dirty = true;
        }
    }
    if i.prealloc != 0
        && (i.mode & S_IFMT != S_IFREG || u64::from(i.prealloc) > u64::from(f.geo.blocks_count))
    {
        let v = u64::from(i.prealloc);
        if f.fix(P::INODE_BAD_FIELD, PCtx::new().ino(ino).s("prealloc").n(v))? {
            i.prealloc = 0;
            dirty = true;
        }
    }
    f.stats.prealloc = f.stats.prealloc.saturating_add(u64::from(i.prealloc));
    let qind = i.block[QIND_BLOCK];
    if qind != 0 && !(i.mode & S_IFMT == S_IFREG && f.geo.huge_file) {
        // Not followed (no regular file of a huge_file volume): what it
        // maps is no file's, and pass 5 frees it.
        let what = "quadruple-indirect pointer (only regular files with huge_file)";
        if f.fix(
            P::INODE_BAD_FIELD,
            PCtx::new().ino(ino).s(what).n(u64::from(qind)),
        )? {
            i.block[QIND_BLOCK] = 0;
            dirty = true;
        }
    }
    if i.size > f.geo.max_file_size() {
        if f.fix(
            P::INODE_BAD,
            PCtx::new().ino(ino).s("size beyond the largest file"),
        )? {
            release(f, ino, i)?;
        }
        return Ok(());
    }
    let bs = u64::from(f.geo.block_size);
    let ft = i.mode & S_IFMT;
    if ft == S_IFLNK && (i.size == 0 || i.size >= bs) {
        if f.fix(
            P::SYMLINK_BAD,
            PCtx::new().ino(ino).s(format!("size {}", i.size)),
        )? {
            release(f, ino, i)?;
        }
        return Ok(());
    }
    // Orphans (with writes allowed): finished as the kernel would.
    let mut trunc_from = None;
    if let Some(links) = orphan {
        if f.rw() {
            if links == 0 {
                if f.fix(P::ORPHAN_RELEASE, PCtx::new().ino(ino))? {
                    release(f, ino, i)?;
                    return Ok(());
                }
            } else if f.fix(P::ORPHAN_TRUNCATE, PCtx::new().ino(ino).n(i.size))? {
                trunc_from = Some(i.size.div_ceil(bs));
                i.next_orphan = 0;
                dirty = true;
            }
        } else {
            f.say(&format!(
                "Inode {ino} is on the orphan list ({}): the kernel finishes it at mount",
                if links == 0 {
                    "unlinked while open"
                } else {
                    "truncation in progress"
                }
            ));
        }
    }
    // The attribute block: checked (and claimed) here, counted in blocks.
    let attr = crate::xattr::check_inode(f, ino, &mut i, &mut dirty)?;
    let mut unwritten = 0;
    let mut rec = InodeRec {
        mode: i.mode,
        links: i.links_count,
        generation: i.generation,
        size: i.size,
        orphan: orphan.is_some(),
        disk_blocks: i.blocks,
        counted_blocks: attr,
        ..InodeRec::default()
    };
    match ft {
        S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK => {
            f.stats.special += 1;
            let from = if matches!(ft, S_IFCHR | S_IFBLK) {
                2
            } else {
                0
            };
            if i.block[from..].iter().any(|&w| w != 0)
                && f.fix(P::SPECIAL_BLOCKS, PCtx::new().ino(ino))?
            {
                for w in &mut i.block[from..] {
                    *w = 0;
                }
                dirty = true;
            }
        }
        S_IFLNK if i.is_fast_symlink() => {
            f.stats.symlinks += 1;
        }
        _ => {
            let kind = if ft == S_IFREG { Kind::Reg } else { Kind::Meta };
            match ft {
                S_IFREG => f.stats.regular += 1,
                S_IFDIR => f.stats.dirs += 1,
                _ => f.stats.symlinks += 1,
            }
            let mut w = Walk::new(ino, kind, Mode::Claim);
            w.trunc_from = trunc_from;
            if ft == S_IFDIR {
                w.dir_limit = Some(i.size / bs);
            }
            if ft == S_IFLNK {
                // A slow symlink has exactly one block.
                w.trunc_from = Some(1);
            }
            map::walk(f, &mut i, &mut w)?;
            if w.changed {
                dirty = true;
            }
            if trunc_from.is_some() && i.blocks != w.count + attr {
                // The truncation's own count, not a problem of its own.
                i.blocks = w.count + attr;
                rec.disk_blocks = i.blocks;
                dirty = true;
            }
            rec.counted_blocks = w.count + attr;
            rec.last_fb = w.last_fb;
            // Preallocated blocks hold space the file asked for: not empty.
            unwritten = w.unwritten;
            if ft == S_IFLNK && w.count == 0 {
                if f.fix(P::SYMLINK_BAD, PCtx::new().ino(ino).s("no block"))? {
                    release(f, ino, i)?;
                }
                return Ok(());
            }
            if ft == S_IFDIR {
                // The blocks up to the last one mapped (at least one):
                // holes among them are filled in pass 2; a size claiming
                // more is fixed by check_counts (as e2fsck: "i_size is X,
                // should be Y"), never by allocating up to it (a crafted
                // size of 2^40 would mean 2^28 holes).
                let nb = w
                    .dir_list
                    .iter()
                    .map(|&(fb, _)| fb + 1)
                    .max()
                    .unwrap_or(0)
                    .max(1);
                let mut v = vec![0u32; nb as usize];
                for (fb, b) in w.dir_list {
                    v[fb as usize] = b;
                }
                f.dir_blocks.insert(ino, v);
            }
        }
    }
    rec.nonempty = i.size > 0 || rec.counted_blocks > 0 || unwritten > 0;
    if dirty {
        f.write_inode(ino, &i)?;
    }
    f.inodes.insert(ino, rec);
    Ok(())
}

/// Pass 1b: blocks claimed twice.
fn pass1b(f: &mut Fsck) -> R<()> {
    if f.claims.dup.is_empty() {
        return Ok(());
    }
    f.say("Pass 1b: rescanning for blocks claimed more than once");
    let dup: HashSet<u32> = f.claims.dup.clone();
    let mut descended = HashSet::new();
    let mut occ: Vec<Occ> = Vec::new();
    let mut inos: Vec<u32> = f.inodes.keys().copied().collect();
    inos.sort_unstable();
    for &ino in &inos {
        let rec = &f.inodes[&ino];
        let ft = rec.mode & S_IFMT;
        if !matches!(ft, S_IFREG | S_IFDIR | S_IFLNK) {
            continue;
        }
        let raw = f.read_inode_raw(ino)?;
        let Ok(mut i) = Inode::decode_fields(&raw) else {
            continue;
        };
        if i.is_fast_symlink() {
            continue;
        }
        let kind = if ft == S_IFREG { Kind::Reg } else { Kind::Meta };
        let mut w = Walk::new(ino, kind, Mode::Collect(&dup, &mut descended, &mut occ));
        if ft == S_IFLNK {
            w.trunc_from = Some(1);
        }
        map::walk(f, &mut i, &mut w)?;
    }
    // Group by block, in scan order: the first claimer keeps the block.
    let mut by_block: HashMap<u32, Vec<Occ>> = HashMap::new();
    let mut order = Vec::new();
    for o in occ {
        let b = block_of(f, &o)?;
        if !by_block.contains_key(&b) {
            order.push(b);
        }
        by_block.entry(b).or_default().push(o);
    }
    for b in order {
        let list = by_block.remove(&b).unwrap_or_default();
        if f.xattr.map.contains_key(&b) {
            // An attribute block (claimed when its inode was met): every
            // block-map pointer to it is the later claim.
            for o in &list {
                let is_data = o.kind == Kind::Reg && o.level == 0;
                resolve(f, *o, b, "an extended attribute block", is_data)?;
            }
            continue;
        }
        let Some(first) = list.first().copied() else {
            continue;
        };
        let first_is_data = first.kind == Kind::Reg && first.level == 0;
        let owner = format!("inode {}", first.ino);
        for o in list.iter().skip(1) {
            let is_data = o.kind == Kind::Reg && o.level == 0;
            if first_is_data && is_data {
                continue; // data may be shared
            }
            resolve(f, *o, b, &owner, is_data)?;
        }
    }
    Ok(())
}

/// The block an occurrence points to.
fn block_of(f: &Fsck, o: &Occ) -> R<u32> {
    Ok(match o.loc {
        Loc::Inode(i) => {
            let raw = f.read_inode_raw(o.ino)?;
            Inode::decode_fields(&raw).map(|x| x.block[i]).unwrap_or(0)
        }
        Loc::Ind(blk, i) => {
            let d = f.read_block(blk)?;
            u32::from_le_bytes([d[i * 4], d[i * 4 + 1], d[i * 4 + 2], d[i * 4 + 3]])
        }
    })
}

/// Gives a later claimer of `b` its own copy, or clears its pointer.
fn resolve(f: &mut Fsck, o: Occ, b: u32, owner: &str, is_data: bool) -> R<()> {
    let what = match (o.level, o.kind) {
        (0, Kind::Reg) => "data",
        (0, Kind::Meta) => "directory/symlink block",
        _ => "indirect block",
    };
    let raw = f.read_inode_raw(o.ino)?;
    let Ok(mut i) = Inode::decode_fields(&raw) else {
        return Ok(());
    };
    let ctx = PCtx::new()
        .ino(o.ino)
        .n(o.fb)
        .blk(b)
        .s(what)
        .name(owner.as_bytes());
    if o.level > 0 {
        if f.fix(P::PTR_DUP_CLEAR, ctx)? {
            map::set_at(f, &mut i, o.loc, 0)?;
            f.write_inode(o.ino, &i)?;
            if let Some(r) = f.inodes.get_mut(&o.ino) {
                r.counted_blocks = r.counted_blocks.saturating_sub(1);
            }
        }
        return Ok(());
    }
    if !f.fix(P::PTR_DUP, ctx)? {
        return Ok(());
    }
    let g = f.geo.group_of_block(b).unwrap_or(0);
    let Some(nb) = f.alloc_block(g, is_data) else {
        f.say("No free block for the copy: the pointer is cleared instead");
        map::set_at(f, &mut i, o.loc, 0)?;
        f.write_inode(o.ino, &i)?;
        if let Some(r) = f.inodes.get_mut(&o.ino) {
            r.counted_blocks = r.counted_blocks.saturating_sub(1);
        }
        if let Some(v) = f.dir_blocks.get_mut(&o.ino) {
            if let Some(s) = v.get_mut(o.fb as usize) {
                *s = 0;
            }
        }
        return Ok(());
    };
    let content = f.read_block(b)?;
    f.write_block(nb, &content)?;
    map::set_at(f, &mut i, o.loc, nb)?;
    f.write_inode(o.ino, &i)?;
    if let Some(v) = f.dir_blocks.get_mut(&o.ino) {
        if let Some(s) = v.get_mut(o.fb as usize) {
            *s = nb;
        }
    }
    Ok(())
}

/// `blocks` and size of every inode against its map.
fn check_counts(f: &mut Fsck) -> R<()> {
    let bs = u64::from(f.geo.block_size);
    let mut inos: Vec<u32> = f.inodes.keys().copied().collect();
    inos.sort_unstable();
    for ino in inos {
        let rec = f.inodes[&ino].clone();
        let ft = rec.mode & S_IFMT;
        let want_size = match ft {
            S_IFREG => rec
                .last_fb
                .filter(|&l| l * bs >= rec.size)
                .map(|l| (l + 1) * bs),
            S_IFDIR => {
                let n = f.dir_blocks.get(&ino).map_or(0, |v| v.len() as u64);
                Some(n * bs).filter(|&s| s != rec.size)
            }
            _ => None,
        };
        // Devices, FIFOs, sockets and fast symlinks map no block: their
        // count is their attribute block alone.
        let blocks_wrong = rec.counted_blocks != rec.disk_blocks
            && !(ft == S_IFLNK && rec.counted_blocks == 0)
            && !matches!(ft, S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK);
        let special_blocks = matches!(ft, S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK)
            && rec.disk_blocks != rec.counted_blocks;
        if want_size.is_none() && !blocks_wrong && !special_blocks {
            continue;
        }
        let raw = f.read_inode_raw(ino)?;
        let Ok(mut i) = Inode::decode_fields(&raw) else {
            continue;
        };
        let mut dirty = false;
        if blocks_wrong || special_blocks {
            let want = rec.counted_blocks;
            if f.fix(P::INODE_BLOCKS, PCtx::new().ino(ino).n(i.blocks).m(want))? {
                i.blocks = want;
                dirty = true;
            }
        }
        if let Some(s) = want_size {
            if f.fix(P::INODE_SIZE, PCtx::new().ino(ino).n(i.size).m(s))? {
                i.size = s;
                dirty = true;
                if let Some(r) = f.inodes.get_mut(&ino) {
                    r.size = s;
                }
            }
        }
        if dirty {
            f.write_inode(ino, &i)?;
        }
    }
    Ok(())
}
