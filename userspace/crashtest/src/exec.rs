//! Running the workload on a real file system, and the progress records.
//!
//! After each sync operation returns, the workload writes a progress
//! record to the device it runs on, outside the volume (mkfs leaves the
//! device's last MiB alone), with O_DIRECT|O_DSYNC: the record reaches the
//! disk in the same write stream as the file system's own writes, so a
//! crash image tells exactly which syncs had completed.

use crate::model::Op;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// FICLONE.
pub const FICLONE: libc::c_ulong = 0x4004_9409;
/// Progress record magic.
pub const PROGRESS_MAGIC: &[u8; 8] = b"LDCRASH1";
/// Size of one progress record slot.
pub const SLOT: usize = 4096;
/// Space left to the progress records at the end of the device.
pub const PROGRESS_AREA: u64 = 1 << 20;

/// A progress record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The workload's seed.
    pub seed: u64,
    /// Syncs completed.
    pub syncs: u64,
    /// Operations completed.
    pub ops: u64,
}

fn checksum(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Progress {
    /// The record's slot bytes.
    pub fn encode(&self) -> [u8; SLOT] {
        let mut b = [0u8; SLOT];
        b[0..8].copy_from_slice(PROGRESS_MAGIC);
        b[8..16].copy_from_slice(&self.seed.to_le_bytes());
        b[16..24].copy_from_slice(&self.syncs.to_le_bytes());
        b[24..32].copy_from_slice(&self.ops.to_le_bytes());
        let c = checksum(&b[0..32]);
        b[32..40].copy_from_slice(&c.to_le_bytes());
        b
    }

    /// Decodes a slot.
    pub fn decode(b: &[u8]) -> Option<Progress> {
        let g = |o: usize| -> Option<u64> {
            Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
        };
        if b.get(0..8)? != PROGRESS_MAGIC || g(32)? != checksum(b.get(0..32)?) {
            return None;
        }
        Some(Progress {
            seed: g(8)?,
            syncs: g(16)?,
            ops: g(24)?,
        })
    }

    /// Byte offset of the slot of record `syncs` in an area at `area`.
    pub fn slot_offset(area: u64, syncs: u64) -> u64 {
        area + (syncs % 2) * SLOT as u64
    }

    /// The latest valid record in the area at `area` of `img`.
    pub fn read(img: &[u8], area: u64) -> Option<Progress> {
        (0..2u64)
            .filter_map(|s| {
                let o = usize::try_from(area.checked_add(s * SLOT as u64)?).ok()?;
                Progress::decode(img.get(o..o.checked_add(SLOT)?)?)
            })
            .max_by_key(|p| p.syncs)
    }
}

/// A 4096-aligned buffer for O_DIRECT.
struct Aligned {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl Aligned {
    fn new(data: &[u8; SLOT]) -> Self {
        let layout =
            std::alloc::Layout::from_size_align(SLOT, SLOT).unwrap_or_else(|_| unreachable!());
        // SAFETY: non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // SAFETY: `ptr` is valid for SLOT bytes, not aliased.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), ptr, SLOT) };
        Aligned { ptr, layout }
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: allocated and initialised for SLOT bytes above.
        unsafe { std::slice::from_raw_parts(self.ptr, SLOT) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in `new`.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

/// Where the progress records go.
pub struct ProgressWriter {
    file: File,
    area: u64,
    seed: u64,
}

impl ProgressWriter {
    /// Opens `dev` (O_DIRECT|O_DSYNC if `direct`) with the area at
    /// `area` bytes.
    pub fn open(dev: &Path, area: u64, seed: u64, direct: bool) -> io::Result<Self> {
        let mut o = OpenOptions::new();
        o.write(true);
        if direct {
            o.custom_flags(libc::O_DIRECT | libc::O_DSYNC);
        }
        Ok(ProgressWriter {
            file: o.open(dev)?,
            area,
            seed,
        })
    }

    /// Clears both slots (before the workload starts).
    pub fn clear(&mut self) -> io::Result<()> {
        let z = Aligned::new(&[0u8; SLOT]);
        self.file.write_all_at(z.as_slice(), self.area)?;
        self.file
            .write_all_at(z.as_slice(), self.area + SLOT as u64)?;
        self.file.sync_all()
    }

    /// Records that `syncs` syncs and `ops` operations completed; returns
    /// once the record is durable.
    pub fn record(&mut self, syncs: u64, ops: u64) -> io::Result<()> {
        let p = Progress {
            seed: self.seed,
            syncs,
            ops,
        };
        let b = Aligned::new(&p.encode());
        self.file
            .write_all_at(b.as_slice(), Progress::slot_offset(self.area, syncs))
    }
}

/// Size of a block device or file.
pub fn device_size(f: &File) -> io::Result<u64> {
    let md = f.metadata()?;
    if md.is_file() {
        return Ok(md.len());
    }
    let mut size: u64 = 0;
    // BLKGETSIZE64
    // SAFETY: the ioctl writes one u64.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), 0x8008_1272, &mut size) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(size)
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Runs operations under a mount point.
pub struct Executor {
    root: PathBuf,
    held: std::collections::HashMap<crate::model::Ino, File>,
    /// Copy the data when FICLONE is not supported (host tests on file
    /// systems without reflink); never on livedfs.
    pub clone_fallback: bool,
}

impl Executor {
    /// An executor for the tree at `root`.
    pub fn new(root: &Path) -> Self {
        Executor {
            root: root.to_path_buf(),
            held: Default::default(),
            clone_fallback: false,
        }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn open_rw(&self, rel: &str) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).open(self.p(rel))
    }

    /// Runs one operation.
    pub fn run(&mut self, op: &Op) -> io::Result<()> {
        match op {
            Op::Mkdir { path } => std::fs::create_dir(self.p(path)),
            Op::Create { path, .. } => OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(self.p(path))
                .map(drop),
            Op::Write {
                path, off, data, ..
            } => self.open_rw(path)?.write_all_at(data, *off),
            Op::Truncate { path, size, .. } => self.open_rw(path)?.set_len(*size),
            Op::PunchHole { path, off, len, .. } => {
                let f = self.open_rw(path)?;
                // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                // SAFETY: plain syscall on an open descriptor.
                check(unsafe { libc::fallocate(f.as_raw_fd(), 3, *off as i64, *len as i64) })
            }
            Op::Fsync { path, .. } => self.open_rw(path)?.sync_all(),
            Op::Fdatasync { path, .. } => self.open_rw(path)?.sync_data(),
            Op::FsyncDir { path } => File::open(self.p(path))?.sync_all(),
            Op::Syncfs => {
                let f = File::open(&self.root)?;
                // SAFETY: plain syscall on an open descriptor.
                check(unsafe { libc::syncfs(f.as_raw_fd()) })
            }
            Op::Rename { from, to, .. } => std::fs::rename(self.p(from), self.p(to)),
            Op::Unlink { path, .. } => std::fs::remove_file(self.p(path)),
            Op::UnlinkHold { path, ino } => {
                let f = self.open_rw(path)?;
                std::fs::remove_file(self.p(path))?;
                self.held.insert(*ino, f);
                Ok(())
            }
            Op::HeldWrite { ino, data } => {
                let f = self
                    .held
                    .get(ino)
                    .ok_or_else(|| io::Error::other(format!("orphan #{ino} not held")))?;
                let end = f.metadata()?.len();
                f.write_all_at(data, end)?;
                f.sync_all()
            }
            Op::HeldClose { ino } => {
                self.held.remove(ino);
                Ok(())
            }
            Op::Clone { src, dst, .. } => {
                let s = File::open(self.p(src))?;
                let d = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(self.p(dst))?;
                // SAFETY: FICLONE takes the source descriptor as argument.
                let r = unsafe { libc::ioctl(d.as_raw_fd(), FICLONE, s.as_raw_fd()) };
                if r == 0 {
                    return Ok(());
                }
                let e = io::Error::last_os_error();
                let unsupported = matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::EINVAL | libc::EXDEV | libc::ENOTTY)
                );
                if self.clone_fallback && unsupported {
                    let data = std::fs::read(self.p(src))?;
                    return d.write_all_at(&data, 0);
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_round_trip() {
        let p = Progress {
            seed: 7,
            syncs: 3,
            ops: 99,
        };
        assert_eq!(Progress::decode(&p.encode()), Some(p));
        let mut b = p.encode();
        b[20] ^= 1;
        assert_eq!(Progress::decode(&b), None);
        assert_eq!(Progress::decode(&[0; 10]), None);
        let mut img = vec![0u8; 3 * SLOT];
        let q = Progress { syncs: 4, ..p };
        img[SLOT..2 * SLOT].copy_from_slice(&p.encode());
        assert_eq!(Progress::read(&img, 0), Some(p));
        img[0..SLOT].copy_from_slice(&q.encode());
        assert_eq!(Progress::read(&img, 0), Some(q));
        assert_eq!(Progress::read(&img, 2 * SLOT as u64), None);
        assert_eq!(Progress::read(&img, u64::MAX - 5), None);
    }
}
