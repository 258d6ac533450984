//! Pass 2: directories. Every block of every directory is verified
//! (tail, checksum with the directory's inode number and generation,
//! entries well formed); a block whose entries are fine gets its checksum
//! fixed, a malformed one is salvaged (the entries before the damage are
//! kept). The first block must start with '.' and '..'. Each entry must
//! name an inode in use, with the right file type, once per directory; a
//! directory may have one entry naming it (no hard links to directories).
//! Entries are counted for pass 4 and each directory's parent recorded for
//! pass 3.

use std::collections::HashSet;

use livedfs_format::dirent::{self, file_type_of_mode, FT_DIR};
use livedfs_format::inode::{Inode, S_IFDIR};
use livedfs_format::{FIRST_INO, ROOT_INO};

use crate::crc::Crc;
use crate::ctx::{Abort, Fsck, InodeRec, R};
use crate::map;
use crate::problem::{PCtx, P};

/// A live entry, copied out of its block.
#[derive(Debug, Clone)]
struct Ent {
    off: usize,
    ino: u32,
    ft: u8,
    name: Vec<u8>,
}

fn live_entries(block: &[u8]) -> (Vec<Ent>, Option<String>) {
    let mut v = Vec::new();
    for e in dirent::entries(block) {
        match e {
            Ok(e) if e.ino != 0 => v.push(Ent {
                off: e.offset,
                ino: e.ino,
                ft: e.file_type,
                name: e.name.to_vec(),
            }),
            Ok(_) => {}
            Err(err) => return (v, Some(err.to_string())),
        }
    }
    (v, None)
}

/// The entries that can be read from a damaged block, as e2fsck's
/// salvage: an entry with a sane `rec_len` but a bad name length gets the
/// longest name that fits (names are NUL padded); one with a bad
/// `rec_len` is kept if its name is sound, and the scan resumes at the
/// next plausible entry.
fn salvage(block: &[u8]) -> Vec<Ent> {
    let end = block.len() - dirent::TAIL_SIZE;
    let mut v = Vec::new();
    let mut off = 0usize;
    let rd = |o: usize| -> (u32, usize, usize, u8) {
        (
            u32::from_le_bytes([block[o], block[o + 1], block[o + 2], block[o + 3]]),
            usize::from(u16::from_le_bytes([block[o + 4], block[o + 5]])),
            usize::from(block[o + 6]),
            block[o + 7],
        )
    };
    let name_ok = |o: usize, n: usize| -> bool {
        n > 0 && o + 8 + n <= end && dirent::valid_name(&block[o + 8..o + 8 + n])
    };
    while off + dirent::ENTRY_HEADER <= end {
        let (ino, rec, nl, ft) = rd(off);
        let rec_ok = rec >= 8 && rec % 4 == 0 && off + rec <= end;
        if rec_ok {
            if ino != 0 && ft <= dirent::FT_MAX {
                let n = if rec >= dirent::rec_len_for(nl) && name_ok(off, nl) {
                    Some(nl)
                } else {
                    (1..=(rec - 8).min(255)).rev().find(|&n| name_ok(off, n))
                };
                if let Some(n) = n {
                    v.push(Ent {
                        off,
                        ino,
                        ft,
                        name: block[off + 8..off + 8 + n].to_vec(),
                    });
                }
            }
            off += rec;
            continue;
        }
        if ino != 0 && ft <= dirent::FT_MAX && name_ok(off, nl) {
            v.push(Ent {
                off,
                ino,
                ft,
                name: block[off + 8..off + 8 + nl].to_vec(),
            });
            off += dirent::rec_len_for(nl);
        } else {
            off += 4;
        }
        // Resume at the next plausible header.
        while off + dirent::ENTRY_HEADER <= end {
            let (i2, r2, n2, f2) = rd(off);
            if r2 >= 8
                && r2 % 4 == 0
                && off + r2 <= end
                && (i2 == 0 || (f2 <= dirent::FT_MAX && name_ok(off, n2)))
            {
                break;
            }
            off += 4;
        }
    }
    v
}

/// Whether the tail is in place.
fn tail_ok(block: &[u8]) -> bool {
    let t = block.len() - dirent::TAIL_SIZE;
    block[t..t + 4] == [0; 4]
        && u16::from_le_bytes([block[t + 4], block[t + 5]]) as usize == dirent::TAIL_SIZE
        && block[t + 7] == dirent::TAIL_MARK
}

/// Rebuilds a block holding `ents` (those that fit), '.' and '..' first
/// when `first` is `Some((self, parent))`.
fn rebuild(bs: usize, first: Option<(u32, u32)>, ents: &[Ent]) -> (Vec<u8>, Vec<Ent>) {
    let mut b = vec![0u8; bs];
    let ok = match first {
        Some((me, parent)) => dirent::init_first_block(&mut b, me, parent),
        None => dirent::init_block(&mut b),
    };
    if ok.is_err() {
        return (b, ents.to_vec());
    }
    let mut dropped = Vec::new();
    for e in ents {
        let placed = dirent::find_room(&b, e.name.len())
            .ok()
            .flatten()
            .and_then(|at| dirent::insert_at(&mut b, at, e.ino, &e.name, e.ft).ok());
        if placed.is_none() {
            dropped.push(e.clone());
        }
    }
    (b, dropped)
}

/// Writes directory block `b` of directory `ino` with its checksum.
pub fn write_dir_block(f: &mut Fsck, ino: u32, gen: u32, b: u32, data: &mut [u8]) -> R<()> {
    dirent::set_checksum(data, ino, gen, f.seed, &Crc)
        .map_err(|e| Abort::Op(format!("directory {ino}: {e}")))?;
    if f.rw() {
        f.write_block(b, data)?;
    }
    Ok(())
}

/// Allocates and maps a new, empty directory block at file block `fb` of
/// directory `ino` (the first block gets '.' and `parent` as '..').
pub fn new_dir_block(f: &mut Fsck, ino: u32, fb: u64, parent: u32) -> R<Option<u32>> {
    let near = f
        .dir_blocks
        .get(&ino)
        .and_then(|v| v.iter().copied().find(|&b| b != 0));
    let near = near.unwrap_or_else(|| {
        let g = f.geo.group_of_ino(ino).unwrap_or(0);
        f.geo.group(g).map(|l| l.data_start).unwrap_or(0)
    });
    let g = f.geo.group_of_block(near).unwrap_or(0);
    let Some(nb) = f.alloc_block(g, false) else {
        return Ok(None);
    };
    let gen = f.inodes.get(&ino).map_or(0, |r| r.generation);
    let bs = f.geo.block_size as usize;
    let mut data = vec![0u8; bs];
    if fb == 0 {
        dirent::init_first_block(&mut data, ino, parent)
    } else {
        dirent::init_block(&mut data)
    }
    .map_err(|e| Abort::Op(e.to_string()))?;
    write_dir_block(f, ino, gen, nb, &mut data)?;
    let raw = f.read_inode_raw(ino)?;
    let mut i = Inode::decode_fields(&raw).map_err(|e| Abort::Op(e.to_string()))?;
    let added = if f.rw() {
        map::set_block(f, &mut i, fb, nb, near)?
    } else {
        0
    };
    i.blocks += 1 + added;
    let bsz = u64::from(f.geo.block_size);
    i.size = i.size.max((fb + 1) * bsz);
    f.write_inode(ino, &i)?;
    if let Some(r) = f.inodes.get_mut(&ino) {
        r.size = i.size;
        r.counted_blocks = i.blocks;
        r.disk_blocks = i.blocks;
    }
    let v = f.dir_blocks.entry(ino).or_default();
    if v.len() <= fb as usize {
        v.resize(fb as usize + 1, 0);
    }
    v[fb as usize] = nb;
    Ok(Some(nb))
}

/// Adds entry `name` -> `target` to directory `dir`, growing it by a
/// block if no block has room. False if it could not be done.
pub fn add_entry(f: &mut Fsck, dir: u32, name: &[u8], target: u32, ft: u8) -> R<bool> {
    let gen = f.inodes.get(&dir).map_or(0, |r| r.generation);
    let blocks = f.dir_blocks.get(&dir).cloned().unwrap_or_default();
    for &b in &blocks {
        if b == 0 {
            continue;
        }
        let mut data = f.read_block(b)?;
        if let Ok(Some(at)) = dirent::find_room(&data, name.len()) {
            if dirent::insert_at(&mut data, at, target, name, ft).is_ok() {
                write_dir_block(f, dir, gen, b, &mut data)?;
                return Ok(true);
            }
        }
    }
    let fb = blocks.len() as u64;
    let Some(nb) = new_dir_block(f, dir, fb, dir)? else {
        return Ok(false);
    };
    let mut data = f.read_block(nb)?;
    if !f.rw() {
        return Ok(true);
    }
    let at = dirent::find_room(&data, name.len())
        .ok()
        .flatten()
        .unwrap_or(0);
    dirent::insert_at(&mut data, at, target, name, ft).map_err(|e| Abort::Op(e.to_string()))?;
    write_dir_block(f, dir, gen, nb, &mut data)?;
    Ok(true)
}

/// Removes the live entry of `dir` naming `target` (not '.' or '..').
pub fn remove_entry(f: &mut Fsck, dir: u32, target: u32) -> R<bool> {
    let gen = f.inodes.get(&dir).map_or(0, |r| r.generation);
    let blocks = f.dir_blocks.get(&dir).cloned().unwrap_or_default();
    for b in blocks {
        if b == 0 {
            continue;
        }
        let mut data = f.read_block(b)?;
        let (ents, _) = live_entries(&data);
        if let Some(e) = ents
            .iter()
            .find(|e| e.ino == target && e.name != b"." && e.name != b"..")
        {
            if dirent::remove_at(&mut data, e.off).is_ok() {
                write_dir_block(f, dir, gen, b, &mut data)?;
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Sets the '..' entry of directory `dir` (the second entry of its first
/// block) to `parent`.
pub fn set_dotdot(f: &mut Fsck, dir: u32, parent: u32) -> R<()> {
    let gen = f.inodes.get(&dir).map_or(0, |r| r.generation);
    let Some(&b) = f.dir_blocks.get(&dir).and_then(|v| v.first()) else {
        return Ok(());
    };
    if b == 0 {
        return Ok(());
    }
    let mut data = f.read_block(b)?;
    let (ents, _) = live_entries(&data);
    if let Some(e) = ents.iter().find(|e| e.name == b"..") {
        data[e.off..e.off + 4].copy_from_slice(&parent.to_le_bytes());
        write_dir_block(f, dir, gen, b, &mut data)?;
    }
    Ok(())
}

/// Runs pass 2.
pub fn run(f: &mut Fsck) -> R<()> {
    let mut dirs: Vec<u32> = f.dir_blocks.keys().copied().collect();
    dirs.sort_unstable();
    let total = dirs.len() as u64;
    for (k, dir) in dirs.into_iter().enumerate() {
        f.check_cancel()?;
        f.progress.update(2, k as u64, total);
        check_dir(f, dir)?;
    }
    Ok(())
}

fn check_dir(f: &mut Fsck, dir: u32) -> R<()> {
    let bs = f.geo.block_size as usize;
    let gen = f.inodes.get(&dir).map_or(0, |r| r.generation);
    let mut names: HashSet<Vec<u8>> = HashSet::new();
    let nblocks = f.dir_blocks.get(&dir).map_or(0, Vec::len);
    for fb in 0..nblocks {
        let mut b = f.dir_blocks[&dir][fb];
        if b == 0 {
            if !f.fix(P::DIR_HOLE, PCtx::new().ino(dir).n(fb as u64))? {
                continue;
            }
            match new_dir_block(f, dir, fb as u64, dir)? {
                Some(nb) => b = nb,
                None => {
                    f.say("No free block left to fill the hole");
                    continue;
                }
            }
            if !f.rw() {
                continue;
            }
        }
        let mut data = f.read_block(b)?;
        let mut dirty = false;
        let (mut ents, parse_err) = live_entries(&data);
        let verified = dirent::verify_block(&data, dir, gen, f.seed, &Crc);
        if verified.is_err() {
            if parse_err.is_none() && tail_ok(&data) {
                if f.fix(P::DIR_CSUM, PCtx::new().ino(dir).n(fb as u64).blk(b))? {
                    dirty = true;
                }
            } else {
                let why = parse_err
                    .clone()
                    .unwrap_or_else(|| "missing checksum tail".into());
                if f.fix(
                    P::DIR_CORRUPT,
                    PCtx::new().ino(dir).n(fb as u64).blk(b).s(why),
                )? {
                    let (nb, _) = rebuild(bs, None, &salvage(&data));
                    data = nb;
                    ents = live_entries(&data).0;
                    dirty = true;
                } else {
                    // Unusable: count what can be read, change nothing.
                }
            }
        }
        // '.' and '..' lead the first block.
        let mut skip_dots = 0;
        if fb == 0 {
            let dot_ok = ents
                .first()
                .is_some_and(|e| e.name == b"." && e.ino == dir && e.off == 0);
            let dotdot_ok = ents.get(1).is_some_and(|e| e.name == b"..");
            if dot_ok && dotdot_ok {
                skip_dots = 2;
            } else if f.fix(P::DIR_NO_DOT, PCtx::new().ino(dir))? {
                let parent = ents.iter().find(|e| e.name == b"..").map_or(dir, |e| e.ino);
                let rest: Vec<Ent> = ents
                    .iter()
                    .filter(|e| e.name != b"." && e.name != b"..")
                    .cloned()
                    .collect();
                let (nb, _dropped) = rebuild(bs, Some((dir, parent)), &rest);
                data = nb;
                ents = live_entries(&data).0;
                dirty = true;
                skip_dots = 2;
            }
            if skip_dots == 2 {
                names.insert(b".".to_vec());
                names.insert(b"..".to_vec());
                if let Some(r) = f.inodes.get_mut(&dir) {
                    r.refs += 1; // '.'
                }
                let dd = ents[1].ino;
                let valid = f.geo.valid_ino(dd)
                    && (dd == ROOT_INO || dd >= FIRST_INO)
                    && f.inodes.get(&dd).is_some_and(InodeRec::is_dir);
                if let Some(r) = f.inodes.get_mut(&dir) {
                    r.dotdot = if valid { dd } else { 0 };
                }
                if valid {
                    if let Some(r) = f.inodes.get_mut(&dd) {
                        r.refs += 1;
                    }
                }
            }
        }
        // The other entries.
        let mut remove = Vec::new();
        for e in ents.iter().skip(skip_dots) {
            let c = || PCtx::new().name(&e.name).dir(dir).ino(e.ino);
            if e.name == b"." || e.name == b".." {
                if f.fix(P::DIR_ENTRY_DOT, c())? {
                    remove.push(e.off);
                }
                continue;
            }
            if !f.geo.valid_ino(e.ino) || (e.ino < FIRST_INO && e.ino != ROOT_INO) {
                if f.fix(P::DIR_ENTRY_BAD_INO, c().s("out of range or reserved"))? {
                    remove.push(e.off);
                }
                continue;
            }
            let Some(rec) = f.inodes.get(&e.ino).cloned() else {
                if f.fix(P::DIR_ENTRY_FREE_INO, c())? {
                    remove.push(e.off);
                }
                continue;
            };
            if e.ino == ROOT_INO {
                if f.fix(P::DIR_ROOT_LINK, c())? {
                    remove.push(e.off);
                }
                continue;
            }
            if !names.insert(e.name.clone()) {
                if f.fix(P::DIR_ENTRY_DUP, c())? {
                    remove.push(e.off);
                }
                continue;
            }
            if rec.is_dir()
                && rec.parent != 0
                && f.fix(P::DIR_HARDLINK, c().n(u64::from(rec.parent)))?
            {
                remove.push(e.off);
                continue;
            }
            let want = file_type_of_mode(rec.mode);
            if e.ft != want
                && f.fix(
                    P::DIR_ENTRY_FTYPE,
                    c().n(u64::from(e.ft)).m(u64::from(want)),
                )?
            {
                data[e.off + 7] = want;
                dirty = true;
            }
            if let Some(r) = f.inodes.get_mut(&e.ino) {
                r.refs += 1;
                if r.is_dir() && r.parent == 0 {
                    r.parent = dir;
                }
            }
        }
        remove.sort_unstable();
        for off in remove.into_iter().rev() {
            if dirent::remove_at(&mut data, off).is_ok() {
                dirty = true;
            }
        }
        if dirty {
            write_dir_block(f, dir, gen, b, &mut data)?;
        }
    }
    Ok(())
}

/// A new, empty directory inode `ino` in `parent` (the caller adds the
/// entry); `None` if no block is left.
pub fn make_dir(f: &mut Fsck, ino: u32, parent: u32, perm: u16) -> R<Option<()>> {
    let t = livedfs_format::inode::Timestamp {
        sec: f.now,
        nsec: 0,
    };
    let i = Inode {
        mode: S_IFDIR | perm,
        links_count: 2,
        atime: t,
        mtime: t,
        ctime: t,
        crtime: t,
        ..Inode::default()
    };
    f.write_inode(ino, &i)?;
    f.inodes.insert(
        ino,
        InodeRec {
            mode: i.mode,
            links: 2,
            refs: 0,
            parent,
            dotdot: parent,
            nonempty: true,
            ..InodeRec::default()
        },
    );
    f.dir_blocks.insert(ino, Vec::new());
    if new_dir_block(f, ino, 0, parent)?.is_none() {
        return Ok(None);
    }
    // '.' and '..' count as references.
    if let Some(r) = f.inodes.get_mut(&ino) {
        r.refs += 1;
    }
    if let Some(r) = f.inodes.get_mut(&parent) {
        r.refs += 1;
    }
    let _ = FT_DIR;
    Ok(Some(()))
}

/// Removes the live entry `name` of `dir`, whatever it names.
pub fn remove_entry_named(f: &mut Fsck, dir: u32, name: &[u8]) -> R<bool> {
    let gen = f.inodes.get(&dir).map_or(0, |r| r.generation);
    let blocks = f.dir_blocks.get(&dir).cloned().unwrap_or_default();
    for b in blocks {
        if b == 0 {
            continue;
        }
        let mut data = f.read_block(b)?;
        let (ents, _) = live_entries(&data);
        if let Some(e) = ents.iter().find(|e| e.name == name) {
            let target = e.ino;
            if dirent::remove_at(&mut data, e.off).is_ok() {
                write_dir_block(f, dir, gen, b, &mut data)?;
                if let Some(r) = f.inodes.get_mut(&target) {
                    r.refs = r.refs.saturating_sub(1);
                }
                return Ok(true);
            }
        }
    }
    Ok(false)
}
