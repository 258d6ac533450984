//! stress: shared blocks under concurrency and failure (issue 16).
//!
//! A file `S` of seeded data is written once, fsync'd and never written
//! again. Four files share its blocks: `F1-ficlone` (FICLONE),
//! `F2-ficlonerange` (FICLONERANGE window by window, in shuffled order),
//! `F3-samebytes` (the same bytes written again: inline deduplication
//! shares them) and `F4-fidedupe` (the same bytes, then FIDEDUPERANGE
//! against S).
//!
//! `run DIR DURATION SEED THREADS`: threads race on the sharers, mostly on
//! two hot 64 KiB windows (the same offsets in every sharer, so the same
//! shared blocks of S), re-chosen every 3 s: writes through a shared mmap +
//! msync, O_DIRECT and buffered writes and reads, hole punching
//! (FALLOC_FL_PUNCH_HOLE|KEEP_SIZE, aligned or not), truncation down and
//! back up (aligned or not), FICLONERANGE from S and between sharers,
//! FIDEDUPERANGE against S (after re-cloning or rewriting the range) and
//! between sharers, fsync, fdatasync, sync, syncfs, reads of S, and
//! `drop_caches` every second.
//!
//! The model: every operation that changes a sharer's data registers the
//! blocks it touches before the system call and reports its effect after
//! it. A block's content is known exactly when no two registered
//! operations on it overlapped in time (a per-block generation counter
//! tells); where they did, the block is unknown until an operation alone
//! on it rewrites it whole. Reads are checked against the model where they
//! ran alone on known blocks; at the end (after sync and a cache drop)
//! every known block of every sharer must equal its model, S must equal
//! its original bytes exactly, and any errno at all is a failure. The
//! program holds two locks per file across system calls, only where a
//! correct file system would fail the caller: truncation excludes mmap
//! accesses (SIGBUS past EOF), the remap ioctls (EINVAL), hole punching
//! and O_DIRECT reads (EINVAL on ext4, EIO on XFS while the file is
//! short); O_DIRECT I/O excludes writes through the mapping (EIO on XFS).
//! Everything else, writeback, sync and cache drops race freely.
//!
//! `verify DIR SEED MODEL`: the model `run --model` saved, checked again
//! (after a remount): S and every known block.
//!
//! `prepare DIR SEED` + `near-full DIR DURATION SEED THREADS`: S and its
//! sharers are made, the volume is filled to ENOSPC (by the caller), then
//! writer threads overwrite blocks of the sharers (buffered and O_DIRECT
//! pwrite, mmap writes in a forked child so SIGBUS is survivable, punch,
//! FICLONERANGE from S, fsync, fdatasync, syncfs, sync). Every call must
//! succeed or fail with ENOSPC (SIGBUS for an mmap write); nothing else.
//! Each thread owns its own windows, so its model is exact: a write whose
//! fsync (on the thread's own descriptor) succeeded must read back, one
//! that failed with ENOSPC left the old bytes, S is intact.
//!
//! With `--sysfs /sys/fs/livedfs/DEV` the deduplication counters are
//! checked at the end: `logical_blocks_referenced` equals the blocks mapped
//! by the files (SEEK_DATA/SEEK_HOLE), `filter_entries` equals
//! `physical_blocks_used`, which is at most the number of distinct contents
//! of the mapped blocks.
//!
//! Output: one `PASS:`/`FAIL:` line per check, a summary line of operation
//! counts, exit status 0 only if nothing failed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use fstests::content::{hex, rng};
use fstests::report::{emit, Report};
use fstests::sys::{self, Errno, SysResult};

/// Block size the program reasons in (livedfs's and the page size).
const BS: usize = 4096;
/// Blocks per window (64 KiB).
const WIN: usize = 16;
/// Names of the sharers, in the order they are made.
const NAMES: [&str; 4] = [
    "F1-ficlone",
    "F2-ficlonerange",
    "F3-samebytes",
    "F4-fidedupe",
];
/// Header of every block of S: magic, block index, seed.
const S_MAGIC: &[u8; 8] = b"LDSTRS-S";
/// Header of every block the threads write: magic, thread, file, block,
/// sequence number, milliseconds since the start.
const W_MAGIC: &[u8; 8] = b"LDSTRS-W";
/// An operation that has not returned for this long is reported as a hang.
const HANG_SECS: u64 = 90;
/// Failure lines printed at most (the count is always reported).
const MAX_FAIL_LINES: usize = 40;

/// From <linux/fs.h>.
const FICLONE: libc::c_ulong = 0x4004_9409;
const FICLONERANGE: libc::c_ulong = 0x4020_940d;
const FIDEDUPERANGE: libc::c_ulong = 0xC018_9436;
const FILE_DEDUPE_RANGE_SAME: i32 = 0;
const FILE_DEDUPE_RANGE_DIFFERS: i32 = 1;

#[derive(Parser)]
#[command(
    name = "stress",
    about = "Shared blocks under concurrency and near ENOSPC: a file that is never written stays intact, every modelled block reads back exact"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make S and its sharers in DIR, race THREADS threads on them for
    /// DURATION seconds, then check S and every block the model knows.
    Run {
        dir: PathBuf,
        /// Seconds of racing.
        duration: u64,
        seed: u64,
        threads: usize,
        /// Size of S and of each sharer, in MiB (a multiple of 64 KiB).
        #[arg(long, default_value_t = 2)]
        size_mib: usize,
        /// Copy instead of FICLONE/FICLONERANGE and skip FIDEDUPERANGE (a
        /// control run on a file system without reflink, e.g. ext4).
        #[arg(long)]
        no_reflink: bool,
        /// Seconds between `echo 3 > /proc/sys/vm/drop_caches` (0: never).
        #[arg(long, default_value_t = 1.0)]
        drop_caches: f64,
        /// Save the model here (for `verify` after a remount).
        #[arg(long)]
        model: Option<PathBuf>,
        /// /sys/fs/livedfs/DEV of the volume: check its counters at the end.
        #[arg(long)]
        sysfs: Option<PathBuf>,
        /// Leave out these thread roles (comma-separated), e.g. to find
        /// which operation a failure needs.
        #[arg(long, value_enum, value_delimiter = ',')]
        skip: Vec<Role>,
        /// No O_DIRECT reads into the mapping (the mmap role's pinned-page
        /// writes).
        #[arg(long)]
        no_dio_into_mmap: bool,
    },
    /// Check S (from SEED) and every known block of a saved model.
    Verify {
        dir: PathBuf,
        seed: u64,
        model: PathBuf,
        /// /sys/fs/livedfs/DEV of the volume: check its counters too.
        #[arg(long)]
        sysfs: Option<PathBuf>,
        /// Drop the page cache first (default: yes, if root).
        #[arg(long)]
        no_drop_caches: bool,
    },
    /// Make S and its sharers in DIR (for `near-full`), fsync'd and synced.
    Prepare {
        dir: PathBuf,
        seed: u64,
        #[arg(long, default_value_t = 2)]
        size_mib: usize,
        #[arg(long)]
        no_reflink: bool,
    },
    /// On a volume filled to ENOSPC after `prepare`: writers overwrite
    /// blocks of the sharers; every call succeeds or fails with ENOSPC.
    NearFull {
        dir: PathBuf,
        duration: u64,
        seed: u64,
        threads: usize,
        #[arg(long)]
        no_reflink: bool,
        #[arg(long, default_value_t = 2.0)]
        drop_caches: f64,
        /// Also fail when fsync/msync/syncfs report ENOSPC for writes that
        /// succeeded (space was not reserved at write time).
        #[arg(long)]
        strict_reservation: bool,
        /// Save the model here (for `verify` after a remount).
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long)]
        sysfs: Option<PathBuf>,
    },
}

fn main() {
    let cli = Cli::parse();
    let rep = Mutex::new(Report::new());
    let r = match cli.cmd {
        Cmd::Run {
            dir,
            duration,
            seed,
            threads,
            size_mib,
            no_reflink,
            drop_caches,
            model,
            sysfs,
            skip,
            no_dio_into_mmap,
        } => cmd_run(
            &rep,
            RunOpts {
                dir,
                duration,
                seed,
                threads,
                size: size_mib << 20,
                reflink: !no_reflink,
                drop_every: drop_caches,
                model,
                sysfs,
                roles: ROLES.into_iter().filter(|r| !skip.contains(r)).collect(),
                dio_into_mmap: !no_dio_into_mmap,
            },
        ),
        Cmd::Verify {
            dir,
            seed,
            model,
            sysfs,
            no_drop_caches,
        } => cmd_verify(&rep, &dir, seed, &model, sysfs.as_deref(), !no_drop_caches),
        Cmd::Prepare {
            dir,
            seed,
            size_mib,
            no_reflink,
        } => make_files(&rep, &dir, seed, size_mib << 20, !no_reflink).map(drop),
        Cmd::NearFull {
            dir,
            duration,
            seed,
            threads,
            no_reflink,
            drop_caches,
            strict_reservation,
            model,
            sysfs,
        } => cmd_near_full(
            &rep,
            NearOpts {
                dir,
                duration,
                seed,
                threads,
                reflink: !no_reflink,
                drop_every: drop_caches,
                strict: strict_reservation,
                model,
                sysfs,
            },
        ),
    };
    let mut rep = lock(&rep);
    if let Err(e) = r {
        rep.fail("stress", &format!("{e:#}"));
    }
    rep.summary("stress");
    std::process::exit(rep.exit_code());
}

/// A mutex guard, also after a thread panicked holding it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Contents

/// S: seeded random data, each block stamped with its index (so every
/// block is distinct and none is zero).
fn s_content(seed: u64, size: usize) -> Vec<u8> {
    let mut v = vec![0u8; size];
    rng(seed, 0).fill_bytes(&mut v);
    for (k, b) in v.chunks_mut(BS).enumerate() {
        b[..8].copy_from_slice(S_MAGIC);
        b[8..16].copy_from_slice(&(k as u64).to_le_bytes());
        b[16..24].copy_from_slice(&seed.to_le_bytes());
    }
    v
}

/// One block of fresh random data with a header saying who wrote it.
fn fresh_block(
    r: &mut ChaCha8Rng,
    thread: usize,
    file: usize,
    block: usize,
    seq: u64,
    ms: u64,
) -> Vec<u8> {
    let mut b = vec![0u8; BS];
    r.fill_bytes(&mut b);
    b[..8].copy_from_slice(W_MAGIC);
    b[8..12].copy_from_slice(&(thread as u32).to_le_bytes());
    b[12..16].copy_from_slice(&(file as u32).to_le_bytes());
    b[16..24].copy_from_slice(&(block as u64).to_le_bytes());
    b[24..32].copy_from_slice(&seq.to_le_bytes());
    b[32..40].copy_from_slice(&ms.to_le_bytes());
    b
}

fn short_digest(b: &[u8]) -> String {
    hex(&Sha256::digest(b))[..16].to_string()
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// What a block holds, as far as the headers tell: zeros, a block of S,
/// a block some thread wrote, and where a zeroed tail starts.
fn describe(b: &[u8], s: &[u8]) -> String {
    if b.iter().all(|&x| x == 0) {
        return "zeros".into();
    }
    let mut d = if b.len() >= 40 && &b[..8] == S_MAGIC {
        let k = u64_at(b, 8) as usize;
        if (k + 1) * BS <= s.len() && b == &s[k * BS..(k + 1) * BS] {
            format!("S block {k}")
        } else {
            format!("S block {k}'s header, other bytes differ")
        }
    } else if b.len() >= 40 && &b[..8] == W_MAGIC {
        format!(
            "data thread {} wrote for {} block {} (its op #{}, at {} ms)",
            u32_at(b, 8),
            NAMES.get(u32_at(b, 12) as usize).unwrap_or(&"?"),
            u64_at(b, 16),
            u64_at(b, 24),
            u64_at(b, 32)
        )
    } else if b.iter().take(64).all(|&x| x == 0) {
        "zeros at the start, then data".into()
    } else {
        "unrecognised data".into()
    };
    let tail = b.iter().rev().take_while(|&&x| x == 0).count();
    if tail >= 64 && tail < b.len() {
        d.push_str(&format!(", zeros from byte {}", b.len() - tail));
    }
    d
}

// ---------------------------------------------------------------------------
// The model of one sharer

#[derive(Clone, Copy, Default)]
struct Blk {
    /// Bumped when a registered write begins or ends on the block.
    gen: u64,
    /// Registered writes in flight.
    active: u32,
    /// The model's bytes are the block's content.
    known: bool,
    /// Changed by the run at least once (known or not).
    touched: bool,
}

struct Model {
    data: Vec<u8>,
    blk: Vec<Blk>,
    /// Writes that overlapped another write on a block.
    collisions: u64,
}

/// Blocks registered by one operation, with their generations.
struct Ticket {
    first: usize,
    gens: Vec<u64>,
    clean: bool,
}

/// A block that read back different from the model.
struct Mismatch {
    block: usize,
    /// Byte range of the block compared.
    range: (usize, usize),
    expected: Vec<u8>,
    actual: Vec<u8>,
}

impl Model {
    fn new(data: Vec<u8>) -> Self {
        let n = data.len() / BS;
        Model {
            data,
            blk: vec![
                Blk {
                    known: true,
                    ..Blk::default()
                };
                n
            ],
            collisions: 0,
        }
    }

    /// Register blocks `first..first+n` for a write (or a read).
    fn begin(&mut self, first: usize, n: usize, write: bool) -> Ticket {
        let mut clean = true;
        let mut gens = Vec::with_capacity(n);
        for s in &mut self.blk[first..first + n] {
            if s.active > 0 {
                clean = false;
            }
            if write {
                s.active += 1;
                s.gen += 1;
            }
            gens.push(s.gen);
        }
        Ticket { first, gens, clean }
    }

    /// End of a write: file bytes `off..off+len` became `bytes` (None: not
    /// known). A block the write had to itself takes the bytes (a partial
    /// write only if the block was known); any other block becomes unknown.
    fn end_write(&mut self, t: Ticket, off: usize, len: usize, bytes: Option<&[u8]>) {
        let mut collided = false;
        for (i, g) in t.gens.iter().enumerate() {
            let b = t.first + i;
            let s = &mut self.blk[b];
            let alone = t.clean && s.gen == *g;
            s.active -= 1;
            s.gen += 1;
            s.touched = true;
            collided |= !alone;
            let (bs, be) = (b * BS, (b + 1) * BS);
            let (ws, we) = (off.max(bs), (off + len).min(be));
            match bytes {
                Some(src) if alone && ws < we => {
                    if (ws == bs && we == be) || s.known {
                        self.data[ws..we].copy_from_slice(&src[ws - off..we - off]);
                        s.known = true;
                    }
                }
                _ => s.known = false,
            }
        }
        if collided {
            self.collisions += 1;
        }
    }

    /// Whether no write began, ended or was in flight on the ticket's
    /// blocks since `begin`, block by block.
    fn alone(&self, t: &Ticket) -> Vec<bool> {
        t.gens
            .iter()
            .enumerate()
            .map(|(i, g)| t.clean && self.blk[t.first + i].gen == *g)
            .collect()
    }

    /// End of a read of file bytes `off..off+want` that returned `actual`
    /// (maybe short): the known blocks it had to itself must match. A
    /// block found different becomes unknown (reported once).
    fn check_read(&mut self, t: &Ticket, off: usize, want: usize, actual: &[u8]) -> Vec<Mismatch> {
        let alone = self.alone(t);
        let mut out = Vec::new();
        for (i, a) in alone.iter().enumerate() {
            let b = t.first + i;
            if !a || !self.blk[b].known {
                continue;
            }
            let (bs, be) = (b * BS, (b + 1) * BS);
            let (ws, we) = (off.max(bs), (off + want).min(be));
            if ws >= we {
                continue;
            }
            let exp = &self.data[ws..we];
            let got_end = (off + actual.len()).clamp(ws, we);
            let got = &actual[ws - off..got_end - off];
            if got != exp {
                out.push(Mismatch {
                    block: b,
                    range: (ws - bs, we - bs),
                    expected: exp.to_vec(),
                    actual: got.to_vec(),
                });
                self.blk[b].known = false;
            }
        }
        out
    }

    /// The bytes `off..off+len` if the read registered as `t` had its
    /// blocks to itself and they are all known.
    fn bytes_if_known(&self, t: &Ticket, off: usize, len: usize) -> Option<Vec<u8>> {
        let alone = self.alone(t);
        let all = alone
            .iter()
            .enumerate()
            .all(|(i, a)| *a && self.blk[t.first + i].known);
        all.then(|| self.data[off..off + len].to_vec())
    }
}

// ---------------------------------------------------------------------------
// System calls the wrappers in sys.rs do not have

/// A shared mapping of a whole file.
struct Map {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory shared with the page cache; the
// program coordinates its accesses (per-file locks, page-sized copies).
unsafe impl Send for Map {}
// SAFETY: as above.
unsafe impl Sync for Map {}

impl Map {
    fn new(fd: &impl AsRawFd, len: usize) -> SysResult<Map> {
        // SAFETY: a fresh shared mapping of `len` bytes of an open file.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        Ok(Map { ptr: p.cast(), len })
    }

    /// Copy `data` to the mapping at `off`. The caller makes sure the file
    /// covers the range (else SIGBUS).
    fn write(&self, off: usize, data: &[u8]) {
        assert!(off + data.len() <= self.len);
        // SAFETY: in bounds of the mapping (checked above).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(off), data.len()) };
    }

    fn read(&self, off: usize, out: &mut [u8]) {
        assert!(off + out.len() <= self.len);
        // SAFETY: in bounds of the mapping (checked above).
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(off), out.as_mut_ptr(), out.len()) };
    }

    /// pread(2) from `fd` at `src_off` into the mapping at `off` (the
    /// mapping is the buffer: O_DIRECT pins its pages).
    fn pread_into(
        &self,
        fd: &impl AsRawFd,
        src_off: usize,
        off: usize,
        len: usize,
    ) -> SysResult<usize> {
        assert!(off + len <= self.len);
        loop {
            // SAFETY: the destination is in bounds of the mapping.
            let r = unsafe {
                libc::pread64(
                    fd.as_raw_fd(),
                    self.ptr.add(off).cast(),
                    len,
                    src_off as i64,
                )
            };
            if r >= 0 {
                return Ok(r as usize);
            }
            let e = Errno::last();
            if e != Errno::EINTR {
                return Err(e);
            }
        }
    }

    fn msync(&self, off: usize, len: usize, flags: libc::c_int) -> SysResult<()> {
        assert!(off % BS == 0 && off + len <= self.len);
        // SAFETY: a page-aligned range inside the mapping.
        let r = unsafe { libc::msync(self.ptr.add(off).cast(), len, flags) };
        if r == 0 {
            Ok(())
        } else {
            Err(Errno::last())
        }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

#[repr(C)]
struct CloneRange {
    src_fd: i64,
    src_offset: u64,
    src_length: u64,
    dest_offset: u64,
}

fn ficlone(dst: &impl AsRawFd, src: &impl AsRawFd) -> SysResult<()> {
    // SAFETY: FICLONE takes the source descriptor as its argument.
    let r = unsafe { libc::ioctl(dst.as_raw_fd(), FICLONE, src.as_raw_fd()) };
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

fn ficlonerange(
    src: &impl AsRawFd,
    src_off: usize,
    len: usize,
    dst: &impl AsRawFd,
    dst_off: usize,
) -> SysResult<()> {
    let arg = CloneRange {
        src_fd: i64::from(src.as_raw_fd()),
        src_offset: src_off as u64,
        src_length: len as u64,
        dest_offset: dst_off as u64,
    };
    // SAFETY: a valid file_clone_range, live for the call.
    let r = unsafe { libc::ioctl(dst.as_raw_fd(), FICLONERANGE, &arg as *const CloneRange) };
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

#[repr(C)]
struct DedupeInfo {
    dest_fd: i64,
    dest_offset: u64,
    bytes_deduped: u64,
    status: i32,
    reserved: u32,
}

#[repr(C)]
struct DedupeRange {
    src_offset: u64,
    src_length: u64,
    dest_count: u16,
    reserved1: u16,
    reserved2: u32,
    info: [DedupeInfo; 1],
}

/// FIDEDUPERANGE of one range: Ok(Some(bytes)) when the data was the same
/// (`bytes` deduplicated), Ok(None) when it differed.
fn fidedupe(
    src: &impl AsRawFd,
    src_off: usize,
    len: usize,
    dst: &impl AsRawFd,
    dst_off: usize,
) -> SysResult<Option<u64>> {
    let mut arg = DedupeRange {
        src_offset: src_off as u64,
        src_length: len as u64,
        dest_count: 1,
        reserved1: 0,
        reserved2: 0,
        info: [DedupeInfo {
            dest_fd: i64::from(dst.as_raw_fd()),
            dest_offset: dst_off as u64,
            bytes_deduped: 0,
            status: 0,
            reserved: 0,
        }],
    };
    // SAFETY: a valid file_dedupe_range with one info slot, live for the call.
    let r = unsafe { libc::ioctl(src.as_raw_fd(), FIDEDUPERANGE, &mut arg as *mut DedupeRange) };
    if r != 0 {
        return Err(Errno::last());
    }
    match arg.info[0].status {
        FILE_DEDUPE_RANGE_SAME => Ok(Some(arg.info[0].bytes_deduped)),
        FILE_DEDUPE_RANGE_DIFFERS => Ok(None),
        s if s < 0 => Err(Errno::from_raw(-s)),
        _ => Err(Errno::EPROTO),
    }
}

/// FIBMAP: the physical block behind file block `b` (None if not mapped
/// or the ioctl is not available).
fn fibmap(fd: &impl AsRawFd, b: u64) -> Option<u32> {
    const FIBMAP: libc::c_ulong = 1;
    let mut arg: libc::c_int = i32::try_from(b).ok()?;
    // SAFETY: FIBMAP reads and writes one int.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), FIBMAP, &mut arg as *mut libc::c_int) };
    (r == 0 && arg > 0).then_some(arg as u32)
}

fn sync_all() {
    // SAFETY: sync(2) takes no arguments.
    unsafe { libc::sync() };
}

fn drop_caches() -> Result<()> {
    std::fs::write("/proc/sys/vm/drop_caches", "3").context("echo 3 > /proc/sys/vm/drop_caches")
}

/// A zeroed buffer aligned to 4096 bytes (for O_DIRECT).
struct Aligned {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Self {
        let storage = vec![0u8; len + BS];
        let start = storage.as_ptr().align_offset(BS);
        Aligned {
            storage,
            start,
            len,
        }
    }
    fn buf(&mut self, n: usize) -> &mut [u8] {
        assert!(n <= self.len);
        &mut self.storage[self.start..self.start + n]
    }
}

fn open_rw(p: &Path, direct: bool) -> Result<OwnedFd> {
    let flags = libc::O_RDWR | if direct { libc::O_DIRECT } else { 0 };
    sys::open(p, flags, 0).with_context(|| {
        format!(
            "open {}{}",
            p.display(),
            if direct { " O_DIRECT" } else { "" }
        )
    })
}

fn read_whole(p: &Path) -> Result<Vec<u8>> {
    let fd = sys::open(p, libc::O_RDONLY, 0).with_context(|| format!("open {}", p.display()))?;
    let size = sys::fstat(&fd)
        .with_context(|| format!("stat {}", p.display()))?
        .st_size as usize;
    let mut v = vec![0u8; size];
    let n = sys::pread_full(&fd, &mut v, 0).with_context(|| format!("read {}", p.display()))?;
    v.truncate(n);
    Ok(v)
}

// ---------------------------------------------------------------------------
// Setup: S and its sharers

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Make S and the four sharers in `dir`; every one must read back equal to
/// S. Returns S's bytes.
fn make_files(
    rep: &Mutex<Report>,
    dir: &Path,
    seed: u64,
    size: usize,
    reflink: bool,
) -> Result<Vec<u8>> {
    if size == 0 || size % (WIN * BS) != 0 {
        bail!("the size must be a non-zero multiple of 64 KiB");
    }
    let s = s_content(seed, size);
    let create = |name: &str| -> Result<OwnedFd> {
        let p = dir.join(name);
        match sys::unlink(&p) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => bail!("unlink {}: {e}", p.display()),
        }
        sys::open(&p, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, 0o644)
            .with_context(|| format!("create {}", p.display()))
    };
    let sfd = create("S")?;
    sys::pwrite_all(&sfd, &s, 0).context("write S")?;
    sys::fsync(&sfd).context("fsync S")?;
    let nwin = size / (WIN * BS);
    // F1: FICLONE of the whole file.
    let f1 = create(NAMES[0])?;
    if reflink {
        ficlone(&f1, &sfd).context("FICLONE S to F1")?;
    } else {
        sys::pwrite_all(&f1, &s, 0).context("write F1")?;
    }
    // F2: FICLONERANGE window by window, in a shuffled order.
    let f2 = create(NAMES[1])?;
    sys::ftruncate(&f2, size as i64).context("ftruncate F2")?;
    let mut order: Vec<usize> = (0..nwin).collect();
    let mut r = rng(seed, 1);
    for i in (1..order.len()).rev() {
        order.swap(i, r.random_range(0..=i));
    }
    for w in order {
        let off = w * WIN * BS;
        if reflink {
            ficlonerange(&sfd, off, WIN * BS, &f2, off)
                .with_context(|| format!("FICLONERANGE S to F2 at {off}"))?;
        } else {
            sys::pwrite_all(&f2, &s[off..off + WIN * BS], off as u64).context("write F2")?;
        }
    }
    // F3: the same bytes, written again (inline deduplication shares them).
    let f3 = create(NAMES[2])?;
    sys::pwrite_all(&f3, &s, 0).context("write F3")?;
    // F4: the same bytes, then FIDEDUPERANGE against S.
    let f4 = create(NAMES[3])?;
    sys::pwrite_all(&f4, &s, 0).context("write F4")?;
    sys::fsync(&f4).context("fsync F4")?;
    if reflink {
        let mut done = 0;
        while done < size {
            match fidedupe(&sfd, done, size - done, &f4, done).context("FIDEDUPERANGE S to F4")? {
                Some(0) => bail!("FIDEDUPERANGE S to F4 at {done}: 0 bytes deduplicated"),
                Some(n) => done += n as usize,
                None => bail!("FIDEDUPERANGE S to F4 at {done}: the data differs"),
            }
        }
    }
    for f in [&f1, &f2, &f3, &f4] {
        sys::fsync(f).context("fsync a sharer")?;
    }
    sync_all();
    let mut bad = Vec::new();
    for name in std::iter::once("S").chain(NAMES) {
        if read_whole(&dir.join(name))? != s {
            bad.push(name);
        }
    }
    let mut rep = lock(rep);
    if bad.is_empty() {
        rep.pass(&format!(
            "setup: S ({} blocks) and its sharers {} read back equal to S",
            size / BS,
            NAMES.join(", ")
        ));
    } else {
        rep.fail(
            "setup: S and its sharers read back equal to S",
            &format!("differ: {}", bad.join(", ")),
        );
    }
    Ok(s)
}

// ---------------------------------------------------------------------------
// Shared state of a run

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
enum Role {
    Mmap,
    Direct,
    Punch,
    Truncate,
    Reflink,
    Sync,
}

const ROLES: [Role; 6] = [
    Role::Mmap,
    Role::Direct,
    Role::Punch,
    Role::Truncate,
    Role::Reflink,
    Role::Sync,
];

/// The roles of thread `i` of `n`: with as many threads as roles or more
/// one each, round robin; with fewer, a thread takes several (every role
/// always runs).
fn roles_for(i: usize, n: usize, roles: &[Role]) -> Vec<Role> {
    if n >= roles.len() {
        vec![roles[i % roles.len()]]
    } else {
        roles
            .iter()
            .enumerate()
            .filter(|(j, _)| j % n == i)
            .map(|(_, r)| *r)
            .collect()
    }
}

struct Sharer {
    name: &'static str,
    fd: OwnedFd,
    dfd: OwnedFd,
    map: Map,
    /// Truncation and O_DIRECT reads into the mapping take it exclusive;
    /// mmap accesses, the remap ioctls and hole punching shared (mmap and
    /// the ioctls must not meet a shorter file; punch and truncate exclude
    /// each other in the kernel anyway).
    size_lock: RwLock<()>,
    /// O_DIRECT I/O and writes through the mapping take it. Pages dirtied
    /// through a mapping while O_DIRECT works on the file make the kernel
    /// fail it on a correct file system (XFS: EIO and "Direct I/O
    /// collision with buffered writes" on a read, "Page cache invalidation
    /// failure on direct I/O" and EIO to the next fsync or msync after a
    /// write; its copy-on-write reservations reach past the range
    /// written): the caller's fault, so the two never meet on a file.
    dio_mmap: Mutex<()>,
    model: Mutex<Model>,
}

struct Ctx {
    seed: u64,
    size: usize,
    nblocks: usize,
    reflink: bool,
    s: Vec<u8>,
    sfd: OwnedFd,
    sdfd: OwnedFd,
    files: Vec<Sharer>,
    start: Instant,
    deadline: Instant,
    drop_every: f64,
    dio_into_mmap: bool,
    stop: AtomicBool,
    running: AtomicUsize,
    /// Per thread: what it is doing and since when (ms since start).
    doing: Vec<(AtomicUsize, AtomicU64)>,
    counts: Mutex<BTreeMap<&'static str, u64>>,
    rep: Mutex<Report>,
    fail_lines: AtomicUsize,
    failures: AtomicUsize,
}

/// What a thread can be doing (for the hang report).
const DOING: [&str; 12] = [
    "idle",
    "an mmap write + msync",
    "an mmap read",
    "O_DIRECT or buffered I/O",
    "a hole punch",
    "a truncation",
    "FICLONERANGE",
    "FIDEDUPERANGE",
    "fsync/fdatasync/syncfs",
    "sync()",
    "drop_caches",
    "a read of S",
];

impl Ctx {
    fn ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn count(&self, what: &'static str) {
        *lock(&self.counts).entry(what).or_default() += 1;
    }

    fn set_doing(&self, thread: usize, what: usize) {
        self.doing[thread].1.store(self.ms(), Ordering::Relaxed);
        self.doing[thread].0.store(what, Ordering::Relaxed);
    }

    /// A failure: printed (the first MAX_FAIL_LINES of them), counted.
    fn fail(&self, name: &str, why: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if self.fail_lines.fetch_add(1, Ordering::Relaxed) < MAX_FAIL_LINES {
            lock(&self.rep).fail(name, why);
        } else {
            lock(&self.rep).fail += 1;
        }
    }

    fn report_mismatches(&self, what: &str, f: &Sharer, ms: Vec<Mismatch>) {
        for m in ms {
            let whole = m.range == (0, BS);
            self.fail(
                &format!("{what}: {} block {}", f.name, m.block),
                &format!(
                    "{}expected sha256 {} ({}), got {} ({})",
                    if whole {
                        String::new()
                    } else {
                        format!("bytes {}..{}: ", m.range.0, m.range.1)
                    },
                    short_digest(&m.expected),
                    if whole {
                        describe(&m.expected, &self.s)
                    } else {
                        format!("{} bytes", m.expected.len())
                    },
                    short_digest(&m.actual),
                    if whole {
                        describe(&m.actual, &self.s)
                    } else {
                        format!("{} bytes", m.actual.len())
                    },
                ),
            );
        }
    }

    /// The first block of a hot window: two per 3-second epoch, the same
    /// offsets in every sharer (so the same blocks of S).
    fn hot_window(&self, k: u64) -> usize {
        let epoch = self.ms() / 3000;
        let nwin = self.nblocks / WIN;
        (splitmix(self.seed ^ splitmix(epoch * 2 + k)) % nwin as u64) as usize * WIN
    }
}

/// One worker thread's state.
struct Worker<'a> {
    ctx: &'a Ctx,
    id: usize,
    r: ChaCha8Rng,
    seq: u64,
    abuf: Aligned,
    last_drop: Instant,
}

impl Worker<'_> {
    /// A sharer and the first block of a window: a hot one 85 % of the time.
    fn pick(&mut self) -> (usize, usize) {
        let fi = self.r.random_range(0..self.ctx.files.len());
        let w = if self.r.random_bool(0.85) {
            self.ctx.hot_window(self.r.random_range(0..2))
        } else {
            self.r.random_range(0..self.ctx.nblocks / WIN) * WIN
        };
        (fi, w)
    }

    /// New content for block `b` of sharer `fi`: fresh data, a block of S
    /// (often the one at the same offset, so it deduplicates against the
    /// sharing), or zeros.
    fn content(&mut self, fi: usize, b: usize) -> Vec<u8> {
        let x = self.r.random_range(0..100);
        self.seq += 1;
        if x < 55 {
            let ms = self.ctx.ms();
            fresh_block(&mut self.r, self.id, fi, b, self.seq, ms)
        } else if x < 85 {
            let k = if self.r.random_bool(0.6) {
                b
            } else {
                self.r.random_range(0..self.ctx.nblocks)
            };
            self.ctx.s[k * BS..(k + 1) * BS].to_vec()
        } else {
            vec![0u8; BS]
        }
    }

    fn contents(&mut self, fi: usize, b0: usize, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n * BS);
        for b in b0..b0 + n {
            let c = self.content(fi, b);
            v.extend_from_slice(&c);
        }
        v
    }

    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.r.fill_bytes(&mut v);
        v
    }

    fn doing(&self, what: usize) {
        self.ctx.set_doing(self.id, what);
    }

    /// (a) A page or two written through the shared mapping (whole pages
    /// or a random byte range), then msync; or a page read through it.
    fn mmap_op(&mut self) -> Result<()> {
        let ctx = self.ctx;
        let (fi, w0) = self.pick();
        let f = &ctx.files[fi];
        if self.r.random_bool(0.25) {
            let n = self.r.random_range(1..=2);
            let b0 = w0 + self.r.random_range(0..=WIN - n);
            let mut buf = vec![0u8; n * BS];
            self.doing(2);
            let g = f.size_lock.read().unwrap_or_else(|e| e.into_inner());
            let t = lock(&f.model).begin(b0, n, false);
            f.map.read(b0 * BS, &mut buf);
            let bad = lock(&f.model).check_read(&t, b0 * BS, n * BS, &buf);
            drop(g);
            ctx.count("mmap_read");
            ctx.report_mismatches("mmap read", f, bad);
            return Ok(());
        }
        if ctx.dio_into_mmap && self.r.random_bool(0.12) {
            return self.dio_into_map(fi, w0);
        }
        let n = if self.r.random_bool(0.7) { 1 } else { 2 };
        let b0 = w0 + self.r.random_range(0..=WIN - n);
        let (off, data) = if self.r.random_bool(0.2) {
            let o = self.r.random_range(0..n * BS);
            let l = self.r.random_range(1..=n * BS - o);
            (b0 * BS + o, self.random_bytes(l))
        } else {
            (b0 * BS, self.contents(fi, b0, n))
        };
        let first = off / BS;
        let last = (off + data.len() - 1) / BS;
        let sync = self.r.random_range(0..100);
        self.doing(1);
        let g = f.size_lock.read().unwrap_or_else(|e| e.into_inner());
        let wl = lock(&f.dio_mmap);
        let t = lock(&f.model).begin(first, last + 1 - first, true);
        f.map.write(off, &data);
        let span = (last + 1 - first) * BS;
        let r = if sync < 75 {
            f.map.msync(first * BS, span, libc::MS_SYNC)
        } else if sync < 85 {
            f.map.msync(first * BS, span, libc::MS_ASYNC)
        } else {
            Ok(())
        };
        lock(&f.model).end_write(t, off, data.len(), Some(&data));
        drop(wl);
        drop(g);
        r.with_context(|| {
            format!(
                "msync {} bytes {}..{}",
                f.name,
                first * BS,
                first * BS + span
            )
        })?;
        ctx.count("mmap_write");
        Ok(())
    }

    /// An O_DIRECT read of S with a page of the sharer's mapping as the
    /// buffer: the page is written by the read (pinned for the transfer),
    /// not by a store through the mapping; then msync. Writeback, sync and
    /// cache drops race it; what invalidates the file's page cache does
    /// not (size lock exclusive, O_DIRECT lock): XFS fails a hole punch
    /// with EINVAL while a page of the range is pinned.
    fn dio_into_map(&mut self, fi: usize, w0: usize) -> Result<()> {
        let ctx = self.ctx;
        let f = &ctx.files[fi];
        let n = self.r.random_range(1..=2);
        let b0 = w0 + self.r.random_range(0..=WIN - n);
        let k = if self.r.random_bool(0.5) {
            b0
        } else {
            self.r.random_range(0..=ctx.nblocks - n)
        };
        let src = &ctx.s[k * BS..(k + n) * BS];
        self.doing(1);
        let g = f.size_lock.write().unwrap_or_else(|e| e.into_inner());
        let wl = lock(&f.dio_mmap);
        let t = lock(&f.model).begin(b0, n, true);
        let r = f
            .map
            .pread_into(&ctx.sdfd, k * BS, b0 * BS, n * BS)
            .and_then(|got| {
                if got == n * BS {
                    f.map.msync(b0 * BS, n * BS, libc::MS_SYNC)
                } else {
                    Err(Errno::ENODATA)
                }
            });
        lock(&f.model).end_write(t, b0 * BS, n * BS, r.is_ok().then_some(src));
        drop(wl);
        drop(g);
        r.with_context(|| {
            format!(
                "O_DIRECT pread S blocks {k}.. into the mapping of {} blocks {b0}..{}, msync",
                f.name,
                b0 + n
            )
        })?;
        ctx.count("dio_read_into_mmap");
        Ok(())
    }

    /// (b) O_DIRECT writes and reads of 1-4 aligned blocks; buffered writes
    /// and reads of random byte ranges.
    fn direct_op(&mut self) -> Result<()> {
        let ctx = self.ctx;
        let (fi, w0) = self.pick();
        let f = &ctx.files[fi];
        let x = self.r.random_range(0..100);
        self.doing(3);
        if x < 35 {
            let n = self.r.random_range(1..=4);
            let b0 = w0 + self.r.random_range(0..=WIN - n);
            let data = self.contents(fi, b0, n);
            let buf = self.abuf.buf(n * BS);
            buf.copy_from_slice(&data);
            let wl = lock(&f.dio_mmap);
            let t = lock(&f.model).begin(b0, n, true);
            let r = sys::pwrite_all(&f.dfd, buf, (b0 * BS) as u64);
            lock(&f.model).end_write(t, b0 * BS, n * BS, r.is_ok().then_some(&data[..]));
            drop(wl);
            r.with_context(|| format!("O_DIRECT pwrite {} blocks {b0}..{}", f.name, b0 + n))?;
            ctx.count("direct_write");
        } else if x < 60 {
            let n = self.r.random_range(1..=4);
            let b0 = w0 + self.r.random_range(0..=WIN - n);
            // Not while the file is short: ext4 fails O_DIRECT reads then
            // with EINVAL (after O_DIRECT reads into its mapping).
            let g = f.size_lock.read().unwrap_or_else(|e| e.into_inner());
            let wl = lock(&f.dio_mmap);
            let t = lock(&f.model).begin(b0, n, false);
            let buf = self.abuf.buf(n * BS);
            let got = sys::pread_full(&f.dfd, buf, (b0 * BS) as u64)
                .with_context(|| format!("O_DIRECT pread {} blocks {b0}..{}", f.name, b0 + n))?;
            drop(wl);
            drop(g);
            let bad = lock(&f.model).check_read(&t, b0 * BS, n * BS, &buf[..got]);
            ctx.count("direct_read");
            ctx.report_mismatches("O_DIRECT read", f, bad);
        } else if x < 85 {
            let off = w0 * BS + self.r.random_range(0..WIN * BS - 1);
            let len = self
                .r
                .random_range(1..=(2 * BS).min(w0 * BS + WIN * BS - off));
            let data = if self.r.random_bool(0.5) {
                self.random_bytes(len)
            } else {
                ctx.s[off..off + len].to_vec()
            };
            let (first, last) = (off / BS, (off + len - 1) / BS);
            let t = lock(&f.model).begin(first, last + 1 - first, true);
            let r = sys::pwrite_all(&f.fd, &data, off as u64);
            lock(&f.model).end_write(t, off, len, r.is_ok().then_some(&data[..]));
            r.with_context(|| format!("pwrite {} bytes {off}..{}", f.name, off + len))?;
            ctx.count("buffered_write");
        } else {
            let off = w0 * BS + self.r.random_range(0..WIN * BS - 1);
            let len = self
                .r
                .random_range(1..=(3 * BS).min(w0 * BS + WIN * BS - off));
            let (first, last) = (off / BS, (off + len - 1) / BS);
            let t = lock(&f.model).begin(first, last + 1 - first, false);
            let mut buf = vec![0u8; len];
            let got = sys::pread_full(&f.fd, &mut buf, off as u64)
                .with_context(|| format!("pread {} bytes {off}..{}", f.name, off + len))?;
            let bad = lock(&f.model).check_read(&t, off, len, &buf[..got]);
            ctx.count("buffered_read");
            ctx.report_mismatches("buffered read", f, bad);
        }
        Ok(())
    }

    /// (c) FALLOC_FL_PUNCH_HOLE|KEEP_SIZE of 1-4 blocks, now and then not
    /// block-aligned (the partial blocks are zeroed in place).
    fn punch_op(&mut self) -> Result<()> {
        let ctx = self.ctx;
        let (fi, w0) = self.pick();
        let f = &ctx.files[fi];
        let n = self.r.random_range(1..=4);
        let b0 = w0 + self.r.random_range(0..=WIN - n);
        let (off, len) = if self.r.random_bool(0.8) {
            (b0 * BS, n * BS)
        } else {
            let off = b0 * BS + self.r.random_range(0..BS);
            (off, self.r.random_range(1..=(w0 + WIN) * BS - off))
        };
        let (first, last) = (off / BS, (off + len - 1) / BS);
        self.doing(4);
        let g = f.size_lock.read().unwrap_or_else(|e| e.into_inner());
        let t = lock(&f.model).begin(first, last + 1 - first, true);
        let r = sys::fallocate(
            &f.fd,
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            off as i64,
            len as i64,
        );
        lock(&f.model).end_write(t, off, len, r.is_ok().then_some(&vec![0u8; len][..]));
        drop(g);
        r.with_context(|| format!("punch {} bytes {off}..{}", f.name, off + len))?;
        ctx.count("punch");
        Ok(())
    }

    /// (d) ftruncate down into the second half (aligned or not), a short
    /// pause while the other threads meet the short file, back up.
    fn truncate_op(&mut self) -> Result<()> {
        let ctx = self.ctx;
        let fi = self.r.random_range(0..ctx.files.len());
        let f = &ctx.files[fi];
        let mut cut = self.r.random_range(ctx.size / 2..ctx.size);
        if self.r.random_bool(0.5) {
            cut = cut / BS * BS;
        }
        let pause = self.r.random_range(0..20);
        self.doing(5);
        let g = f.size_lock.write().unwrap_or_else(|e| e.into_inner());
        let first = cut / BS;
        let t = lock(&f.model).begin(first, ctx.nblocks - first, true);
        let r = sys::ftruncate(&f.fd, cut as i64)
            .with_context(|| format!("ftruncate {} to {cut}", f.name))
            .and_then(|()| {
                std::thread::sleep(Duration::from_millis(pause));
                sys::ftruncate(&f.fd, ctx.size as i64)
                    .with_context(|| format!("ftruncate {} back to {}", f.name, ctx.size))
            });
        let zeros = vec![0u8; ctx.size - cut];
        lock(&f.model).end_write(t, cut, ctx.size - cut, r.is_ok().then_some(&zeros[..]));
        drop(g);
        r?;
        ctx.count("truncate");
        self.doing(0);
        std::thread::sleep(Duration::from_millis(self.r.random_range(20..200)));
        Ok(())
    }

    /// (e) FICLONERANGE from S or from another sharer; FIDEDUPERANGE against
    /// S after re-cloning or rewriting the range, or against a sharer.
    fn reflink_op(&mut self) -> Result<()> {
        let ctx = self.ctx;
        let (fi, w0) = self.pick();
        let f = &ctx.files[fi];
        let n = if self.r.random_bool(0.5) {
            WIN
        } else {
            self.r.random_range(1..=WIN)
        };
        let b0 = w0 + self.r.random_range(0..=WIN - n);
        let (off, len) = (b0 * BS, n * BS);
        let x = self.r.random_range(0..100);
        if x < 35 {
            // From S, at the same offset or elsewhere.
            let k = if self.r.random_bool(0.5) {
                b0
            } else {
                self.r.random_range(0..=ctx.nblocks - n)
            };
            let src = &ctx.s[k * BS..k * BS + len];
            self.doing(6);
            let _g = f.size_lock.read().unwrap_or_else(|e| e.into_inner());
            let t = lock(&f.model).begin(b0, n, true);
            let r = if ctx.reflink {
                ficlonerange(&ctx.sfd, k * BS, len, &f.fd, off)
            } else {
                sys::pwrite_all(&f.fd, src, off as u64)
            };
            lock(&f.model).end_write(t, off, len, r.is_ok().then_some(src));
            r.with_context(|| {
                format!(
                    "FICLONERANGE S blocks {k}.. to {} blocks {b0}..{}",
                    f.name,
                    b0 + n
                )
            })?;
            ctx.count(if ctx.reflink {
                "clone_from_S"
            } else {
                "copy_from_S"
            });
        } else if x < 55 {
            // From another sharer, same offset mostly.
            let fj = (fi + self.r.random_range(1..ctx.files.len())) % ctx.files.len();
            let g = &ctx.files[fj];
            let k = if self.r.random_bool(0.6) {
                b0
            } else {
                self.r.random_range(0..=ctx.nblocks - n)
            };
            self.doing(6);
            let (lo, hi) = if fi < fj { (f, g) } else { (g, f) };
            let _g1 = lo.size_lock.read().unwrap_or_else(|e| e.into_inner());
            let _g2 = hi.size_lock.read().unwrap_or_else(|e| e.into_inner());
            let ts = lock(&g.model).begin(k, n, false);
            let td = lock(&f.model).begin(b0, n, true);
            let r = if ctx.reflink {
                ficlonerange(&g.fd, k * BS, len, &f.fd, off)
            } else {
                let mut buf = vec![0u8; len];
                sys::pread_full(&g.fd, &mut buf, (k * BS) as u64).and_then(|got| {
                    if got == len {
                        sys::pwrite_all(&f.fd, &buf, off as u64)
                    } else {
                        Err(Errno::ENODATA)
                    }
                })
            };
            let src = lock(&g.model).bytes_if_known(&ts, k * BS, len);
            let bytes = if r.is_ok() { src } else { None };
            lock(&f.model).end_write(td, off, len, bytes.as_deref());
            r.with_context(|| {
                format!(
                    "FICLONERANGE {} blocks {k}.. to {} blocks {b0}..{}",
                    g.name,
                    f.name,
                    b0 + n
                )
            })?;
            ctx.count(if ctx.reflink {
                "clone_between_sharers"
            } else {
                "copy_between_sharers"
            });
        } else if x < 85 {
            // Make the range equal to S again (clone or same bytes), then
            // FIDEDUPERANGE it against S.
            let src = &ctx.s[off..off + len];
            self.doing(6);
            let _g = f.size_lock.read().unwrap_or_else(|e| e.into_inner());
            let t = lock(&f.model).begin(b0, n, true);
            let how = ctx.reflink && self.r.random_bool(0.5);
            let r = if how {
                ficlonerange(&ctx.sfd, off, len, &f.fd, off)
            } else {
                sys::pwrite_all(&f.fd, src, off as u64)
            };
            lock(&f.model).end_write(t, off, len, r.is_ok().then_some(src));
            r.with_context(|| {
                format!(
                    "{} S to {} blocks {b0}..{}",
                    if how { "FICLONERANGE" } else { "pwrite" },
                    f.name,
                    b0 + n
                )
            })?;
            if ctx.reflink {
                self.doing(7);
                self.dedupe(&ctx.sfd, "S", off, f, off, len)?;
            }
        } else if ctx.reflink {
            // Against another sharer: same or not, whatever the others did.
            let fj = (fi + self.r.random_range(1..ctx.files.len())) % ctx.files.len();
            let g = &ctx.files[fj];
            self.doing(7);
            let (lo, hi) = if fi < fj { (f, g) } else { (g, f) };
            let _g1 = lo.size_lock.read().unwrap_or_else(|e| e.into_inner());
            let _g2 = hi.size_lock.read().unwrap_or_else(|e| e.into_inner());
            self.dedupe(&g.fd, g.name, off, f, off, len)?;
        }
        Ok(())
    }

    /// FIDEDUPERANGE: the same data gives exactly `len` bytes, different
    /// data nothing; either way the content does not change (no model
    /// update). The caller holds the size lock of `f`.
    fn dedupe(
        &mut self,
        src: &OwnedFd,
        src_name: &str,
        src_off: usize,
        f: &Sharer,
        off: usize,
        len: usize,
    ) -> Result<()> {
        let ctx = self.ctx;
        match fidedupe(src, src_off, len, &f.fd, off)
            .with_context(|| format!("FIDEDUPERANGE {src_name} bytes {src_off}.. to {} bytes {off}..{}", f.name, off + len))?
        {
            Some(n) if n == len as u64 => ctx.count("dedupe_same"),
            Some(n) => bail!(
                "FIDEDUPERANGE {src_name} to {} bytes {off}..{}: status SAME but {n} bytes deduplicated",
                f.name,
                off + len
            ),
            None => ctx.count("dedupe_differs"),
        }
        Ok(())
    }

    /// (f) fsync, fdatasync, sync(), syncfs, reads of S; (g) drop_caches.
    fn sync_op(&mut self) -> Result<()> {
        let ctx = self.ctx;
        let fi = self.r.random_range(0..ctx.files.len());
        let f = &ctx.files[fi];
        let x = self.r.random_range(0..100);
        if x < 30 {
            self.doing(8);
            let fd = if self.r.random_bool(0.8) {
                &f.fd
            } else {
                &f.dfd
            };
            sys::fsync(fd).with_context(|| format!("fsync {}", f.name))?;
            ctx.count("fsync");
        } else if x < 55 {
            self.doing(8);
            sys::fdatasync(&f.fd).with_context(|| format!("fdatasync {}", f.name))?;
            ctx.count("fdatasync");
        } else if x < 68 {
            self.doing(9);
            sync_all();
            ctx.count("sync");
        } else if x < 78 {
            self.doing(8);
            sys::syncfs(&f.fd).context("syncfs")?;
            ctx.count("syncfs");
        } else {
            // S never changes: any read of it, at any time, is its bytes.
            let n = self.r.random_range(1..=WIN);
            let b0 = self.r.random_range(0..=ctx.nblocks - n);
            self.doing(11);
            let direct = self.r.random_bool(0.5);
            let buf = self.abuf.buf(n * BS);
            let got = if direct {
                sys::pread_full(&ctx.sdfd, buf, (b0 * BS) as u64)
            } else {
                sys::pread_full(&ctx.sfd, buf, (b0 * BS) as u64)
            }
            .with_context(|| format!("pread S blocks {b0}..{}", b0 + n))?;
            for i in 0..n {
                let b = b0 + i;
                let exp = &ctx.s[b * BS..(b + 1) * BS];
                let act = &buf[(i * BS).min(got)..((i + 1) * BS).min(got)];
                if act != exp {
                    ctx.fail(
                        &format!(
                            "S read during the run ({}): block {b}",
                            if direct { "O_DIRECT" } else { "buffered" }
                        ),
                        &format!(
                            "expected sha256 {} ({}), got {} ({})",
                            short_digest(exp),
                            describe(exp, &ctx.s),
                            short_digest(act),
                            describe(act, &ctx.s)
                        ),
                    );
                }
            }
            ctx.count("read_S");
        }
        if ctx.drop_every > 0.0 && self.last_drop.elapsed().as_secs_f64() >= ctx.drop_every {
            self.doing(10);
            drop_caches()?;
            ctx.count("drop_caches");
            self.last_drop = Instant::now();
        }
        self.doing(0);
        std::thread::sleep(Duration::from_millis(self.r.random_range(5..50)));
        Ok(())
    }
}

fn worker(ctx: &Ctx, id: usize, roles: &[Role]) {
    let mut w = Worker {
        ctx,
        id,
        r: rng(ctx.seed, 1000 + id as u64),
        seq: 0,
        abuf: Aligned::new(WIN * BS),
        last_drop: Instant::now(),
    };
    while !ctx.stop.load(Ordering::Relaxed) {
        let role = roles[w.r.random_range(0..roles.len())];
        let r = match role {
            Role::Mmap => w.mmap_op(),
            Role::Direct => w.direct_op(),
            Role::Punch => w.punch_op(),
            Role::Truncate => w.truncate_op(),
            Role::Reflink => w.reflink_op(),
            Role::Sync => w.sync_op(),
        };
        w.doing(0);
        if let Err(e) = r {
            ctx.fail(
                &format!("thread {id} ({role:?})"),
                &format!("unexpected error: {e:#}"),
            );
            ctx.stop.store(true, Ordering::Relaxed);
        }
    }
    ctx.running.fetch_sub(1, Ordering::Relaxed);
}

/// Watch the threads until they all stopped: stop them at the deadline,
/// report one that sits in one operation for HANG_SECS, and give up (exit)
/// when they do not stop within 5 minutes of the deadline.
fn watchdog(ctx: &Ctx, threads: usize, roles: &[Vec<Role>]) {
    let mut reported = vec![false; threads];
    while ctx.running.load(Ordering::Relaxed) > 0 {
        std::thread::sleep(Duration::from_millis(200));
        let now = Instant::now();
        if now >= ctx.deadline {
            ctx.stop.store(true, Ordering::Relaxed);
        }
        let ms = ctx.ms();
        for (i, (what, since)) in ctx.doing.iter().enumerate() {
            let what = what.load(Ordering::Relaxed);
            let since = since.load(Ordering::Relaxed);
            if what != 0 && ms.saturating_sub(since) > HANG_SECS * 1000 && !reported[i] {
                reported[i] = true;
                ctx.fail(
                    &format!("thread {i} ({:?}) makes progress", roles[i]),
                    &format!(
                        "stuck in {} for {} s: a hang",
                        DOING[what],
                        (ms - since) / 1000
                    ),
                );
                ctx.stop.store(true, Ordering::Relaxed);
            }
        }
        if now > ctx.deadline + Duration::from_secs(300) {
            emit("FAIL: stress: the threads did not stop within 300 s of the deadline; giving up");
            std::process::exit(1);
        }
    }
}

/// SIGBUS in `run` means a page of a mapping could not be faulted in (the
/// program never touches a page past EOF): say so, exit non-zero.
extern "C" fn on_sigbus(_: libc::c_int) {
    const MSG: &[u8] = b"FAIL: stress: SIGBUS on a mapped sharer (page_mkwrite or a read fault failed: ENOSPC, EIO or EFAULT); exiting\n";
    // SAFETY: write(2) and _exit(2) are async-signal-safe.
    unsafe {
        libc::write(1, MSG.as_ptr().cast(), MSG.len());
        libc::_exit(3);
    }
}

fn install_sigbus_handler() {
    // SAFETY: a plain handler that only calls async-signal-safe functions.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigbus as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
    }
}

struct RunOpts {
    dir: PathBuf,
    duration: u64,
    seed: u64,
    threads: usize,
    size: usize,
    reflink: bool,
    drop_every: f64,
    model: Option<PathBuf>,
    sysfs: Option<PathBuf>,
    roles: Vec<Role>,
    dio_into_mmap: bool,
}

fn cmd_run(rep: &Mutex<Report>, o: RunOpts) -> Result<()> {
    if o.threads == 0 || o.roles.is_empty() {
        bail!("at least one thread and one role");
    }
    let s = make_files(rep, &o.dir, o.seed, o.size, o.reflink)?;
    let files = NAMES
        .iter()
        .map(|name| -> Result<Sharer> {
            let p = o.dir.join(name);
            let fd = open_rw(&p, false)?;
            let dfd = open_rw(&p, true)?;
            let map = Map::new(&fd, o.size).with_context(|| format!("mmap {name}"))?;
            Ok(Sharer {
                name,
                fd,
                dfd,
                map,
                size_lock: RwLock::new(()),
                dio_mmap: Mutex::new(()),
                model: Mutex::new(Model::new(s.clone())),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let sp = o.dir.join("S");
    let ctx = Ctx {
        seed: o.seed,
        size: o.size,
        nblocks: o.size / BS,
        reflink: o.reflink,
        sfd: sys::open(&sp, libc::O_RDONLY, 0).context("open S")?,
        sdfd: sys::open(&sp, libc::O_RDONLY | libc::O_DIRECT, 0).context("open S O_DIRECT")?,
        s,
        files,
        start: Instant::now(),
        deadline: Instant::now() + Duration::from_secs(o.duration),
        drop_every: o.drop_every,
        dio_into_mmap: o.dio_into_mmap,
        stop: AtomicBool::new(false),
        running: AtomicUsize::new(o.threads),
        doing: (0..o.threads)
            .map(|_| (AtomicUsize::new(0), AtomicU64::new(0)))
            .collect(),
        counts: Mutex::new(BTreeMap::new()),
        rep: Mutex::new(Report::new()),
        fail_lines: AtomicUsize::new(0),
        failures: AtomicUsize::new(0),
    };
    install_sigbus_handler();
    let roles: Vec<Vec<Role>> = (0..o.threads)
        .map(|i| roles_for(i, o.threads, &o.roles))
        .collect();
    emit(&format!(
        "stress: {} threads for {} s on {} (seed {}, {} KiB files, reflink {}): {}",
        o.threads,
        o.duration,
        o.dir.display(),
        o.seed,
        o.size >> 10,
        if o.reflink { "on" } else { "off" },
        roles
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{i}={r:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    std::thread::scope(|sc| {
        for (i, r) in roles.iter().enumerate() {
            let ctx = &ctx;
            sc.spawn(move || worker(ctx, i, r));
        }
        watchdog(&ctx, o.threads, &roles);
    });
    let elapsed = ctx.start.elapsed().as_secs_f64();
    let run_failures = ctx.failures.load(Ordering::Relaxed);
    {
        let inner = lock(&ctx.rep);
        let mut rep = lock(rep);
        rep.pass += inner.pass;
        rep.fail += inner.fail;
        if run_failures == 0 {
            rep.pass(&format!(
                "{} s of racing: no unexpected errno, every read alone on a known block exact",
                elapsed.round()
            ));
        }
    }

    // The end: everything on disk, the page cache dropped, every block read
    // from the medium.
    sync_all();
    if o.drop_every > 0.0 {
        drop_caches()?;
    }
    let mut expected: Vec<(String, Vec<Expect>)> = Vec::new();
    let (mut known, mut unknown, mut changed, mut collisions) = (0usize, 0usize, 0usize, 0u64);
    for f in &ctx.files {
        let m = lock(&f.model);
        collisions += m.collisions;
        let mut v = Vec::with_capacity(ctx.nblocks);
        for (b, st) in m.blk.iter().enumerate() {
            let d = &m.data[b * BS..(b + 1) * BS];
            if st.known {
                known += 1;
                if d != &ctx.s[b * BS..(b + 1) * BS] {
                    changed += 1;
                }
                v.push(Expect::Bytes(d.to_vec()));
            } else {
                unknown += 1;
                v.push(Expect::Any);
            }
        }
        expected.push((f.name.to_string(), v));
    }
    drop(ctx.files);
    let bad = check_files(rep, &o.dir, &ctx.s, o.size, &expected, "at the end")?;
    if let Some(p) = &o.model {
        save_model(p, o.seed, o.size, &expected)?;
    }
    {
        let mut rep = lock(rep);
        let total = known + unknown;
        let name = "the model knows most blocks (at least half) at the end";
        if known * 2 >= total {
            rep.pass(name);
        } else {
            rep.fail(
                name,
                &format!("{known} of {total} known: the check would say little"),
            );
        }
        if o.duration >= 10 {
            let name = "the threads collided on the same blocks";
            if collisions > 0 {
                rep.pass(&format!("{name} ({collisions} writes overlapped another)"));
            } else {
                rep.fail(
                    name,
                    "no write ever overlapped another: the run did not race",
                );
            }
        }
        let counts = lock(&ctx.counts);
        emit(&format!(
            "stress: ops {}; blocks known {known} (changed from S {changed}) unknown {unknown}; write collisions {collisions}; mismatches at the end {bad}; {:.0} s",
            counts.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
            elapsed
        ));
    }
    if let Some(sysfs) = &o.sysfs {
        check_counters(rep, &o.dir, sysfs)?;
    }
    Ok(())
}

/// A SHA-256 digest.
type Dg = [u8; 32];

fn digest(b: &[u8]) -> Dg {
    Sha256::digest(b).into()
}

/// What a block of a sharer must hold at the end.
#[derive(Clone)]
enum Expect {
    /// Anything (operations overlapped on it).
    Any,
    /// Exactly these bytes.
    Bytes(Vec<u8>),
    /// One of these contents (a failed call may or may not have reached
    /// the medium); one digest: exactly that content.
    OneOf(Vec<Dg>),
}

impl Expect {
    fn checked(&self) -> bool {
        !matches!(self, Expect::Any)
    }

    fn digests(&self) -> Vec<Dg> {
        match self {
            Expect::Any => Vec::new(),
            Expect::Bytes(b) => vec![digest(b)],
            Expect::OneOf(v) => v.clone(),
        }
    }

    fn matches(&self, act: &[u8]) -> bool {
        match self {
            Expect::Any => true,
            Expect::Bytes(b) => b == act,
            Expect::OneOf(v) => v.contains(&digest(act)),
        }
    }

    fn show(&self, s: &[u8]) -> String {
        match self {
            Expect::Any => "anything".into(),
            Expect::Bytes(b) => format!("{} ({})", short_digest(b), describe(b, s)),
            Expect::OneOf(v) => {
                let names: Vec<String> = v.iter().map(|d| hex(d)[..16].to_string()).collect();
                if v.len() == 1 {
                    names[0].clone()
                } else {
                    format!("one of {}", names.join(", "))
                }
            }
        }
    }
}

/// Check S against its bytes and every sharer's blocks against what they
/// must hold, reading the files as they are now; returns the mismatches.
fn check_files(
    rep: &Mutex<Report>,
    dir: &Path,
    s: &[u8],
    size: usize,
    expected: &[(String, Vec<Expect>)],
    when: &str,
) -> Result<usize> {
    let mut rep = lock(rep);
    let mut bad_total = 0;
    let sdata = read_whole(&dir.join("S"))?;
    let name = format!(
        "S intact {when} (sha256 {})",
        &hex(&Sha256::digest(s))[..16]
    );
    if sdata == s {
        rep.pass(&name);
    } else {
        let mut lines = Vec::new();
        if sdata.len() != s.len() {
            lines.push(format!("size {} instead of {}", sdata.len(), s.len()));
        }
        for (b, exp) in s.chunks(BS).enumerate() {
            let act = sdata
                .get(b * BS..((b + 1) * BS).min(sdata.len()))
                .unwrap_or(&[]);
            if act != exp {
                bad_total += 1;
                if lines.len() < 8 {
                    lines.push(format!(
                        "block {b}: expected {} ({}), got {} ({})",
                        short_digest(exp),
                        describe(exp, s),
                        short_digest(act),
                        describe(act, s)
                    ));
                }
            }
        }
        rep.fail(
            &name,
            &format!(
                "sha256 {}; {} blocks differ: {}",
                &hex(&Sha256::digest(&sdata))[..16],
                bad_total,
                lines.join("; ")
            ),
        );
    }
    for (fname, blocks) in expected {
        let data = read_whole(&dir.join(fname))?;
        let checked = blocks.iter().filter(|b| b.checked()).count();
        let exact = blocks
            .iter()
            .filter(|b| {
                matches!(b, Expect::Bytes(_)) || matches!(b, Expect::OneOf(v) if v.len() == 1)
            })
            .count();
        if data.len() != size {
            rep.fail(
                &format!("{fname}: size {when}"),
                &format!("{} bytes, expected {size}", data.len()),
            );
            bad_total += 1;
        }
        let mut bad = 0;
        for (b, exp) in blocks.iter().enumerate() {
            let act = data
                .get(b * BS..((b + 1) * BS).min(data.len()))
                .unwrap_or(&[]);
            if !exp.matches(act) {
                bad += 1;
                if bad <= 12 {
                    rep.fail(
                        &format!("{fname} block {b} {when}"),
                        &format!(
                            "expected sha256 {}, got {} ({})",
                            exp.show(s),
                            short_digest(act),
                            describe(act, s)
                        ),
                    );
                }
            }
        }
        let what = if exact == checked {
            format!("the {checked} blocks the model knows (of {})", blocks.len())
        } else {
            format!(
                "the {checked} blocks the model knows (of {}; {} of them one of several contents)",
                blocks.len(),
                checked - exact
            )
        };
        if bad == 0 {
            rep.pass(&format!("{fname} {when}: {what} read back exact"));
        } else {
            rep.fail(
                &format!("{fname} {when}"),
                &format!("{bad} of {what} differ from the model"),
            );
        }
        bad_total += bad;
    }
    Ok(bad_total)
}

/// The model file: a header line, then per sharer a `file NAME N` line
/// and N lines `BLOCK SHA256[,SHA256...]` (the blocks checked: the content
/// or the contents it may have).
fn save_model(p: &Path, seed: u64, size: usize, expected: &[(String, Vec<Expect>)]) -> Result<()> {
    let mut out = format!("livedfs-stress-model 1 seed {seed} size {size}\n");
    for (name, blocks) in expected {
        out.push_str(&format!(
            "file {name} {}\n",
            blocks.iter().filter(|b| b.checked()).count()
        ));
        for (b, e) in blocks.iter().enumerate() {
            if e.checked() {
                let d: Vec<String> = e.digests().iter().map(|d| hex(d)).collect();
                out.push_str(&format!("{b} {}\n", d.join(",")));
            }
        }
    }
    std::fs::write(p, out).with_context(|| format!("write the model to {}", p.display()))
}

fn parse_digest(h: &str) -> Option<Dg> {
    if h.len() != 64 {
        return None;
    }
    let mut d = [0u8; 32];
    for (i, x) in d.iter_mut().enumerate() {
        *x = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(d)
}

fn cmd_verify(
    rep: &Mutex<Report>,
    dir: &Path,
    seed: u64,
    model: &Path,
    sysfs: Option<&Path>,
    drop_first: bool,
) -> Result<()> {
    let text =
        std::fs::read_to_string(model).with_context(|| format!("read {}", model.display()))?;
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    if head.len() != 6 || head[0] != "livedfs-stress-model" || head[3] != seed.to_string() {
        bail!("{}: not a model of seed {seed}", model.display());
    }
    let size: usize = head[5].parse().context("model size")?;
    let mut files: Vec<(String, Vec<Expect>)> = Vec::new();
    for l in lines {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.first() == Some(&"file") && w.len() == 3 {
            files.push((w[1].to_string(), vec![Expect::Any; size / BS]));
        } else if w.len() == 2 {
            let b: usize = w[0].parse().context("model block")?;
            let ds = w[1]
                .split(',')
                .map(parse_digest)
                .collect::<Option<Vec<Dg>>>()
                .with_context(|| format!("{}: bad digest in {l:?}", model.display()))?;
            match files.last_mut() {
                Some(f) if b < f.1.len() => f.1[b] = Expect::OneOf(ds),
                _ => bail!("{}: bad line {l:?}", model.display()),
            }
        } else {
            bail!("{}: bad line {l:?}", model.display());
        }
    }
    sync_all();
    if drop_first && sys::geteuid() == 0 {
        drop_caches()?;
    }
    let s = s_content(seed, size);
    check_files(rep, dir, &s, size, &files, "(verify)")?;
    if let Some(sysfs) = sysfs {
        check_counters(rep, dir, sysfs)?;
    }
    Ok(())
}

/// The deduplication counters against the files in `dir` (the volume must
/// hold nothing else): references = mapped blocks, filter entries = stored
/// blocks <= distinct contents of the mapped blocks.
fn check_counters(rep: &Mutex<Report>, dir: &Path, sysfs: &Path) -> Result<()> {
    sync_all();
    let mut mapped = 0u64;
    let mut distinct: HashSet<[u8; 32]> = HashSet::new();
    // Per content: the physical blocks (FIBMAP, where it works) holding it
    // and one place each is mapped, to name blocks stored twice.
    let mut places: HashMap<Dg, BTreeMap<u32, String>> = HashMap::new();
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("list {}", dir.display()))? {
        let e = e?;
        if e.file_type()?.is_file() {
            files.push(e.path());
        }
    }
    files.sort();
    for p in &files {
        let fd =
            sys::open(p, libc::O_RDONLY, 0).with_context(|| format!("open {}", p.display()))?;
        let size = sys::fstat(&fd)?.st_size as u64;
        let mut pos = 0u64;
        while pos < size {
            let d = match sys::lseek(&fd, pos as i64, libc::SEEK_DATA) {
                Ok(d) => d as u64,
                Err(Errno::ENXIO) => break,
                Err(e) => bail!("SEEK_DATA {} at {pos}: {e}", p.display()),
            };
            let h = (sys::lseek(&fd, d as i64, libc::SEEK_HOLE)
                .with_context(|| format!("SEEK_HOLE {}", p.display()))?
                as u64)
                .min(size);
            let (b0, b1) = (d / BS as u64, h.div_ceil(BS as u64));
            mapped += b1 - b0;
            let mut buf = vec![0u8; BS];
            for b in b0..b1 {
                let n = sys::pread_full(&fd, &mut buf, b * BS as u64)?;
                buf[n..].fill(0);
                let d = digest(&buf);
                distinct.insert(d);
                if let Some(phys) = fibmap(&fd, b) {
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default();
                    places
                        .entry(d)
                        .or_default()
                        .entry(phys)
                        .or_insert_with(|| format!("{name} block {b}"));
                }
            }
            pos = h.max(d + 1);
        }
    }
    let counter = |n: &str| -> Result<u64> {
        let p = sysfs.join(n);
        let t = std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))?;
        t.trim()
            .parse()
            .with_context(|| format!("parse {}", p.display()))
    };
    let refs = counter("logical_blocks_referenced")?;
    let phys = counter("physical_blocks_used")?;
    let filt = counter("filter_entries")?;
    let mut rep = lock(rep);
    let name = format!(
        "logical_blocks_referenced = blocks mapped by the {} files ({mapped})",
        files.len()
    );
    if refs == mapped {
        rep.pass(&name);
    } else {
        rep.fail(&name, &format!("logical_blocks_referenced is {refs}"));
    }
    let name = format!("filter_entries = physical_blocks_used ({phys})");
    if filt == phys {
        rep.pass(&name);
    } else {
        rep.fail(&name, &format!("filter_entries is {filt}"));
    }
    let name = format!(
        "physical_blocks_used <= distinct contents of the mapped blocks ({})",
        distinct.len()
    );
    if phys <= distinct.len() as u64 {
        rep.pass(&format!("{name}: {phys}"));
    } else {
        let mut twice: Vec<String> = places
            .values()
            .filter(|m| m.len() > 1)
            .map(|m| {
                m.iter()
                    .map(|(pb, at)| format!("{pb} ({at})"))
                    .collect::<Vec<_>>()
                    .join(" = ")
            })
            .collect();
        twice.sort();
        let n = twice.len();
        twice.truncate(4);
        rep.fail(
            &name,
            &format!(
                "physical_blocks_used is {phys}: blocks stored twice or leaked; FIBMAP finds {n} contents stored more than once{}{}",
                if n > 0 { ", e.g. physical blocks " } else { "" },
                twice.join("; ")
            ),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Near ENOSPC

struct NearOpts {
    dir: PathBuf,
    duration: u64,
    seed: u64,
    threads: usize,
    reflink: bool,
    drop_every: f64,
    strict: bool,
    model: Option<PathBuf>,
    sysfs: Option<PathBuf>,
}

/// What a near-full writer knows of one of its blocks: the contents the
/// medium may hold (one: exactly that), and the writes not yet confirmed
/// by an fsync on the writer's descriptor, oldest first.
#[derive(Clone, Default)]
struct Nb {
    cands: Vec<Dg>,
    pending: Vec<Dg>,
}

impl Nb {
    fn add(&mut self, d: Dg) {
        if !self.cands.contains(&d) {
            self.cands.push(d);
        }
    }

    /// A call that succeeded left exactly `d` on the medium.
    fn is(&mut self, d: Dg) {
        self.cands = vec![d];
        self.pending.clear();
    }

    /// A call that failed may or may not have left `d` (and any write
    /// pending may or may not have reached the medium).
    fn maybe(&mut self, d: Option<Dg>) {
        for p in std::mem::take(&mut self.pending) {
            self.add(p);
        }
        if let Some(d) = d {
            self.add(d);
        }
    }

    /// An fsync (or msync) on the writer's descriptor succeeded or not.
    fn settle(&mut self, ok: bool) {
        match self.pending.last() {
            Some(&last) if ok => self.is(last),
            Some(_) => self.maybe(None),
            None => {}
        }
    }
}

struct NearCtx {
    s: Vec<u8>,
    sfd: OwnedFd,
    nblocks: usize,
    paths: Vec<PathBuf>,
    reflink: bool,
    strict: bool,
    drop_every: f64,
    start: Instant,
    deadline: Instant,
    stop: AtomicBool,
    running: AtomicUsize,
    doing: Vec<(AtomicUsize, AtomicU64)>,
    counts: Mutex<BTreeMap<String, u64>>,
    rep: Mutex<Report>,
    fail_lines: AtomicUsize,
}

impl NearCtx {
    fn count(&self, op: &str, outcome: &str) {
        *lock(&self.counts)
            .entry(format!("{op}:{outcome}"))
            .or_default() += 1;
    }

    fn fail(&self, name: &str, why: &str) {
        if self.fail_lines.fetch_add(1, Ordering::Relaxed) < MAX_FAIL_LINES {
            lock(&self.rep).fail(name, why);
        } else {
            lock(&self.rep).fail += 1;
        }
    }

    fn ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// How an mmap write in a child process ended.
enum ChildEnd {
    Ok,
    /// msync failed with this errno.
    Msync(Errno),
    /// The write faulted: SIGBUS (ENOSPC in page_mkwrite).
    Sigbus,
    Other(String),
}

/// Write `data` at `off` of `map` and msync(MS_SYNC) it, in a forked
/// child: a SIGBUS kills the child, not the program. The child only calls
/// async-signal-safe functions.
fn mmap_write_in_child(map: &Map, off: usize, data: &[u8]) -> Result<ChildEnd> {
    assert!(off % BS == 0 && off + data.len() <= map.len);
    // SAFETY: in bounds of the mapping (checked above).
    let dst = unsafe { map.ptr.add(off) };
    // SAFETY: fork(2); the child below touches only the mapping and calls
    // signal, msync and _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        bail!("fork: {}", Errno::last());
    }
    if pid == 0 {
        // SAFETY: in the child: restore the default SIGBUS action (die),
        // copy into the shared mapping, msync, exit with msync's errno.
        unsafe {
            libc::signal(libc::SIGBUS, libc::SIG_DFL);
            std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len());
            let r = libc::msync(dst.cast(), data.len(), libc::MS_SYNC);
            libc::_exit(if r == 0 { 0 } else { *libc::__errno_location() });
        }
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let e = Errno::last();
        if e != Errno::EINTR {
            bail!("waitpid: {e}");
        }
    }
    Ok(if libc::WIFEXITED(status) {
        match libc::WEXITSTATUS(status) {
            0 => ChildEnd::Ok,
            e => ChildEnd::Msync(Errno::from_raw(e)),
        }
    } else if libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGBUS {
        ChildEnd::Sigbus
    } else {
        ChildEnd::Other(format!("child status {status:#x}"))
    })
}

/// One near-full writer: its own descriptors and mappings, the windows
/// `w` with `w % threads == id`, its model of their blocks.
struct NearWorker<'a> {
    ctx: &'a NearCtx,
    id: usize,
    r: ChaCha8Rng,
    fds: Vec<OwnedFd>,
    dfds: Vec<OwnedFd>,
    maps: Vec<Map>,
    windows: Vec<usize>,
    model: HashMap<(usize, usize), Nb>,
    /// Per sharer: the blocks with writes pending.
    pending: Vec<HashSet<usize>>,
    abuf: Aligned,
    seq: u64,
    last_drop: Instant,
}

impl NearWorker<'_> {
    /// Ok(true): the call succeeded; Ok(false): ENOSPC; Err: anything else.
    fn outcome(&self, op: &str, what: &str, r: SysResult<()>) -> Result<bool> {
        match r {
            Ok(()) => {
                self.ctx.count(op, "ok");
                Ok(true)
            }
            Err(Errno::ENOSPC) => {
                self.ctx.count(op, "ENOSPC");
                Ok(false)
            }
            Err(e) => bail!("{what}: {e} (only success or ENOSPC is allowed)"),
        }
    }

    fn nb(&mut self, fi: usize, b: usize) -> &mut Nb {
        self.model.entry((fi, b)).or_default()
    }

    /// A call on block `b` ended: it succeeded and left exactly `d`, or it
    /// failed and may have left `d`.
    fn done(&mut self, fi: usize, b: usize, ok: bool, d: Dg) {
        self.pending[fi].remove(&b);
        let nb = self.nb(fi, b);
        if ok {
            nb.is(d);
        } else {
            nb.maybe(Some(d));
        }
    }

    /// fsync/msync said whether the writes pending on `fi` reached the
    /// medium.
    fn settle(&mut self, fi: usize, ok: bool) {
        let blocks: Vec<usize> = self.pending[fi].drain().collect();
        for b in blocks {
            self.nb(fi, b).settle(ok);
        }
    }

    fn reservation_error(&self, what: &str) {
        if self.ctx.strict {
            self.ctx.fail(
                &format!("thread {} {what}", self.id),
                "ENOSPC from writeback: a write the kernel had accepted found no space (not reserved at write time)",
            );
        }
    }

    fn op(&mut self) -> Result<()> {
        let ctx = self.ctx;
        let nf = self.fds.len();
        let fi = self.r.random_range(0..nf);
        let w = self.windows[self.r.random_range(0..self.windows.len())];
        let b = w * WIN + self.r.random_range(0..WIN);
        let name = ctx.paths[fi]
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let x = self.r.random_range(0..100);
        ctx.doing[self.id].1.store(ctx.ms(), Ordering::Relaxed);
        ctx.doing[self.id].0.store(1, Ordering::Relaxed);
        self.seq += 1;
        let data = match self.r.random_range(0..10) {
            0..7 => fresh_block(&mut self.r, self.id, fi, b, self.seq, ctx.ms()),
            7..9 => ctx.s[b * BS..(b + 1) * BS].to_vec(),
            _ => vec![0u8; BS],
        };
        if x < 35 {
            // Buffered pwrite of one block: all of it or (ENOSPC) nothing.
            let r = sys::pwrite(&self.fds[fi], &data, (b * BS) as u64);
            match r {
                Ok(n) if n == BS => {
                    ctx.count("pwrite", "ok");
                    self.nb(fi, b).pending.push(digest(&data));
                    self.pending[fi].insert(b);
                }
                Ok(n) => bail!("pwrite {name} block {b}: {n} of {BS} bytes"),
                Err(Errno::ENOSPC) => ctx.count("pwrite", "ENOSPC"),
                Err(e) => bail!("pwrite {name} block {b}: {e} (only success or ENOSPC is allowed)"),
            }
        } else if x < 50 {
            let buf = self.abuf.buf(BS);
            buf.copy_from_slice(&data);
            let r = sys::pwrite(&self.dfds[fi], buf, (b * BS) as u64).and_then(|n| {
                if n == BS {
                    Ok(())
                } else {
                    Err(Errno::EIO)
                }
            });
            let ok = self.outcome(
                "direct_pwrite",
                &format!("O_DIRECT pwrite {name} block {b}"),
                r,
            )?;
            self.done(fi, b, ok, digest(&data));
        } else if x < 62 {
            match mmap_write_in_child(&self.maps[fi], b * BS, &data)? {
                ChildEnd::Ok => {
                    ctx.count("mmap_write", "ok");
                    self.done(fi, b, true, digest(&data));
                }
                // The fault failed before a byte was stored.
                ChildEnd::Sigbus => ctx.count("mmap_write", "SIGBUS"),
                ChildEnd::Msync(Errno::ENOSPC) => {
                    // msync consumed the descriptor's error: it may have
                    // been any pending write's.
                    ctx.count("mmap_write", "msync_ENOSPC");
                    self.reservation_error("msync");
                    self.done(fi, b, false, digest(&data));
                    self.settle(fi, false);
                }
                ChildEnd::Msync(e) => {
                    bail!("msync {name} block {b}: {e} (only success or ENOSPC is allowed)")
                }
                ChildEnd::Other(s) => bail!("mmap write {name} block {b}: {s}"),
            }
        } else if x < 72 {
            let n = self.r.random_range(1..=2).min(WIN - b % WIN);
            let r = sys::fallocate(
                &self.fds[fi],
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                (b * BS) as i64,
                (n * BS) as i64,
            );
            let ok = self.outcome("punch", &format!("punch {name} blocks {b}..{}", b + n), r)?;
            let zero = digest(&[0u8; BS]);
            for c in b..b + n {
                self.done(fi, c, ok, zero);
            }
        } else if x < 80 {
            let n = self.r.random_range(1..=4).min(WIN - b % WIN);
            let r = if ctx.reflink {
                ficlonerange(&ctx.sfd, b * BS, n * BS, &self.fds[fi], b * BS)
            } else {
                // No reflink: an O_DIRECT copy (done when it returns).
                let buf = self.abuf.buf(n * BS);
                buf.copy_from_slice(&ctx.s[b * BS..(b + n) * BS]);
                sys::pwrite_all(&self.dfds[fi], buf, (b * BS) as u64)
            };
            let ok = self.outcome(
                if ctx.reflink {
                    "clone_from_S"
                } else {
                    "copy_from_S"
                },
                &format!("FICLONERANGE S to {name} blocks {b}..{}", b + n),
                r,
            )?;
            for c in b..b + n {
                self.done(fi, c, ok, digest(&ctx.s[c * BS..(c + 1) * BS]));
            }
        } else if x < 92 {
            let (op, r) = if self.r.random_bool(0.5) {
                ("fsync", sys::fsync(&self.fds[fi]))
            } else {
                ("fdatasync", sys::fdatasync(&self.fds[fi]))
            };
            let ok = self.outcome(op, &format!("{op} {name}"), r)?;
            if !ok {
                self.reservation_error(op);
            }
            self.settle(fi, ok);
        } else if self.r.random_bool(0.5) {
            // syncfs reports the volume's errors, not this descriptor's.
            let r = sys::syncfs(&self.fds[fi]);
            if !self.outcome("syncfs", "syncfs", r)? {
                self.reservation_error("syncfs");
            }
        } else {
            sync_all();
            ctx.count("sync", "ok");
        }
        if self.id == 0
            && ctx.drop_every > 0.0
            && self.last_drop.elapsed().as_secs_f64() >= ctx.drop_every
        {
            drop_caches()?;
            ctx.count("drop_caches", "ok");
            self.last_drop = Instant::now();
        }
        ctx.doing[self.id].0.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// The last fsync of every sharer: what is pending becomes known or not.
    fn finish(&mut self) -> Result<()> {
        for fi in 0..self.fds.len() {
            let r = sys::fsync(&self.fds[fi]);
            let ok = self.outcome("fsync", "the final fsync", r)?;
            if !ok {
                self.reservation_error("final fsync");
            }
            self.settle(fi, ok);
        }
        Ok(())
    }
}

/// One near-full writer thread: returns its model (also after a failure,
/// which it reports and which stops the others).
fn near_thread(
    ctx: &NearCtx,
    id: usize,
    threads: usize,
    seed: u64,
    initial: &[Vec<u8>],
) -> Result<HashMap<(usize, usize), Nb>> {
    let size = ctx.nblocks * BS;
    let mut fds = Vec::new();
    let mut dfds = Vec::new();
    let mut maps = Vec::new();
    for p in &ctx.paths {
        let fd = open_rw(p, false)?;
        maps.push(Map::new(&fd, size).with_context(|| format!("mmap {}", p.display()))?);
        fds.push(fd);
        dfds.push(open_rw(p, true)?);
    }
    let windows: Vec<usize> = (0..ctx.nblocks / WIN)
        .filter(|w| w % threads == id)
        .collect();
    let mut model = HashMap::new();
    for (fi, d) in initial.iter().enumerate() {
        for w in &windows {
            for b in w * WIN..(w + 1) * WIN {
                model.insert(
                    (fi, b),
                    Nb {
                        cands: vec![digest(&d[b * BS..(b + 1) * BS])],
                        pending: Vec::new(),
                    },
                );
            }
        }
    }
    let mut w = NearWorker {
        ctx,
        id,
        r: rng(seed, 2000 + id as u64),
        pending: vec![HashSet::new(); fds.len()],
        fds,
        dfds,
        maps,
        windows,
        model,
        abuf: Aligned::new(4 * BS),
        seq: 0,
        last_drop: Instant::now(),
    };
    let mut r = Ok(());
    while r.is_ok() && !ctx.stop.load(Ordering::Relaxed) {
        r = w.op();
    }
    if r.is_ok() {
        r = w.finish();
    }
    if let Err(e) = r {
        ctx.fail(&format!("near-full writer {id}"), &format!("{e:#}"));
        ctx.stop.store(true, Ordering::Relaxed);
    }
    Ok(w.model)
}

fn cmd_near_full(rep: &Mutex<Report>, o: NearOpts) -> Result<()> {
    if o.threads == 0 {
        bail!("at least one thread");
    }
    let sp = o.dir.join("S");
    let sdata = read_whole(&sp)?;
    let size = sdata.len();
    if size == 0 || size % (WIN * BS) != 0 {
        bail!("S has {size} bytes: run `stress prepare` first");
    }
    let s = s_content(o.seed, size);
    {
        let mut rep = lock(rep);
        let name = "S intact before the near-full writers";
        if sdata == s {
            rep.pass(name);
        } else {
            rep.fail(name, "S differs from its seeded bytes (another seed?)");
        }
    }
    let nblocks = size / BS;
    let nwin = nblocks / WIN;
    if o.threads > nwin {
        bail!("{} threads but only {nwin} windows", o.threads);
    }
    let paths: Vec<PathBuf> = NAMES.iter().map(|n| o.dir.join(n)).collect();
    let mut initial = Vec::new();
    for p in &paths {
        let d = read_whole(p)?;
        if d.len() != size {
            bail!("{}: {} bytes, S has {size}", p.display(), d.len());
        }
        initial.push(d);
    }
    let ctx = NearCtx {
        s,
        sfd: sys::open(&sp, libc::O_RDONLY, 0).context("open S")?,
        nblocks,
        paths,
        reflink: o.reflink,
        strict: o.strict,
        drop_every: o.drop_every,
        start: Instant::now(),
        deadline: Instant::now() + Duration::from_secs(o.duration),
        stop: AtomicBool::new(false),
        running: AtomicUsize::new(o.threads),
        doing: (0..o.threads)
            .map(|_| (AtomicUsize::new(0), AtomicU64::new(0)))
            .collect(),
        counts: Mutex::new(BTreeMap::new()),
        rep: Mutex::new(Report::new()),
        fail_lines: AtomicUsize::new(0),
    };
    emit(&format!(
        "stress near-full: {} writers for {} s on {} (seed {}, reflink {})",
        o.threads,
        o.duration,
        o.dir.display(),
        o.seed,
        if o.reflink { "on" } else { "off" }
    ));
    let mut models: Vec<HashMap<(usize, usize), Nb>> = Vec::new();
    std::thread::scope(|sc| -> Result<()> {
        let mut handles = Vec::new();
        for id in 0..o.threads {
            let ctx = &ctx;
            let initial = &initial;
            handles.push(sc.spawn(move || {
                let r = near_thread(ctx, id, o.threads, o.seed, initial);
                ctx.doing[id].0.store(0, Ordering::Relaxed);
                ctx.running.fetch_sub(1, Ordering::Relaxed);
                r
            }));
        }
        // Watchdog.
        let mut reported = vec![false; o.threads];
        while ctx.running.load(Ordering::Relaxed) > 0 {
            std::thread::sleep(Duration::from_millis(200));
            let now = Instant::now();
            if now >= ctx.deadline {
                ctx.stop.store(true, Ordering::Relaxed);
            }
            let ms = ctx.ms();
            for (i, (what, since)) in ctx.doing.iter().enumerate() {
                let since = since.load(Ordering::Relaxed);
                if what.load(Ordering::Relaxed) != 0
                    && ms.saturating_sub(since) > HANG_SECS * 1000
                    && !reported[i]
                {
                    reported[i] = true;
                    ctx.fail(
                        &format!("near-full writer {i} makes progress"),
                        &format!("stuck in one call for {} s: a hang", (ms - since) / 1000),
                    );
                    ctx.stop.store(true, Ordering::Relaxed);
                }
            }
            if now > ctx.deadline + Duration::from_secs(300) {
                emit("FAIL: stress: the near-full writers did not stop within 300 s of the deadline; giving up");
                std::process::exit(1);
            }
        }
        for h in handles {
            match h.join() {
                Ok(Ok(m)) => models.push(m),
                Ok(Err(e)) => {
                    ctx.fail("near-full writer setup", &format!("{e:#}"));
                }
                Err(_) => ctx.fail("near-full writer", "panicked"),
            }
        }
        Ok(())
    })?;
    let elapsed = ctx.start.elapsed().as_secs_f64();
    {
        let inner = lock(&ctx.rep);
        let mut rep = lock(rep);
        rep.pass += inner.pass;
        rep.fail += inner.fail;
        if inner.fail == 0 {
            rep.pass(&format!(
                "{} s of near-full writers: every call succeeded or failed with ENOSPC",
                elapsed.round()
            ));
        }
    }
    sync_all();
    if o.drop_every > 0.0 {
        drop_caches()?;
    }
    let mut expected: Vec<(String, Vec<Expect>)> = NAMES
        .iter()
        .map(|n| (n.to_string(), vec![Expect::Any; nblocks]))
        .collect();
    let (mut exact, mut several) = (0, 0);
    for m in models {
        for ((fi, b), mut nb) in m {
            // Pending only if the final fsync was not reached.
            nb.maybe(None);
            if nb.cands.len() == 1 {
                exact += 1;
            } else {
                several += 1;
            }
            expected[fi].1[b] = Expect::OneOf(nb.cands);
        }
    }
    let bad = check_files(
        rep,
        &o.dir,
        &ctx.s,
        size,
        &expected,
        "after the near-full writers",
    )?;
    if let Some(p) = &o.model {
        save_model(p, o.seed, size, &expected)?;
    }
    let counts = lock(&ctx.counts);
    let enospc: u64 = counts
        .iter()
        .filter(|(k, _)| !k.ends_with(":ok"))
        .map(|(_, v)| v)
        .sum();
    {
        let mut rep = lock(rep);
        let name = "the volume was full: some calls failed with ENOSPC";
        if !o.reflink {
            // Nothing shared: overwrites happen in place and need no
            // space, so a full volume need not show.
            emit(&format!(
                "stress near-full: {enospc} calls failed with ENOSPC (no reflink: not checked)"
            ));
        } else if enospc > 0 {
            rep.pass(&format!("{name} ({enospc})"));
        } else {
            rep.fail(
                name,
                "no call failed with ENOSPC: the volume was not full, the test showed nothing",
            );
        }
    }
    emit(&format!(
        "stress near-full: ops {}; blocks known exactly {exact}, as one of several contents {several}; mismatches {bad}; {:.0} s",
        counts.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
        elapsed
    ));
    drop(counts);
    if let Some(sysfs) = &o.sysfs {
        check_counters(rep, &o.dir, sysfs)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_exact_alone_unknown_when_overlapping() {
        let mut m = Model::new(vec![1u8; 4 * BS]);
        // Alone: the block takes the bytes.
        let t = m.begin(0, 1, true);
        m.end_write(t, 0, BS, Some(&[2u8; BS]));
        assert!(m.blk[0].known && m.data[0] == 2);
        // Two writes overlapping: both blocks unknown.
        let a = m.begin(1, 2, true);
        let b = m.begin(2, 1, true);
        m.end_write(a, BS, 2 * BS, Some(&[3u8; 2 * BS]));
        m.end_write(b, 2 * BS, BS, Some(&[4u8; BS]));
        assert!(m.blk[1].known && m.data[BS] == 3);
        assert!(!m.blk[2].known);
        // A partial write alone on an unknown block leaves it unknown; a
        // whole one makes it known again.
        let t = m.begin(2, 1, true);
        m.end_write(t, 2 * BS + 10, 5, Some(&[5u8; 5]));
        assert!(!m.blk[2].known);
        let t = m.begin(2, 1, true);
        m.end_write(t, 2 * BS, BS, Some(&[6u8; BS]));
        assert!(m.blk[2].known);
        // A partial write alone on a known block updates its bytes.
        let t = m.begin(2, 1, true);
        m.end_write(t, 2 * BS + 10, 5, Some(&[7u8; 5]));
        assert!(m.blk[2].known && m.data[2 * BS + 9] == 6 && m.data[2 * BS + 10] == 7);
        // A failed write (None) makes its blocks unknown.
        let t = m.begin(3, 1, true);
        m.end_write(t, 3 * BS, BS, None);
        assert!(!m.blk[3].known);
    }

    #[test]
    fn reads_checked_only_alone() {
        let mut m = Model::new(vec![1u8; 2 * BS]);
        // Alone: a wrong byte is reported and the block becomes unknown.
        let t = m.begin(0, 1, false);
        let mut got = vec![1u8; BS];
        got[7] = 9;
        let bad = m.check_read(&t, 0, BS, &got);
        assert_eq!(bad.len(), 1);
        assert!(!m.blk[0].known);
        // A write that began during the read: not checked.
        let r = m.begin(1, 1, false);
        let w = m.begin(1, 1, true);
        assert!(m.check_read(&r, BS, BS, &[0u8; BS]).is_empty());
        m.end_write(w, BS, BS, Some(&[2u8; BS]));
        // A short read of a known block alone is a mismatch.
        let r = m.begin(1, 1, false);
        assert_eq!(m.check_read(&r, BS, BS, &[2u8; 100]).len(), 1);
        // A write in flight when the read began: not checked.
        let mut m = Model::new(vec![1u8; BS]);
        let w = m.begin(0, 1, true);
        let r = m.begin(0, 1, false);
        assert!(m.check_read(&r, 0, BS, &[0u8; BS]).is_empty());
        assert!(m.bytes_if_known(&r, 0, BS).is_none());
        m.end_write(w, 0, BS, Some(&[1u8; BS]));
    }

    #[test]
    fn roles_cover_everything() {
        for n in 1..=8 {
            let mut all: Vec<Role> = (0..n).flat_map(|i| roles_for(i, n, &ROLES)).collect();
            all.dedup();
            for r in ROLES {
                assert!(all.contains(&r), "{n} threads: {r:?} missing");
            }
        }
    }

    #[test]
    fn describe_names_contents() {
        let s = s_content(5, 2 * BS);
        assert_eq!(describe(&s[BS..2 * BS], &s), "S block 1");
        assert_eq!(describe(&[0u8; BS], &s), "zeros");
        let mut r = rng(1, 1);
        let w = fresh_block(&mut r, 3, 1, 77, 12, 3456);
        assert!(describe(&w, &s).starts_with("data thread 3 wrote for F2-ficlonerange block 77"));
        let mut t = s[..BS].to_vec();
        t[1000..].fill(0);
        assert_eq!(
            describe(&t, &s),
            "S block 0's header, other bytes differ, zeros from byte 1000"
        );
    }
}
