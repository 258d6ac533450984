//! Pass 3: connectivity. The root must be a directory (a new, empty one is
//! made otherwise, before pass 2 reads the tree); every directory must be
//! reachable from it through the entries pass 2 found, with its '..'
//! naming that parent; directories that are not (unconnected, or in a
//! cycle) are reconnected to /lost+found as "#ino", which is made if
//! missing.

use std::collections::HashSet;

use livedfs_format::dirent::{self, FT_DIR};
use livedfs_format::{FIRST_INO, LOST_FOUND_INO, ROOT_INO};

use crate::ctx::{Fsck, R};
use crate::pass2;
use crate::problem::{PCtx, P};

/// Before pass 2: the root directory exists.
pub fn check_root(f: &mut Fsck) -> R<()> {
    let ok = f.inodes.get(&ROOT_INO).is_some_and(|r| r.is_dir())
        && f.dir_blocks.get(&ROOT_INO).is_some_and(|v| !v.is_empty());
    if ok {
        return Ok(());
    }
    if f.fix(
        P::ROOT_BAD,
        PCtx::new().s("missing, not in use or not a directory"),
    )? {
        f.inodes.remove(&ROOT_INO);
        f.dir_blocks.remove(&ROOT_INO);
        if pass2::make_dir(f, ROOT_INO, ROOT_INO, 0o755)?.is_none() {
            f.say("No free block for the root directory");
        }
    }
    Ok(())
}

/// Finds /lost+found, making it if missing; 0 if there is none.
pub fn lost_found(f: &mut Fsck, create: bool) -> R<u32> {
    let blocks = f.dir_blocks.get(&ROOT_INO).cloned().unwrap_or_default();
    for b in blocks {
        if b == 0 {
            continue;
        }
        let data = f.read_block(b)?;
        for e in dirent::entries(&data).flatten() {
            if e.ino != 0
                && e.name == b"lost+found"
                && f.inodes.get(&e.ino).is_some_and(|r| r.is_dir())
            {
                return Ok(e.ino);
            }
        }
    }
    if !create || !f.fix(P::LOST_FOUND_MISSING, PCtx::new())? {
        return Ok(0);
    }
    // The inode mkfs uses, if free; else the first free one.
    let ino = if !f.inodes.contains_key(&LOST_FOUND_INO) {
        LOST_FOUND_INO
    } else {
        match (FIRST_INO..=f.geo.inodes_count.min(FIRST_INO + 1_000_000))
            .find(|i| !f.inodes.contains_key(i))
        {
            Some(i) => i,
            None => return Ok(0),
        }
    };
    pass2::remove_entry_named(f, ROOT_INO, b"lost+found")?;
    if pass2::make_dir(f, ino, ROOT_INO, 0o700)?.is_none() {
        return Ok(0);
    }
    if !pass2::add_entry(f, ROOT_INO, b"lost+found", ino, FT_DIR)? {
        return Ok(0);
    }
    if let Some(r) = f.inodes.get_mut(&ino) {
        r.refs += 1;
    }
    Ok(ino)
}

/// Connects `ino` to /lost+found as "#ino".
pub fn reconnect(f: &mut Fsck, lf: u32, ino: u32) -> R<bool> {
    if lf == 0 {
        f.fix(P::NO_ROOM_LOST_FOUND, PCtx::new().ino(ino))?;
        return Ok(false);
    }
    let ft = f
        .inodes
        .get(&ino)
        .map_or(0, |r| dirent::file_type_of_mode(r.mode));
    let name = format!("#{ino}");
    if !pass2::add_entry(f, lf, name.as_bytes(), ino, ft)? {
        f.fix(P::NO_ROOM_LOST_FOUND, PCtx::new().ino(ino))?;
        return Ok(false);
    }
    if let Some(r) = f.inodes.get_mut(&ino) {
        r.refs += 1;
    }
    Ok(true)
}

/// Runs pass 3.
pub fn run(f: &mut Fsck) -> R<()> {
    if !f.inodes.get(&ROOT_INO).is_some_and(|r| r.is_dir()) {
        return Ok(()); // no root (answered no): nothing to connect to
    }
    if let Some(r) = f.inodes.get_mut(&ROOT_INO) {
        r.parent = ROOT_INO;
    }
    let mut lf = lost_found(f, true)?;
    let mut dirs: Vec<u32> = f
        .inodes
        .iter()
        .filter(|(_, r)| r.is_dir())
        .map(|(&i, _)| i)
        .collect();
    dirs.sort_unstable();
    let mut reached: HashSet<u32> = HashSet::new();
    reached.insert(ROOT_INO);
    let total = dirs.len() as u64;
    for (k, &d) in dirs.iter().enumerate() {
        f.check_cancel()?;
        f.progress.update(3, k as u64, total);
        // Follow the parents up to the root or to a directory already
        // known to reach it; a cycle or a dead end means unconnected.
        let mut path = Vec::new();
        let mut seen = HashSet::new();
        let mut cur = d;
        let connected = loop {
            if reached.contains(&cur) {
                break true;
            }
            if !seen.insert(cur) {
                break false;
            }
            path.push(cur);
            match f.inodes.get(&cur).map(|r| r.parent) {
                Some(p) if p != 0 => cur = p,
                _ => break false,
            }
        };
        if connected {
            reached.extend(path);
            continue;
        }
        let old = f.inodes.get(&d).map_or(0, |r| r.parent);
        if !f.fix(P::DIR_UNCONNECTED, PCtx::new().ino(d).n(u64::from(old)))? {
            continue;
        }
        if lf == 0 {
            lf = lost_found(f, true)?;
        }
        if old != 0 && pass2::remove_entry(f, old, d)? {
            if let Some(r) = f.inodes.get_mut(&d) {
                r.refs = r.refs.saturating_sub(1);
            }
        }
        if reconnect(f, lf, d)? {
            if let Some(r) = f.inodes.get_mut(&d) {
                r.parent = lf;
            }
            reached.extend(path);
        }
    }
    // '..' of every directory names its parent.
    for &d in &dirs {
        let Some(r) = f.inodes.get(&d).cloned() else {
            continue;
        };
        let want = if d == ROOT_INO { ROOT_INO } else { r.parent };
        if want == 0 || r.dotdot == want {
            continue;
        }
        if f.fix(
            P::DOTDOT_WRONG,
            PCtx::new().ino(d).n(u64::from(r.dotdot)).m(u64::from(want)),
        )? {
            pass2::set_dotdot(f, d, want)?;
            if let Some(o) = f.inodes.get_mut(&r.dotdot) {
                o.refs = o.refs.saturating_sub(1);
            }
            if let Some(p) = f.inodes.get_mut(&want) {
                p.refs += 1;
            }
            if let Some(x) = f.inodes.get_mut(&d) {
                x.dotdot = want;
            }
        }
    }
    Ok(())
}
