//! Thin wrappers over the system calls the tests use. Each returns the
//! raw result or the exact errno, so checks can compare errno values.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use nix::errno::Errno;

/// FS_IOC_SHUTDOWN: _IOR('X', 125, __u32); its argument: 0 syncs first,
/// 1 flushes the journal, 2 flushes nothing (a power cut, as far as the
/// disk knows).
pub const FS_IOC_SHUTDOWN: libc::c_ulong = 0x8004_587d;

/// A system call result: the value, or the errno it failed with.
pub type SysResult<T> = Result<T, Errno>;

fn cstr<P: AsRef<OsStr> + ?Sized>(p: &P) -> CString {
    // Paths with an interior NUL cannot be passed to the kernel; the tests
    // never build such names, so map it to a name that cannot exist.
    CString::new(p.as_ref().as_bytes()).unwrap_or_else(|_| c"/nonexistent-NUL-in-name".into())
}

fn cvt(ret: libc::c_int) -> SysResult<libc::c_int> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

fn cvt_l(ret: libc::c_long) -> SysResult<i64> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

fn cvt_s(ret: libc::ssize_t) -> SysResult<usize> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret as usize)
    }
}

/// Retry a call interrupted by a signal.
fn retry<T>(mut f: impl FnMut() -> SysResult<T>) -> SysResult<T> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

pub fn open(p: &Path, flags: libc::c_int, mode: libc::mode_t) -> SysResult<OwnedFd> {
    let c = cstr(p);
    let fd = retry(|| cvt(unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, mode) }))?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn read(fd: &impl AsRawFd, buf: &mut [u8]) -> SysResult<usize> {
    retry(|| cvt_s(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) }))
}

pub fn write(fd: &impl AsRawFd, buf: &[u8]) -> SysResult<usize> {
    retry(|| cvt_s(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) }))
}

pub fn pread(fd: &impl AsRawFd, buf: &mut [u8], off: u64) -> SysResult<usize> {
    retry(|| {
        cvt_s(unsafe {
            libc::pread64(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                off as i64,
            )
        })
    })
}

pub fn pwrite(fd: &impl AsRawFd, buf: &[u8], off: u64) -> SysResult<usize> {
    retry(|| {
        cvt_s(unsafe { libc::pwrite64(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), off as i64) })
    })
}

/// pread until `buf` is full or EOF; returns the bytes read.
pub fn pread_full(fd: &impl AsRawFd, buf: &mut [u8], off: u64) -> SysResult<usize> {
    let mut done = 0;
    while done < buf.len() {
        let n = pread(fd, &mut buf[done..], off + done as u64)?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

/// pwrite all of `buf`; a short write that makes no progress is EIO.
pub fn pwrite_all(fd: &impl AsRawFd, buf: &[u8], off: u64) -> SysResult<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = pwrite(fd, &buf[done..], off + done as u64)?;
        if n == 0 {
            return Err(Errno::EIO);
        }
        done += n;
    }
    Ok(())
}

pub fn write_all(fd: &impl AsRawFd, buf: &[u8]) -> SysResult<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = write(fd, &buf[done..])?;
        if n == 0 {
            return Err(Errno::EIO);
        }
        done += n;
    }
    Ok(())
}

pub fn lseek(fd: &impl AsRawFd, off: i64, whence: libc::c_int) -> SysResult<i64> {
    cvt_l(unsafe { libc::lseek64(fd.as_raw_fd(), off, whence) })
}

pub fn ftruncate(fd: &impl AsRawFd, len: i64) -> SysResult<()> {
    retry(|| cvt(unsafe { libc::ftruncate64(fd.as_raw_fd(), len) })).map(drop)
}

pub fn truncate(p: &Path, len: i64) -> SysResult<()> {
    let c = cstr(p);
    retry(|| cvt(unsafe { libc::truncate64(c.as_ptr(), len) })).map(drop)
}

pub fn fallocate(fd: &impl AsRawFd, mode: libc::c_int, off: i64, len: i64) -> SysResult<()> {
    retry(|| cvt(unsafe { libc::fallocate64(fd.as_raw_fd(), mode, off, len) })).map(drop)
}

pub fn mkdir(p: &Path, mode: libc::mode_t) -> SysResult<()> {
    let c = cstr(p);
    cvt(unsafe { libc::mkdir(c.as_ptr(), mode) }).map(drop)
}

pub fn rmdir(p: &Path) -> SysResult<()> {
    let c = cstr(p);
    cvt(unsafe { libc::rmdir(c.as_ptr()) }).map(drop)
}

pub fn unlink(p: &Path) -> SysResult<()> {
    let c = cstr(p);
    cvt(unsafe { libc::unlink(c.as_ptr()) }).map(drop)
}

pub fn link(old: &Path, new: &Path) -> SysResult<()> {
    let (o, n) = (cstr(old), cstr(new));
    cvt(unsafe { libc::link(o.as_ptr(), n.as_ptr()) }).map(drop)
}

pub fn symlink(target: &[u8], p: &Path) -> SysResult<()> {
    let t = cstr(OsStr::from_bytes(target));
    let c = cstr(p);
    cvt(unsafe { libc::symlink(t.as_ptr(), c.as_ptr()) }).map(drop)
}

pub fn readlink(p: &Path) -> SysResult<Vec<u8>> {
    let c = cstr(p);
    let mut buf = vec![0u8; 8192];
    let n = cvt_s(unsafe { libc::readlink(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) })?;
    buf.truncate(n);
    Ok(buf)
}

pub fn mknod(p: &Path, mode: libc::mode_t, dev: libc::dev_t) -> SysResult<()> {
    let c = cstr(p);
    cvt(unsafe { libc::mknod(c.as_ptr(), mode, dev) }).map(drop)
}

pub fn makedev(major: u32, minor: u32) -> libc::dev_t {
    libc::makedev(major, minor)
}

pub fn major(dev: libc::dev_t) -> u32 {
    libc::major(dev)
}

pub fn minor(dev: libc::dev_t) -> u32 {
    libc::minor(dev)
}

pub fn rename(old: &Path, new: &Path) -> SysResult<()> {
    let (o, n) = (cstr(old), cstr(new));
    cvt(unsafe { libc::rename(o.as_ptr(), n.as_ptr()) }).map(drop)
}

pub const RENAME_NOREPLACE: libc::c_uint = 1;
pub const RENAME_EXCHANGE: libc::c_uint = 2;

/// renameat2(2) relative to the current directory, by raw system call so
/// it does not depend on the C library's version.
pub fn rename2(old: &Path, new: &Path, flags: libc::c_uint) -> SysResult<()> {
    let (o, n) = (cstr(old), cstr(new));
    cvt_l(unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            o.as_ptr(),
            libc::AT_FDCWD,
            n.as_ptr(),
            flags,
        )
    })
    .map(drop)
}

pub fn chmod(p: &Path, mode: libc::mode_t) -> SysResult<()> {
    let c = cstr(p);
    cvt(unsafe { libc::chmod(c.as_ptr(), mode) }).map(drop)
}

pub fn fchmod(fd: &impl AsRawFd, mode: libc::mode_t) -> SysResult<()> {
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

pub fn chown(p: &Path, uid: u32, gid: u32) -> SysResult<()> {
    let c = cstr(p);
    cvt(unsafe { libc::chown(c.as_ptr(), uid, gid) }).map(drop)
}

pub fn lchown(p: &Path, uid: u32, gid: u32) -> SysResult<()> {
    let c = cstr(p);
    cvt(unsafe { libc::lchown(c.as_ptr(), uid, gid) }).map(drop)
}

pub fn fchown(fd: &impl AsRawFd, uid: u32, gid: u32) -> SysResult<()> {
    cvt(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) }).map(drop)
}

/// A timestamp for utimensat: seconds and nanoseconds, or one of the
/// special values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Time {
    At(i64, i64),
    Now,
    Omit,
}

fn ts(t: Time) -> libc::timespec {
    match t {
        Time::At(s, ns) => libc::timespec {
            tv_sec: s,
            tv_nsec: ns,
        },
        Time::Now => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Time::Omit => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
    }
}

/// utimensat(AT_FDCWD, p, [atime, mtime], flags); `None` sets both to now.
pub fn utimensat(p: &Path, times: Option<(Time, Time)>, flags: libc::c_int) -> SysResult<()> {
    let c = cstr(p);
    let arr = times.map(|(a, m)| [ts(a), ts(m)]);
    let ptr = arr.as_ref().map_or(std::ptr::null(), |a| a.as_ptr());
    cvt(unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ptr, flags) }).map(drop)
}

pub fn futimens(fd: &impl AsRawFd, atime: Time, mtime: Time) -> SysResult<()> {
    let arr = [ts(atime), ts(mtime)];
    cvt(unsafe { libc::futimens(fd.as_raw_fd(), arr.as_ptr()) }).map(drop)
}

pub type Stat = libc::stat64;

pub fn lstat(p: &Path) -> SysResult<Stat> {
    let c = cstr(p);
    let mut st: Stat = unsafe { std::mem::zeroed() };
    cvt(unsafe { libc::lstat64(c.as_ptr(), &mut st) })?;
    Ok(st)
}

pub fn stat(p: &Path) -> SysResult<Stat> {
    let c = cstr(p);
    let mut st: Stat = unsafe { std::mem::zeroed() };
    cvt(unsafe { libc::stat64(c.as_ptr(), &mut st) })?;
    Ok(st)
}

pub fn fstat(fd: &impl AsRawFd) -> SysResult<Stat> {
    let mut st: Stat = unsafe { std::mem::zeroed() };
    cvt(unsafe { libc::fstat64(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

pub type StatFs = libc::statfs64;

pub fn statfs(p: &Path) -> SysResult<StatFs> {
    let c = cstr(p);
    let mut st: StatFs = unsafe { std::mem::zeroed() };
    cvt(unsafe { libc::statfs64(c.as_ptr(), &mut st) })?;
    Ok(st)
}

pub fn fsync(fd: &impl AsRawFd) -> SysResult<()> {
    retry(|| cvt(unsafe { libc::fsync(fd.as_raw_fd()) })).map(drop)
}

pub fn fdatasync(fd: &impl AsRawFd) -> SysResult<()> {
    retry(|| cvt(unsafe { libc::fdatasync(fd.as_raw_fd()) })).map(drop)
}

pub fn syncfs(fd: &impl AsRawFd) -> SysResult<()> {
    cvt(unsafe { libc::syncfs(fd.as_raw_fd()) }).map(drop)
}

pub fn sendfile(
    out: &impl AsRawFd,
    inp: &impl AsRawFd,
    off: &mut i64,
    count: usize,
) -> SysResult<usize> {
    retry(|| cvt_s(unsafe { libc::sendfile64(out.as_raw_fd(), inp.as_raw_fd(), off, count) }))
}

pub fn splice(
    inp: RawFd,
    off_in: Option<&mut i64>,
    out: RawFd,
    off_out: Option<&mut i64>,
    len: usize,
) -> SysResult<usize> {
    let pi = off_in.map_or(std::ptr::null_mut(), |p| p as *mut i64);
    let po = off_out.map_or(std::ptr::null_mut(), |p| p as *mut i64);
    retry(|| cvt_s(unsafe { libc::splice(inp, pi, out, po, len, 0) }))
}

pub fn copy_file_range(
    inp: &impl AsRawFd,
    off_in: &mut i64,
    out: &impl AsRawFd,
    off_out: &mut i64,
    len: usize,
) -> SysResult<usize> {
    retry(|| {
        cvt_l(unsafe {
            libc::syscall(
                libc::SYS_copy_file_range,
                inp.as_raw_fd(),
                off_in as *mut i64,
                out.as_raw_fd(),
                off_out as *mut i64,
                len,
                0u32,
            )
        })
        .map(|n| n as usize)
    })
}

pub fn pipe() -> SysResult<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn umask(mask: libc::mode_t) -> libc::mode_t {
    unsafe { libc::umask(mask) }
}

pub fn geteuid() -> u32 {
    unsafe { libc::geteuid() }
}

pub fn getegid() -> u32 {
    unsafe { libc::getegid() }
}

/// One directory entry as getdents64 returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dirent {
    pub ino: u64,
    pub off: i64,
    pub dtype: u8,
    pub name: Vec<u8>,
}

/// One getdents64 call into a buffer of `bufsize` bytes; an empty result
/// is the end of the directory.
pub fn getdents64(fd: &impl AsRawFd, bufsize: usize) -> SysResult<Vec<Dirent>> {
    // u64 storage keeps the records 8-byte aligned.
    let mut buf = vec![0u64; bufsize.div_ceil(8)];
    let n = cvt_l(unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            fd.as_raw_fd(),
            buf.as_mut_ptr(),
            bufsize,
        )
    })? as usize;
    let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 19 <= n {
        let ino = u64::from_ne_bytes(bytes[pos..pos + 8].try_into().unwrap_or_default());
        let off = i64::from_ne_bytes(bytes[pos + 8..pos + 16].try_into().unwrap_or_default());
        let reclen = u16::from_ne_bytes([bytes[pos + 16], bytes[pos + 17]]) as usize;
        let dtype = bytes[pos + 18];
        if reclen < 20 || pos + reclen > n {
            return Err(Errno::EUCLEAN);
        }
        let raw = &bytes[pos + 19..pos + reclen];
        let len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        out.push(Dirent {
            ino,
            off,
            dtype,
            name: raw[..len].to_vec(),
        });
        pos += reclen;
    }
    Ok(out)
}

/// The whole directory through getdents64 with a buffer of `bufsize`.
pub fn read_dir_all(p: &Path, bufsize: usize) -> SysResult<Vec<Dirent>> {
    let fd = open(p, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let mut all = Vec::new();
    loop {
        let v = getdents64(&fd, bufsize)?;
        if v.is_empty() {
            return Ok(all);
        }
        all.extend(v);
    }
}

pub fn clock_realtime() -> (i64, i64) {
    clock(libc::CLOCK_REALTIME)
}

pub fn clock_realtime_coarse() -> (i64, i64) {
    clock(libc::CLOCK_REALTIME_COARSE)
}

fn clock(id: libc::clockid_t) -> (i64, i64) {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(id, &mut t) };
    (t.tv_sec, t.tv_nsec)
}

/// File type bits of a mode.
pub fn ftype(mode: libc::mode_t) -> libc::mode_t {
    mode & libc::S_IFMT
}
