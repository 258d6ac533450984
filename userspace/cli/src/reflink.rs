//! `livedfs clone` and `livedfs dedupe`: FICLONE and FIDEDUPERANGE.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// FICLONE from <linux/fs.h>.
const FICLONE: libc::c_ulong = 0x4004_9409;
/// FIDEDUPERANGE from <linux/fs.h>.
const FIDEDUPERANGE: libc::c_ulong = 0xC018_9436;

pub fn clone_file(src: &Path, dst: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let s = std::fs::File::open(src).with_context(|| format!("cannot open {}", src.display()))?;
    let d = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(dst)
        .with_context(|| format!("cannot create {}", dst.display()))?;
    // SAFETY: FICLONE takes the source descriptor as its argument; both
    // descriptors are open for the duration of the call.
    let r = unsafe { libc::ioctl(d.as_raw_fd(), FICLONE, s.as_raw_fd()) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        bail!("clone {} to {}: {e}", src.display(), dst.display());
    }
    Ok(())
}

#[repr(C)]
struct DedupeRangeInfo {
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
    info: [DedupeRangeInfo; 1],
}

/// Returns the bytes deduplicated.
pub fn dedupe_files(src: &Path, dst: &Path) -> Result<u64> {
    use std::os::fd::AsRawFd;
    let s = std::fs::File::open(src).with_context(|| format!("cannot open {}", src.display()))?;
    let d = std::fs::OpenOptions::new()
        .write(true)
        .open(dst)
        .with_context(|| format!("cannot open {}", dst.display()))?;
    let len = s.metadata()?.len();
    let mut done = 0u64;
    // The kernel may cap one request; loop over the file.
    while done < len {
        let mut arg = DedupeRange {
            src_offset: done,
            src_length: len - done,
            dest_count: 1,
            reserved1: 0,
            reserved2: 0,
            info: [DedupeRangeInfo {
                dest_fd: i64::from(d.as_raw_fd()),
                dest_offset: done,
                bytes_deduped: 0,
                status: 0,
                reserved: 0,
            }],
        };
        // SAFETY: `arg` is a valid file_dedupe_range with one info slot,
        // live for the call; the source descriptor is open.
        let r = unsafe { libc::ioctl(s.as_raw_fd(), FIDEDUPERANGE, &mut arg as *mut DedupeRange) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            bail!("dedupe {} and {}: {e}", src.display(), dst.display());
        }
        let info = &arg.info[0];
        if info.status < 0 {
            let e = std::io::Error::from_raw_os_error(-info.status);
            bail!("dedupe {} and {}: {e}", src.display(), dst.display());
        }
        if info.status == 1 {
            bail!(
                "{} and {} differ: nothing shared",
                src.display(),
                dst.display()
            );
        }
        if info.bytes_deduped == 0 {
            break;
        }
        done += info.bytes_deduped;
    }
    Ok(done)
}
