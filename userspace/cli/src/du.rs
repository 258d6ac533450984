//! `livedfs du PATH...`: for files and directories on a mounted livedfs
//! volume, the logical size, the blocks mapped, and how much of that is
//! shared (the block's refcount is above 1) or unique, plus how much
//! space the set alone holds (blocks no file outside it references).
//!
//! File blocks are mapped with FS_IOC_FIEMAP, which any user who can open
//! the file may call; the module flags every extent whose blocks have a
//! reference count above one with FIEMAP_EXTENT_SHARED, so shared and
//! unique need nothing else. Modules without FIEMAP fall back to FIBMAP
//! (root only), block by block over the data ranges SEEK_DATA/SEEK_HOLE
//! report.
//!
//! The exclusive figure needs each block's reference count, which only
//! the fingerprint stores on the device hold: it is exact when the device
//! is readable (root, or the `disk` group), read-only. Without it, FIEMAP
//! still bounds it: a block not flagged shared is referenced once, so it
//! is exclusive; a shared block the set references once is referenced
//! elsewhere too, so it is not; only a shared block the set references
//! more than once (its physical address seen twice) may or may not be
//! referenced from outside. The figure is then a range, exact when no
//! such block exists.

use crate::util::{dev_major, dev_minor, human};
use crate::volume::Volume;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// statfs f_type of livedfs ("LDFS").
pub const LIVEDFS_MAGIC: i64 = 0x4C44_4653;
/// FIBMAP.
const FIBMAP: libc::c_ulong = 1;
pub use crate::fiemap::FIEMAP_EXTENT_SHARED;
use crate::fiemap::{FIEMAP_EXTENT_DELALLOC, FIEMAP_EXTENT_UNKNOWN};

/// How the block map was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Fiemap,
    Fibmap,
}

/// Where reference counts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Refcounts {
    /// The fingerprint stores, read from the block device: exact.
    Device,
    /// FIEMAP's SHARED flag only: shared/unique exact, exclusive bounded.
    Fiemap,
}

/// One mapped file block: its disk block and, from FIEMAP, whether the
/// kernel flagged it shared (`None` from FIBMAP, which has no flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blk {
    pub block: u32,
    pub shared: Option<bool>,
}

impl Blk {
    /// A block with FIEMAP's flag.
    pub fn flagged(block: u32, shared: bool) -> Self {
        Self {
            block,
            shared: Some(shared),
        }
    }

    /// A block from FIBMAP (no flag).
    pub fn plain(block: u32) -> Self {
        Self {
            block,
            shared: None,
        }
    }
}

/// Appends the blocks of one FIEMAP extent to `out`.
fn push_extent(out: &mut Vec<Blk>, physical: u64, length: u64, flags: u32, bs: u64) -> Result<()> {
    let first = physical / bs;
    let count = length.div_ceil(bs);
    let shared = flags & FIEMAP_EXTENT_SHARED != 0;
    for i in 0..count {
        let b = u32::try_from(first + i).context("block number past 32 bits")?;
        out.push(Blk::flagged(b, shared));
    }
    Ok(())
}

/// The disk blocks of a file, one per mapped file block, via FIEMAP, each
/// with the extent's SHARED flag. `Ok(None)` when the file system does not
/// implement FIEMAP.
pub fn fiemap_blocks(f: &File, block_size: u64) -> Result<Option<Vec<Blk>>> {
    let Some(extents) = crate::fiemap::extents(f).context("FIEMAP")? else {
        return Ok(None);
    };
    extent_blocks(&extents, block_size).map(Some)
}

/// The disk blocks of FIEMAP's extents (unwritten extents map none: on
/// livedfs a preallocated, unwritten block has no disk block).
pub fn extent_blocks(extents: &[crate::fiemap::Extent], block_size: u64) -> Result<Vec<Blk>> {
    let mut out = Vec::new();
    for e in extents.iter().filter(|e| !e.is_unwritten()) {
        if e.flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC) != 0 {
            bail!("FIEMAP reported an extent without a disk address (data not written back)");
        }
        push_extent(&mut out, e.physical, e.length, e.flags, block_size)?;
    }
    Ok(out)
}

/// Data ranges of a file [start, end) in bytes, from SEEK_DATA/SEEK_HOLE
/// (the whole file when the file system does not support them).
fn data_ranges(f: &File, size: u64) -> Vec<(u64, u64)> {
    let fd = f.as_raw_fd();
    let mut v = Vec::new();
    let mut pos = 0i64;
    while (pos as u64) < size {
        // SAFETY: plain lseek on an open descriptor.
        let d = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if d < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENXIO) {
                break;
            }
            return vec![(0, size)];
        }
        // SAFETY: as above.
        let h = unsafe { libc::lseek(fd, d, libc::SEEK_HOLE) };
        let h = if h < 0 { size as i64 } else { h };
        v.push((d as u64, (h as u64).min(size)));
        pos = h;
    }
    v
}

/// The disk blocks of a file via FIBMAP (one ioctl per block of its data
/// ranges; needs CAP_SYS_RAWIO).
pub fn fibmap_blocks(f: &File, size: u64, block_size: u64) -> Result<Vec<Blk>> {
    let mut out = Vec::new();
    for (s, e) in data_ranges(f, size) {
        for n in s / block_size..e.div_ceil(block_size) {
            let mut blk: libc::c_int =
                libc::c_int::try_from(n).context("file block past FIBMAP's range")?;
            // SAFETY: FIBMAP reads and writes one int, live for the call.
            let r = unsafe { libc::ioctl(f.as_raw_fd(), FIBMAP, &mut blk as *mut libc::c_int) };
            if r != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EPERM) {
                    bail!("FIBMAP needs root (CAP_SYS_RAWIO): run livedfs du as root");
                }
                return Err(e).context("FIBMAP");
            }
            if blk != 0 {
                out.push(Blk::plain(blk as u32));
            }
        }
    }
    Ok(out)
}

/// Space use of a set of files.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Regular files counted (hard links once).
    pub files: u64,
    /// Sum of the files' sizes.
    pub size_bytes: u64,
    /// File blocks mapped to disk blocks (holes and zero blocks excluded).
    pub mapped_blocks: u64,
    /// Of those, blocks whose refcount is above 1 (shared with another
    /// file, or another place in the same file).
    pub shared_blocks: u64,
    /// Of those, blocks referenced only here (refcount 1).
    pub unique_blocks: u64,
    /// Mapped blocks without a fingerprint entry (refcount 0: not yet
    /// committed, or a changed file); always 0 without the device.
    pub unknown_blocks: u64,
    /// Distinct disk blocks the set references.
    pub distinct_blocks: u64,
    /// Distinct disk blocks referenced only from inside the set: the space
    /// deleting the set would free. `None` when it cannot be known
    /// (reference counts unreadable and a shared block referenced more
    /// than once inside the set): see the bounds.
    pub exclusive_blocks: Option<u64>,
    pub block_size: u64,
    pub mapped_bytes: u64,
    pub shared_bytes: u64,
    pub unique_bytes: u64,
    pub exclusive_bytes: Option<u64>,
    /// Bounds of the exclusive figure (equal when it is known).
    pub exclusive_min_blocks: u64,
    pub exclusive_max_blocks: u64,
    pub exclusive_min_bytes: u64,
    pub exclusive_max_bytes: u64,
}

/// Classifies the blocks of a set of files. With `refcount` (the stores
/// on the device), by reference count, exactly; without, by FIEMAP's
/// SHARED flag, the exclusive figure bounded (see the module's text).
pub fn classify(
    files: &[(u64, Vec<Blk>)],
    block_size: u64,
    mut refcount: Option<&mut dyn FnMut(u32) -> Result<u32>>,
) -> Result<Usage> {
    let mut u = Usage {
        files: files.len() as u64,
        block_size,
        ..Usage::default()
    };
    // Per distinct block: references from inside the set, and its
    // refcount (device) or whether FIEMAP flagged it shared.
    let mut refs_here: HashMap<u32, u64> = HashMap::new();
    let mut rc_of: HashMap<u32, u32> = HashMap::new();
    let mut shared_of: HashMap<u32, bool> = HashMap::new();
    for (size, blocks) in files {
        u.size_bytes += size;
        for blk in blocks {
            let b = blk.block;
            u.mapped_blocks += 1;
            *refs_here.entry(b).or_insert(0) += 1;
            match refcount.as_mut() {
                Some(get) => {
                    let rc = match rc_of.get(&b) {
                        Some(&rc) => rc,
                        None => {
                            let rc = get(b)?;
                            rc_of.insert(b, rc);
                            rc
                        }
                    };
                    match rc {
                        0 => u.unknown_blocks += 1,
                        1 => u.unique_blocks += 1,
                        _ => u.shared_blocks += 1,
                    }
                }
                None => {
                    let Some(sh) = blk.shared else {
                        bail!("block {b} has neither a reference count nor a FIEMAP flag");
                    };
                    // Flagged shared once is shared (the flags of two
                    // extents mapping one block agree unless it changed
                    // in between).
                    let e = shared_of.entry(b).or_insert(false);
                    *e |= sh;
                    if sh {
                        u.shared_blocks += 1;
                    } else {
                        u.unique_blocks += 1;
                    }
                }
            }
        }
    }
    u.distinct_blocks = refs_here.len() as u64;
    if refcount.is_some() {
        let n = refs_here
            .iter()
            .filter(|(b, n)| {
                let rc = u64::from(rc_of[b]);
                rc > 0 && rc <= **n
            })
            .count() as u64;
        u.exclusive_min_blocks = n;
        u.exclusive_max_blocks = n;
    } else {
        // Not shared: referenced once, from here. Shared and referenced
        // once here: referenced elsewhere too. Shared and referenced
        // twice or more here: unknown.
        for (b, n) in &refs_here {
            if !shared_of[b] {
                u.exclusive_min_blocks += 1;
                u.exclusive_max_blocks += 1;
            } else if *n >= 2 {
                u.exclusive_max_blocks += 1;
            }
        }
    }
    if u.exclusive_min_blocks == u.exclusive_max_blocks {
        u.exclusive_blocks = Some(u.exclusive_min_blocks);
        u.exclusive_bytes = Some(u.exclusive_min_blocks * block_size);
    }
    u.mapped_bytes = u.mapped_blocks * block_size;
    u.shared_bytes = u.shared_blocks * block_size;
    u.unique_bytes = u.unique_blocks * block_size;
    u.exclusive_min_bytes = u.exclusive_min_blocks * block_size;
    u.exclusive_max_bytes = u.exclusive_max_blocks * block_size;
    Ok(u)
}

/// One argument's result.
#[derive(Debug, Serialize)]
pub struct Entry {
    pub path: PathBuf,
    #[serde(flatten)]
    pub usage: Usage,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct DuReport {
    pub device: String,
    pub method: Method,
    /// Where reference counts came from.
    pub refcounts: Refcounts,
    /// Why the device was not read (`refcounts` is `fiemap`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refcounts_note: Option<String>,
    pub entries: Vec<Entry>,
    /// All arguments together (blocks counted once).
    pub total: Usage,
    /// Directories and files left out: this user may not read them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<PathBuf>,
}

/// Regular files under `p` (itself if a file), on device `dev`, one path
/// per inode. Directories and files this user may not read (lost+found
/// is 0700) are left out and named in `skipped`, as du(1) goes on past
/// them; `p` itself must be readable.
fn collect(
    p: &Path,
    dev: u64,
    seen: &mut HashSet<u64>,
    out: &mut Vec<(PathBuf, u64)>,
    skipped: &mut Vec<PathBuf>,
    top: bool,
) -> Result<()> {
    let md =
        std::fs::symlink_metadata(p).with_context(|| format!("cannot stat {}", p.display()))?;
    if md.dev() != dev {
        return Ok(());
    }
    let denied = |e: &std::io::Error| e.kind() == std::io::ErrorKind::PermissionDenied && !top;
    if md.is_file() {
        if let Err(e) = File::open(p) {
            if denied(&e) {
                skipped.push(p.to_path_buf());
                return Ok(());
            }
            return Err(e).with_context(|| format!("cannot open {}", p.display()));
        }
        if seen.insert(md.ino()) {
            out.push((p.to_path_buf(), md.len()));
        }
    } else if md.is_dir() {
        let names = match std::fs::read_dir(p) {
            Ok(rd) => rd,
            Err(e) if denied(&e) => {
                skipped.push(p.to_path_buf());
                return Ok(());
            }
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", p.display())),
        };
        let mut names: Vec<_> = names
            .collect::<std::io::Result<Vec<_>>>()
            .with_context(|| format!("cannot list {}", p.display()))?;
        names.sort_by_key(|e| e.file_name());
        for e in names {
            collect(&e.path(), dev, seen, out, skipped, false)?;
        }
    }
    Ok(())
}

/// The block device holding the file system of `path`: /dev/<name>.
pub fn device_of(path: &Path) -> Result<(String, PathBuf, u64)> {
    let md = std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    let dev = md.dev();
    let (ma, mi) = (dev_major(dev), dev_minor(dev));
    let target = std::fs::read_link(format!("/sys/dev/block/{ma}:{mi}"))
        .with_context(|| format!("{} is not on a block device ({ma}:{mi})", path.display()))?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .context("unexpected /sys/dev/block link")?
        .to_string();
    let node = PathBuf::from("/dev").join(&name);
    Ok((name, node, dev))
}

/// statfs of `path`: (f_type, f_bsize).
fn statfs_of(path: &Path) -> Result<(i64, u64)> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: statfs with a valid NUL-terminated path and a zeroed buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("statfs {}", path.display()));
    }
    Ok((st.f_type as i64, st.f_bsize as u64))
}

/// Runs du over `paths`. `use_device`: read reference counts from the
/// device when it can be opened (else FIEMAP's flags only).
pub fn run(paths: &[PathBuf], force_fibmap: bool, use_device: bool) -> Result<DuReport> {
    let first = paths.first().context("no path given")?;
    for p in paths {
        if statfs_of(p)?.0 != LIVEDFS_MAGIC {
            bail!("{} is not on a livedfs volume", p.display());
        }
    }
    let (name, node, dev) = device_of(first)?;
    for p in paths {
        if device_of(p)?.2 != dev {
            bail!(
                "{} and {} are on different volumes: run du once per volume",
                first.display(),
                p.display()
            );
        }
    }
    // Write back everything first: blocks are placed (and shared) at
    // writeback, so block maps and refcounts are only final after it.
    let f0 = File::open(first).with_context(|| format!("cannot open {}", first.display()))?;
    // SAFETY: syncfs on an open descriptor.
    unsafe { libc::syncfs(f0.as_raw_fd()) };
    let (mut vol, mut note) = if !use_device {
        (None, Some("--no-device given".to_string()))
    } else {
        match Volume::open(&node) {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        }
    };
    let bs = match &vol {
        Some(v) => u64::from(v.geo.block_size),
        None => statfs_of(first)?.1,
    };
    let mut method = if force_fibmap {
        Method::Fibmap
    } else {
        Method::Fiemap
    };
    let mut map_cache: HashMap<u64, (u64, Vec<Blk>)> = HashMap::new();
    let mut entries = Vec::new();
    let mut sets_per_path = Vec::new();
    let mut skipped = Vec::new();
    for p in paths {
        let mut seen = HashSet::new();
        let mut files = Vec::new();
        collect(p, dev, &mut seen, &mut files, &mut skipped, true)?;
        let mut sets = Vec::new();
        for (fp, size) in files {
            let ino = std::fs::symlink_metadata(&fp)?.ino();
            if let Some(v) = map_cache.get(&ino) {
                sets.push(v.clone());
                continue;
            }
            let f = File::open(&fp).with_context(|| format!("cannot open {}", fp.display()))?;
            let blocks = loop {
                match method {
                    Method::Fiemap => match fiemap_blocks(&f, bs)? {
                        Some(b) => break b,
                        None => method = Method::Fibmap,
                    },
                    Method::Fibmap => {
                        if vol.is_none() {
                            bail!(
                                "the module does not provide FIEMAP (or --fibmap was given), and \
                                 FIBMAP has no shared flag: reference counts are needed from \
                                 {}, which cannot be read ({}): run livedfs du as root",
                                node.display(),
                                note.as_deref().unwrap_or("")
                            );
                        }
                        break fibmap_blocks(&f, size, bs)
                            .with_context(|| format!("{}", fp.display()))?;
                    }
                }
            };
            map_cache.insert(ino, (size, blocks.clone()));
            sets.push((size, blocks));
        }
        sets_per_path.push((p.clone(), sets));
    }
    let all: Vec<(u64, Vec<Blk>)> = map_cache.into_values().collect();
    let refcounts = if vol.is_some() {
        Refcounts::Device
    } else {
        Refcounts::Fiemap
    };
    let mut get = |b: u32| -> Result<u32> {
        match vol.as_mut() {
            Some(v) => v.refcount(b),
            None => bail!("no device"),
        }
    };
    let has_vol = refcounts == Refcounts::Device;
    for (p, sets) in sets_per_path {
        let usage = classify(
            &sets,
            bs,
            if has_vol {
                Some(&mut get as &mut dyn FnMut(u32) -> Result<u32>)
            } else {
                None
            },
        )?;
        entries.push(Entry { path: p, usage });
    }
    let total = classify(
        &all,
        bs,
        if has_vol {
            Some(&mut get as &mut dyn FnMut(u32) -> Result<u32>)
        } else {
            None
        },
    )?;
    if has_vol {
        note = None;
    }
    Ok(DuReport {
        device: name,
        method,
        refcounts,
        refcounts_note: note,
        entries,
        total,
        skipped,
    })
}

pub fn print(r: &DuReport, bytes: bool) {
    let f = |n: u64| if bytes { n.to_string() } else { human(n) };
    for p in &r.skipped {
        eprintln!("livedfs: du: {}: permission denied, left out", p.display());
    }
    println!(
        "{:>10} {:>10} {:>10} {:>10} {:>10}  path",
        "size", "mapped", "shared", "unique", "exclusive"
    );
    let line = |u: &Usage, name: &str| {
        let excl = match u.exclusive_bytes {
            Some(n) => f(n),
            None => format!(">={}", f(u.exclusive_min_bytes)),
        };
        println!(
            "{:>10} {:>10} {:>10} {:>10} {:>10}  {name}",
            f(u.size_bytes),
            f(u.mapped_bytes),
            f(u.shared_bytes),
            f(u.unique_bytes),
            excl
        );
    };
    for e in &r.entries {
        line(&e.usage, &e.path.display().to_string());
    }
    if r.entries.len() > 1 {
        line(&r.total, "total");
    }
    let inexact: Vec<&Entry> = r
        .entries
        .iter()
        .filter(|e| e.usage.exclusive_bytes.is_none())
        .collect();
    if !inexact.is_empty() || (r.entries.len() > 1 && r.total.exclusive_bytes.is_none()) {
        println!(
            "exclusive (>=): blocks shared and referenced more than once from inside the set \
             may also be referenced from outside it; only the reference counts in the \
             fingerprint stores can tell, and they were not read ({}). Run as root for the \
             exact figure.",
            r.refcounts_note.as_deref().unwrap_or("no device")
        );
        for e in inexact {
            println!(
                "  {}: exclusive between {} and {}",
                e.path.display(),
                f(e.usage.exclusive_min_bytes),
                f(e.usage.exclusive_max_bytes)
            );
        }
        if r.entries.len() > 1 && r.total.exclusive_bytes.is_none() {
            println!(
                "  total: exclusive between {} and {}",
                f(r.total.exclusive_min_bytes),
                f(r.total.exclusive_max_bytes)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fiemap::FIEMAP_EXTENT_LAST;

    fn with_rc(files: &[(u64, Vec<Blk>)], rc: &HashMap<u32, u32>) -> Usage {
        let mut get = |b: u32| -> Result<u32> { Ok(rc[&b]) };
        classify(files, 4096, Some(&mut get)).unwrap()
    }

    /// The files of the example below, with FIEMAP's flags as the module
    /// sets them (shared: refcount above 1).
    type Files = Vec<(u64, Vec<Blk>)>;

    fn example() -> (Files, HashMap<u32, u32>) {
        // Block 10 shared by both files (rc 2), 11 unique to A, 12 in B
        // and in a file outside the set (rc 2), 13 twice in A (rc 2).
        let rc = HashMap::from([(10u32, 2u32), (11, 1), (12, 2), (13, 2)]);
        let f =
            |v: &[u32]| -> Vec<Blk> { v.iter().map(|&b| Blk::flagged(b, rc[&b] > 1)).collect() };
        let files = vec![(3 * 4096 + 100, f(&[10, 11, 13, 13])), (8192, f(&[10, 12]))];
        (files, rc)
    }

    /// An unwritten (preallocated) extent maps no disk block: its blocks
    /// are not counted, whatever physical address and flags come with it
    /// (UNKNOWN included: it is not data waiting for writeback).
    #[test]
    fn unwritten_extents_map_no_blocks() {
        use crate::fiemap::{Extent, FIEMAP_EXTENT_UNWRITTEN};
        let e = |logical: u64, physical: u64, length: u64, flags: u32| Extent {
            logical,
            physical,
            length,
            flags,
        };
        let ext = [
            e(0, 10 * 4096, 4096, FIEMAP_EXTENT_SHARED),
            e(4096, 0, 3 * 4096, FIEMAP_EXTENT_UNWRITTEN),
            e(
                16384,
                0,
                4096,
                FIEMAP_EXTENT_UNWRITTEN | FIEMAP_EXTENT_UNKNOWN,
            ),
            e(20480, 11 * 4096, 4096, FIEMAP_EXTENT_LAST),
        ];
        let b = extent_blocks(&ext, 4096).unwrap();
        assert_eq!(b, vec![Blk::flagged(10, true), Blk::flagged(11, false)]);
        // Anything else without a disk address is still refused.
        assert!(extent_blocks(&[e(0, 0, 4096, FIEMAP_EXTENT_DELALLOC)], 4096).is_err());
    }

    #[test]
    fn classify_counts_shared_unique_and_exclusive() {
        let (files, rc) = example();
        let u = with_rc(&files, &rc);
        assert_eq!(u.files, 2);
        assert_eq!(u.size_bytes, 3 * 4096 + 100 + 8192);
        assert_eq!(u.mapped_blocks, 6);
        assert_eq!(u.shared_blocks, 5);
        assert_eq!(u.unique_blocks, 1);
        assert_eq!(u.distinct_blocks, 4);
        // 10 (both refs here), 11, 13 (both refs here); not 12.
        assert_eq!(u.exclusive_blocks, Some(3));
        assert_eq!(u.exclusive_bytes, Some(3 * 4096));
        assert_eq!((u.exclusive_min_blocks, u.exclusive_max_blocks), (3, 3));
        // File B alone: 10 is shared with A outside the set.
        let u = with_rc(&files[1..], &rc);
        assert_eq!(u.exclusive_blocks, Some(0));
        assert_eq!(u.shared_blocks, 2);
    }

    #[test]
    fn fiemap_flags_alone_give_shared_unique_and_bounds() {
        let (files, rc) = example();
        let u = classify(&files, 4096, None).unwrap();
        let exact = with_rc(&files, &rc);
        // Shared and unique agree with the refcounts.
        assert_eq!(
            (
                u.mapped_blocks,
                u.shared_blocks,
                u.unique_blocks,
                u.distinct_blocks
            ),
            (
                exact.mapped_blocks,
                exact.shared_blocks,
                exact.unique_blocks,
                exact.distinct_blocks
            )
        );
        assert_eq!(u.unknown_blocks, 0);
        // Exclusive: 11 for sure; 10 and 13 are shared and referenced
        // twice here (unknown); 12 shared and once here (not exclusive).
        assert_eq!(u.exclusive_blocks, None);
        assert_eq!(u.exclusive_bytes, None);
        assert_eq!((u.exclusive_min_blocks, u.exclusive_max_blocks), (1, 3));
        assert_eq!(
            (u.exclusive_min_bytes, u.exclusive_max_bytes),
            (4096, 3 * 4096)
        );
        assert!(u.exclusive_min_blocks <= exact.exclusive_blocks.unwrap());
        assert!(exact.exclusive_blocks.unwrap() <= u.exclusive_max_blocks);
        // File B alone: no shared block twice, so the figure is exact.
        let u = classify(&files[1..], 4096, None).unwrap();
        assert_eq!(u.exclusive_blocks, Some(0));
        // A file whose blocks are all unique: exact.
        let only = vec![(8192, vec![Blk::flagged(5, false), Blk::flagged(6, false)])];
        assert_eq!(
            classify(&only, 4096, None).unwrap().exclusive_blocks,
            Some(2)
        );
    }

    #[test]
    fn bounds_hold_for_random_sets() {
        // Random volumes: files referencing random blocks; the exact
        // figure (refcounts over every file) always lies within the bounds
        // FIEMAP's flags give for any subset.
        let mut seed = 0x1234_5678_u64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..200 {
            let nfiles = 1 + rnd(6) as usize;
            let raw: Vec<Vec<u32>> = (0..nfiles)
                .map(|_| (0..rnd(8)).map(|_| 100 + rnd(10) as u32).collect())
                .collect();
            let mut rc: HashMap<u32, u32> = HashMap::new();
            for f in &raw {
                for &b in f {
                    *rc.entry(b).or_insert(0) += 1;
                }
            }
            let files: Vec<(u64, Vec<Blk>)> = raw
                .iter()
                .map(|f| {
                    (
                        f.len() as u64 * 4096,
                        f.iter().map(|&b| Blk::flagged(b, rc[&b] > 1)).collect(),
                    )
                })
                .collect();
            let k = 1 + rnd(nfiles as u64) as usize;
            let subset = &files[..k];
            let exact = with_rc(subset, &rc).exclusive_blocks.unwrap();
            let b = classify(subset, 4096, None).unwrap();
            assert!(b.exclusive_min_blocks <= exact && exact <= b.exclusive_max_blocks);
            if let Some(e) = b.exclusive_blocks {
                assert_eq!(e, exact);
            }
            // The whole set holds every reference: exclusive is every
            // distinct block.
            let all = with_rc(&files, &rc);
            assert_eq!(all.exclusive_blocks, Some(all.distinct_blocks));
        }
    }

    #[test]
    fn fibmap_blocks_need_refcounts() {
        let files = vec![(4096, vec![Blk::plain(7)])];
        assert!(classify(&files, 4096, None).is_err());
    }

    #[test]
    fn extents_become_flagged_blocks() {
        let mut v = Vec::new();
        push_extent(&mut v, 10 * 4096, 2 * 4096, FIEMAP_EXTENT_SHARED, 4096).unwrap();
        push_extent(&mut v, 20 * 4096, 4096, FIEMAP_EXTENT_LAST, 4096).unwrap();
        assert_eq!(
            v,
            vec![
                Blk::flagged(10, true),
                Blk::flagged(11, true),
                Blk::flagged(20, false)
            ]
        );
    }

    #[test]
    fn fiemap_on_a_host_file_system() {
        // Whatever the host's file system, FIEMAP either maps the file's
        // blocks or is reported as unsupported (tmpfs): never an error.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, vec![7u8; 3 * 4096]).unwrap();
        let f = File::open(&p).unwrap();
        if let Ok(Some(b)) = fiemap_blocks(&f, 4096) {
            assert!(b.len() <= 3, "{b:?}");
        }
    }
}
