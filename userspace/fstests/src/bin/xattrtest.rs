//! xattrtest: extended attributes and POSIX ACLs with exact results and
//! errno values, as ext4 gives them (busybox has no setfattr/getfattr or
//! setfacl, so the system calls are made here; ACLs are set in their
//! binary xattr format).
//!
//!   xattrtest check DIR        every check that runs within one mount
//!   xattrtest write DIR        a tree of files with attributes ...
//!   xattrtest verify DIR       ... read back after umount/mount and fsck
//!   xattrtest enospc DIR       on a small volume: filled up, ENOSPC
//!   xattrtest noacl DIR        on a volume mounted -o noacl
//!   xattrtest unsupported DIR  on a volume made with -O ^xattr
//!   xattrtest concurrent DIR   writers sharing blocks, and readers
//!   xattrtest powercut DIR     changes cut off by a shutdown ...
//!   xattrtest powercut-check DIR  ... consistent after the replay
//!
//! Each check prints one `PASS:`/`FAIL:` line; checks that need another
//! user run in a child that drops to uid/gid 1000 (or 1001), which loses
//! every capability.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Context, Result};
use clap::{Parser, Subcommand};

use fstests::report::Report;
use fstests::sys::{self, Errno};

#[derive(Parser)]
#[command(
    name = "xattrtest",
    about = "Extended attributes and POSIX ACLs with exact errno values"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every check that runs within one mount (DIR: empty, on the volume).
    Check { dir: PathBuf },
    /// Creates a tree of files with attributes in DIR.
    Write { dir: PathBuf },
    /// Checks the tree `write` made (after umount/mount, fsck).
    Verify { dir: PathBuf },
    /// On a small volume: filling it up, ENOSPC, space coming back.
    Enospc { dir: PathBuf },
    /// On a volume mounted with -o noacl.
    Noacl { dir: PathBuf },
    /// On a volume made with -O ^xattr.
    Unsupported { dir: PathBuf },
    /// Attributes committed, then changes cut off by FS_IOC_SHUTDOWN
    /// without a journal flush (a power cut, as far as the disk knows).
    Powercut { dir: PathBuf },
    /// Threads changing files whose attribute sets are often equal (so
    /// blocks are shared, copied on write and freed all the time), and
    /// readers, at once; then every file as its thread's model says.
    Concurrent { dir: PathBuf },
    /// After `powercut`, umount and mount (the journal replayed): every
    /// file holds one of the attribute sets it went through, the
    /// committed ones their last.
    PowercutCheck { dir: PathBuf },
}

// ---- system calls ----

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("path without NUL")
}

fn cname(n: &[u8]) -> CString {
    CString::new(n).expect("name without NUL")
}

fn rc(r: libc::c_int) -> Result<(), Errno> {
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

fn rs(r: libc::ssize_t) -> Result<usize, Errno> {
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as usize)
    }
}

/// setxattr (`follow`) or lsetxattr.
fn set_f(p: &Path, name: &[u8], value: &[u8], flags: i32, follow: bool) -> Result<(), Errno> {
    let (c, n) = (cstr(p), cname(name));
    let v = value.as_ptr().cast();
    rc(unsafe {
        if follow {
            libc::setxattr(c.as_ptr(), n.as_ptr(), v, value.len(), flags)
        } else {
            libc::lsetxattr(c.as_ptr(), n.as_ptr(), v, value.len(), flags)
        }
    })
}

fn set(p: &Path, name: &[u8], value: &[u8], flags: i32) -> Result<(), Errno> {
    set_f(p, name, value, flags, true)
}

fn lset(p: &Path, name: &[u8], value: &[u8]) -> Result<(), Errno> {
    set_f(p, name, value, 0, false)
}

/// getxattr into a buffer of `size` bytes (0: the size only).
fn get_sized(p: &Path, name: &[u8], size: usize, follow: bool) -> Result<(usize, Vec<u8>), Errno> {
    let (c, n) = (cstr(p), cname(name));
    let mut buf = vec![0u8; size];
    let ptr = if size == 0 {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast()
    };
    let r = rs(unsafe {
        if follow {
            libc::getxattr(c.as_ptr(), n.as_ptr(), ptr, size)
        } else {
            libc::lgetxattr(c.as_ptr(), n.as_ptr(), ptr, size)
        }
    })?;
    buf.truncate(r.min(size));
    Ok((r, buf))
}

fn get_f(p: &Path, name: &[u8], follow: bool) -> Result<Vec<u8>, Errno> {
    let (len, _) = get_sized(p, name, 0, follow)?;
    let (n, v) = get_sized(p, name, len.max(1), follow)?;
    if n != len {
        return Err(Errno::EAGAIN);
    }
    Ok(v)
}

fn get(p: &Path, name: &[u8]) -> Result<Vec<u8>, Errno> {
    get_f(p, name, true)
}

fn lget(p: &Path, name: &[u8]) -> Result<Vec<u8>, Errno> {
    get_f(p, name, false)
}

fn fget(fd: &impl AsRawFd, name: &[u8]) -> Result<Vec<u8>, Errno> {
    let n = cname(name);
    let mut buf = vec![0u8; 65536];
    let r = rs(unsafe {
        libc::fgetxattr(
            fd.as_raw_fd(),
            n.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    })?;
    buf.truncate(r);
    Ok(buf)
}

/// listxattr into `size` bytes (0: the size only): (length, names).
fn list_sized(p: &Path, size: usize, follow: bool) -> Result<(usize, Vec<Vec<u8>>), Errno> {
    let c = cstr(p);
    let mut buf = vec![0u8; size];
    let ptr = if size == 0 {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast()
    };
    let r = rs(unsafe {
        if follow {
            libc::listxattr(c.as_ptr(), ptr, size)
        } else {
            libc::llistxattr(c.as_ptr(), ptr, size)
        }
    })?;
    buf.truncate(r.min(size));
    let names = buf
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    Ok((r, names))
}

fn list_f(p: &Path, follow: bool) -> Result<Vec<Vec<u8>>, Errno> {
    let (len, _) = list_sized(p, 0, follow)?;
    let (n, names) = list_sized(p, len.max(1), follow)?;
    if n != len {
        return Err(Errno::EAGAIN);
    }
    Ok(names)
}

fn list(p: &Path) -> Result<Vec<Vec<u8>>, Errno> {
    list_f(p, true)
}

fn llist(p: &Path) -> Result<Vec<Vec<u8>>, Errno> {
    list_f(p, false)
}

fn remove_f(p: &Path, name: &[u8], follow: bool) -> Result<(), Errno> {
    let (c, n) = (cstr(p), cname(name));
    rc(unsafe {
        if follow {
            libc::removexattr(c.as_ptr(), n.as_ptr())
        } else {
            libc::lremovexattr(c.as_ptr(), n.as_ptr())
        }
    })
}

fn remove(p: &Path, name: &[u8]) -> Result<(), Errno> {
    remove_f(p, name, true)
}

fn names(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// `got` must be the errno `want`.
fn want_err<T: std::fmt::Debug>(what: &str, got: Result<T, Errno>, want: Errno) -> Result<()> {
    match got {
        Err(e) if e == want => Ok(()),
        Err(e) => bail!("{what}: got {e:?}, expected {want:?}"),
        Ok(v) => bail!("{what}: succeeded ({v:?}), expected {want:?}"),
    }
}

fn ok<T>(what: &str, r: Result<T, Errno>) -> Result<T> {
    r.map_err(|e| anyhow!("{what}: {e:?}"))
}

fn touch(p: &Path, mode: u32) -> Result<()> {
    let fd = ok(
        "create",
        sys::open(p, libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY, mode),
    )
    .with_context(|| p.display().to_string())?;
    drop(fd);
    Ok(())
}

fn free_blocks(p: &Path) -> Result<u64> {
    Ok(ok("statfs", sys::statfs(p))?.f_bfree)
}

fn sync_all() {
    unsafe { libc::sync() };
}

// ---- POSIX ACLs in their xattr format ----

const ACL_ACCESS: &[u8] = b"system.posix_acl_access";
const ACL_DEFAULT: &[u8] = b"system.posix_acl_default";
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
const UNDEF: u32 = u32::MAX;

fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for &(tag, perm, id) in entries {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

// ---- another user ----

/// Runs `f` in a child process as `uid`/`gid` (no supplementary groups,
/// no capabilities); its error comes back as the result.
fn as_user(uid: u32, gid: u32, f: impl FnOnce() -> Result<()>) -> Result<()> {
    let (r, w) = ok("pipe", sys::pipe())?;
    match unsafe { libc::fork() } {
        -1 => bail!("fork: {:?}", Errno::last()),
        0 => {
            drop(r);
            let res = (|| -> Result<()> {
                ok(
                    "setgroups",
                    rc(unsafe { libc::setgroups(0, std::ptr::null()) }),
                )?;
                ok("setresgid", rc(unsafe { libc::setresgid(gid, gid, gid) }))?;
                ok("setresuid", rc(unsafe { libc::setresuid(uid, uid, uid) }))?;
                f()
            })();
            let msg = match res {
                Ok(()) => String::new(),
                Err(e) => format!("{e:#}"),
            };
            let _ = sys::write_all(&w, msg.as_bytes());
            unsafe { libc::_exit(if msg.is_empty() { 0 } else { 1 }) }
        }
        pid => {
            drop(w);
            let mut msg = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match sys::read(&r, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => msg.extend_from_slice(&buf[..n]),
                }
            }
            let mut status = 0;
            unsafe { libc::waitpid(pid, &mut status, 0) };
            if !msg.is_empty() {
                bail!("as uid {uid}: {}", String::from_utf8_lossy(&msg));
            }
            ensure!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "as uid {uid}: child failed (status {status})"
            );
            Ok(())
        }
    }
}

// ---- the checks ----

type Check = fn(&Path) -> Result<()>;

const CHECKS: &[(&str, Check)] = &[
    ("set-get-list-remove-file", set_get_list_remove),
    ("namespaces-file", namespaces_file),
    ("namespaces-directory", namespaces_dir),
    ("namespaces-symlink", namespaces_symlink),
    ("namespaces-special-files", namespaces_special),
    ("create-replace-flags", create_replace_flags),
    ("erange-small-buffers", erange),
    ("empty-value", empty_value),
    ("names", name_rules),
    ("large-values-enospc-e2big", large_values),
    ("replace-grow-shrink", replace_grow_shrink),
    ("many-attributes", many_attributes),
    ("ctime-updated", ctime_updated),
    ("hard-link-rename-truncate", link_rename_truncate),
    ("unlinked-open-file", unlinked_open),
    ("st-blocks", st_blocks),
    ("sharing-and-copy-on-write", sharing),
    ("trusted-security-unprivileged", unprivileged),
    ("user-attr-permissions", user_permissions),
    ("acl-denies-user", acl_denies),
    ("acl-mode-equivalent", acl_mode_equivalent),
    ("acl-invalid", acl_invalid),
    ("acl-default-inherited", acl_default_inherited),
    ("acl-umask-without-default", acl_umask),
    ("acl-chmod-updates-mask", acl_chmod),
    ("acl-default-only-on-directories", acl_default_dirs),
    ("immutable-append-only", immutable),
    ("delete-frees-blocks", delete_frees),
];

fn set_get_list_remove(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o644)?;
    ensure!(
        ok("list", list(&f))?.is_empty(),
        "a new file lists attributes"
    );
    want_err(
        "get of a missing attribute",
        get(&f, b"user.a"),
        Errno::ENODATA,
    )?;
    ok("set", set(&f, b"user.a", b"1", 0))?;
    ensure!(ok("get", get(&f, b"user.a"))? == b"1", "value");
    let (n, _) = ok("size query", get_sized(&f, b"user.a", 0, true))?;
    ensure!(n == 1, "size query returned {n}");
    ensure!(ok("list", list(&f))? == names(&["user.a"]), "list");
    ok("remove", remove(&f, b"user.a"))?;
    want_err("get after remove", get(&f, b"user.a"), Errno::ENODATA)?;
    ensure!(ok("list", list(&f))?.is_empty(), "list after remove");
    want_err("remove again", remove(&f, b"user.a"), Errno::ENODATA)?;
    Ok(())
}

/// Every namespace on `p` (as root): set, get, list, remove.
fn all_namespaces(p: &Path, follow: bool, with_user: bool) -> Result<()> {
    let mut want = vec!["security.label", "trusted.t"];
    if with_user {
        want.push("user.u");
    }
    for (i, n) in want.iter().enumerate() {
        let v = format!("value-{i}");
        ok(n, set_f(p, n.as_bytes(), v.as_bytes(), 0, follow))?;
    }
    for (i, n) in want.iter().enumerate() {
        let v = ok(n, get_f(p, n.as_bytes(), follow))?;
        ensure!(v == format!("value-{i}").as_bytes(), "{n}: value {v:?}");
    }
    let mut l = ok("list", list_f(p, follow))?;
    l.sort();
    let mut w = names(&want);
    w.sort();
    ensure!(l == w, "list {l:?}, expected {w:?}");
    for n in &want {
        ok(n, remove_f(p, n.as_bytes(), follow))?;
        want_err(n, get_f(p, n.as_bytes(), follow), Errno::ENODATA)?;
    }
    ensure!(
        ok("list", list_f(p, follow))?.is_empty(),
        "list after removing all"
    );
    Ok(())
}

fn namespaces_file(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o600)?;
    all_namespaces(&f, true, true)
}

fn namespaces_dir(d: &Path) -> Result<()> {
    let s = d.join("sub");
    ok("mkdir", sys::mkdir(&s, 0o755))?;
    all_namespaces(&s, true, true)?;
    // Entries of the directory are unaffected by its attributes.
    ok("set", set(&s, b"user.dir", b"x", 0))?;
    touch(&s.join("child"), 0o644)?;
    ensure!(ok("get", get(&s, b"user.dir"))? == b"x", "value");
    Ok(())
}

fn namespaces_symlink(d: &Path) -> Result<()> {
    let t = d.join("target");
    touch(&t, 0o644)?;
    for (name, target) in [
        ("fast", b"target".to_vec()),
        ("slow", [b"./".repeat(40), b"target".to_vec()].concat()),
    ] {
        let l = d.join(name);
        ok("symlink", sys::symlink(&target, &l))?;
        // user. is refused on symlinks themselves (the VFS): EPERM to
        // write, ENODATA to read.
        want_err("lsetxattr user.", lset(&l, b"user.x", b"v"), Errno::EPERM)?;
        want_err("lgetxattr user.", lget(&l, b"user.x"), Errno::ENODATA)?;
        all_namespaces(&l, false, false)?;
        // Following the link reaches the target.
        ok(
            "setxattr through the link",
            set(&l, b"user.via", name.as_bytes(), 0),
        )?;
        ensure!(
            ok("get", get(&t, b"user.via"))? == name.as_bytes(),
            "value on the target"
        );
        ensure!(
            ok("llist", llist(&l))?.is_empty(),
            "the link got the attribute"
        );
        // The link still resolves with an attribute of its own.
        ok("lset", lset(&l, b"trusted.keep", b"1"))?;
        ensure!(
            ok("readlink", sys::readlink(&l))? == target,
            "readlink changed"
        );
        ok("stat through the link", sys::stat(&l))?;
    }
    Ok(())
}

fn namespaces_special(d: &Path) -> Result<()> {
    let fifo = d.join("fifo");
    ok("mkfifo", sys::mknod(&fifo, libc::S_IFIFO | 0o644, 0))?;
    let dev = d.join("dev");
    ok(
        "mknod",
        sys::mknod(&dev, libc::S_IFCHR | 0o600, sys::makedev(4, 64)),
    )?;
    for p in [&fifo, &dev] {
        want_err(
            "user. on a special file",
            set(p, b"user.x", b"v", 0),
            Errno::EPERM,
        )?;
        all_namespaces(p, false, false)?;
    }
    Ok(())
}

fn create_replace_flags(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o644)?;
    want_err(
        "XATTR_REPLACE of a missing attribute",
        set(&f, b"user.a", b"1", libc::XATTR_REPLACE),
        Errno::ENODATA,
    )?;
    ok("XATTR_CREATE", set(&f, b"user.a", b"1", libc::XATTR_CREATE))?;
    want_err(
        "XATTR_CREATE of an existing attribute",
        set(&f, b"user.a", b"2", libc::XATTR_CREATE),
        Errno::EEXIST,
    )?;
    ensure!(
        ok("get", get(&f, b"user.a"))? == b"1",
        "a refused create changed the value"
    );
    ok(
        "XATTR_REPLACE",
        set(&f, b"user.a", b"22", libc::XATTR_REPLACE),
    )?;
    ensure!(ok("get", get(&f, b"user.a"))? == b"22", "replace");
    ok("flags 0 replaces", set(&f, b"user.a", b"333", 0))?;
    ensure!(
        ok("get", get(&f, b"user.a"))? == b"333",
        "replace with flags 0"
    );
    // The namespace of a neighbour does not count.
    ok(
        "same name, other namespace",
        set(&f, b"trusted.a", b"t", libc::XATTR_CREATE),
    )?;
    want_err(
        "remove a missing attribute",
        remove(&f, b"user.b"),
        Errno::ENODATA,
    )?;
    Ok(())
}

fn erange(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o644)?;
    ok("set", set(&f, b"user.abc", b"0123456789", 0))?;
    ok("set", set(&f, b"user.d", b"x", 0))?;
    want_err(
        "getxattr, buffer one byte short",
        get_sized(&f, b"user.abc", 9, true),
        Errno::ERANGE,
    )?;
    let (n, v) = ok(
        "getxattr, exact buffer",
        get_sized(&f, b"user.abc", 10, true),
    )?;
    ensure!(n == 10 && v == b"0123456789", "exact buffer");
    let (len, _) = ok("listxattr size", list_sized(&f, 0, true))?;
    ensure!(len == "user.abc\0user.d\0".len(), "list size {len}");
    want_err(
        "listxattr, buffer one byte short",
        list_sized(&f, len - 1, true),
        Errno::ERANGE,
    )?;
    let (n, l) = ok("listxattr, exact buffer", list_sized(&f, len, true))?;
    ensure!(
        n == len && l == names(&["user.abc", "user.d"]),
        "list {l:?}"
    );
    Ok(())
}

fn empty_value(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o644)?;
    ok("set an empty value", set(&f, b"user.empty", b"", 0))?;
    ensure!(ok("get", get(&f, b"user.empty"))?.is_empty(), "not empty");
    ensure!(
        ok("list", list(&f))? == names(&["user.empty"]),
        "not listed"
    );
    ok("remove", remove(&f, b"user.empty"))?;
    Ok(())
}

fn name_rules(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o644)?;
    // 255 bytes in all: the longest name.
    let longest = [b"user.".to_vec(), vec![b'n'; 250]].concat();
    ok("a 255-byte name", set(&f, &longest, b"v", 0))?;
    ensure!(ok("get", get(&f, &longest))? == b"v", "value");
    let too_long = [b"user.".to_vec(), vec![b'n'; 251]].concat();
    want_err(
        "a 256-byte name",
        set(&f, &too_long, b"v", 0),
        Errno::ERANGE,
    )?;
    want_err(
        "an empty name after user.",
        set(&f, b"user.", b"v", 0),
        Errno::EINVAL,
    )?;
    want_err(
        "an unknown namespace",
        set(&f, b"os2.name", b"v", 0),
        Errno::EOPNOTSUPP,
    )?;
    want_err(
        "an unknown system. attribute",
        set(&f, b"system.other", b"v", 0),
        Errno::EOPNOTSUPP,
    )?;
    // Any bytes but NUL: dots, slashes, spaces, non-UTF-8.
    let odd: &[&[u8]] = &[
        b"user.a.b.c",
        b"user.with/slash",
        b"user.sp ace",
        b"user.\xff\xfe\x01",
    ];
    for n in odd {
        ok("an unusual name", set(&f, n, n, 0))?;
    }
    for n in odd {
        ensure!(ok("get", get(&f, n))? == *n, "value of {n:?}");
    }
    let l = ok("list", list(&f))?;
    for n in odd {
        ensure!(l.contains(&n.to_vec()), "{n:?} not listed");
    }
    Ok(())
}

/// Block size of the volume.
fn block_size(d: &Path) -> Result<usize> {
    Ok(ok("statfs", sys::statfs(d))?.f_bsize as usize)
}

fn large_values(d: &Path) -> Result<()> {
    let bs = block_size(d)?;
    // The block's room: block size - 40; one entry: 4 + name + value,
    // rounded up to 4. "user.big": a 3-byte name.
    let max = bs - 40 - 4 - 3;
    let f = d.join("f");
    touch(&f, 0o644)?;
    let v: Vec<u8> = (0..max).map(|i| (i * 7 + 3) as u8).collect();
    ok("the largest value that fits", set(&f, b"user.big", &v, 0))?;
    ensure!(
        ok("get", get(&f, b"user.big"))? == v,
        "the largest value read back"
    );
    want_err(
        "any other attribute next to it",
        set(&f, b"user.x", b"", 0),
        Errno::ENOSPC,
    )?;
    ensure!(
        ok("get", get(&f, b"user.big"))? == v,
        "a refused set changed the value"
    );
    let g = d.join("g");
    touch(&g, 0o644)?;
    want_err(
        "one byte more than fits",
        set(&g, b"user.big", &vec![1u8; max + 1], 0),
        Errno::ENOSPC,
    )?;
    want_err(
        "a value over 64 KiB",
        set(&g, b"user.huge", &vec![1u8; 65537], 0),
        Errno::E2BIG,
    )?;
    ensure!(
        ok("list", list(&g))?.is_empty(),
        "refused sets left attributes"
    );
    // Many small attributes until the block is full, then one removed
    // makes room again.
    let mut n = 0;
    loop {
        let name = format!("user.fill{n:04}");
        match set(&g, name.as_bytes(), &[n as u8; 100], 0) {
            Ok(()) => n += 1,
            Err(Errno::ENOSPC) => break,
            Err(e) => bail!("filling: {e:?}"),
        }
        ensure!(n < 1000, "the block never filled");
    }
    // Each takes (4 + 8 + 100) = 112 bytes.
    ensure!(
        n == (bs - 40) / 112,
        "{n} attributes fit in a {bs}-byte block"
    );
    ok("remove one", remove(&g, b"user.fill0000"))?;
    ok("and one fits again", set(&g, b"user.again", &[9u8; 100], 0))?;
    for k in 1..n {
        let name = format!("user.fill{k:04}");
        ensure!(
            ok("get", get(&g, name.as_bytes()))? == vec![k as u8; 100],
            "{name}"
        );
    }
    Ok(())
}

fn replace_grow_shrink(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o644)?;
    for (n, v) in [
        ("user.a", "first"),
        ("user.m", "middle"),
        ("user.z", "last"),
    ] {
        ok("set", set(&f, n.as_bytes(), v.as_bytes(), 0))?;
    }
    for len in [1usize, 500, 3, 1000, 0, 77] {
        let v = vec![b'm'; len];
        ok("replace", set(&f, b"user.m", &v, 0))?;
        ensure!(
            ok("get", get(&f, b"user.m"))? == v,
            "middle value of {len} bytes"
        );
        ensure!(
            ok("get", get(&f, b"user.a"))? == b"first",
            "neighbour before"
        );
        ensure!(ok("get", get(&f, b"user.z"))? == b"last", "neighbour after");
    }
    Ok(())
}

fn many_attributes(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o644)?;
    let mut want = Vec::new();
    for i in (0..60).rev() {
        let n = format!("user.k{i:03}");
        ok("set", set(&f, n.as_bytes(), format!("v{i}").as_bytes(), 0))?;
        want.push(n);
    }
    want.sort();
    let l = ok("list", list(&f))?;
    let want: Vec<Vec<u8>> = want.into_iter().map(String::into_bytes).collect();
    ensure!(l == want, "list is not the 60 names in order");
    for i in 0..60 {
        let n = format!("user.k{i:03}");
        ensure!(
            ok("get", get(&f, n.as_bytes()))? == format!("v{i}").as_bytes(),
            "{n}"
        );
    }
    for i in (0..60).step_by(2) {
        ok("remove", remove(&f, format!("user.k{i:03}").as_bytes()))?;
    }
    ensure!(ok("list", list(&f))?.len() == 30, "30 left");
    Ok(())
}

fn ctime_updated(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o644)?;
    ok(
        "utimensat",
        sys::utimensat(
            &f,
            Some((sys::Time::At(1_000_000, 0), sys::Time::At(1_000_000, 0))),
            0,
        ),
    )?;
    let before = ok("stat", sys::stat(&f))?;
    // Past the clock's granularity (a jiffy).
    std::thread::sleep(std::time::Duration::from_millis(30));
    ok("set", set(&f, b"user.t", b"1", 0))?;
    let after = ok("stat", sys::stat(&f))?;
    ensure!(
        (after.st_ctime, after.st_ctime_nsec) > (before.st_ctime, before.st_ctime_nsec),
        "setxattr did not change ctime"
    );
    ensure!(after.st_mtime == before.st_mtime, "setxattr changed mtime");
    Ok(())
}

fn link_rename_truncate(d: &Path) -> Result<()> {
    let f = d.join("f");
    let fd = ok(
        "create",
        sys::open(&f, libc::O_CREAT | libc::O_WRONLY, 0o644),
    )?;
    ok("write", sys::write_all(&fd, &vec![7u8; 100_000]))?;
    ok("fsync", sys::fsync(&fd))?;
    drop(fd);
    ok("set", set(&f, b"user.k", b"v", 0))?;
    let h = d.join("hard");
    ok("link", sys::link(&f, &h))?;
    ensure!(
        ok("get via the link", get(&h, b"user.k"))? == b"v",
        "hard link"
    );
    let r = d.join("renamed");
    ok("rename", sys::rename(&f, &r))?;
    ensure!(
        ok("get after rename", get(&r, b"user.k"))? == b"v",
        "rename"
    );
    ok("truncate", sys::truncate(&r, 0))?;
    ensure!(
        ok("get after truncate", get(&r, b"user.k"))? == b"v",
        "truncate"
    );
    let st = ok("stat", sys::stat(&r))?;
    let bs = block_size(d)? as i64;
    ensure!(
        st.st_blocks == bs / 512,
        "an empty file with attributes has st_blocks {}, expected {}",
        st.st_blocks,
        bs / 512
    );
    Ok(())
}

fn unlinked_open(d: &Path) -> Result<()> {
    let free0 = free_blocks(d)?;
    let f = d.join("f");
    touch(&f, 0o644)?;
    ok("set", set(&f, b"user.k", b"still here", 0))?;
    let fd = ok("open", sys::open(&f, libc::O_RDONLY, 0))?;
    ok("unlink", sys::unlink(&f))?;
    ensure!(
        ok("fgetxattr", fget(&fd, b"user.k"))? == b"still here",
        "value"
    );
    ensure!(
        free_blocks(d)? == free0 - 1,
        "the block went while the file is open"
    );
    drop(fd);
    ensure!(
        free_blocks(d)? == free0,
        "closing the unlinked file kept its block"
    );
    Ok(())
}

fn st_blocks(d: &Path) -> Result<()> {
    let bs = block_size(d)? as i64;
    let f = d.join("f");
    touch(&f, 0o644)?;
    ensure!(ok("stat", sys::stat(&f))?.st_blocks == 0, "empty file");
    ok("set", set(&f, b"user.k", b"v", 0))?;
    ensure!(
        ok("stat", sys::stat(&f))?.st_blocks == bs / 512,
        "one attribute block"
    );
    ok("remove", remove(&f, b"user.k"))?;
    ensure!(
        ok("stat", sys::stat(&f))?.st_blocks == 0,
        "the block was given back"
    );
    Ok(())
}

fn sharing(d: &Path) -> Result<()> {
    let a = d.join("a");
    let b = d.join("b");
    touch(&a, 0o644)?;
    touch(&b, 0o644)?;
    let f0 = free_blocks(d)?;
    let used = |n: u64| -> Result<()> {
        let f = free_blocks(d)?;
        ensure!(
            f0 - f == n,
            "{} attribute blocks in use, expected {n}",
            f0 - f
        );
        Ok(())
    };
    let bs = block_size(d)? as i64;
    ok("a: set x", set(&a, b"user.x", b"same", 0))?;
    used(1)?;
    ok("b: set x (the same set)", set(&b, b"user.x", b"same", 0))?;
    used(1)?;
    for p in [&a, &b] {
        ensure!(
            ok("stat", sys::stat(p))?.st_blocks == bs / 512,
            "a shared block counts in both"
        );
    }
    ok("b: set y (copy on write)", set(&b, b"user.y", b"only b", 0))?;
    used(2)?;
    want_err("a did not get y", get(&a, b"user.y"), Errno::ENODATA)?;
    ok(
        "a: set y (joins b's block)",
        set(&a, b"user.y", b"only b", 0),
    )?;
    used(1)?;
    ok("a: remove y (copy on write)", remove(&a, b"user.y"))?;
    used(2)?;
    ok("b: remove y (joins a's block)", remove(&b, b"user.y"))?;
    used(1)?;
    for p in [&a, &b] {
        ensure!(ok("get", get(p, b"user.x"))? == b"same", "value");
        ensure!(ok("list", list(p))? == names(&["user.x"]), "list");
    }
    // Many files with one ACL-like set share one block.
    for i in 0..20 {
        let p = d.join(format!("m{i}"));
        touch(&p, 0o644)?;
        ok(
            "set",
            set(&p, b"security.label", b"system_u:object_r:etc_t:s0", 0),
        )?;
    }
    used(2)?;
    ok("unlink a", sys::unlink(&a))?;
    used(2)?;
    ok("unlink b", sys::unlink(&b))?;
    used(1)?;
    for i in 0..20 {
        ok("unlink", sys::unlink(&d.join(format!("m{i}"))))?;
    }
    used(0)
}

fn unprivileged(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o666)?;
    ok("root sets trusted.", set(&f, b"trusted.secret", b"t", 0))?;
    ok("root sets security.", set(&f, b"security.label", b"s", 0))?;
    ok("root sets user.", set(&f, b"user.u", b"u", 0))?;
    ok("chmod", sys::chmod(d, 0o777))?;
    as_user(1000, 1000, || {
        want_err(
            "trusted. set without CAP_SYS_ADMIN",
            set(&f, b"trusted.mine", b"x", 0),
            Errno::EPERM,
        )?;
        want_err(
            "trusted. get without CAP_SYS_ADMIN",
            get(&f, b"trusted.secret"),
            Errno::ENODATA,
        )?;
        want_err(
            "trusted. remove without CAP_SYS_ADMIN",
            remove(&f, b"trusted.secret"),
            Errno::EPERM,
        )?;
        want_err(
            "security. set without CAP_SYS_ADMIN",
            set(&f, b"security.mine", b"x", 0),
            Errno::EPERM,
        )?;
        ensure!(
            get(&f, b"security.label") == Ok(b"s".to_vec()),
            "security. is readable"
        );
        let mut l = list(&f).map_err(|e| anyhow!("list: {e:?}"))?;
        l.sort();
        ensure!(
            l == names(&["security.label", "user.u"]),
            "an unprivileged list shows {l:?}"
        );
        Ok(())
    })?;
    // Root still sees everything.
    let mut l = ok("list", list(&f))?;
    l.sort();
    ensure!(
        l == names(&["security.label", "trusted.secret", "user.u"]),
        "root's list {l:?}"
    );
    Ok(())
}

fn user_permissions(d: &Path) -> Result<()> {
    ok("chmod", sys::chmod(d, 0o777))?;
    let mine = d.join("mine");
    let theirs = d.join("theirs");
    touch(&theirs, 0o600)?;
    ok("set", set(&theirs, b"user.private", b"p", 0))?;
    let ro = d.join("readonly");
    touch(&ro, 0o644)?;
    ok("set", set(&ro, b"user.r", b"r", 0))?;
    let sticky = d.join("sticky");
    ok("mkdir", sys::mkdir(&sticky, 0o777))?;
    ok("chmod", sys::chmod(&sticky, 0o1777))?;
    as_user(1000, 1000, || {
        touch(&mine, 0o644)?;
        ok("user. on one's own file", set(&mine, b"user.m", b"m", 0))?;
        ensure!(get(&mine, b"user.m") == Ok(b"m".to_vec()), "value");
        want_err(
            "user. get without read permission",
            get(&theirs, b"user.private"),
            Errno::EACCES,
        )?;
        want_err(
            "user. set without write permission",
            set(&ro, b"user.w", b"w", 0),
            Errno::EACCES,
        )?;
        ensure!(
            get(&ro, b"user.r") == Ok(b"r".to_vec()),
            "readable with read permission"
        );
        want_err(
            "user. on another's sticky directory",
            set(&sticky, b"user.s", b"s", 0),
            Errno::EPERM,
        )?;
        Ok(())
    })
}

fn acl_denies(d: &Path) -> Result<()> {
    ok("chmod", sys::chmod(d, 0o755))?;
    let f = d.join("f");
    let fd = ok(
        "create",
        sys::open(&f, libc::O_CREAT | libc::O_WRONLY, 0o666),
    )?;
    ok("write", sys::write_all(&fd, b"data\n"))?;
    drop(fd);
    ok("chmod", sys::chmod(&f, 0o666))?;
    let a = acl(&[
        (USER_OBJ, 6, UNDEF),
        (USER, 0, 1000),
        (GROUP_OBJ, 6, UNDEF),
        (MASK, 6, UNDEF),
        (OTHER, 6, UNDEF),
    ]);
    ok("set the access ACL", set(&f, ACL_ACCESS, &a, 0))?;
    ensure!(
        ok("get", get(&f, ACL_ACCESS))? == a,
        "the ACL read back differs"
    );
    let l = ok("list", list(&f))?;
    ensure!(l == names(&["system.posix_acl_access"]), "list {l:?}");
    ensure!(ok("stat", sys::stat(&f))?.st_mode & 0o777 == 0o666, "mode");
    as_user(1000, 1000, || {
        want_err(
            "read by a user the ACL denies",
            sys::open(&f, libc::O_RDONLY, 0).map(drop),
            Errno::EACCES,
        )?;
        want_err(
            "write by a user the ACL denies",
            sys::open(&f, libc::O_WRONLY, 0).map(drop),
            Errno::EACCES,
        )?;
        Ok(())
    })?;
    as_user(1001, 1001, || {
        let fd = ok(
            "read by another user (other::rw-)",
            sys::open(&f, libc::O_RDWR, 0),
        )?;
        drop(fd);
        Ok(())
    })?;
    // Without the ACL, the mode lets 1000 in again.
    ok("remove the ACL", remove(&f, ACL_ACCESS))?;
    want_err("get", get(&f, ACL_ACCESS), Errno::ENODATA)?;
    as_user(1000, 1000, || {
        ok(
            "read once the ACL is gone",
            sys::open(&f, libc::O_RDONLY, 0),
        )
        .map(drop)
    })
}

fn acl_mode_equivalent(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o600)?;
    // An ACL that says no more than a mode: folded into the mode, not
    // stored (as ext4).
    let a = acl(&[
        (USER_OBJ, 7, UNDEF),
        (GROUP_OBJ, 5, UNDEF),
        (OTHER, 1, UNDEF),
    ]);
    ok("set", set(&f, ACL_ACCESS, &a, 0))?;
    let st = ok("stat", sys::stat(&f))?;
    ensure!(st.st_mode & 0o777 == 0o751, "mode {:o}", st.st_mode & 0o777);
    want_err("get", get(&f, ACL_ACCESS), Errno::ENODATA)?;
    ensure!(
        ok("stat", sys::stat(&f))?.st_blocks == 0,
        "a block was used"
    );
    // With a mask, the group bits of the mode are the mask.
    let m = acl(&[
        (USER_OBJ, 6, UNDEF),
        (GROUP_OBJ, 4, UNDEF),
        (GROUP, 6, 50),
        (MASK, 2, UNDEF),
        (OTHER, 0, UNDEF),
    ]);
    ok("set with a mask", set(&f, ACL_ACCESS, &m, 0))?;
    let st = ok("stat", sys::stat(&f))?;
    ensure!(st.st_mode & 0o777 == 0o620, "mode {:o}", st.st_mode & 0o777);
    ensure!(ok("get", get(&f, ACL_ACCESS))? == m, "ACL");
    Ok(())
}

fn acl_invalid(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o644)?;
    // A named user without a mask entry.
    let no_mask = acl(&[
        (USER_OBJ, 6, UNDEF),
        (USER, 4, 1000),
        (GROUP_OBJ, 4, UNDEF),
        (OTHER, 4, UNDEF),
    ]);
    want_err(
        "an ACL without its mask",
        set(&f, ACL_ACCESS, &no_mask, 0),
        Errno::EINVAL,
    )?;
    want_err(
        "a truncated ACL",
        set(&f, ACL_ACCESS, &[2, 0, 0, 0, 1], 0),
        Errno::EINVAL,
    )?;
    want_err(
        "an ACL of version 1",
        set(&f, ACL_ACCESS, &[1, 0, 0, 0], 0),
        Errno::EOPNOTSUPP,
    )?;
    ensure!(ok("list", list(&f))?.is_empty(), "refused ACLs were stored");
    Ok(())
}

fn acl_default_inherited(d: &Path) -> Result<()> {
    let old = sys::umask(0o022);
    let r = (|| -> Result<()> {
        let top = d.join("inherit");
        ok("mkdir", sys::mkdir(&top, 0o755))?;
        let def = acl(&[
            (USER_OBJ, 7, UNDEF),
            (USER, 5, 1000),
            (GROUP_OBJ, 5, UNDEF),
            (MASK, 7, UNDEF),
            (OTHER, 0, UNDEF),
        ]);
        ok("set the default ACL", set(&top, ACL_DEFAULT, &def, 0))?;
        ensure!(ok("get", get(&top, ACL_DEFAULT))? == def, "default ACL");
        // A file created 0666: the umask is ignored, the ACL masks it.
        let f = top.join("file");
        touch(&f, 0o666)?;
        let st = ok("stat", sys::stat(&f))?;
        ensure!(
            st.st_mode & 0o777 == 0o660,
            "new file mode {:o}, expected 660",
            st.st_mode & 0o777
        );
        let want = acl(&[
            (USER_OBJ, 6, UNDEF),
            (USER, 5, 1000),
            (GROUP_OBJ, 5, UNDEF),
            (MASK, 6, UNDEF),
            (OTHER, 0, UNDEF),
        ]);
        ensure!(
            ok("get", get(&f, ACL_ACCESS))? == want,
            "the file's access ACL"
        );
        want_err(
            "a file has no default ACL",
            get(&f, ACL_DEFAULT),
            Errno::ENODATA,
        )?;
        // A subdirectory inherits both.
        let s = top.join("sub");
        ok("mkdir", sys::mkdir(&s, 0o777))?;
        let st = ok("stat", sys::stat(&s))?;
        ensure!(
            st.st_mode & 0o777 == 0o770,
            "new dir mode {:o}, expected 770",
            st.st_mode & 0o777
        );
        ensure!(
            ok("get", get(&s, ACL_DEFAULT))? == def,
            "inherited default ACL"
        );
        ensure!(
            ok("get", get(&s, ACL_ACCESS))? == def,
            "the subdirectory's access ACL"
        );
        // And the ACL works: uid 1000 may read (r-x), not write.
        ok("chmod", sys::chmod(d, 0o755))?;
        as_user(1000, 1000, || {
            ok(
                "read an inherited-ACL file",
                sys::open(&f, libc::O_RDONLY, 0),
            )
            .map(drop)?;
            want_err(
                "write it",
                sys::open(&f, libc::O_WRONLY, 0).map(drop),
                Errno::EACCES,
            )
        })?;
        // An O_TMPFILE file too.
        let t = ok(
            "O_TMPFILE",
            sys::open(&top, libc::O_TMPFILE | libc::O_RDWR, 0o666),
        )?;
        ensure!(
            ok("fgetxattr", fget(&t, ACL_ACCESS))? == want,
            "the O_TMPFILE file's ACL"
        );
        let m = ok("fstat", sys::fstat(&t))?.st_mode & 0o777;
        ensure!(m == 0o660, "O_TMPFILE mode {m:o}, expected 660");
        drop(t);
        // Symlinks get no ACL.
        let l = top.join("link");
        ok("symlink", sys::symlink(b"file", &l))?;
        ensure!(ok("llist", llist(&l))?.is_empty(), "a symlink got an ACL");
        Ok(())
    })();
    sys::umask(old);
    r
}

fn acl_umask(d: &Path) -> Result<()> {
    let old = sys::umask(0o027);
    let r = (|| -> Result<()> {
        let f = d.join("f");
        touch(&f, 0o666)?;
        let m = ok("stat", sys::stat(&f))?.st_mode & 0o777;
        ensure!(m == 0o640, "file mode {m:o} with umask 027, expected 640");
        let s = d.join("s");
        ok("mkdir", sys::mkdir(&s, 0o777))?;
        let m = ok("stat", sys::stat(&s))?.st_mode & 0o777;
        ensure!(m == 0o750, "dir mode {m:o} with umask 027, expected 750");
        let t = ok(
            "O_TMPFILE",
            sys::open(d, libc::O_TMPFILE | libc::O_RDWR, 0o666),
        )?;
        let m = ok("fstat", sys::fstat(&t))?.st_mode & 0o777;
        ensure!(
            m == 0o640,
            "O_TMPFILE mode {m:o} with umask 027, expected 640"
        );
        ensure!(ok("list", list(&f))?.is_empty(), "an ACL appeared");
        Ok(())
    })();
    sys::umask(old);
    r
}

fn acl_chmod(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o644)?;
    let a = acl(&[
        (USER_OBJ, 6, UNDEF),
        (USER, 7, 1000),
        (GROUP_OBJ, 4, UNDEF),
        (MASK, 7, UNDEF),
        (OTHER, 4, UNDEF),
    ]);
    ok("set", set(&f, ACL_ACCESS, &a, 0))?;
    ok("chmod 640", sys::chmod(&f, 0o640))?;
    let want = acl(&[
        (USER_OBJ, 6, UNDEF),
        (USER, 7, 1000),
        (GROUP_OBJ, 4, UNDEF),
        (MASK, 4, UNDEF),
        (OTHER, 0, UNDEF),
    ]);
    ensure!(
        ok("get", get(&f, ACL_ACCESS))? == want,
        "chmod did not update the ACL"
    );
    Ok(())
}

fn acl_default_dirs(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o644)?;
    let def = acl(&[
        (USER_OBJ, 7, UNDEF),
        (GROUP_OBJ, 5, UNDEF),
        (OTHER, 5, UNDEF),
    ]);
    want_err(
        "a default ACL on a file",
        set(&f, ACL_DEFAULT, &def, 0),
        Errno::EACCES,
    )?;
    Ok(())
}

/// FS_IOC_GETFLAGS/SETFLAGS and the flags of chattr +i and +a.
const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
const FS_IMMUTABLE_FL: libc::c_long = 0x10;
const FS_APPEND_FL: libc::c_long = 0x20;

fn set_flags(p: &Path, flags: libc::c_long) -> Result<()> {
    let fd = ok("open", sys::open(p, libc::O_RDONLY, 0))?;
    let mut cur: libc::c_long = 0;
    ok(
        "FS_IOC_GETFLAGS",
        rc(unsafe { libc::ioctl(fd.as_raw_fd(), FS_IOC_GETFLAGS, &mut cur) }),
    )?;
    let new = (cur & !(FS_IMMUTABLE_FL | FS_APPEND_FL)) | flags;
    ok(
        "FS_IOC_SETFLAGS",
        rc(unsafe { libc::ioctl(fd.as_raw_fd(), FS_IOC_SETFLAGS, &new) }),
    )
}

/// Immutable and append-only files (chattr +i, +a): attributes can be
/// read but not set or removed (EPERM, as the VFS rules for ext4).
fn immutable(d: &Path) -> Result<()> {
    let f = d.join("f");
    touch(&f, 0o644)?;
    ok("set", set(&f, b"user.k", b"v", 0))?;
    for flag in [FS_IMMUTABLE_FL, FS_APPEND_FL] {
        set_flags(&f, flag)?;
        want_err("set", set(&f, b"user.x", b"v", 0), Errno::EPERM)?;
        want_err("remove", remove(&f, b"user.k"), Errno::EPERM)?;
        let a = acl(&[
            (USER_OBJ, 6, UNDEF),
            (USER, 4, 1000),
            (GROUP_OBJ, 4, UNDEF),
            (MASK, 4, UNDEF),
            (OTHER, 4, UNDEF),
        ]);
        want_err("set an ACL", set(&f, ACL_ACCESS, &a, 0), Errno::EPERM)?;
        ensure!(ok("get", get(&f, b"user.k"))? == b"v", "readable");
        set_flags(&f, 0)?;
    }
    ok("set once the flags are gone", set(&f, b"user.x", b"v", 0))?;
    Ok(())
}

fn delete_frees(d: &Path) -> Result<()> {
    let f0 = free_blocks(d)?;
    let s = d.join("tree");
    ok("mkdir", sys::mkdir(&s, 0o755))?;
    for i in 0..30 {
        let p = s.join(format!("f{i}"));
        touch(&p, 0o644)?;
        ok(
            "set",
            set(&p, b"user.unique", format!("value {i}").as_bytes(), 0),
        )?;
    }
    ok("symlink", sys::symlink(b"f0", &s.join("l")))?;
    ok("lset", lset(&s.join("l"), b"trusted.l", b"1"))?;
    ok("set on the directory", set(&s, b"user.d", b"1", 0))?;
    ensure!(free_blocks(d)? < f0 - 30, "the attributes took no blocks");
    for i in 0..30 {
        ok("unlink", sys::unlink(&s.join(format!("f{i}"))))?;
    }
    ok("unlink", sys::unlink(&s.join("l")))?;
    ok("rmdir", sys::rmdir(&s))?;
    sync_all();
    let f1 = free_blocks(d)?;
    ensure!(
        f1 == f0,
        "free blocks {f1} after deleting everything, {f0} before"
    );
    Ok(())
}

fn run_checks(dir: &Path) -> Report {
    let mut rep = Report::new();
    sys::umask(0);
    for (name, f) in CHECKS {
        let d = dir.join(name);
        if let Err(e) = sys::mkdir(&d, 0o755) {
            rep.fail(name, &format!("mkdir: {e:?}"));
            continue;
        }
        rep.check(name, f(&d));
    }
    rep
}

// ---- a tree kept across umount/mount ----

/// (path, follow, name, value) of every attribute `write` sets.
fn tree(dir: &Path, bs: usize) -> Vec<(PathBuf, bool, Vec<u8>, Vec<u8>)> {
    let mut v = Vec::new();
    let big: Vec<u8> = (0..bs - 40 - 4 - 3).map(|i| (i % 251) as u8).collect();
    v.push((
        dir.join("file"),
        true,
        b"user.small".to_vec(),
        b"hello".to_vec(),
    ));
    v.push((
        dir.join("file"),
        true,
        b"trusted.t".to_vec(),
        b"trusted value".to_vec(),
    ));
    v.push((
        dir.join("file"),
        true,
        b"security.s".to_vec(),
        b"label".to_vec(),
    ));
    v.push((dir.join("big"), true, b"user.big".to_vec(), big));
    v.push((
        dir.join("dir"),
        true,
        b"user.d".to_vec(),
        b"dir value".to_vec(),
    ));
    v.push((
        dir.join("fast"),
        false,
        b"trusted.link".to_vec(),
        b"fast".to_vec(),
    ));
    v.push((
        dir.join("slow"),
        false,
        b"security.link".to_vec(),
        b"slow".to_vec(),
    ));
    v.push((
        dir.join("fifo"),
        false,
        b"trusted.fifo".to_vec(),
        b"f".to_vec(),
    ));
    for i in 0..5 {
        v.push((
            dir.join(format!("shared{i}")),
            true,
            b"user.same".to_vec(),
            b"one block for five".to_vec(),
        ));
    }
    let acl_a = acl(&[
        (USER_OBJ, 6, UNDEF),
        (USER, 0, 1000),
        (GROUP_OBJ, 6, UNDEF),
        (MASK, 6, UNDEF),
        (OTHER, 6, UNDEF),
    ]);
    v.push((dir.join("acl"), true, ACL_ACCESS.to_vec(), acl_a));
    let def = acl(&[
        (USER_OBJ, 7, UNDEF),
        (USER, 5, 1000),
        (GROUP_OBJ, 5, UNDEF),
        (MASK, 7, UNDEF),
        (OTHER, 0, UNDEF),
    ]);
    v.push((dir.join("dir"), true, ACL_DEFAULT.to_vec(), def));
    v
}

fn slow_target() -> Vec<u8> {
    [b"./".repeat(40), b"file".to_vec()].concat()
}

fn write_tree(dir: &Path) -> Result<()> {
    sys::umask(0);
    let bs = block_size(dir)?;
    touch(&dir.join("file"), 0o644)?;
    touch(&dir.join("big"), 0o644)?;
    touch(&dir.join("acl"), 0o666)?;
    ok("mkdir", sys::mkdir(&dir.join("dir"), 0o755))?;
    ok("symlink", sys::symlink(b"file", &dir.join("fast")))?;
    ok("symlink", sys::symlink(&slow_target(), &dir.join("slow")))?;
    ok(
        "mkfifo",
        sys::mknod(&dir.join("fifo"), libc::S_IFIFO | 0o644, 0),
    )?;
    for i in 0..5 {
        touch(&dir.join(format!("shared{i}")), 0o644)?;
    }
    for (p, follow, n, v) in tree(dir, bs) {
        ok("set", set_f(&p, &n, &v, 0, follow)).with_context(|| p.display().to_string())?;
    }
    // A file created in `dir` after its default ACL: inherits it.
    touch(&dir.join("dir/inherited"), 0o666)?;
    sync_all();
    Ok(())
}

fn verify_tree(dir: &Path) -> Result<()> {
    let bs = block_size(dir)?;
    let t = tree(dir, bs);
    for (p, follow, n, v) in &t {
        let got = ok("get", get_f(p, n, *follow))
            .with_context(|| format!("{} {}", p.display(), String::from_utf8_lossy(n)))?;
        ensure!(
            &got == v,
            "{} {}: value differs",
            p.display(),
            String::from_utf8_lossy(n)
        );
    }
    // Lists hold exactly what was set.
    let mut by_path: std::collections::BTreeMap<PathBuf, Vec<Vec<u8>>> = Default::default();
    for (p, _, n, _) in &t {
        by_path.entry(p.clone()).or_default().push(n.clone());
    }
    for (p, mut want) in by_path {
        let follow = !(p.ends_with("fast") || p.ends_with("slow") || p.ends_with("fifo"));
        let mut l = ok("list", list_f(&p, follow))?;
        l.sort();
        want.sort();
        ensure!(l == want, "{}: list {l:?}", p.display());
    }
    ensure!(
        ok("readlink", sys::readlink(&dir.join("fast")))? == b"file",
        "fast symlink target"
    );
    ensure!(
        ok("readlink", sys::readlink(&dir.join("slow")))? == slow_target(),
        "slow symlink target"
    );
    let inh = dir.join("dir/inherited");
    ensure!(
        ok("stat", sys::stat(&inh))?.st_mode & 0o777 == 0o660,
        "inherited mode"
    );
    ok("get", get(&inh, ACL_ACCESS))?;
    // The ACL is enforced after the remount too.
    let a = dir.join("acl");
    as_user(1000, 1000, || {
        want_err(
            "denied by the ACL",
            sys::open(&a, libc::O_RDONLY, 0).map(drop),
            Errno::EACCES,
        )
    })?;
    // The five identical sets share one block: st_blocks counts it in each.
    for i in 0..5 {
        let st = ok("stat", sys::stat(&dir.join(format!("shared{i}"))))?;
        ensure!(
            st.st_blocks == bs as i64 / 512,
            "shared{i}: st_blocks {}",
            st.st_blocks
        );
    }
    Ok(())
}

// ---- a full volume ----

fn enospc(dir: &Path) -> Report {
    let mut rep = Report::new();
    sys::umask(0);
    let has = dir.join("has-block");
    let none = dir.join("no-block");
    let setup = (|| -> Result<()> {
        touch(&has, 0o644)?;
        ok("set", set(&has, b"user.first", b"1", 0))?;
        touch(&none, 0o644)?;
        Ok(())
    })();
    rep.check("setup", setup);
    // Fill the volume (random data: nothing deduplicates).
    let fill = dir.join("fill");
    let r = (|| -> Result<()> {
        let fd = ok(
            "create",
            sys::open(&fill, libc::O_CREAT | libc::O_WRONLY, 0o644),
        )?;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            for b in buf.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
            }
            match sys::write_all(&fd, &buf) {
                Ok(()) => {}
                Err(Errno::ENOSPC) => break,
                Err(e) => bail!("write: {e:?}"),
            }
        }
        ok("fsync", sys::fsync(&fd))?;
        // Then one-block files (no indirect block to reserve) until not
        // one block is left.
        for k in 0..10_000 {
            let p = dir.join(format!("fill{k}"));
            let fd = ok(
                "create",
                sys::open(&p, libc::O_CREAT | libc::O_WRONLY, 0o644),
            )?;
            for b in buf[..4096].chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
            }
            match sys::write_all(&fd, &buf[..4096]) {
                Ok(()) => ok("fsync", sys::fsync(&fd))?,
                Err(Errno::ENOSPC) => {
                    drop(fd);
                    ok("unlink the empty one", sys::unlink(&p))?;
                    break;
                }
                Err(e) => bail!("write: {e:?}"),
            }
        }
        sync_all();
        Ok(())
    })();
    rep.check("fill the volume up", r);
    rep.check(
        "a new attribute block: ENOSPC",
        want_err("set", set(&none, b"user.x", b"v", 0), Errno::ENOSPC),
    );
    rep.check(
        "the refused set left nothing",
        (|| -> Result<()> {
            ensure!(ok("list", list(&none))?.is_empty(), "listed");
            ensure!(ok("stat", sys::stat(&none))?.st_blocks == 0, "blocks");
            Ok(())
        })(),
    );
    rep.check(
        "an attribute into the inode's own block: fine",
        ok("set", set(&has, b"user.second", b"2", 0)),
    );
    rep.check(
        "removing works on a full volume",
        ok("remove", remove(&has, b"user.first")),
    );
    rep.check(
        "delete the fillers",
        (|| -> Result<()> {
            ok("unlink", sys::unlink(&fill))?;
            for k in 0..10_000 {
                match sys::unlink(&dir.join(format!("fill{k}"))) {
                    Ok(()) => {}
                    Err(Errno::ENOENT) => break,
                    Err(e) => bail!("unlink: {e:?}"),
                }
            }
            Ok(())
        })(),
    );
    // The filler's blocks come back once its transaction commits: the
    // set waits for that (commit and retry), never ENOSPC.
    rep.check(
        "a new attribute block right after the delete",
        ok("set", set(&none, b"user.x", b"v", 0)),
    );
    rep.check(
        "both read back",
        (|| -> Result<()> {
            ensure!(ok("get", get(&none, b"user.x"))? == b"v", "no-block");
            ensure!(ok("get", get(&has, b"user.second"))? == b"2", "has-block");
            Ok(())
        })(),
    );
    rep
}

// ---- other mounts ----

fn noacl(dir: &Path) -> Report {
    let mut rep = Report::new();
    let f = dir.join("noacl-file");
    let a = acl(&[
        (USER_OBJ, 6, UNDEF),
        (USER, 0, 1000),
        (GROUP_OBJ, 6, UNDEF),
        (MASK, 6, UNDEF),
        (OTHER, 6, UNDEF),
    ]);
    rep.check(
        "ACLs refused with noacl (EOPNOTSUPP)",
        (|| -> Result<()> {
            touch(&f, 0o666)?;
            want_err("set", set(&f, ACL_ACCESS, &a, 0), Errno::EOPNOTSUPP)?;
            want_err("get", get(&f, ACL_ACCESS), Errno::EOPNOTSUPP)
        })(),
    );
    rep.check(
        "user. attributes still work with noacl",
        (|| -> Result<()> {
            ok("set", set(&f, b"user.k", b"v", 0))?;
            ensure!(ok("get", get(&f, b"user.k"))? == b"v", "value");
            Ok(())
        })(),
    );
    rep.check(
        "the umask applies with noacl",
        (|| -> Result<()> {
            let old = sys::umask(0o077);
            let g = dir.join("noacl-umask");
            let r = touch(&g, 0o666);
            sys::umask(old);
            r?;
            let m = ok("stat", sys::stat(&g))?.st_mode & 0o777;
            ensure!(m == 0o600, "mode {m:o}");
            Ok(())
        })(),
    );
    // A file given an ACL before (by `write`): ignored now.
    let acl_file = dir.join("acl");
    if acl_file.exists() {
        rep.check(
            "a stored ACL is not enforced with noacl",
            (|| -> Result<()> {
                ensure!(
                    !ok("list", list(&acl_file))?.contains(&ACL_ACCESS.to_vec()),
                    "listed"
                );
                as_user(1000, 1000, || {
                    ok("open", sys::open(&acl_file, libc::O_RDONLY, 0)).map(drop)
                })
            })(),
        );
    }
    rep
}

fn unsupported(dir: &Path) -> Report {
    let mut rep = Report::new();
    let f = dir.join("f");
    rep.check(
        "setxattr: EOPNOTSUPP without the xattr feature",
        (|| -> Result<()> {
            touch(&f, 0o644)?;
            want_err("user.", set(&f, b"user.k", b"v", 0), Errno::EOPNOTSUPP)?;
            want_err(
                "trusted.",
                set(&f, b"trusted.k", b"v", 0),
                Errno::EOPNOTSUPP,
            )?;
            want_err(
                "ACL",
                set(
                    &f,
                    ACL_ACCESS,
                    &acl(&[
                        (USER_OBJ, 6, UNDEF),
                        (GROUP_OBJ, 4, UNDEF),
                        (OTHER, 4, UNDEF),
                    ]),
                    0,
                ),
                Errno::EOPNOTSUPP,
            )?;
            want_err("getxattr", get(&f, b"user.k"), Errno::EOPNOTSUPP)?;
            ensure!(ok("list", list(&f))?.is_empty(), "listxattr");
            Ok(())
        })(),
    );
    rep.check(
        "the umask applies without the feature",
        (|| -> Result<()> {
            let old = sys::umask(0o077);
            let g = dir.join("umask");
            let r = touch(&g, 0o666);
            sys::umask(old);
            r?;
            let m = ok("stat", sys::stat(&g))?.st_mode & 0o777;
            ensure!(m == 0o600, "mode {m:o}");
            Ok(())
        })(),
    );
    rep
}

// ---- concurrency ----

const WRITERS: usize = 4;
const FILES_PER_WRITER: usize = 8;
const OPS: usize = 400;

fn concurrent(dir: &Path) -> Report {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut rep = Report::new();
    let files: Vec<Vec<PathBuf>> = (0..WRITERS)
        .map(|w| {
            (0..FILES_PER_WRITER)
                .map(|k| dir.join(format!("w{w}-f{k}")))
                .collect()
        })
        .collect();
    let setup = (|| -> Result<()> {
        for f in files.iter().flatten() {
            touch(f, 0o644)?;
        }
        Ok(())
    })();
    rep.check("setup", setup);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let all: Vec<PathBuf> = files.iter().flatten().cloned().collect();
            let stop = stop.clone();
            std::thread::spawn(move || -> Result<u64> {
                let mut x = 0x1234_5678u64 + r;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let f = &all[(x % all.len() as u64) as usize];
                    // A value or a list may change between the size
                    // query and the read: ERANGE (or a size mismatch,
                    // EAGAIN here) then, as getfattr retries.
                    match get(f, b"user.k") {
                        Ok(v) => ensure!(v.starts_with(b"value-"), "read {v:?}"),
                        Err(Errno::ENODATA | Errno::ERANGE | Errno::EAGAIN) => {}
                        Err(e) => bail!("getxattr: {e:?}"),
                    }
                    match list(f) {
                        Ok(l) => ensure!(l.len() <= 2, "list {l:?}"),
                        Err(Errno::ERANGE | Errno::EAGAIN) => {}
                        Err(e) => bail!("listxattr: {e:?}"),
                    }
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let writers: Vec<_> = files
        .iter()
        .enumerate()
        .map(|(w, mine)| {
            let mine = mine.clone();
            std::thread::spawn(
                move || -> Result<BTreeMap<(usize, &'static str), Vec<u8>>> {
                    let mut model = BTreeMap::new();
                    let mut x = 0x9E37_79B9u64 * (w as u64 + 1);
                    for _ in 0..OPS {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let k = (x % FILES_PER_WRITER as u64) as usize;
                        let f = &mine[k];
                        // Four values, two names: few distinct sets.
                        let name: &'static str = if (x >> 8) % 3 == 0 {
                            "user.j"
                        } else {
                            "user.k"
                        };
                        match (x >> 16) % 4 {
                            0 => {
                                let r = remove(f, name.as_bytes());
                                match (model.remove(&(k, name)), r) {
                                    (Some(_), Ok(())) | (None, Err(Errno::ENODATA)) => {}
                                    (m, r) => bail!(
                                        "remove {name} of {}: {r:?}, model {m:?}",
                                        f.display()
                                    ),
                                }
                            }
                            _ => {
                                let v = format!("value-{}", (x >> 24) % 4).into_bytes();
                                ok("set", set(f, name.as_bytes(), &v, 0))?;
                                model.insert((k, name), v);
                            }
                        }
                    }
                    Ok(model)
                },
            )
        })
        .collect();
    let mut models = Vec::new();
    for (w, h) in writers.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(m)) => models.push(m),
            Ok(Err(e)) => {
                rep.fail(&format!("writer {w}"), &format!("{e:#}"));
                models.push(Default::default());
            }
            Err(_) => {
                rep.fail(&format!("writer {w}"), "panicked");
                models.push(Default::default());
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for (r, h) in readers.into_iter().enumerate() {
        let res = match h.join() {
            Ok(r) => r.map(drop),
            Err(_) => Err(anyhow!("panicked")),
        };
        rep.check(&format!("reader {r}: only whole values seen"), res);
    }
    let check = (|| -> Result<()> {
        for (w, model) in models.iter().enumerate() {
            for (k, f) in files[w].iter().enumerate() {
                for name in ["user.j", "user.k"] {
                    let got = get(f, name.as_bytes());
                    match (model.get(&(k, name)), got) {
                        (Some(v), Ok(g)) if *v == g => {}
                        (None, Err(Errno::ENODATA)) => {}
                        (m, g) => bail!("{} {name}: {g:?}, model {m:?}", f.display()),
                    }
                }
            }
        }
        Ok(())
    })();
    rep.check("every file as its writer's model says", check);
    rep
}

// ---- a power cut ----

const CUT_FILES: usize = 40;

fn powercut(dir: &Path) -> Report {
    let mut rep = Report::new();
    let setup = (|| -> Result<()> {
        for i in 0..CUT_FILES {
            let f = dir.join(format!("f{i}"));
            touch(&f, 0o644)?;
            ok("set", set(&f, b"user.v", format!("old-{i}").as_bytes(), 0))?;
            ok("set", set(&f, b"user.s", b"same for all", 0))?;
        }
        let d = ok(
            "open",
            sys::open(dir, libc::O_RDONLY | libc::O_DIRECTORY, 0),
        )?;
        ok("syncfs", sys::syncfs(&d))?;
        Ok(())
    })();
    rep.check("attributes committed", setup);
    let cut = (|| -> Result<()> {
        let d = ok(
            "open",
            sys::open(dir, libc::O_RDONLY | libc::O_DIRECTORY, 0),
        )?;
        for i in 0..CUT_FILES {
            if i == CUT_FILES / 4 {
                // The first quarter's changes committed: the replay must
                // bring them back.
                ok("syncfs", sys::syncfs(&d))?;
            }
            if i == CUT_FILES / 2 {
                let flags: u32 = 2;
                ok(
                    "FS_IOC_SHUTDOWN",
                    rc(unsafe {
                        libc::ioctl(d.as_raw_fd(), fstests::sys::FS_IOC_SHUTDOWN, &flags)
                    }),
                )?;
            }
            let f = dir.join(format!("f{i}"));
            let r = set(&f, b"user.v", format!("new-{i}").as_bytes(), 0).and_then(|()| {
                if i % 2 == 0 {
                    remove(&f, b"user.s")
                } else {
                    Ok(())
                }
            });
            match (i < CUT_FILES / 2, r) {
                (true, Ok(())) => {}
                // The volume stops (read-only, as after an error).
                (false, Err(Errno::EIO | Errno::EROFS)) => {}
                (before, r) => bail!("file {i} (before the cut: {before}): {r:?}"),
            }
        }
        Ok(())
    })();
    rep.check("changes cut off by a shutdown (EROFS after it)", cut);
    rep
}

fn powercut_check(dir: &Path) -> Report {
    let mut rep = Report::new();
    let r = (|| -> Result<()> {
        let (mut old, mut new) = (0, 0);
        for i in 0..CUT_FILES {
            let f = dir.join(format!("f{i}"));
            let v = ok("get", get(&f, b"user.v"))?;
            let s = get(&f, b"user.s");
            let (o, n) = (format!("old-{i}"), format!("new-{i}"));
            let same = s == Ok(b"same for all".to_vec());
            let gone = s == Err(Errno::ENODATA);
            let ok_state = (v == o.as_bytes() && same)
                || (v == n.as_bytes() && (same || (gone && i % 2 == 0)));
            ensure!(
                ok_state,
                "file {i}: user.v {:?}, user.s {s:?}",
                String::from_utf8_lossy(&v)
            );
            ensure!(
                i < CUT_FILES / 2 || v == o.as_bytes(),
                "file {i} changed after the cut"
            );
            ensure!(
                i >= CUT_FILES / 4 || (v == n.as_bytes() && (i % 2 == 1 || gone)),
                "file {i}: a committed change was lost"
            );
            if v == o.as_bytes() {
                old += 1;
            } else {
                new += 1;
            }
        }
        println!("after the replay: {old} files as committed before, {new} with later changes");
        Ok(())
    })();
    rep.check("every file holds a set it went through", r);
    rep
}

fn main() {
    let cli = Cli::parse();
    let (name, rep) = match cli.cmd {
        Cmd::Check { dir } => ("xattrtest", run_checks(&dir)),
        Cmd::Write { dir } => {
            let mut r = Report::new();
            r.check("write the attribute tree", write_tree(&dir));
            ("xattrtest write", r)
        }
        Cmd::Verify { dir } => {
            let mut r = Report::new();
            r.check("the attribute tree reads back", verify_tree(&dir));
            ("xattrtest verify", r)
        }
        Cmd::Enospc { dir } => ("xattrtest enospc", enospc(&dir)),
        Cmd::Noacl { dir } => ("xattrtest noacl", noacl(&dir)),
        Cmd::Unsupported { dir } => ("xattrtest unsupported", unsupported(&dir)),
        Cmd::Concurrent { dir } => ("xattrtest concurrent", concurrent(&dir)),
        Cmd::Powercut { dir } => ("xattrtest powercut", powercut(&dir)),
        Cmd::PowercutCheck { dir } => ("xattrtest powercut-check", powercut_check(&dir)),
    };
    rep.summary(name);
    std::process::exit(rep.exit_code());
}
