//! `livedfs du PATH...`: for files and directories on a mounted livedfs
//! volume, the logical size, the blocks mapped, and how much of that is
//! shared (the block's refcount is above 1) or unique, plus how much
//! space the set alone holds (blocks no file outside it references).
//!
//! File blocks are mapped with FS_IOC_FIEMAP when the file system offers
//! it, else with FIBMAP (root only) block by block over the data ranges
//! SEEK_DATA/SEEK_HOLE report; refcounts come from the volume's
//! fingerprint stores, read from the block device (read-only).

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
/// FS_IOC_FIEMAP.
const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
/// FIBMAP.
const FIBMAP: libc::c_ulong = 1;
const FIEMAP_FLAG_SYNC: u32 = 0x1;
const FIEMAP_EXTENT_LAST: u32 = 0x1;
const FIEMAP_EXTENT_UNKNOWN: u32 = 0x2;
const FIEMAP_EXTENT_DELALLOC: u32 = 0x4;
const FIEMAP_BATCH: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct FiemapExtent {
    fe_logical: u64,
    fe_physical: u64,
    fe_length: u64,
    fe_reserved64: [u64; 2],
    fe_flags: u32,
    fe_reserved: [u32; 3],
}

#[repr(C)]
struct Fiemap {
    fm_start: u64,
    fm_length: u64,
    fm_flags: u32,
    fm_mapped_extents: u32,
    fm_extent_count: u32,
    fm_reserved: u32,
    fm_extents: [FiemapExtent; FIEMAP_BATCH],
}

/// How the block map was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Fiemap,
    Fibmap,
}

/// The disk blocks of a file, one per mapped file block, via FIEMAP.
/// `Ok(None)` when the file system does not implement FIEMAP.
pub fn fiemap_blocks(f: &File, block_size: u64) -> Result<Option<Vec<u32>>> {
    let mut out = Vec::new();
    let mut start = 0u64;
    loop {
        let mut fm = Box::new(Fiemap {
            fm_start: start,
            fm_length: u64::MAX - start,
            fm_flags: FIEMAP_FLAG_SYNC,
            fm_mapped_extents: 0,
            fm_extent_count: FIEMAP_BATCH as u32,
            fm_reserved: 0,
            fm_extents: [FiemapExtent::default(); FIEMAP_BATCH],
        });
        // SAFETY: `fm` is a valid struct fiemap with room for
        // fm_extent_count extents, live for the call.
        let r = unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_FIEMAP, &mut *fm as *mut Fiemap) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EOPNOTSUPP) | Some(libc::ENOTTY) | Some(libc::EINVAL)
                    if out.is_empty() && start == 0 =>
                {
                    Ok(None)
                }
                _ => Err(e).context("FIEMAP"),
            };
        }
        let n = fm.fm_mapped_extents as usize;
        if n == 0 {
            return Ok(Some(out));
        }
        let mut last = false;
        for e in &fm.fm_extents[..n.min(FIEMAP_BATCH)] {
            if e.fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC) != 0 {
                bail!("FIEMAP reported an extent without a disk address (data not written back)");
            }
            let first = e.fe_physical / block_size;
            let count = e.fe_length.div_ceil(block_size);
            for i in 0..count {
                out.push(u32::try_from(first + i).context("block number past 32 bits")?);
            }
            start = e.fe_logical + e.fe_length;
            last |= e.fe_flags & FIEMAP_EXTENT_LAST != 0;
        }
        if last {
            return Ok(Some(out));
        }
    }
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
pub fn fibmap_blocks(f: &File, size: u64, block_size: u64) -> Result<Vec<u32>> {
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
                out.push(blk as u32);
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
    /// committed, or a changed file).
    pub unknown_blocks: u64,
    /// Distinct disk blocks the set references.
    pub distinct_blocks: u64,
    /// Distinct disk blocks referenced only from inside the set: the space
    /// deleting the set would free.
    pub exclusive_blocks: u64,
    pub block_size: u64,
    pub mapped_bytes: u64,
    pub shared_bytes: u64,
    pub unique_bytes: u64,
    pub exclusive_bytes: u64,
}

/// Classifies the blocks of a set of files by their refcounts.
pub fn classify(
    files: &[(u64, Vec<u32>)],
    block_size: u64,
    mut refcount: impl FnMut(u32) -> Result<u32>,
) -> Result<Usage> {
    let mut u = Usage {
        files: files.len() as u64,
        block_size,
        ..Usage::default()
    };
    let mut refs_here: HashMap<u32, u64> = HashMap::new();
    let mut rc_of: HashMap<u32, u32> = HashMap::new();
    for (size, blocks) in files {
        u.size_bytes += size;
        for &b in blocks {
            u.mapped_blocks += 1;
            let rc = match rc_of.get(&b) {
                Some(&rc) => rc,
                None => {
                    let rc = refcount(b)?;
                    rc_of.insert(b, rc);
                    rc
                }
            };
            match rc {
                0 => u.unknown_blocks += 1,
                1 => u.unique_blocks += 1,
                _ => u.shared_blocks += 1,
            }
            *refs_here.entry(b).or_insert(0) += 1;
        }
    }
    u.distinct_blocks = refs_here.len() as u64;
    u.exclusive_blocks = refs_here
        .iter()
        .filter(|(b, n)| {
            let rc = u64::from(rc_of[b]);
            rc > 0 && rc <= **n
        })
        .count() as u64;
    u.mapped_bytes = u.mapped_blocks * block_size;
    u.shared_bytes = u.shared_blocks * block_size;
    u.unique_bytes = u.unique_blocks * block_size;
    u.exclusive_bytes = u.exclusive_blocks * block_size;
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
    pub entries: Vec<Entry>,
    /// All arguments together (blocks counted once).
    pub total: Usage,
}

/// Regular files under `p` (itself if a file), on device `dev`, one path
/// per inode.
fn collect(
    p: &Path,
    dev: u64,
    seen: &mut HashSet<u64>,
    out: &mut Vec<(PathBuf, u64)>,
) -> Result<()> {
    let md =
        std::fs::symlink_metadata(p).with_context(|| format!("cannot stat {}", p.display()))?;
    if md.dev() != dev {
        return Ok(());
    }
    if md.is_file() {
        if seen.insert(md.ino()) {
            out.push((p.to_path_buf(), md.len()));
        }
    } else if md.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(p)
            .with_context(|| format!("cannot list {}", p.display()))?
            .collect::<std::io::Result<Vec<_>>>()?;
        names.sort_by_key(|e| e.file_name());
        for e in names {
            collect(&e.path(), dev, seen, out)?;
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

fn is_livedfs(path: &Path) -> Result<bool> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: statfs with a valid NUL-terminated path and a zeroed buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("statfs {}", path.display()));
    }
    Ok(st.f_type as i64 == LIVEDFS_MAGIC)
}

/// Runs du over `paths`.
pub fn run(paths: &[PathBuf], force_fibmap: bool) -> Result<DuReport> {
    let first = paths.first().context("no path given")?;
    for p in paths {
        if !is_livedfs(p)? {
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
    let mut vol = Volume::open(&node)
        .with_context(|| format!("cannot read the fingerprint stores on {}", node.display()))?;
    let bs = u64::from(vol.geo.block_size);
    let mut method = if force_fibmap {
        Method::Fibmap
    } else {
        Method::Fiemap
    };
    let mut map_cache: HashMap<u64, (u64, Vec<u32>)> = HashMap::new();
    let mut entries = Vec::new();
    for p in paths {
        let mut seen = HashSet::new();
        let mut files = Vec::new();
        collect(p, dev, &mut seen, &mut files)?;
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
                        break fibmap_blocks(&f, size, bs)
                            .with_context(|| format!("{}", fp.display()))?
                    }
                }
            };
            map_cache.insert(ino, (size, blocks.clone()));
            sets.push((size, blocks));
        }
        let usage = classify(&sets, bs, |b| vol.refcount(b))?;
        entries.push(Entry {
            path: p.clone(),
            usage,
        });
    }
    let all: Vec<(u64, Vec<u32>)> = map_cache.into_values().collect();
    let total = classify(&all, bs, |b| vol.refcount(b))?;
    Ok(DuReport {
        device: name,
        method,
        entries,
        total,
    })
}

pub fn print(r: &DuReport, bytes: bool) {
    let f = |n: u64| if bytes { n.to_string() } else { human(n) };
    println!(
        "{:>10} {:>10} {:>10} {:>10} {:>10}  path",
        "size", "mapped", "shared", "unique", "exclusive"
    );
    let line = |u: &Usage, name: &str| {
        println!(
            "{:>10} {:>10} {:>10} {:>10} {:>10}  {name}",
            f(u.size_bytes),
            f(u.mapped_bytes),
            f(u.shared_bytes),
            f(u.unique_bytes),
            f(u.exclusive_bytes)
        );
    };
    for e in &r.entries {
        line(&e.usage, &e.path.display().to_string());
    }
    if r.entries.len() > 1 {
        line(&r.total, "total");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_counts_shared_unique_and_exclusive() {
        // Block 10 shared by both files (rc 2), 11 unique to A, 12 in B
        // and in a file outside the set (rc 2), 13 twice in A (rc 2).
        let rc = HashMap::from([(10u32, 2u32), (11, 1), (12, 2), (13, 2)]);
        let files = vec![(3 * 4096 + 100, vec![10, 11, 13, 13]), (8192, vec![10, 12])];
        let u = classify(&files, 4096, |b| Ok(rc[&b])).unwrap();
        assert_eq!(u.files, 2);
        assert_eq!(u.size_bytes, 3 * 4096 + 100 + 8192);
        assert_eq!(u.mapped_blocks, 6);
        assert_eq!(u.shared_blocks, 5);
        assert_eq!(u.unique_blocks, 1);
        assert_eq!(u.distinct_blocks, 4);
        // 10 (both refs here), 11, 13 (both refs here); not 12.
        assert_eq!(u.exclusive_blocks, 3);
        assert_eq!(u.exclusive_bytes, 3 * 4096);
        // File B alone: 10 is shared with A outside the set.
        let u = classify(&files[1..], 4096, |b| Ok(rc[&b])).unwrap();
        assert_eq!(u.exclusive_blocks, 0);
        assert_eq!(u.shared_blocks, 2);
    }

    #[test]
    fn fiemap_struct_matches_the_kernel_abi() {
        assert_eq!(std::mem::size_of::<FiemapExtent>(), 56);
        assert_eq!(std::mem::size_of::<Fiemap>(), 32 + 56 * FIEMAP_BATCH);
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
