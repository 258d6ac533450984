//! The target device: what it is, how big, whether it is in use, what it
//! holds, and the low-level ways to zero, discard and write it.
//!
//! A target is a block device or a regular file (an image). Block devices
//! are opened with O_EXCL, so the kernel itself refuses a device that is
//! mounted or held by another driver; /proc/self/mountinfo, /proc/swaps
//! and sysfs give a precise reason. Image files are checked against the
//! loop devices backed by them.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

nix::ioctl_read!(blk_getsize64, 0x12, 114, u64);
nix::ioctl_read_bad!(blk_sszget, nix::request_code_none!(0x12, 104), libc::c_int);
nix::ioctl_write_ptr_bad!(blk_discard, nix::request_code_none!(0x12, 119), [u64; 2]);
nix::ioctl_write_ptr_bad!(blk_zeroout, nix::request_code_none!(0x12, 127), [u64; 2]);

/// What kind of target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Regular,
    Block,
}

/// What is known about the target before it is opened for writing.
#[derive(Debug, Clone)]
pub struct Probe {
    pub path: PathBuf,
    pub exists: bool,
    pub kind: Kind,
    /// Size in bytes (0 for a file that does not exist yet).
    pub size: u64,
    /// Logical sector size of a block device (512 for files).
    pub sector_size: u32,
    /// st_dev/st_ino of a regular file, st_rdev of a block device.
    pub dev: u64,
    pub ino: u64,
    pub rdev: u64,
}

/// Looks at `path` without changing anything.
pub fn probe(path: &Path) -> Result<Probe> {
    let md = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(Probe {
                path: path.to_owned(),
                exists: false,
                kind: Kind::Regular,
                size: 0,
                sector_size: 512,
                dev: 0,
                ino: 0,
                rdev: 0,
            })
        }
        Err(e) => bail!("cannot access {}: {e}", path.display()),
    };
    let ft = md.file_type();
    if ft.is_file() {
        return Ok(Probe {
            path: path.to_owned(),
            exists: true,
            kind: Kind::Regular,
            size: md.len(),
            sector_size: 512,
            dev: md.dev(),
            ino: md.ino(),
            rdev: 0,
        });
    }
    if !ft.is_block_device() {
        bail!(
            "{} is neither a block device nor a regular file; give a disk, a partition or an \
             image file",
            path.display()
        );
    }
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let (size, sector) =
        block_size_of(&f).with_context(|| format!("cannot read the size of {}", path.display()))?;
    Ok(Probe {
        path: path.to_owned(),
        exists: true,
        kind: Kind::Block,
        size,
        sector_size: sector,
        dev: md.dev(),
        ino: md.ino(),
        rdev: md.rdev(),
    })
}

fn block_size_of(f: &File) -> Result<(u64, u32)> {
    use std::os::fd::AsRawFd;
    let mut size: u64 = 0;
    let mut ssz: libc::c_int = 512;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which is
    // valid for the call; the descriptor is open.
    unsafe { blk_getsize64(f.as_raw_fd(), &mut size) }?;
    // SAFETY: BLKSSZGET writes one int through the pointer.
    if unsafe { blk_sszget(f.as_raw_fd(), &mut ssz) }.is_err() {
        ssz = 512;
    }
    Ok((size, ssz.max(512) as u32))
}

/// One line of /proc/self/mountinfo, as much as mkfs needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub dev: u64,
    pub mount_point: String,
    pub source: String,
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if let Some(oct) = b.get(i + 1..i + 4) {
                if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                    let v = oct.iter().fold(0u32, |a, &c| a * 8 + u32::from(c - b'0'));
                    if let Ok(v) = u8::try_from(v) {
                        out.push(v);
                        i += 4;
                        continue;
                    }
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo text.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    let mut v = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(sep) = f.iter().position(|&x| x == "-") else {
            continue;
        };
        let (Some(mm), Some(mp), Some(src)) = (f.get(2), f.get(4), f.get(sep + 2)) else {
            continue;
        };
        let Some((ma, mi)) = mm.split_once(':') else {
            continue;
        };
        let (Ok(ma), Ok(mi)) = (ma.parse::<u32>(), mi.parse::<u32>()) else {
            continue;
        };
        v.push(Mount {
            dev: nix::sys::stat::makedev(ma.into(), mi.into()),
            mount_point: unescape(mp),
            source: unescape(src),
        });
    }
    v
}

fn mounts() -> Vec<Mount> {
    fs::read_to_string("/proc/self/mountinfo")
        .map(|t| parse_mountinfo(&t))
        .unwrap_or_default()
}

/// Where device `rdev` is mounted, if anywhere.
fn mounted_at(all: &[Mount], rdev: u64) -> Option<String> {
    for m in all {
        if m.dev == rdev {
            return Some(m.mount_point.clone());
        }
        if m.source.starts_with('/') {
            if let Ok(md) = fs::metadata(&m.source) {
                if md.file_type().is_block_device() && md.rdev() == rdev {
                    return Some(m.mount_point.clone());
                }
            }
        }
    }
    None
}

fn sys_dev(rdev: u64) -> PathBuf {
    PathBuf::from(format!(
        "/sys/dev/block/{}:{}",
        nix::sys::stat::major(rdev),
        nix::sys::stat::minor(rdev)
    ))
}

fn read_devno(p: &Path) -> Option<u64> {
    let t = fs::read_to_string(p).ok()?;
    let (a, b) = t.trim().split_once(':')?;
    Some(nix::sys::stat::makedev(a.parse().ok()?, b.parse().ok()?))
}

/// The device and its partitions, as (name, rdev).
fn with_partitions(rdev: u64) -> Vec<(String, u64)> {
    let base = sys_dev(rdev);
    let name = fs::canonicalize(&base)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| {
            format!(
                "{}:{}",
                nix::sys::stat::major(rdev),
                nix::sys::stat::minor(rdev)
            )
        });
    let mut v = vec![(name, rdev)];
    if let Ok(rd) = fs::read_dir(&base) {
        for e in rd.flatten() {
            let p = e.path();
            if p.join("partition").exists() {
                if let Some(d) = read_devno(&p.join("dev")) {
                    v.push((e.file_name().to_string_lossy().into_owned(), d));
                }
            }
        }
    }
    v
}

/// Whether a device or file is in active use as swap.
fn swap_user(p: &Probe) -> bool {
    let Ok(t) = fs::read_to_string("/proc/swaps") else {
        return false;
    };
    for line in t.lines().skip(1) {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Ok(md) = fs::metadata(unescape(name)) else {
            continue;
        };
        match p.kind {
            Kind::Block if md.file_type().is_block_device() && md.rdev() == p.rdev => return true,
            Kind::Regular if md.dev() == p.dev && md.ino() == p.ino => return true,
            _ => {}
        }
    }
    false
}

/// Loop devices backed by the regular file of `p`, as (name, rdev).
fn loops_backed_by(p: &Probe) -> Vec<(String, u64)> {
    let mut v = Vec::new();
    let Ok(rd) = fs::read_dir("/sys/block") else {
        return v;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        let Ok(backing) = fs::read_to_string(e.path().join("loop/backing_file")) else {
            continue;
        };
        let Ok(md) = fs::metadata(backing.trim_end_matches('\n')) else {
            continue;
        };
        if md.dev() == p.dev && md.ino() == p.ino {
            if let Some(d) = read_devno(&e.path().join("dev")) {
                v.push((name, d));
            }
        }
    }
    v
}

/// How the target is used by the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Usage {
    Free,
    /// Mounted or active swap: never formatted.
    Mounted(String),
    /// Held some other way (loop device, device mapper, md): -F overrides.
    Busy(String),
}

/// Checks whether the target is mounted or otherwise in use.
pub fn usage(p: &Probe) -> Usage {
    if !p.exists {
        return Usage::Free;
    }
    if swap_user(p) {
        return Usage::Mounted(format!("{} is in use as swap space", p.path.display()));
    }
    let all = mounts();
    match p.kind {
        Kind::Block => {
            for (name, d) in with_partitions(p.rdev) {
                if let Some(mp) = mounted_at(&all, d) {
                    return Usage::Mounted(format!(
                        "{} is mounted on {mp} (as {name})",
                        p.path.display()
                    ));
                }
            }
            if let Ok(rd) = fs::read_dir(sys_dev(p.rdev).join("holders")) {
                let holders: Vec<String> = rd
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                if !holders.is_empty() {
                    return Usage::Busy(format!(
                        "{} is in use by {}",
                        p.path.display(),
                        holders.join(", ")
                    ));
                }
            }
            Usage::Free
        }
        Kind::Regular => {
            let loops = loops_backed_by(p);
            for (_, ldev) in &loops {
                for (name, d) in with_partitions(*ldev) {
                    if let Some(mp) = mounted_at(&all, d) {
                        return Usage::Mounted(format!(
                            "{} is mounted on {mp} through /dev/{name}",
                            p.path.display()
                        ));
                    }
                }
            }
            if let Some((lname, _)) = loops.first() {
                return Usage::Busy(format!(
                    "{} is attached to /dev/{lname} (detach it with 'losetup -d /dev/{lname}')",
                    p.path.display()
                ));
            }
            Usage::Free
        }
    }
}

/// Bytes mkfs reads to recognise an existing file system.
pub const PROBE_BYTES: usize = 65600 + 8;

/// Names what `head` (the start of a device) holds, if anything known.
pub fn detect_signature(head: &[u8]) -> Option<String> {
    let at = |off: usize, magic: &[u8]| head.get(off..off + magic.len()) == Some(magic);
    if at(1024, &livedfs_format::superblock::MAGIC) {
        let label = head
            .get(1024..2048)
            .and_then(|b| livedfs_format::Superblock::decode_fields(b).ok())
            .map(|sb| sb.label_str().to_string())
            .unwrap_or_default();
        return Some(if label.is_empty() {
            "a livedfs file system".into()
        } else {
            format!("a livedfs file system labelled '{label}'")
        });
    }
    if at(1080, &[0x53, 0xEF]) {
        return Some("an ext2/ext3/ext4 file system".into());
    }
    let checks: [(usize, &[u8], &str); 11] = [
        (0, b"XFSB", "an XFS file system"),
        (65600, b"_BHRfS_M", "a Btrfs file system"),
        (0, b"LUKS\xba\xbe", "a LUKS encrypted volume"),
        (0, b"SKUL\xba\xbe", "a LUKS encrypted volume"),
        (536, b"LVM2 001", "an LVM2 physical volume"),
        (4086, b"SWAPSPACE2", "swap space"),
        (4086, b"SWAP-SPACE", "swap space"),
        (3, b"NTFS    ", "an NTFS file system"),
        (82, b"FAT32   ", "a FAT file system"),
        (54, b"FAT1", "a FAT file system"),
        (32769, b"CD001", "an ISO 9660 file system"),
    ];
    for (off, magic, what) in checks {
        if at(off, magic) {
            return Some(what.into());
        }
    }
    // Smaller file systems util-linux makes (mkfs.bfs, mkfs.cramfs,
    // mkfs.minix; fstests generic/740 makes each, then expects mkfs
    // without -F to refuse it), and two common read-only/flash ones.
    let others: [(usize, &[u8], &str); 6] = [
        (0, &[0xCE, 0xFA, 0xAD, 0x1B], "a BFS file system"),
        (0, &[0x45, 0x3D, 0xCD, 0x28], "a cramfs file system"),
        (0, &[0x28, 0xCD, 0x3D, 0x45], "a cramfs file system"),
        (512, &[0x45, 0x3D, 0xCD, 0x28], "a cramfs file system"),
        (0, b"hsqs", "a SquashFS file system"),
        (1024, &[0x10, 0x20, 0xF5, 0xF2], "an F2FS file system"),
    ];
    for (off, magic, what) in others {
        if at(off, magic) {
            return Some(what.into());
        }
    }
    if is_minix(head) {
        return Some("a Minix file system".into());
    }
    if at(512, b"EFI PART") {
        return Some("a GPT partition table".into());
    }
    if at(510, &[0x55, 0xAA]) {
        return Some("a DOS partition table or boot sector".into());
    }
    None
}

/// A Minix superblock at 1 KiB: a two-byte magic (v1, v2 at offset 16;
/// v3 at 24), so also the fields libblkid checks (a zone size of one
/// block, bitmaps and inodes present), lest random data be taken for one.
fn is_minix(head: &[u8]) -> bool {
    let u16_at = |off: usize| {
        head.get(1024 + off..1024 + off + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |off: usize| {
        head.get(1024 + off..1024 + off + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let v12 = matches!(u16_at(16), Some(0x137F | 0x138F | 0x2468 | 0x2478))
        && u16_at(0).is_some_and(|n| n != 0)
        && u16_at(4).is_some_and(|n| n != 0)
        && u16_at(6).is_some_and(|n| n != 0)
        && u16_at(10) == Some(0);
    let v3 = u16_at(24) == Some(0x4D5A)
        && u32_at(0).is_some_and(|n| n != 0)
        && u16_at(6).is_some_and(|n| n != 0)
        && u16_at(8).is_some_and(|n| n != 0)
        && u16_at(12) == Some(0);
    v12 || v3
}

/// An open target, for writing.
pub struct Target {
    pub file: File,
    pub kind: Kind,
    pub path: PathBuf,
}

/// Opens the target for writing: O_EXCL for block devices, so the kernel
/// refuses one that is mounted or held; with `force`, a busy device is
/// opened without it. A missing file is created.
pub fn open(p: &Probe, force: bool) -> Result<Target> {
    let path = &p.path;
    match p.kind {
        Kind::Regular => {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(!p.exists)
                .custom_flags(libc::O_CLOEXEC)
                .open(path)
                .with_context(|| format!("cannot open {} for writing", path.display()))?;
            Ok(Target {
                file,
                kind: p.kind,
                path: path.clone(),
            })
        }
        Kind::Block => {
            let excl = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_EXCL | libc::O_CLOEXEC)
                .open(path);
            let file = match excl {
                Ok(f) => f,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    if !force {
                        bail!(
                            "{} is in use by the system (it is mounted or held by another \
                             driver); unmount it, or use -F to format it anyway",
                            path.display()
                        );
                    }
                    OpenOptions::new()
                        .read(true)
                        .write(true)
                        .custom_flags(libc::O_CLOEXEC)
                        .open(path)
                        .with_context(|| format!("cannot open {} for writing", path.display()))?
                }
                Err(e) => bail!("cannot open {} for writing: {e}", path.display()),
            };
            Ok(Target {
                file,
                kind: p.kind,
                path: path.clone(),
            })
        }
    }
}

impl Target {
    /// Reads up to `n` bytes from the start (short if the device is).
    pub fn read_head(&self, n: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; n];
        let mut got = 0;
        while got < n {
            match self.file.read_at(&mut buf[got..], got as u64) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => bail!("cannot read {}: {e}", self.path.display()),
            }
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// Grows a regular file to `bytes` (sparsely).
    pub fn extend(&self, bytes: u64) -> Result<()> {
        let cur = self.file.metadata()?.len();
        if self.kind == Kind::Regular && bytes > cur {
            self.file.set_len(bytes).with_context(|| {
                format!(
                    "cannot extend {} to {bytes} bytes; is there room on its file system?",
                    self.path.display()
                )
            })?;
        }
        Ok(())
    }

    pub fn write_at(&self, buf: &[u8], off: u64) -> Result<()> {
        self.file.write_all_at(buf, off).with_context(|| {
            format!(
                "write of {} bytes at byte {off} of {} failed",
                buf.len(),
                self.path.display()
            )
        })
    }

    /// Discards `len` bytes at `off` (best effort: a device that cannot
    /// discard is left as it is). Returns whether it worked.
    pub fn discard(&self, off: u64, len: u64) -> bool {
        use std::os::fd::AsRawFd;
        if len == 0 {
            return true;
        }
        match self.kind {
            Kind::Block => {
                let r = [off, len];
                // SAFETY: BLKDISCARD reads two u64 through the pointer.
                unsafe { blk_discard(self.file.as_raw_fd(), &r) }.is_ok()
            }
            Kind::Regular => punch(&self.file, off, len),
        }
    }

    /// Makes `len` bytes at `off` read as zeros, as cheaply as the target
    /// allows: a hole in a file, BLKZEROOUT on a device, else written zeros.
    pub fn zero(&self, off: u64, len: u64) -> Result<()> {
        use std::os::fd::AsRawFd;
        if len == 0 {
            return Ok(());
        }
        match self.kind {
            Kind::Regular => {
                if punch(&self.file, off, len) {
                    return Ok(());
                }
                use nix::fcntl::{fallocate, FallocateFlags};
                if fallocate(
                    &self.file,
                    FallocateFlags::FALLOC_FL_ZERO_RANGE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
                    off as libc::off_t,
                    len as libc::off_t,
                )
                .is_ok()
                {
                    return Ok(());
                }
            }
            Kind::Block => {
                let r = [off, len];
                // SAFETY: BLKZEROOUT reads two u64 through the pointer.
                if unsafe { blk_zeroout(self.file.as_raw_fd(), &r) }.is_ok() {
                    return Ok(());
                }
            }
        }
        let chunk = vec![0u8; 1 << 20];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(chunk.len() as u64) as usize;
            self.write_at(&chunk[..n], off + done)?;
            done += n as u64;
        }
        Ok(())
    }

    pub fn sync(&self) -> Result<()> {
        self.file
            .sync_all()
            .with_context(|| format!("cannot flush {} to stable storage", self.path.display()))
    }
}

fn punch(f: &File, off: u64, len: u64) -> bool {
    use nix::fcntl::{fallocate, FallocateFlags};
    fallocate(
        f,
        FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
        off as libc::off_t,
        len as libc::off_t,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo() {
        let t = "36 35 98:0 /mnt1 /mnt/parent\\040dir rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                 42 27 7:0 / /tmp/lt.mnt rw,relatime - ext4 /dev/loop0 rw\n";
        let m = parse_mountinfo(t);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, "/mnt/parent dir");
        assert_eq!(m[0].source, "/dev/root");
        assert_eq!(m[0].dev, nix::sys::stat::makedev(98, 0));
        assert_eq!(m[1].dev, nix::sys::stat::makedev(7, 0));
    }

    #[test]
    fn signatures() {
        let mut h = vec![0u8; PROBE_BYTES];
        assert_eq!(detect_signature(&h), None);
        h[1080] = 0x53;
        h[1081] = 0xEF;
        assert!(detect_signature(&h).unwrap().contains("ext"));
        let mut h = vec![0u8; PROBE_BYTES];
        h[65600..65608].copy_from_slice(b"_BHRfS_M");
        assert!(detect_signature(&h).unwrap().contains("Btrfs"));
        let mut h = vec![0u8; 4096];
        h[..4].copy_from_slice(b"XFSB");
        assert!(detect_signature(&h).unwrap().contains("XFS"));
        let mut h = vec![0u8; 2048];
        h[1024..1032].copy_from_slice(b"LIVEDFS\0");
        assert!(detect_signature(&h).unwrap().contains("livedfs"));
    }

    /// Images made by the real tools (where installed: util-linux's
    /// mkfs.bfs, mkfs.cramfs, mkfs.minix) are recognised.
    #[test]
    fn signatures_of_real_images() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &[&str], &str); 5] = [
            ("mkfs.bfs", &[], "BFS"),
            ("mkfs.cramfs", &["/proc/self/fdinfo"], "cramfs"),
            ("mkfs.minix", &["-1"], "Minix"),
            ("mkfs.minix", &["-2"], "Minix"),
            ("mkfs.minix", &["-3"], "Minix"),
        ];
        for (tool, args, want) in cases {
            let img = dir.path().join("img");
            std::fs::write(&img, vec![0u8; 4 << 20]).unwrap();
            // cramfs takes a directory and writes a new image; the others
            // format the file.
            let mut cmd = std::process::Command::new(tool);
            if tool == "mkfs.cramfs" {
                let _ = std::fs::remove_file(&img);
                cmd.arg(dir.path()).arg(&img);
            } else {
                cmd.args(args).arg(&img);
            }
            let Ok(st) = cmd
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
            else {
                continue; // the tool is not installed here
            };
            if !st.success() {
                continue;
            }
            let head = std::fs::read(&img).unwrap();
            let what = detect_signature(&head[..PROBE_BYTES.min(head.len())]);
            assert!(
                what.as_deref().is_some_and(|w| w.contains(want)),
                "{tool} {args:?}: {what:?}"
            );
        }
    }

    #[test]
    fn random_data_is_not_minix() {
        // xorshift64: any fixed pseudo-random stream will do.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut h = vec![0u8; 2048];
        let mut hits = 0;
        for _ in 0..20000 {
            for b in h.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            hits += usize::from(is_minix(&h));
        }
        assert!(hits <= 1, "{hits} random headers taken for Minix");
    }
}
