//! Helpers for the checks: errno expectations, exact comparisons, files.

use std::fmt::{Debug, Display};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};

use fstests::content;
use fstests::sys::{self, Errno, Stat, SysResult};

/// What a check found, when it did not fail.
pub enum Verdict {
    Pass,
    /// Passed; the note (e.g. which of two allowed behaviours) is shown.
    Note(String),
    /// Not applicable here (not counted as a failure).
    Skip(String),
}

pub type Check = Result<Verdict>;

/// The environment of one check: its own fresh directory.
pub struct Ctx {
    pub dir: PathBuf,
    pub top: PathBuf,
    pub root_user: bool,
    pub large_dir: usize,
}

impl Ctx {
    pub fn p(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// A system call result turned into an error naming the operation.
pub trait Must<T> {
    fn must(self, what: impl Display) -> Result<T>;
}

impl<T> Must<T> for SysResult<T> {
    fn must(self, what: impl Display) -> Result<T> {
        self.map_err(|e| anyhow!("{what}: failed with {e:?} ({})", e.desc()))
    }
}

/// The call must fail with exactly `want`.
pub fn expect_err<T: Debug>(r: SysResult<T>, want: Errno, what: impl Display) -> Result<()> {
    match r {
        Err(e) if e == want => Ok(()),
        Err(e) => bail!("{what}: expected {want:?}, got {e:?} ({})", e.desc()),
        Ok(v) => bail!("{what}: expected {want:?}, but it succeeded ({v:?})"),
    }
}

/// `actual == expected`, or an error naming what was compared.
pub fn eq<T: PartialEq + Debug>(actual: T, expected: T, what: impl Display) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        bail!("{what}: expected {expected:?}, got {actual:?}")
    }
}

/// Byte buffers equal; on a difference, the first differing offset.
pub fn eq_bytes(actual: &[u8], expected: &[u8], what: impl Display) -> Result<()> {
    if actual == expected {
        return Ok(());
    }
    if actual.len() != expected.len() {
        bail!(
            "{what}: expected {} bytes, got {}",
            expected.len(),
            actual.len()
        );
    }
    let i = (0..actual.len())
        .find(|&i| actual[i] != expected[i])
        .unwrap_or(0);
    bail!(
        "{what}: first difference at offset {i}: expected {:#04x}, got {:#04x}",
        expected[i],
        actual[i]
    )
}

pub fn ensure(cond: bool, what: impl Display) -> Result<()> {
    if cond {
        Ok(())
    } else {
        bail!("{what}")
    }
}

/// Seeded random bytes (never a whole zero block).
pub fn rnd(seed: u64, n: usize) -> Vec<u8> {
    content::random_bytes(&mut content::rng(seed, 77), n)
}

pub fn lstat(p: &Path) -> Result<Stat> {
    sys::lstat(p).must(format!("lstat {}", p.display()))
}

pub fn stat(p: &Path) -> Result<Stat> {
    sys::stat(p).must(format!("stat {}", p.display()))
}

pub fn fstat(fd: &OwnedFd) -> Result<Stat> {
    sys::fstat(fd).must("fstat")
}

pub fn open(p: &Path, flags: i32, mode: u32) -> Result<OwnedFd> {
    sys::open(p, flags, mode).must(format!("open {}", p.display()))
}

/// Create a new file (O_EXCL) with `data`, mode 0644; returns an O_RDWR fd.
pub fn create(p: &Path, data: &[u8]) -> Result<OwnedFd> {
    let fd = open(p, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, 0o644)?;
    sys::pwrite_all(&fd, data, 0).must(format!("write {}", p.display()))?;
    Ok(fd)
}

/// The whole content of the file behind `fd` (by its size).
pub fn read_fd(fd: &OwnedFd) -> Result<Vec<u8>> {
    let size = fstat(fd)?.st_size as usize;
    let mut buf = vec![0u8; size + 1];
    let n = sys::pread_full(fd, &mut buf, 0).must("pread")?;
    buf.truncate(n);
    Ok(buf)
}

pub fn read_path(p: &Path) -> Result<Vec<u8>> {
    read_fd(&open(p, libc::O_RDONLY, 0)?)
}

pub fn mkdir(p: &Path, mode: u32) -> Result<()> {
    sys::mkdir(p, mode).must(format!("mkdir {}", p.display()))
}

pub fn ftype(st: &Stat) -> u32 {
    st.st_mode & libc::S_IFMT
}

/// Names in a directory through getdents64 (with `.` and `..`).
pub fn dents(p: &Path) -> Result<Vec<sys::Dirent>> {
    sys::read_dir_all(p, 32768).must(format!("getdents64 {}", p.display()))
}

/// Sorted names, without `.` and `..`.
pub fn names(p: &Path) -> Result<Vec<Vec<u8>>> {
    let mut v: Vec<Vec<u8>> = dents(p)?
        .into_iter()
        .map(|d| d.name)
        .filter(|n| n != b"." && n != b"..")
        .collect();
    v.sort();
    Ok(v)
}

/// A buffer aligned to 4096 bytes, for O_DIRECT.
pub struct Aligned {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    pub fn new(len: usize) -> Self {
        let storage = vec![0u8; len + 4096];
        let start = storage.as_ptr().align_offset(4096);
        Aligned {
            storage,
            start,
            len,
        }
    }
    pub fn buf(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// Realtime clock as (sec, nsec) for timestamp comparisons.
pub fn ts_of(st: &Stat, which: char) -> (i64, i64) {
    match which {
        'a' => (st.st_atime, st.st_atime_nsec),
        'm' => (st.st_mtime, st.st_mtime_nsec),
        _ => (st.st_ctime, st.st_ctime_nsec),
    }
}
