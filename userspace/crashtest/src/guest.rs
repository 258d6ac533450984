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
pub fn mount(
    dev: &Path,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> io::Result<()> {
    let (d, t) = (cstr(dev)?, cstr(target)?);
    let f = CString::new(fstype).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let o = CString::new(data).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: valid C strings for the call.
    os_check(unsafe { libc::mount(d.as_ptr(), t.as_ptr(), f.as_ptr(), flags, o.as_ptr().cast()) })
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

/// Text quoted from a kernel line or a tool's output, made safe to print
/// on the guest console: scripts/vm.sh fails a whole run on any line
/// looking like a kernel report ("WARNING:", "BUG:", "Oops", ...), and a
/// quote of fsck's "WARNING: Filesystem still has errors" or of a kernel
/// line must fail its point only. (The kernel prints its own lines on the
/// console itself, so a real report is still seen by vm.sh.)
pub fn defang(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        // Lowercase every upper-case run of two letters or more
        // ("WARNING", "BUG", "KASAN"); the mixed-case patterns below.
        let prev_up = s[..i]
            .chars()
            .next_back()
            .is_some_and(|p| p.is_ascii_uppercase());
        let next_up = s[i + c.len_utf8()..]
            .chars()
            .next()
            .is_some_and(|n| n.is_ascii_uppercase());
        if c.is_ascii_uppercase() && (prev_up || next_up) {
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out.replace("Oops", "oops")
        .replace("Call Trace", "call trace")
        .replace("Kernel panic", "kernel panic")
        .replace("general protection", "general-protection")
        .replace("panicked at", "panicked-at")
        .replace("Objects remaining", "objects remaining")
        .replace("still has objects", "still-has-objects")
        .replace("INFO: task", "info: task")
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
/// skipping zero chunks (the file starts as one big hole; `maybe_data`,
/// if given, says which 64 KiB chunks can hold data: the others are not
/// even looked at), then the point's extra entries.
pub fn write_image(
    path: &Path,
    prefix: &[u8],
    maybe_data: Option<&[bool]>,
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
    const CH: usize = crate::replay::CHUNK;
    for (k, c) in prefix.chunks(CH).enumerate() {
        let skip = maybe_data.is_some_and(|m| !m.get(k).copied().unwrap_or(true));
        if !skip && c.iter().any(|&b| b != 0) {
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
    /// fsck.livedfs replayed a journal on the raw image.
    pub fsck_replayed: bool,
    /// Orphans fsck.livedfs finished on the raw image.
    pub fsck_orphans: usize,
    /// Repairs of fsck.livedfs that follow from finishing those orphans.
    pub fsck_followups: usize,
    /// The tree of the fsck-replayed image was compared with the
    /// kernel-replayed one (and found equal, unless a failure says not).
    pub compared: bool,
    /// Time taken.
    pub elapsed: Duration,
    /// Of which: fsck.livedfs on the raw image, the kernel's mount and
    /// checks, fsck.livedfs after the kernel, the comparison.
    pub phases: [Duration; 4],
}

/// The copy made to test deduplication after recovery.
pub const COPY_NAME: &str = ".crashtest-copy";

/// What the kernel's recovery left: the tree and the dedup counters,
/// read before the checker wrote anything.
pub struct Recovered {
    /// The tree.
    pub snap: Snapshot,
    /// physical_blocks_used.
    pub phys: u64,
    /// logical_blocks_referenced.
    pub refd: u64,
    /// filter_entries.
    pub filt: u64,
}

/// What fsck.livedfs may repair on a crash image that was never mounted
/// after the crash, besides nothing: the orphans (unlinked-but-open
/// files, unfinished truncations), which is exactly what the kernel's
/// recovery does at mount (ORPHAN_RELEASE, ORPHAN_TRUNCATE of
/// userspace/fsck/src/problem.rs). The journal replay itself is a note
/// ("DEV: recovering journal", as e2fsck), or, from fsck.livedfs before
/// 4c281af, a preen repair "The journal needs recovery.  REPLAYED.".
const FSCK_ORPHANS: [&str; 2] = [
    "Releasing orphan inode ",
    "Finishing the truncation of orphan inode ",
];

/// The repairs that follow from releasing or truncating an orphan in
/// fsck.livedfs: its pass 1 drops the orphan's pointers, and passes 5
/// and 6 then find the bitmaps, group counts and reference counts that
/// still count them (BLOCK_BITMAP_DIFF, INODE_BITMAP_DIFF, GROUP_COUNTS,
/// FP_UNOWNED, FP_REFCOUNT_HIGH). Accepted only on a point where fsck
/// finished an orphan; that the result is right is checked by the
/// comparison with the kernel's recovery (same tree, same counters) and
/// `fsck.livedfs -fn -E scrub` on both images (metadata and every data
/// block against its fingerprint).
fn is_orphan_followup(l: &str) -> bool {
    let w: Vec<&str> = l.split_whitespace().collect();
    l.starts_with("Block bitmap differences in group ")
        || l.starts_with("Inode bitmap differences in group ")
        || (w.first() == Some(&"Group") && l.contains(" summary is wrong: "))
        || (w.first() == Some(&"Block")
            && l.contains(" holds data (refcount ")
            && l.contains("but no file points to it"))
        || (w.first() == Some(&"Block")
            && l.contains(" has refcount ")
            && l.contains(", but only "))
}

/// Whether fsck's output line says it replayed the journal.
fn is_replay_line(l: &str) -> bool {
    l.ends_with("recovering journal") || l.starts_with("The journal needs recovery.  ")
}

/// What preen prints after a repair (userspace/fsck/src/problem.rs).
const PREEN_DONE: [&str; 10] = [
    "CLEARED.",
    "FREED.",
    "SALVAGED.",
    "CONNECTED.",
    "CLONED.",
    "ALLOCATED.",
    "TRUNCATED.",
    "REPLAYED.",
    "RELOCATED.",
    "FIXED.",
];

/// The repairs `fsck.livedfs -p` reports in `out` (one line each, the
/// device prefix removed) and whether preen gave up.
pub fn preen_repairs(out: &str, dev: &str) -> (Vec<String>, bool) {
    let prefix = format!("{dev}: ");
    let mut fixes = Vec::new();
    let mut halted = false;
    for l in out.lines() {
        let l = l.strip_prefix(&prefix).unwrap_or(l).trim_end();
        if l.contains("UNEXPECTED INCONSISTENCY") {
            halted = true;
        } else if PREEN_DONE.iter().any(|w| l.ends_with(&format!(".  {w}"))) {
            fixes.push(l.to_string());
        }
    }
    (fixes, halted)
}

fn run_tool(tool: &Path, args: &[&str], img: &Path) -> io::Result<(i32, String)> {
    let out = std::process::Command::new(tool)
        .args(args)
        .arg(img)
        .output()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Ok((out.status.code().unwrap_or(-1), text))
}

fn tail(text: &str, n: usize) -> String {
    let t: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .rev()
        .take(n)
        .collect();
    t.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// `fsck.livedfs -p` on the raw crash image `fimg` (the journal replayed
/// by fsck, not the kernel): exit 0 or 1, and no repair besides the
/// recovery itself; then `fsck.livedfs -fn` must find it clean. Returns
/// whether both held.
fn fsck_raw(fsck: &Path, fimg: &Path, o: &mut Outcome) -> bool {
    let before = o.failures.len();
    match run_tool(fsck, &["-p"], fimg) {
        Ok((code, text)) => {
            let (fixes, halted) = preen_repairs(&text, &fimg.display().to_string());
            o.fsck_replayed = text.lines().any(|l| is_replay_line(l.trim_end()));
            for l in text.lines().filter(|l| l.contains("Journal replay")) {
                // JOURNAL_BAD_TARGET (a note) or JOURNAL_REPLAY_ERRORS.
                o.failures
                    .push(format!("fsck.livedfs -p on the raw image: {l}"));
            }
            let fixes: Vec<&String> = fixes.iter().filter(|f| !is_replay_line(f)).collect();
            o.fsck_orphans = fixes
                .iter()
                .filter(|f| FSCK_ORPHANS.iter().any(|r| f.starts_with(r)))
                .count();
            for f in fixes
                .iter()
                .filter(|f| !FSCK_ORPHANS.iter().any(|r| f.starts_with(r)))
            {
                if o.fsck_orphans > 0 && is_orphan_followup(f) {
                    o.fsck_followups += 1;
                } else {
                    o.failures.push(format!(
                        "fsck.livedfs -p on the raw image: not only recovery: {f}"
                    ));
                }
            }
            if halted || !(code == 0 || code == 1) {
                o.failures.push(format!(
                    "fsck.livedfs -p on the raw image: exit {code}: {}",
                    tail(&text, 10)
                ));
            }
        }
        Err(e) => o.failures.push(format!("fsck.livedfs -p: {e}")),
    }
    if o.failures.len() == before {
        match run_tool(fsck, &["-fn", "-E", "scrub"], fimg) {
            Ok((0, _)) => {}
            Ok((code, text)) => o.failures.push(format!(
                "fsck.livedfs -fn after its own replay: exit {code}: {}",
                tail(&text, 12)
            )),
            Err(e) => o.failures.push(format!("fsck.livedfs -fn: {e}")),
        }
    }
    o.failures.len() == before
}

/// Checks one crash point whose image is already in `img`; `fimg`, if
/// given, is a second copy of it for fsck.livedfs's own replay.
pub fn check_point(
    cfg: &Config,
    img: &Path,
    fimg: Option<&Path>,
    hist: &History,
    seed: u64,
) -> Outcome {
    let t0 = Instant::now();
    let mut o = Outcome {
        failures: vec![],
        notes: vec![],
        report: Report::default(),
        progress: None,
        fsck_replayed: false,
        fsck_orphans: 0,
        fsck_followups: 0,
        compared: false,
        elapsed: Duration::ZERO,
        phases: [Duration::ZERO; 4],
    };
    let mut kmsg = Kmsg::open();
    // fsck.livedfs on the raw image first, as at boot after a power cut
    // (`fsck -p` before mounting).
    let fsck_ok = match (&cfg.fsck, fimg) {
        (Some(fsck), Some(fimg)) => fsck_raw(fsck, fimg, &mut o),
        _ => false,
    };
    let t1 = Instant::now();
    // The kernel's replay (mount), the checks on the recovered tree.
    let recovered = check_mounted(cfg, img, hist, seed, &mut o, &mut kmsg);
    let t2 = Instant::now();
    // Offline check of what the kernel left.
    if let Some(fsck) = &cfg.fsck {
        match run_tool(fsck, &["-fn", "-E", "scrub"], img) {
            Ok((0, _)) => {}
            Ok((code, text)) => o.failures.push(format!(
                "fsck.livedfs -fn after the kernel's replay: exit {code}: {}",
                tail(&text, 12)
            )),
            Err(e) => o.failures.push(format!("fsck.livedfs: {e}")),
        }
    }
    classify(kmsg.drain(), &mut o);
    let t3 = Instant::now();
    // The two recoveries must agree: the fsck-replayed image, mounted,
    // holds the same tree (every file's size and blocks) and the same
    // deduplication counters as the kernel-replayed one, and the kernel
    // finds nothing left to recover in it.
    if let (true, Some(fimg), Some(rec)) = (fsck_ok, fimg, recovered) {
        compare_fsck_image(cfg, fimg, &rec, &mut o, &mut kmsg);
    }
    o.phases = [t1 - t0, t2 - t1, t3 - t2, t3.elapsed()];
    o.elapsed = t0.elapsed();
    o
}

/// Mounts the fsck-replayed image and compares it with what the kernel's
/// own recovery gave.
fn compare_fsck_image(
    cfg: &Config,
    fimg: &Path,
    rec: &Recovered,
    o: &mut Outcome,
    kmsg: &mut Kmsg,
) {
    let dev = match LoopDev::attach(fimg) {
        Ok(d) => d,
        Err(e) => {
            o.failures
                .push(format!("fsck-replayed image: losetup: {e}"));
            return;
        }
    };
    let mnt = cfg.work.join("mnt");
    let _ = std::fs::create_dir_all(&mnt);
    if let Err(e) = mount(&dev.path, &mnt, "livedfs", libc::MS_RDONLY, "") {
        o.failures.push(format!("fsck-replayed image: mount: {e}"));
        let _ = dev.detach();
        return;
    }
    let before = o.failures.len();
    match scan(&mnt, &[]) {
        Ok(s) => {
            let d = diff_snapshots(&rec.snap, &s.snap);
            for x in d.iter().take(5) {
                o.failures
                    .push(format!("fsck's replay differs from the kernel's: {x}"));
            }
            if d.len() > 5 {
                o.failures.push(format!(
                    "fsck's replay differs from the kernel's: {} more",
                    d.len() - 5
                ));
            }
            let c = (
                stat(&dev.name, "physical_blocks_used"),
                stat(&dev.name, "logical_blocks_referenced"),
                stat(&dev.name, "filter_entries"),
            );
            if c != (Some(rec.phys), Some(rec.refd), Some(rec.filt)) {
                o.failures.push(format!(
                    "fsck's replay differs from the kernel's: dedup counters (stored, referenced, filter) {:?}, the kernel's ({}, {}, {})",
                    c, rec.phys, rec.refd, rec.filt
                ));
            }
        }
        Err(e) => o
            .failures
            .push(format!("fsck-replayed image: reading the tree: {e}")),
    }
    if let Err(e) = umount(&mnt) {
        o.failures.push(format!("fsck-replayed image: umount: {e}"));
    }
    for l in kmsg.drain() {
        if l.text.contains("journal recovered") || l.text.contains("not cleanly unmounted") {
            o.failures.push(format!(
                "fsck-replayed image: the kernel still recovered: {}",
                l.text
            ));
        } else if is_kernel_problem(&l) {
            o.failures.push(format!(
                "fsck-replayed image: kernel: <{}> {}",
                l.level, l.text
            ));
        }
    }
    if let Err(e) = dev.detach() {
        o.failures
            .push(format!("fsck-replayed image: losetup -d: {e}"));
    }
    o.compared = o.failures.len() == before;
}

/// The differences between two trees (paths, sizes, blocks).
pub fn diff_snapshots(a: &Snapshot, b: &Snapshot) -> Vec<String> {
    let mut d = Vec::new();
    for x in a.dirs.symmetric_difference(&b.dirs) {
        let side = if a.dirs.contains(x) {
            "only after the kernel's replay"
        } else {
            "only after fsck's"
        };
        d.push(format!("directory {x}/ {side}"));
    }
    for (p, fa) in &a.files {
        match b.files.get(p) {
            None => d.push(format!("{p} only after the kernel's replay")),
            Some(fb) if fa.size != fb.size => d.push(format!(
                "{p}: {} bytes after the kernel's replay, {} after fsck's",
                fa.size, fb.size
            )),
            Some(fb) => {
                if let Some(i) = fa.blocks.iter().zip(&fb.blocks).position(|(x, y)| x != y) {
                    d.push(format!("{p}: block {i} differs"));
                }
            }
        }
    }
    for p in b.files.keys().filter(|p| !a.files.contains_key(*p)) {
        d.push(format!("{p} only after fsck's replay"));
    }
    if a.others != b.others {
        d.push(format!("other files: {:?} vs {:?}", a.others, b.others));
    }
    d
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
) -> Option<Recovered> {
    // The progress record.
    let Ok(f) = File::open(img) else {
        o.failures.push("can't open the image".into());
        return None;
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
            return None;
        }
        Some(p) => p.syncs as usize,
        None => 0,
    };
    let dev = match LoopDev::attach(img) {
        Ok(d) => d,
        Err(e) => {
            o.failures.push(format!("losetup: {e}"));
            return None;
        }
    };
    let mnt = cfg.work.join("mnt");
    let _ = std::fs::create_dir_all(&mnt);
    if let Err(e) = mount(&dev.path, &mnt, "livedfs", 0, "") {
        o.failures.push(format!("mount: {e}"));
        let _ = dev.detach();
        return None;
    }
    let rec = check_tree(cfg, &mnt, &dev.name, hist, n, o);
    if let Err(e) = umount(&mnt) {
        o.failures.push(format!("umount: {e}"));
        // Keep going: lines from the kernel say more.
    }
    classify(kmsg.drain(), o);
    if let Err(e) = dev.detach() {
        o.failures.push(format!("losetup -d: {e}"));
    }
    rec
}

fn check_tree(
    cfg: &Config,
    mnt: &Path,
    dev: &str,
    hist: &History,
    n: usize,
    o: &mut Outcome,
) -> Option<Recovered> {
    let s = match scan(mnt, &[]) {
        Ok(s) => s,
        Err(e) => {
            o.failures.push(format!("reading the tree: {e}"));
            return None;
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
        return None;
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
    check_copy(mnt, dev, &s.snap, phys, o);
    Some(Recovered {
        snap: s.snap,
        phys,
        refd,
        filt,
    })
}

/// A new copy of existing data must deduplicate against it: the filter
/// was rebuilt from the recovered stores.
fn check_copy(mnt: &Path, dev: &str, snap: &Snapshot, phys: u64, o: &mut Outcome) {
    let Some((path, f)) = snap
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defang_quotes() {
        let d = defang("fsck: ********** WARNING: Filesystem still has errors **********");
        assert_eq!(
            d,
            "fsck: ********** warning: Filesystem still has errors **********"
        );
        assert_eq!(
            defang("kernel: <4> BUG: KASAN: use-after-free"),
            "kernel: <4> bug: kasan: use-after-free"
        );
        assert_eq!(defang("Oops: 0000 Call Trace:"), "oops: 0000 call trace:");
        assert_eq!(
            defang("img/vm5: synced state lost"),
            "img/vm5: synced state lost"
        );
        // Nothing vm.sh looks for survives.
        for s in [
            "WARNING: x",
            "BUG: y",
            "kernel BUG at",
            "Kernel panic",
            "INFO: task foo blocked",
            "UBSAN: z",
        ] {
            let d = defang(s);
            for pat in [
                "WARNING:",
                "BUG:",
                "BUG ",
                "Kernel panic",
                "INFO: task",
                "UBSAN",
                "KASAN",
            ] {
                assert!(!d.contains(pat), "{s} -> {d}");
            }
        }
    }

    #[test]
    fn preen_output() {
        let out = "/tmp/x.img: The journal needs recovery.  REPLAYED.\n\
                   /tmp/x.img: Releasing orphan inode 17 (unlinked while open).  CLEARED.\n\
                   /tmp/x.img: Inode 12, i_size is 5, should be 4096.  FIXED.\n\
                   /tmp/x.img: 20/5056 files, 100/20224 blocks\n";
        let (fixes, halted) = preen_repairs(out, "/tmp/x.img");
        assert!(!halted);
        assert_eq!(
            fixes,
            [
                "The journal needs recovery.  REPLAYED.",
                "Releasing orphan inode 17 (unlinked while open).  CLEARED.",
                "Inode 12, i_size is 5, should be 4096.  FIXED."
            ]
        );
        let out = "/tmp/x.img: Entry 'a' in directory 2 points to deleted/unused inode 12.\n\n\
                   /tmp/x.img: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.\n\t(i.e., without -a or -p options)\n";
        let (fixes, halted) = preen_repairs(out, "/tmp/x.img");
        assert!(halted);
        assert!(fixes.is_empty());
        assert!(is_orphan_followup(
            "Block bitmap differences in group 0: -(1642--2058) -(2060--2105).  FIXED."
        ));
        assert!(is_orphan_followup(
            "Inode bitmap differences in group 0: -15.  FIXED."
        ));
        assert!(is_orphan_followup(
            "Group 0 summary is wrong: free blocks 18119 should be 18582, free inodes 5041 should be 5042.  FIXED."
        ));
        assert!(is_orphan_followup(
            "Block 1642 holds data (refcount 1) but no file points to it.  FREED."
        ));
        assert!(is_orphan_followup(
            "Block 7 has refcount 3, but only 2 pointers refer to it.  FIXED."
        ));
        assert!(!is_orphan_followup(
            "Block 7 has refcount 1, but 2 pointers refer to it.  FIXED."
        ));
        assert!(!is_orphan_followup(
            "Inode 12, i_size is 5, should be 4096.  FIXED."
        ));
        // The replay is a note since 4c281af, a preen repair before.
        assert!(is_replay_line("/tmp/x.img: recovering journal"));
        assert!(is_replay_line("The journal needs recovery.  REPLAYED."));
        assert!(!is_replay_line(
            "Inode 12, i_size is 5, should be 4096.  FIXED."
        ));
    }

    #[test]
    fn snapshot_diffs() {
        let f = |size: u64, blocks: &[u128]| FileSnap {
            size,
            blocks: blocks.to_vec(),
        };
        let mut a = Snapshot::default();
        a.dirs.insert("d".into());
        a.files.insert("d/x".into(), f(8192, &[1, 2]));
        a.files.insert("y".into(), f(10, &[3]));
        let b = a.clone();
        assert!(diff_snapshots(&a, &b).is_empty());
        let mut c = a.clone();
        c.files.insert("d/x".into(), f(8192, &[1, 5]));
        c.files.remove("y");
        c.files.insert("z".into(), f(1, &[4]));
        c.dirs.insert("e".into());
        let d = diff_snapshots(&a, &c);
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(d.iter().any(|x| x == "d/x: block 1 differs"));
        assert!(d.iter().any(|x| x == "y only after the kernel's replay"));
        assert!(d.iter().any(|x| x == "z only after fsck's replay"));
        assert!(d.iter().any(|x| x == "directory e/ only after fsck's"));
    }
}
