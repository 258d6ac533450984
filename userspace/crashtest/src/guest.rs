//! The checker's side in the test VM: rebuild each crash point's image in
//! a tmpfs file, attach it to a loop device, mount it (the kernel replays
//! the journal), compare the tree with the workload's history, check the
//! deduplication accounting, unmount, run fsck.livedfs, and watch the
//! kernel log throughout.

use crate::check::{verify, FileSnap, Report, Snapshot};
use crate::exec::{Progress, PROGRESS_AREA, SLOT};
use crate::hash::{block_hash, zero_hash, BlockHash, BLOCK};
use crate::log::Log;
use crate::model::History;
use crate::replay::Point;
use std::collections::HashSet;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LOOP_SET_FD: libc::c_ulong = 0x4C00;
const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn os_check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A loop device attached to an image file.
pub struct LoopDev {
    /// /dev/loopN.
    pub path: PathBuf,
    /// loopN.
    pub name: String,
    dev: File,
}

impl LoopDev {
    /// Attaches `image` to a free loop device.
    pub fn attach(image: &Path) -> io::Result<LoopDev> {
        let ctl = File::open("/dev/loop-control")?;
        // SAFETY: plain ioctl without argument.
        let n = os_check(unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE) })?;
        let name = format!("loop{n}");
        let path = PathBuf::from(format!("/dev/{name}"));
        let mut dev = None;
        for _ in 0..100 {
            match OpenOptions::new().read(true).write(true).open(&path) {
                Ok(f) => {
                    dev = Some(f);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(e),
            }
        }
        let dev =
            dev.ok_or_else(|| io::Error::other(format!("{} never appeared", path.display())))?;
        let img = OpenOptions::new().read(true).write(true).open(image)?;
        // SAFETY: LOOP_SET_FD takes the backing descriptor.
        os_check(unsafe { libc::ioctl(dev.as_raw_fd(), LOOP_SET_FD, img.as_raw_fd()) })?;
        Ok(LoopDev { path, name, dev })
    }

    /// Detaches the device (retrying while it is still busy).
    pub fn detach(self) -> io::Result<()> {
        let mut last = None;
        for _ in 0..200 {
            // SAFETY: plain ioctl without argument.
            match os_check(unsafe { libc::ioctl(self.dev.as_raw_fd(), LOOP_CLR_FD, 0) }) {
                Ok(_) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("loop device stays busy")))
    }
}

/// mount(2).
pub fn mount(dev: &Path, target: &Path, fstype: &str, data: &str) -> io::Result<()> {
    let (d, t) = (cstr(dev)?, cstr(target)?);
    let f = CString::new(fstype).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let o = CString::new(data).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: valid C strings for the call.
    os_check(unsafe { libc::mount(d.as_ptr(), t.as_ptr(), f.as_ptr(), 0, o.as_ptr().cast()) })
        .map(drop)
}

/// umount(2).
pub fn umount(target: &Path) -> io::Result<()> {
    let t = cstr(target)?;
    // SAFETY: valid C string.
    os_check(unsafe { libc::umount2(t.as_ptr(), 0) }).map(drop)
}

/// A kernel log line.
#[derive(Clone, Debug)]
pub struct KLine {
    /// Syslog level (0 emerg .. 7 debug).
    pub level: u32,
    /// The text.
    pub text: String,
}

/// A reader of /dev/kmsg from the point it was opened.
pub struct Kmsg(Option<File>);

impl Kmsg {
    /// Opens /dev/kmsg at its end (no reader if there is none).
    pub fn open() -> Self {
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ok();
        if let Some(f) = &f {
            // SAFETY: seek on an open descriptor.
            unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_END) };
        }
        Kmsg(f)
    }

    /// The lines logged since the last call.
    pub fn drain(&mut self) -> Vec<KLine> {
        let mut out = Vec::new();
        let Some(f) = &mut self.0 else { return out };
        let mut buf = vec![0u8; 8192];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    let (hdr, text) = rec.split_once(';').unwrap_or(("6", &rec));
                    let pri: u32 = hdr
                        .split(',')
                        .next()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(6);
                    let text = text.lines().next().unwrap_or("").to_string();
                    out.push(KLine {
                        level: pri & 7,
                        text,
                    });
                }
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => break,
            }
        }
        out
    }
}

/// A kernel log line that fails a crash point.
pub fn is_kernel_problem(l: &KLine) -> bool {
    let t = l.text.to_ascii_lowercase();
    l.level <= 3
        || [
            "warning",
            "bug",
            "oops",
            "call trace",
            "corrupt",
            "checksum",
            "panic",
            "error",
        ]
        .iter()
        .any(|w| t.contains(w))
}

/// What the tree of a mounted crash image holds, and its block counts.
#[derive(Default)]
pub struct Scan {
    /// The tree.
    pub snap: Snapshot,
    /// Blocks mapped (SEEK_DATA), over every file.
    pub mapped: u64,
    /// Distinct contents of mapped whole blocks.
    pub distinct: u64,
    /// Files whose last block is partial and mapped.
    pub tails: u64,
}

fn seek(f: &File, off: u64, whence: libc::c_int) -> Option<u64> {
    // SAFETY: lseek on an open descriptor.
    let r = unsafe { libc::lseek(f.as_raw_fd(), off as libc::off_t, whence) };
    (r >= 0).then_some(r as u64)
}

/// Walks the tree under `root`.
pub fn scan(root: &Path, skip: &[&str]) -> io::Result<Scan> {
    let mut s = Scan::default();
    let mut distinct: HashSet<BlockHash> = HashSet::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let mut ents: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        ents.sort_by_key(|e| e.file_name());
        for e in ents {
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if skip.contains(&r.as_str()) {
                continue;
            }
            let ft = e.file_type()?;
            if ft.is_dir() {
                s.snap.dirs.insert(r.clone());
                stack.push((e.path(), r));
            } else if ft.is_file() {
                let mut f = File::open(e.path())?;
                let mut data = Vec::new();
                f.read_to_end(&mut data)?;
                let blocks: Vec<BlockHash> = data.chunks(BLOCK).map(block_hash).collect();
                // Mapped blocks, by SEEK_DATA / SEEK_HOLE.
                let size = data.len() as u64;
                let mut off = 0u64;
                while off < size {
                    let Some(d) = seek(&f, off, libc::SEEK_DATA) else {
                        break;
                    };
                    let h = seek(&f, d, libc::SEEK_HOLE).unwrap_or(size).min(size);
                    let (b0, b1) = (d / BLOCK as u64, h.div_ceil(BLOCK as u64));
                    for b in b0..b1 {
                        s.mapped += 1;
                        let end = ((b + 1) * BLOCK as u64).min(size);
                        if end - b * BLOCK as u64 == BLOCK as u64 {
                            distinct.insert(blocks[b as usize]);
                        } else {
                            s.tails += 1;
                        }
                    }
                    if h <= off {
                        break;
                    }
                    off = h;
                }
                s.snap.files.insert(r, FileSnap { size, blocks });
            } else {
                let kind = if ft.is_symlink() {
                    "symlink"
                } else if ft.is_block_device() || ft.is_char_device() {
                    "device"
                } else {
                    "special"
                };
                s.snap.others.push(format!("{r} ({kind})"));
            }
        }
    }
    s.distinct = distinct.len() as u64;
    Ok(s)
}

/// Reads a counter of /sys/fs/livedfs/<dev>/.
pub fn stat(dev: &str, name: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/sys/fs/livedfs/{dev}/{name}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Writes the image of a point to `path` (a tmpfs file): the prefix,
/// skipping zero chunks (the file starts as one big hole), then the
/// point's extra entries.
pub fn write_image(
    path: &Path,
    prefix: &[u8],
    point: &Point,
    log: &Log,
    buf: &[u8],
) -> io::Result<()> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.set_len(prefix.len() as u64)?;
    const CH: usize = 64 * 1024;
    for (k, c) in prefix.chunks(CH).enumerate() {
        if c.iter().any(|&b| b != 0) {
            f.write_all_at(c, (k * CH) as u64)?;
        }
    }
    let ss = u64::from(log.sector_size);
    for &i in &point.extra {
        let Some(e) = log.entries.get(i) else {
            continue;
        };
        if !e.changes_device() {
            continue;
        }
        let off = e.sector.saturating_mul(ss);
        let len = e.nr_sectors.saturating_mul(ss);
        if off.saturating_add(len) > prefix.len() as u64 {
            return Err(io::Error::other(format!(
                "entry {i} past the end of the device"
            )));
        }
        if e.is_discard() {
            f.write_all_at(&vec![0u8; len as usize], off)?;
        } else if let Some(d) = buf.get(e.data_start..e.data_start + e.data_len) {
            f.write_all_at(d, off)?;
        }
    }
    Ok(())
}

/// Settings of a check run.
pub struct Config {
    /// Directory for the image file and the mount point.
    pub work: PathBuf,
    /// fsck.livedfs, if present.
    pub fsck: Option<PathBuf>,
    /// Top-level names the file system makes itself.
    pub ignore: Vec<&'static str>,
}

/// The outcome of one crash point.
pub struct Outcome {
    /// Failures (empty: passed).
    pub failures: Vec<String>,
    /// Things worth a look that don't fail the point.
    pub notes: Vec<String>,
    /// What was checked.
    pub report: Report,
    /// Progress found in the image.
    pub progress: Option<Progress>,
    /// Time taken.
    pub elapsed: Duration,
}

/// The copy made to test deduplication after recovery.
pub const COPY_NAME: &str = ".crashtest-copy";

/// Checks one crash point whose image is already in `img`.
pub fn check_point(cfg: &Config, img: &Path, hist: &History, seed: u64) -> Outcome {
    let t0 = Instant::now();
    let mut o = Outcome {
        failures: vec![],
        notes: vec![],
        report: Report::default(),
        progress: None,
        elapsed: Duration::ZERO,
    };
    let mut kmsg = Kmsg::open();
    check_mounted(cfg, img, hist, seed, &mut o, &mut kmsg);
    // Offline check of what the kernel left.
    if let Some(fsck) = &cfg.fsck {
        match std::process::Command::new(fsck)
            .arg("-fn")
            .arg(img)
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = text.lines().rev().take(12).collect();
                o.failures.push(format!(
                    "fsck.livedfs -fn: exit {}: {}",
                    out.status.code().unwrap_or(-1),
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ));
            }
            Err(e) => o.failures.push(format!("fsck.livedfs: {e}")),
        }
    }
    classify(kmsg.drain(), &mut o);
    o.elapsed = t0.elapsed();
    o
}

/// Sorts kernel lines into failures and notes.
fn classify(lines: Vec<KLine>, o: &mut Outcome) {
    for l in lines {
        if l.text.contains("taints kernel") || l.text.contains("callbacks suppressed") {
            continue;
        }
        if is_kernel_problem(&l) {
            o.failures.push(format!("kernel: <{}> {}", l.level, l.text));
        } else if l.level <= 4 {
            o.notes.push(format!("kernel: <{}> {}", l.level, l.text));
        }
    }
}

fn check_mounted(
    cfg: &Config,
    img: &Path,
    hist: &History,
    seed: u64,
    o: &mut Outcome,
    kmsg: &mut Kmsg,
) {
    // The progress record.
    let Ok(f) = File::open(img) else {
        o.failures.push("can't open the image".into());
        return;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let area = len.saturating_sub(PROGRESS_AREA);
    let mut slots = vec![0u8; 2 * SLOT];
    let _ = f.read_exact_at(&mut slots, area);
    drop(f);
    let p = Progress::read(&slots, 0);
    o.progress = p;
    let n = match p {
        Some(p) if p.seed != seed => {
            o.failures.push(format!(
                "progress record of seed {} (expected {seed})",
                p.seed
            ));
            return;
        }
        Some(p) => p.syncs as usize,
        None => 0,
    };
    let dev = match LoopDev::attach(img) {
        Ok(d) => d,
        Err(e) => {
            o.failures.push(format!("losetup: {e}"));
            return;
        }
    };
    let mnt = cfg.work.join("mnt");
    let _ = std::fs::create_dir_all(&mnt);
    if let Err(e) = mount(&dev.path, &mnt, "livedfs", "") {
        o.failures.push(format!("mount: {e}"));
        let _ = dev.detach();
        return;
    }
    check_tree(cfg, &mnt, &dev.name, hist, n, o);
    if let Err(e) = umount(&mnt) {
        o.failures.push(format!("umount: {e}"));
        // Keep going: lines from the kernel say more.
    }
    classify(kmsg.drain(), o);
    if let Err(e) = dev.detach() {
        o.failures.push(format!("losetup -d: {e}"));
    }
}

fn check_tree(cfg: &Config, mnt: &Path, dev: &str, hist: &History, n: usize, o: &mut Outcome) {
    let s = match scan(mnt, &[]) {
        Ok(s) => s,
        Err(e) => {
            o.failures.push(format!("reading the tree: {e}"));
            return;
        }
    };
    o.report = verify(hist, n, &s.snap, &cfg.ignore);
    o.failures.extend(o.report.failures.iter().cloned());
    // Deduplication accounting after recovery.
    let (Some(phys), Some(refd), Some(filt)) = (
        stat(dev, "physical_blocks_used"),
        stat(dev, "logical_blocks_referenced"),
        stat(dev, "filter_entries"),
    ) else {
        o.failures
            .push(format!("no counters in /sys/fs/livedfs/{dev}"));
        return;
    };
    if refd != s.mapped {
        o.failures.push(format!(
            "dedup: {refd} block references counted, but the files map {} blocks",
            s.mapped
        ));
    }
    if filt != phys {
        o.failures.push(format!(
            "dedup: filter has {filt} entries for {phys} stored blocks"
        ));
    }
    if phys > s.distinct + s.tails {
        o.failures.push(format!(
            "dedup: {phys} blocks stored for {} distinct whole-block contents and {} partial tails (duplicates or leaked blocks)",
            s.distinct, s.tails
        ));
    }
    // A new copy of existing data must deduplicate against it: the
    // filter was rebuilt from the recovered stores.
    let Some((path, f)) = s
        .snap
        .files
        .iter()
        .filter(|(_, f)| f.blocks.iter().any(|&h| h != zero_hash()) && f.size >= BLOCK as u64)
        .max_by_key(|(_, f)| f.size)
    else {
        return;
    };
    let whole = ((f.size / BLOCK as u64).min(512) as usize) * BLOCK;
    let data = match std::fs::read(mnt.join(path)) {
        Ok(d) => d,
        Err(e) => {
            o.failures.push(format!("{path}: read: {e}"));
            return;
        }
    };
    let copy = mnt.join(COPY_NAME);
    let r = (|| -> io::Result<()> {
        let c = File::create(&copy)?;
        c.write_all_at(&data[..whole], 0)?;
        c.sync_all()
    })();
    if let Err(e) = r {
        o.failures.push(format!("writing a copy of {path}: {e}"));
        return;
    }
    let after = stat(dev, "physical_blocks_used").unwrap_or(0);
    if after != phys {
        o.failures.push(format!(
            "dedup: a copy of {} KiB of {path} stored {} new block(s) (the data was already there)",
            whole / 1024,
            after as i64 - phys as i64
        ));
    }
}
