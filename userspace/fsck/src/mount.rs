//! Is the device mounted? fsck must not write to a mounted file system.
//! A block device is mounted if its device number appears in
//! /proc/self/mountinfo; an image file if a loop device backed by it is.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Where `dev` is mounted, if it is.
pub fn is_mounted(dev: &Path) -> io::Result<Option<String>> {
    let meta = std::fs::metadata(dev)?;
    let mut devnums = Vec::new();
    if meta.file_type().is_block_device() {
        devnums.push(meta.rdev());
    } else if meta.is_file() {
        // Loop devices backed by this file.
        let (fdev, fino) = (meta.dev(), meta.ino());
        if let Ok(rd) = std::fs::read_dir("/sys/block") {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.starts_with("loop") {
                    continue;
                }
                let Ok(back) = std::fs::read_to_string(e.path().join("loop/backing_file")) else {
                    continue;
                };
                let back = back.trim_end_matches('\n');
                let same =
                    std::fs::metadata(back).is_ok_and(|m| m.dev() == fdev && m.ino() == fino);
                if same {
                    if let Ok(d) = std::fs::read_to_string(e.path().join("dev")) {
                        if let Some((ma, mi)) = d.trim().split_once(':') {
                            if let (Ok(ma), Ok(mi)) = (ma.parse::<u64>(), mi.parse::<u64>()) {
                                devnums.push(makedev(ma, mi));
                            }
                        }
                    }
                }
            }
        }
    } else {
        return Ok(None);
    }
    if devnums.is_empty() {
        return Ok(None);
    }
    let info = match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    for line in info.lines() {
        let mut it = line.split(' ');
        let (_, _, majmin, _, mnt) = (it.next(), it.next(), it.next(), it.next(), it.next());
        let (Some(majmin), Some(mnt)) = (majmin, mnt) else {
            continue;
        };
        let Some((ma, mi)) = majmin.split_once(':') else {
            continue;
        };
        let (Ok(ma), Ok(mi)) = (ma.parse::<u64>(), mi.parse::<u64>()) else {
            continue;
        };
        if devnums.contains(&makedev(ma, mi)) {
            return Ok(Some(mnt.to_string()));
        }
    }
    Ok(None)
}

/// glibc's makedev.
fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xffff_f000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0xff)
}
