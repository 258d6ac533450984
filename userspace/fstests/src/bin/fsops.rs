//! fsops: single file-system operations that busybox lacks, for the VM
//! tests: `fiemap FILE` prints a file's extents as FS_IOC_FIEMAP reports
//! them, one per line, `logical physical length flags words` (bytes; flags
//! in hex, `unwritten`/`shared`/`delalloc`/`last` spelled out); `getflags`/`setflags` are
//! FS_IOC_GETFLAGS/SETFLAGS (lsattr/chattr); `tmpfile` makes an O_TMPFILE
//! file, writes to it and optionally links it; `rename-whiteout` is
//! renameat2(RENAME_WHITEOUT); `syncfs` reports each syncfs's result;
//! `handle` and `open-handle` are name_to_handle_at and open_by_handle_at
//! (file handles, as NFS uses them).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;

const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
const FIEMAP_FLAG_SYNC: u32 = 0x1;
const FIEMAP_FLAG_XATTR: u32 = 0x2;
const FIEMAP_EXTENT_LAST: u32 = 0x1;
const FIEMAP_EXTENT_SHARED: u32 = 0x2000;
/// Dirty data not yet given a block (delayed allocation).
const FIEMAP_EXTENT_DELALLOC: u32 = 0x4;
/// Preallocated, not yet written (on livedfs: no disk block).
const FIEMAP_EXTENT_UNWRITTEN: u32 = 0x800;
const BATCH: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Extent {
    logical: u64,
    physical: u64,
    length: u64,
    reserved64: [u64; 2],
    flags: u32,
    reserved: [u32; 3],
}

#[repr(C)]
struct Fiemap {
    start: u64,
    length: u64,
    flags: u32,
    mapped_extents: u32,
    extent_count: u32,
    reserved: u32,
    extents: [Extent; BATCH],
}

#[derive(Parser)]
#[command(name = "fsops", about = "Single file-system operations for tests")]
enum Cli {
    /// Print the extents of FILE (FS_IOC_FIEMAP with FIEMAP_FLAG_SYNC, or
    /// without it with --no-sync: dirty data not yet placed shows as
    /// `delalloc`).
    Fiemap {
        file: PathBuf,
        #[arg(long)]
        no_sync: bool,
        /// The extended attributes' extents (FIEMAP_FLAG_XATTR).
        #[arg(long)]
        xattr: bool,
    },
    /// Print the inode flags of FILE in hex (FS_IOC_GETFLAGS).
    Getflags { file: PathBuf },
    /// Set the inode flags of FILE (hex, FS_IOC_SETFLAGS).
    Setflags { file: PathBuf, flags: String },
    /// Create an unnamed file in DIR (O_TMPFILE), write BYTES bytes of
    /// 0x5a to it, and give it the name LINK if asked (linkat).
    Tmpfile {
        dir: PathBuf,
        #[arg(long, default_value_t = 4096)]
        bytes: usize,
        #[arg(long)]
        link: Option<PathBuf>,
    },
    /// FS_IOC_SHUTDOWN on the file system holding PATH, with FLAGS: 0
    /// syncs first, 1 flushes the journal, 2 flushes nothing.
    Shutdown { path: PathBuf, flags: u32 },
    /// fstests' fsync-err in simple mode: FILE opened FDS times, each
    /// writes 64 KiB of 0x7c at its own offset and fsyncs; then `sh -c
    /// BREAK`; then each writes the same again and its fsync must fail;
    /// then `sh -c REPAIR`; then each descriptor is closed and reopened,
    /// and its first fsync must succeed. Prints each result.
    FsyncErr {
        file: PathBuf,
        fds: usize,
        #[arg(long = "break")]
        break_cmd: String,
        #[arg(long)]
        repair: String,
    },
    /// statx(FILE): prints `attributes=0x.. mask=0x.. blocks=N
    /// btime=SEC.NSEC` (the statx attribute bits livedfs sets: immutable
    /// 0x10, append 0x20, nodump 0x40; btime `none` if not reported).
    Statx { file: PathBuf },
    /// FS_IOC_GETFSLABEL on the file system holding PATH, printing the
    /// label; or FS_IOC_SETFSLABEL to LABEL if given.
    Label {
        path: PathBuf,
        label: Option<String>,
    },
    /// syncfs on the file system holding PATH, COUNT times through one
    /// descriptor opened O_RDONLY (as `xfs_io -r -c syncfs`): prints
    /// `syncfs: ok` or `syncfs: ERROR` for each.
    Syncfs {
        path: PathBuf,
        #[arg(default_value_t = 1)]
        count: usize,
    },
    /// name_to_handle_at(PATH): prints the file handle as `TYPE:HEX` (the
    /// handle type in decimal, its bytes in hex), for `open-handle`.
    Handle { path: PathBuf },
    /// open_by_handle_at(MOUNT, HANDLE, O_RDONLY) with a handle from
    /// `handle` (needs CAP_DAC_READ_SEARCH): prints `ino=N type=file` (or
    /// `type=dir entries=N path=P`, the names read from the directory
    /// besides "." and "..", and its path from /proc/self/fd, or
    /// `type=other`); with --cat, a file's bytes instead. An
    /// error is printed with its errno's text (ESTALE: "Stale file handle").
    OpenHandle {
        mount: PathBuf,
        handle: String,
        #[arg(long)]
        cat: bool,
    },
    /// renameat2(OLD, NEW, RENAME_WHITEOUT).
    RenameWhiteout { old: PathBuf, new: PathBuf },
    /// lseek(FILE, OFFSET, SEEK_DATA or SEEK_HOLE) for WHENCE `data` or
    /// `hole`: prints the offset returned, or `ENXIO`.
    Seek {
        file: PathBuf,
        whence: String,
        offset: i64,
    },
    /// fallocate(FILE, MODE, OFFSET, LEN): MODE is a '+'-joined list of
    /// keep, punch, collapse, zero, insert, unshare (or 0).
    Fallocate {
        file: PathBuf,
        mode: String,
        offset: i64,
        len: i64,
    },
}

const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;

fn cstr(p: &std::path::Path) -> Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    Ok(std::ffi::CString::new(p.as_os_str().as_bytes())?)
}

fn main() -> Result<()> {
    match Cli::parse() {
        Cli::Fiemap {
            file,
            no_sync,
            xattr,
        } => {
            let mut flags = if no_sync { 0 } else { FIEMAP_FLAG_SYNC };
            if xattr {
                flags |= FIEMAP_FLAG_XATTR;
            }
            fiemap(&file, flags)
        }
        Cli::Handle { path } => handle(&path),
        Cli::OpenHandle { mount, handle, cat } => open_handle(&mount, &handle, cat),
        Cli::Syncfs { path, count } => {
            let f = File::open(&path).with_context(|| format!("open {}", path.display()))?;
            for _ in 0..count {
                // SAFETY: syncfs on a descriptor `f` keeps open.
                let r = unsafe { libc::syncfs(f.as_raw_fd()) };
                if r == 0 {
                    println!("syncfs: ok");
                } else {
                    println!("syncfs: {}", std::io::Error::last_os_error());
                }
            }
            Ok(())
        }
        Cli::FsyncErr {
            file,
            fds,
            break_cmd,
            repair,
        } => {
            use std::os::unix::fs::FileExt;
            let buf = vec![0x7cu8; 65536];
            let mut files = Vec::new();
            for _ in 0..fds {
                files.push(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(&file)
                        .with_context(|| format!("open {}", file.display()))?,
                );
            }
            for (i, f) in files.iter().enumerate() {
                f.write_all_at(&buf, (i * buf.len()) as u64)?;
            }
            for (i, f) in files.iter().enumerate() {
                f.sync_all()
                    .with_context(|| format!("first fsync on fd[{i}]"))?;
            }
            let run = |cmd: &str| -> Result<()> {
                let st = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .status()?;
                if !st.success() {
                    bail!("{cmd}: {st}");
                }
                Ok(())
            };
            run(&break_cmd)?;
            for (i, f) in files.iter().enumerate() {
                f.write_all_at(&buf, (i * buf.len()) as u64)
                    .with_context(|| format!("second write on fd[{i}]"))?;
            }
            let mut succeeded = 0;
            for (i, f) in files.iter().enumerate() {
                match f.sync_all() {
                    Ok(()) => {
                        println!("second fsync on fd[{i}]: success");
                        succeeded += 1;
                    }
                    Err(e) => println!("second fsync on fd[{i}]: {e}"),
                }
            }
            run(&repair)?;
            if succeeded > 0 {
                bail!("{succeeded} of {fds} second fsyncs succeeded after the disk failed");
            }
            // As fsync-err: each descriptor reopened (the inode stays in
            // core) starts clean, its first fsync succeeds.
            let mut failed = 0;
            for (i, f) in files.into_iter().enumerate() {
                drop(f);
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&file)
                    .with_context(|| format!("reopen of fd[{i}]"))?;
                match f.sync_all() {
                    Ok(()) => println!("fsync after reopen of fd[{i}]: success"),
                    Err(e) => {
                        println!("fsync after reopen of fd[{i}]: {e}");
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} of {fds} fsyncs after reopening failed");
            }
            Ok(())
        }
        Cli::Statx { file } => {
            let c = std::ffi::CString::new(file.as_os_str().as_encoded_bytes())?;
            // SAFETY: an all-zero statx is a valid output buffer.
            let mut st: libc::statx = unsafe { std::mem::zeroed() };
            // SAFETY: a NUL-terminated path and a buffer the call fills.
            let r = unsafe {
                libc::statx(
                    libc::AT_FDCWD,
                    c.as_ptr(),
                    0,
                    libc::STATX_BASIC_STATS | libc::STATX_BTIME,
                    &mut st,
                )
            };
            if r != 0 {
                bail!(
                    "statx {}: {}",
                    file.display(),
                    std::io::Error::last_os_error()
                );
            }
            let btime = if st.stx_mask & libc::STATX_BTIME != 0 {
                format!("{}.{:09}", st.stx_btime.tv_sec, st.stx_btime.tv_nsec)
            } else {
                "none".to_string()
            };
            println!(
                "attributes=0x{:x} mask=0x{:x} blocks={} btime={btime}",
                st.stx_attributes, st.stx_attributes_mask, st.stx_blocks
            );
            Ok(())
        }
        Cli::Label { path, label } => {
            /// FS_IOC_GETFSLABEL: _IOR(0x94, 49, char[FSLABEL_MAX]).
            const FS_IOC_GETFSLABEL: libc::c_ulong = 0x8100_9431;
            /// FS_IOC_SETFSLABEL: _IOW(0x94, 50, char[FSLABEL_MAX]).
            const FS_IOC_SETFSLABEL: libc::c_ulong = 0x4100_9432;
            let f = File::open(&path).with_context(|| format!("open {}", path.display()))?;
            let mut buf = [0u8; 256];
            let (cmd, what) = match &label {
                Some(l) => {
                    let b = l.as_bytes();
                    if b.len() >= buf.len() {
                        bail!("label longer than 255 bytes");
                    }
                    buf[..b.len()].copy_from_slice(b);
                    (FS_IOC_SETFSLABEL, "FS_IOC_SETFSLABEL")
                }
                None => (FS_IOC_GETFSLABEL, "FS_IOC_GETFSLABEL"),
            };
            // SAFETY: a 256-byte buffer, as both ioctls take.
            if unsafe { libc::ioctl(f.as_raw_fd(), cmd, buf.as_mut_ptr()) } != 0 {
                bail!("{what}: {}", std::io::Error::last_os_error());
            }
            if label.is_none() {
                let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
                println!("{}", String::from_utf8_lossy(&buf[..end]));
            }
            Ok(())
        }
        Cli::Shutdown { path, flags } => {
            let f = File::open(&path).with_context(|| format!("open {}", path.display()))?;
            // SAFETY: the ioctl reads one u32 from the pointer, which lives
            // across the call.
            let r = unsafe { libc::ioctl(f.as_raw_fd(), fstests::sys::FS_IOC_SHUTDOWN, &flags) };
            if r != 0 {
                bail!("FS_IOC_SHUTDOWN: {}", std::io::Error::last_os_error());
            }
            Ok(())
        }
        Cli::Seek {
            file,
            whence,
            offset,
        } => {
            let w = match whence.as_str() {
                "data" => libc::SEEK_DATA,
                "hole" => libc::SEEK_HOLE,
                _ => bail!("whence must be data or hole, not {whence}"),
            };
            let f = File::open(&file).with_context(|| format!("open {}", file.display()))?;
            // SAFETY: lseek on a descriptor we own; no memory is passed.
            let r = unsafe { libc::lseek(f.as_raw_fd(), offset, w) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::ENXIO) {
                    println!("ENXIO");
                    return Ok(());
                }
                bail!("lseek: {e}");
            }
            println!("{r}");
            Ok(())
        }
        Cli::Getflags { file } => {
            let f = File::open(&file).with_context(|| format!("open {}", file.display()))?;
            let mut v: libc::c_long = 0;
            // SAFETY: FS_IOC_GETFLAGS writes one long (an int in the kernel's
            // definition; the long is wide enough).
            if unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_GETFLAGS, &mut v as *mut libc::c_long) }
                != 0
            {
                bail!("FS_IOC_GETFLAGS: {}", std::io::Error::last_os_error());
            }
            println!("{:#x}", v as u32);
            Ok(())
        }
        Cli::Setflags { file, flags } => {
            let v =
                u32::from_str_radix(flags.trim_start_matches("0x"), 16).context("flags in hex")?;
            let f = File::open(&file).with_context(|| format!("open {}", file.display()))?;
            let mut v = libc::c_long::from(v);
            // SAFETY: FS_IOC_SETFLAGS reads one int from the pointer.
            if unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_SETFLAGS, &mut v as *mut libc::c_long) }
                != 0
            {
                bail!("FS_IOC_SETFLAGS: {}", std::io::Error::last_os_error());
            }
            Ok(())
        }
        Cli::Tmpfile { dir, bytes, link } => {
            let d = cstr(&dir)?;
            // SAFETY: a NUL-terminated path; O_TMPFILE makes an unnamed file.
            let fd = unsafe { libc::open(d.as_ptr(), libc::O_TMPFILE | libc::O_RDWR, 0o600) };
            if fd < 0 {
                bail!("open(O_TMPFILE): {}", std::io::Error::last_os_error());
            }
            let buf = vec![0x5au8; bytes];
            // SAFETY: `fd` is ours; `buf` is valid for `bytes` bytes.
            let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
            if n != bytes as isize {
                bail!("write: {}", std::io::Error::last_os_error());
            }
            if let Some(l) = link {
                let target = cstr(&l)?;
                // SAFETY: linkat with AT_EMPTY_PATH on our fd names the file.
                let r = unsafe {
                    libc::linkat(
                        fd,
                        c"".as_ptr(),
                        libc::AT_FDCWD,
                        target.as_ptr(),
                        libc::AT_EMPTY_PATH,
                    )
                };
                if r != 0 {
                    bail!("linkat: {}", std::io::Error::last_os_error());
                }
            }
            // SAFETY: our fd.
            unsafe { libc::close(fd) };
            Ok(())
        }
        Cli::Fallocate {
            file,
            mode,
            offset,
            len,
        } => {
            let mut m = 0;
            for w in mode.split('+') {
                m |= match w {
                    "0" => 0,
                    "keep" => libc::FALLOC_FL_KEEP_SIZE,
                    "punch" => libc::FALLOC_FL_PUNCH_HOLE,
                    "collapse" => libc::FALLOC_FL_COLLAPSE_RANGE,
                    "zero" => libc::FALLOC_FL_ZERO_RANGE,
                    "insert" => libc::FALLOC_FL_INSERT_RANGE,
                    "unshare" => libc::FALLOC_FL_UNSHARE_RANGE,
                    _ => bail!("unknown fallocate mode {w}"),
                };
            }
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&file)
                .with_context(|| format!("open {}", file.display()))?;
            // SAFETY: our open fd; plain integer arguments.
            if unsafe { libc::fallocate(f.as_raw_fd(), m, offset, len) } != 0 {
                bail!("fallocate: {}", std::io::Error::last_os_error());
            }
            Ok(())
        }
        Cli::RenameWhiteout { old, new } => {
            let (o, n) = (cstr(&old)?, cstr(&new)?);
            // SAFETY: NUL-terminated paths; renameat2 by its raw number.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_renameat2,
                    libc::AT_FDCWD,
                    o.as_ptr(),
                    libc::AT_FDCWD,
                    n.as_ptr(),
                    4u32,
                )
            };
            if r != 0 {
                bail!(
                    "renameat2(RENAME_WHITEOUT): {}",
                    std::io::Error::last_os_error()
                );
            }
            Ok(())
        }
    }
}

/// Bytes of handle data a `file_handle` buffer has room for
/// (MAX_HANDLE_SZ).
const MAX_HANDLE_SZ: usize = 128;

/// A `struct file_handle` with room for MAX_HANDLE_SZ bytes of data.
#[repr(C)]
struct FileHandle {
    handle_bytes: u32,
    handle_type: i32,
    f_handle: [u8; MAX_HANDLE_SZ],
}

fn handle(path: &std::path::Path) -> Result<()> {
    let p = cstr(path)?;
    let mut h = FileHandle {
        handle_bytes: MAX_HANDLE_SZ as u32,
        handle_type: 0,
        f_handle: [0; MAX_HANDLE_SZ],
    };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: a NUL-terminated path; `h` has room for `handle_bytes` bytes
    // of handle data after its header, as the call expects.
    let r = unsafe {
        libc::name_to_handle_at(
            libc::AT_FDCWD,
            p.as_ptr(),
            (&mut h as *mut FileHandle).cast(),
            &mut mount_id,
            0,
        )
    };
    if r != 0 {
        bail!(
            "name_to_handle_at {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    let n = (h.handle_bytes as usize).min(MAX_HANDLE_SZ);
    let hex: String = h.f_handle[..n].iter().map(|b| format!("{b:02x}")).collect();
    println!("{}:{hex}", h.handle_type);
    Ok(())
}

fn open_handle(mount: &std::path::Path, text: &str, cat: bool) -> Result<()> {
    let (ty, hex) = text.split_once(':').context("a handle is TYPE:HEX")?;
    if hex.len() % 2 != 0 || hex.len() / 2 > MAX_HANDLE_SZ {
        bail!("bad handle bytes {hex}");
    }
    let mut h = FileHandle {
        handle_bytes: (hex.len() / 2) as u32,
        handle_type: ty.parse().context("handle type")?,
        f_handle: [0; MAX_HANDLE_SZ],
    };
    for (i, b) in h.f_handle.iter_mut().take(hex.len() / 2).enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).context("handle bytes in hex")?;
    }
    let m = File::open(mount).with_context(|| format!("open {}", mount.display()))?;
    // SAFETY: `m` is an open descriptor on the mount; `h` is a handle with
    // `handle_bytes` bytes of data.
    let fd = unsafe {
        libc::open_by_handle_at(
            m.as_raw_fd(),
            (&mut h as *mut FileHandle).cast(),
            libc::O_RDONLY,
        )
    };
    if fd < 0 {
        bail!("open_by_handle_at: {}", std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    let f = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let meta = f.metadata()?;
    use std::os::unix::fs::MetadataExt;
    if meta.is_file() {
        if cat {
            let mut out = std::io::stdout().lock();
            std::io::copy(&mut &f, &mut out)?;
        } else {
            println!("ino={} type=file", meta.ino());
        }
    } else if meta.is_dir() {
        // The path the VFS gives the open directory: its dentry connected
        // up to the mount's root (through get_parent when it was cold).
        let path = std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd()))?;
        let n = count_entries(f)?;
        println!(
            "ino={} type=dir entries={n} path={}",
            meta.ino(),
            path.display()
        );
    } else {
        println!("ino={} type=other", meta.ino());
    }
    Ok(())
}

/// The names in the open directory `f` besides "." and "..".
fn count_entries(f: File) -> Result<usize> {
    use std::os::fd::IntoRawFd;
    // SAFETY: fdopendir takes over the descriptor (closed by closedir).
    let d = unsafe { libc::fdopendir(f.into_raw_fd()) };
    if d.is_null() {
        bail!("fdopendir: {}", std::io::Error::last_os_error());
    }
    let mut n = 0;
    loop {
        // SAFETY: `d` is an open directory stream.
        let e = unsafe { libc::readdir(d) };
        if e.is_null() {
            break;
        }
        // SAFETY: readdir returned a valid entry whose name is
        // NUL-terminated, valid until the next readdir.
        let name = unsafe { std::ffi::CStr::from_ptr((*e).d_name.as_ptr()) };
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            n += 1;
        }
    }
    // SAFETY: `d` is ours; closed once.
    unsafe { libc::closedir(d) };
    Ok(n)
}

fn fiemap(file: &std::path::Path, flags: u32) -> Result<()> {
    let f = File::open(file).with_context(|| format!("open {}", file.display()))?;
    let mut start = 0u64;
    loop {
        let mut m = Fiemap {
            start,
            length: u64::MAX - start,
            flags,
            mapped_extents: 0,
            extent_count: BATCH as u32,
            reserved: 0,
            extents: [Extent::default(); BATCH],
        };
        // SAFETY: FS_IOC_FIEMAP reads the header and writes up to
        // extent_count extents into the array that follows it.
        let r = unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_FIEMAP, &mut m as *mut Fiemap) };
        if r != 0 {
            bail!("FS_IOC_FIEMAP: {}", std::io::Error::last_os_error());
        }
        let n = m.mapped_extents as usize;
        if n == 0 {
            return Ok(());
        }
        for e in &m.extents[..n.min(BATCH)] {
            let mut words = Vec::new();
            if e.flags & FIEMAP_EXTENT_UNWRITTEN != 0 {
                words.push("unwritten");
            }
            if e.flags & FIEMAP_EXTENT_SHARED != 0 {
                words.push("shared");
            }
            if e.flags & FIEMAP_EXTENT_DELALLOC != 0 {
                words.push("delalloc");
            }
            if e.flags & FIEMAP_EXTENT_LAST != 0 {
                words.push("last");
            }
            println!(
                "{} {} {} {:#x} {}",
                e.logical,
                e.physical,
                e.length,
                e.flags,
                words.join(",")
            );
            if e.flags & FIEMAP_EXTENT_LAST != 0 {
                return Ok(());
            }
        }
        let last = &m.extents[n.min(BATCH) - 1];
        start = last.logical + last.length;
    }
}
