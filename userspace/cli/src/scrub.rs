//! `livedfs scrub MOUNTPOINT`: online verification of every stored block
//! against its fingerprint, through the module's `LIVEDFS_IOC_SCRUB`
//! (root only), a batch of blocks per call. Damaged blocks are named with
//! every file (and offset) that references them, found with FIEMAP over the
//! mounted tree: a shared block's damage shows in all its files.
//!
//! Pausing and resuming: `--state FILE` records after each batch where the
//! scrub is; killed (Ctrl-C), it resumes there with `--resume`. `--start
//! BLOCK` starts anywhere. `--rate MB/s` paces the reads.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::IsTerminal;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// LIVEDFS_IOC_SCRUB: _IOWR('L', 1, struct livedfs_scrub) (40 bytes).
const LIVEDFS_IOC_SCRUB: libc::c_ulong = 0xC028_4C01;
/// Damaged blocks one call may return.
const MAX_BAD: usize = 4096;

/// The ioctl's argument (rust/vfs/fstype.rs `ScrubArgs`).
#[repr(C)]
#[derive(Default)]
struct ScrubArgs {
    start: u64,
    count: u64,
    checked: u64,
    bad_ptr: u64,
    nbad: u32,
    max_bad: u32,
}

/// How to scrub.
pub struct Options {
    /// First device block (0: the start).
    pub start: u64,
    /// Resume from the block recorded in `state`.
    pub resume: bool,
    /// Where to record progress after each batch.
    pub state: Option<PathBuf>,
    /// Read at most this many MB/s (None: as fast as the disk goes).
    pub rate_mb: Option<f64>,
    /// Device blocks per call.
    pub batch: u64,
}

/// A file block that holds a damaged block.
#[derive(Serialize, Clone)]
pub struct FileRef {
    pub path: PathBuf,
    /// Byte offset in the file.
    pub offset: u64,
}

/// One damaged block.
#[derive(Serialize)]
pub struct Damaged {
    pub block: u64,
    pub files: Vec<FileRef>,
}

/// What a scrub found.
#[derive(Serialize)]
pub struct Report {
    pub mount: PathBuf,
    pub started_at_block: u64,
    pub blocks_checked: u64,
    pub bytes_checked: u64,
    pub seconds: f64,
    pub complete: bool,
    pub damaged: Vec<Damaged>,
}

fn block_size_and_count(mount: &Path) -> Result<(u64, u64)> {
    let c = std::ffi::CString::new(mount.as_os_str().as_encoded_bytes())?;
    // SAFETY: statfs fills the zeroed struct for a NUL-terminated path.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statfs(c.as_ptr(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error()).context("statfs");
    }
    if s.f_type as i64 != crate::du::LIVEDFS_MAGIC {
        bail!("{} is not on a livedfs volume", mount.display());
    }
    Ok((s.f_bsize as u64, s.f_blocks))
}

/// Runs the scrub over the whole volume (from `start`).
pub fn run(mount: &Path, o: &Options) -> Result<Report> {
    let (bs, total) = block_size_and_count(mount)?;
    let dir = File::open(mount).with_context(|| format!("open {}", mount.display()))?;
    let mut pos = o.start;
    if o.resume {
        let f = o.state.as_ref().context("--resume needs --state FILE")?;
        let s = std::fs::read_to_string(f).with_context(|| format!("read {}", f.display()))?;
        pos = s
            .trim()
            .parse()
            .with_context(|| format!("{}: not a block number", f.display()))?;
    }
    let started = pos;
    let t0 = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut bad_blocks = Vec::new();
    let mut checked = 0u64;
    let mut buf = vec![0u64; MAX_BAD];
    while pos < total {
        let mut a = ScrubArgs {
            start: pos,
            count: o.batch.max(1),
            bad_ptr: buf.as_mut_ptr() as u64,
            max_bad: MAX_BAD as u32,
            ..ScrubArgs::default()
        };
        // SAFETY: LIVEDFS_IOC_SCRUB reads and writes `a` and writes up to
        // max_bad u64 into `buf`, both live for the call.
        if unsafe { libc::ioctl(dir.as_raw_fd(), LIVEDFS_IOC_SCRUB, &mut a as *mut ScrubArgs) } != 0
        {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EPERM) {
                bail!("scrub needs root (CAP_SYS_ADMIN)");
            }
            return Err(e).context("LIVEDFS_IOC_SCRUB");
        }
        bad_blocks.extend_from_slice(&buf[..a.nbad as usize]);
        checked += a.checked;
        if a.start <= pos {
            bail!("the scrub made no progress at block {pos}");
        }
        pos = a.start;
        if let Some(s) = &o.state {
            std::fs::write(s, format!("{pos}\n"))
                .with_context(|| format!("write {}", s.display()))?;
        }
        if tty {
            eprint!(
                "\rscrub: block {pos} of {total} ({:.1} %), {checked} checked, {} damaged",
                pos as f64 * 100.0 / total as f64,
                bad_blocks.len()
            );
        }
        if let Some(rate) = o.rate_mb {
            // Sleep so the bytes read so far took at least bytes / rate.
            let want = Duration::from_secs_f64(checked as f64 * bs as f64 / (rate * 1e6));
            let spent = t0.elapsed();
            if want > spent {
                std::thread::sleep(want - spent);
            }
        }
    }
    if tty {
        eprintln!();
    }
    let damaged = name_files(mount, bs, &bad_blocks)?;
    Ok(Report {
        mount: mount.to_path_buf(),
        started_at_block: started,
        blocks_checked: checked,
        bytes_checked: checked * bs,
        seconds: t0.elapsed().as_secs_f64(),
        complete: started == 0,
        damaged,
    })
}

/// The files referencing each damaged block (FIEMAP over every regular
/// file of the mounted volume).
fn name_files(mount: &Path, bs: u64, bad: &[u64]) -> Result<Vec<Damaged>> {
    let mut by_block: BTreeMap<u64, Vec<FileRef>> = bad.iter().map(|&b| (b, Vec::new())).collect();
    if by_block.is_empty() {
        return Ok(Vec::new());
    }
    let dev = std::fs::metadata(mount)?.dev();
    let mut stack = vec![mount.to_path_buf()];
    let mut seen = HashSet::new();
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if m.dev() != dev {
                continue;
            }
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file() && seen.insert(m.ino()) {
                if let Ok(f) = File::open(&p) {
                    for (logical, physical, len) in extents(&f)? {
                        let (first, n) = (physical / bs, len.div_ceil(bs));
                        for (b, refs) in by_block.range_mut(first..first + n) {
                            refs.push(FileRef {
                                path: p.clone(),
                                offset: logical + (b - first) * bs,
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(by_block
        .into_iter()
        .map(|(block, files)| Damaged { block, files })
        .collect())
}

/// (logical, physical, length) of every extent of a file that maps disk
/// blocks (not the unwritten ones, which have none).
fn extents(f: &File) -> Result<Vec<(u64, u64, u64)>> {
    let e = crate::fiemap::extents(f)
        .context("FIEMAP")?
        .context("FIEMAP: not supported")?;
    Ok(e.into_iter()
        .filter(|e| !e.is_unwritten())
        .map(|e| (e.logical, e.physical, e.length))
        .collect())
}

/// Human output.
pub fn print(r: &Report) {
    println!(
        "scrub of {}: {} blocks checked ({:.1} MiB) in {:.1} s{}",
        r.mount.display(),
        r.blocks_checked,
        r.bytes_checked as f64 / (1 << 20) as f64,
        r.seconds,
        if r.complete {
            ""
        } else {
            " (from a resumed position)"
        }
    );
    if r.damaged.is_empty() {
        println!("no damaged block");
        return;
    }
    println!("{} damaged block(s):", r.damaged.len());
    for d in &r.damaged {
        println!(
            "  block {}: used by {} file block(s)",
            d.block,
            d.files.len()
        );
        for f in &d.files {
            println!("    {} at offset {}", f.path.display(), f.offset);
        }
    }
}
