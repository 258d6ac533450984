//! The device (or image file) being checked: block reads and writes at
//! absolute block numbers, never past its end. A read-only device (`-n`)
//! refuses every write, so a bug can't change a volume opened with -n.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// An open device.
pub struct Device {
    file: File,
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    pub read_only: bool,
    block_size: u32,
    /// Blocks written (for the summary and tests).
    pub writes: u64,
    /// Bytes read (`-t` prints it, as e2fsck's "I/O read").
    read_bytes: AtomicU64,
}

impl Device {
    /// Opens `path`, read-only or read-write.
    pub fn open(path: &Path, read_only: bool) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(!read_only).open(path)?;
        let size = device_size(&file)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            size,
            read_only,
            block_size: 1024,
            writes: 0,
            read_bytes: AtomicU64::new(0),
        })
    }

    /// Sets the block size used by block-numbered calls.
    pub fn set_block_size(&mut self, bs: u32) {
        self.block_size = bs;
    }

    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// Blocks of the device at the current block size.
    pub fn blocks(&self) -> u64 {
        self.size / u64::from(self.block_size.max(1))
    }

    /// Reads `len` bytes at byte `off`; past the end of the device is an error.
    pub fn read_at(&self, off: u64, len: usize) -> io::Result<Vec<u8>> {
        let end = off.checked_add(len as u64).ok_or_else(past_end)?;
        if end > self.size {
            return Err(past_end());
        }
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, off)?;
        self.read_bytes.fetch_add(len as u64, Ordering::Relaxed);
        Ok(buf)
    }

    /// Bytes read so far.
    pub fn read_bytes(&self) -> u64 {
        self.read_bytes.load(Ordering::Relaxed)
    }

    /// Writes `data` at byte `off`.
    pub fn write_at(&mut self, off: u64, data: &[u8]) -> io::Result<()> {
        if self.read_only {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "internal error: write to a device opened read-only",
            ));
        }
        let end = off.checked_add(data.len() as u64).ok_or_else(past_end)?;
        if end > self.size {
            return Err(past_end());
        }
        self.file.write_all_at(data, off)?;
        self.writes += 1;
        Ok(())
    }

    /// Reads block `b`.
    pub fn read_block(&self, b: u64) -> io::Result<Vec<u8>> {
        let bs = u64::from(self.block_size);
        self.read_at(b.checked_mul(bs).ok_or_else(past_end)?, bs as usize)
    }

    /// Reads `n` consecutive blocks from `b`.
    pub fn read_blocks(&self, b: u64, n: u32) -> io::Result<Vec<u8>> {
        let bs = u64::from(self.block_size);
        let len = u64::from(n) * bs;
        self.read_at(
            b.checked_mul(bs).ok_or_else(past_end)?,
            usize::try_from(len).map_err(|_| past_end())?,
        )
    }

    /// Tells the kernel that blocks `b..b + n` will be read soon
    /// (readahead in the background); a hint, errors are ignored.
    pub fn will_need(&self, b: u64, n: u64) {
        use std::os::fd::AsRawFd;
        let bs = u64::from(self.block_size);
        let (Some(off), Some(len)) = (b.checked_mul(bs), n.checked_mul(bs)) else {
            return;
        };
        let (Ok(off), Ok(len)) = (libc::off_t::try_from(off), libc::off_t::try_from(len)) else {
            return;
        };
        // SAFETY: posix_fadvise only reads its integer arguments; the
        // descriptor is owned by `self.file` and open.
        unsafe {
            libc::posix_fadvise(self.file.as_raw_fd(), off, len, libc::POSIX_FADV_WILLNEED);
        }
    }

    /// [`will_need`](Self::will_need) for scattered blocks: sorted, and
    /// one hint per run of consecutive blocks.
    pub fn will_need_each(&self, blocks: &mut Vec<u64>) {
        blocks.sort_unstable();
        blocks.dedup();
        let mut k = 0;
        while k < blocks.len() {
            let mut n = 1;
            while k + n < blocks.len() && blocks[k + n] == blocks[k] + n as u64 {
                n += 1;
            }
            self.will_need(blocks[k], n as u64);
            k += n;
        }
    }

    /// Writes block `b` (`data` is one block).
    pub fn write_block(&mut self, b: u64, data: &[u8]) -> io::Result<()> {
        let bs = u64::from(self.block_size);
        if data.len() as u64 != bs {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "internal error: partial block write",
            ));
        }
        self.write_at(b.checked_mul(bs).ok_or_else(past_end)?, data)
    }

    /// Flushes written data to stable storage.
    pub fn sync(&self) -> io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.file.sync_all()
    }
}

fn past_end() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "access past the end of the device",
    )
}

/// Size of a regular file or block device.
fn device_size(f: &File) -> io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    let meta = f.metadata()?;
    if meta.is_file() {
        return Ok(meta.len());
    }
    // Block devices report 0 as their metadata length: seek to the end.
    let mut f2 = f.try_clone()?;
    let n = f2.seek(SeekFrom::End(0))?;
    f2.seek(SeekFrom::Start(0))?;
    Ok(n)
}
