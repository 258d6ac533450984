//! Checks of the name space: mkdir, rmdir, unlink, link, symlink, mknod,
//! rename in all its forms, name lengths, readdir.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::{bail, Result};
use libc::{O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR, O_WRONLY};

use fstests::sys::{self, Errno, RENAME_EXCHANGE, RENAME_NOREPLACE};

use crate::util::*;

fn nlink(p: &std::path::Path) -> Result<u64> {
    Ok(lstat(p)?.st_nlink)
}

pub fn mkdir_check(c: &Ctx) -> Check {
    eq(nlink(&c.dir)?, 2, "link count of an empty directory")?;
    mkdir(&c.p("d"), 0o755)?;
    let st = lstat(&c.p("d"))?;
    eq(
        st.st_mode,
        libc::S_IFDIR | 0o755,
        "mode of the new directory",
    )?;
    eq(st.st_nlink, 2, "link count of the new directory")?;
    eq(nlink(&c.dir)?, 3, "parent link count after mkdir")?;
    eq(
        names(&c.p("d"))?,
        Vec::<Vec<u8>>::new(),
        "entries of the new directory",
    )?;
    expect_err(
        sys::mkdir(&c.p("d"), 0o755),
        Errno::EEXIST,
        "mkdir of an existing directory",
    )?;
    drop(create(&c.p("f"), b"")?);
    expect_err(
        sys::mkdir(&c.p("f"), 0o755),
        Errno::EEXIST,
        "mkdir over a file",
    )?;
    expect_err(
        sys::mkdir(&c.p("missing/x"), 0o755),
        Errno::ENOENT,
        "mkdir in a missing directory",
    )?;
    expect_err(
        sys::mkdir(&c.p("f/x"), 0o755),
        Errno::ENOTDIR,
        "mkdir under a file",
    )?;
    expect_err(sys::mkdir(&c.p("d/."), 0o755), Errno::EEXIST, "mkdir d/.")?;
    // Linux keeps only the permission and sticky bits of mkdir's mode.
    mkdir(&c.p("all"), 0o7777)?;
    eq(
        lstat(&c.p("all"))?.st_mode,
        libc::S_IFDIR | 0o1777,
        "mode of mkdir 07777",
    )?;
    mkdir(&c.p("none"), 0)?;
    eq(
        lstat(&c.p("none"))?.st_mode,
        libc::S_IFDIR,
        "mode of mkdir 0",
    )?;
    eq(nlink(&c.dir)?, 5, "parent link count after three mkdirs")?;
    Ok(Verdict::Pass)
}

pub fn rmdir_check(c: &Ctx) -> Check {
    mkdir(&c.p("d"), 0o755)?;
    mkdir(&c.p("d/sub"), 0o755)?;
    drop(create(&c.p("d/f"), b"x")?);
    eq(nlink(&c.p("d"))?, 3, "link count with one subdirectory")?;
    expect_err(
        sys::rmdir(&c.p("d")),
        Errno::ENOTEMPTY,
        "rmdir of a directory with a file and a subdirectory",
    )?;
    sys::unlink(&c.p("d/f")).must("unlink")?;
    expect_err(
        sys::rmdir(&c.p("d")),
        Errno::ENOTEMPTY,
        "rmdir of a directory with a subdirectory",
    )?;
    sys::rmdir(&c.p("d/sub")).must("rmdir d/sub")?;
    eq(
        nlink(&c.p("d"))?,
        2,
        "link count after rmdir of the subdirectory",
    )?;
    expect_err(sys::rmdir(&c.p("d/.")), Errno::EINVAL, "rmdir d/.")?;
    expect_err(sys::rmdir(&c.p("d/..")), Errno::ENOTEMPTY, "rmdir d/..")?;
    sys::rmdir(&c.p("d")).must("rmdir d")?;
    expect_err(sys::lstat(&c.p("d")), Errno::ENOENT, "lstat after rmdir")?;
    eq(nlink(&c.dir)?, 2, "parent link count after rmdir")?;
    expect_err(
        sys::rmdir(&c.p("d")),
        Errno::ENOENT,
        "rmdir of a missing directory",
    )?;
    drop(create(&c.p("f"), b"")?);
    expect_err(sys::rmdir(&c.p("f")), Errno::ENOTDIR, "rmdir of a file")?;
    mkdir(&c.p("e"), 0o755)?;
    sys::symlink(b"e", &c.p("l")).must("symlink")?;
    expect_err(
        sys::rmdir(&c.p("l")),
        Errno::ENOTDIR,
        "rmdir of a symlink to a directory",
    )?;
    eq(
        names(&c.dir)?,
        vec![b"e".to_vec(), b"f".to_vec(), b"l".to_vec()],
        "entries left",
    )?;
    Ok(Verdict::Pass)
}

pub fn rmdir_open(c: &Ctx) -> Check {
    mkdir(&c.p("d"), 0o755)?;
    let fd = open(&c.p("d"), O_RDONLY | O_DIRECTORY, 0)?;
    sys::rmdir(&c.p("d")).must("rmdir of an open directory")?;
    eq(
        fstat(&fd)?.st_nlink,
        0,
        "link count of the removed open directory",
    )?;
    expect_err(
        sys::getdents64(&fd, 4096),
        Errno::ENOENT,
        "getdents64 of a removed directory",
    )?;
    let r = fstests::sys::Errno::result(unsafe {
        libc::openat(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            c"x".as_ptr(),
            O_WRONLY | O_CREAT,
            0o644,
        )
    });
    expect_err(r, Errno::ENOENT, "creating a file in a removed directory")?;
    Ok(Verdict::Pass)
}

pub fn unlink_check(c: &Ctx) -> Check {
    drop(create(&c.p("f"), b"x")?);
    sys::unlink(&c.p("f")).must("unlink")?;
    expect_err(sys::lstat(&c.p("f")), Errno::ENOENT, "lstat after unlink")?;
    expect_err(
        sys::unlink(&c.p("f")),
        Errno::ENOENT,
        "unlink of a missing file",
    )?;
    mkdir(&c.p("d"), 0o755)?;
    expect_err(
        sys::unlink(&c.p("d")),
        Errno::EISDIR,
        "unlink of a directory",
    )?;
    drop(create(&c.p("g"), b"target")?);
    expect_err(sys::unlink(&c.p("g/x")), Errno::ENOTDIR, "unlink of file/x")?;
    sys::symlink(b"g", &c.p("l")).must("symlink")?;
    sys::unlink(&c.p("l")).must("unlink of a symlink")?;
    eq_bytes(
        &read_path(&c.p("g"))?,
        b"target",
        "target after unlinking the symlink",
    )?;
    sys::mknod(&c.p("p"), libc::S_IFIFO | 0o600, 0).must("mkfifo")?;
    sys::unlink(&c.p("p")).must("unlink of a FIFO")?;
    eq(
        names(&c.dir)?,
        vec![b"d".to_vec(), b"g".to_vec()],
        "entries left",
    )?;
    Ok(Verdict::Pass)
}

pub fn link_check(c: &Ctx) -> Check {
    mkdir(&c.p("d1"), 0o755)?;
    mkdir(&c.p("d2"), 0o755)?;
    let d = rnd(200, 5000);
    drop(create(&c.p("d1/f"), &d)?);
    let ino = lstat(&c.p("d1/f"))?.st_ino;
    sys::link(&c.p("d1/f"), &c.p("d2/g")).must("link across directories")?;
    let (a, b) = (lstat(&c.p("d1/f"))?, lstat(&c.p("d2/g"))?);
    eq((a.st_nlink, b.st_nlink), (2, 2), "link counts after link")?;
    eq(b.st_ino, ino, "inode of the new link")?;
    sys::pwrite_all(&open(&c.p("d2/g"), O_WRONLY, 0)?, b"XYZ", 0)
        .must("write through the second link")?;
    let mut want = d.clone();
    want[..3].copy_from_slice(b"XYZ");
    eq_bytes(
        &read_path(&c.p("d1/f"))?,
        &want,
        "read through the first link",
    )?;
    sys::link(&c.p("d1/f"), &c.p("d1/h")).must("link")?;
    eq(nlink(&c.p("d2/g"))?, 3, "link count with three links")?;
    sys::unlink(&c.p("d1/f")).must("unlink")?;
    eq(nlink(&c.p("d2/g"))?, 2, "link count after unlinking one")?;
    eq_bytes(
        &read_path(&c.p("d1/h"))?,
        &want,
        "content after unlinking one link",
    )?;
    expect_err(
        sys::link(&c.p("d1"), &c.p("d3")),
        Errno::EPERM,
        "link to a directory",
    )?;
    expect_err(
        sys::link(&c.p("d1/h"), &c.p("d2/g")),
        Errno::EEXIST,
        "link onto an existing name",
    )?;
    expect_err(
        sys::link(&c.p("missing"), &c.p("x")),
        Errno::ENOENT,
        "link of a missing file",
    )?;
    expect_err(
        sys::link(&c.p("d1/h"), &c.p("nodir/x")),
        Errno::ENOENT,
        "link into a missing directory",
    )?;
    // link(2) does not follow a symlink: the new name is the symlink.
    sys::symlink(b"d1/h", &c.p("sl")).must("symlink")?;
    sys::link(&c.p("sl"), &c.p("sl2")).must("link of a symlink")?;
    let st = lstat(&c.p("sl2"))?;
    eq(
        ftype(&st),
        libc::S_IFLNK,
        "type of a hard link to a symlink",
    )?;
    eq(st.st_nlink, 2, "link count of the linked symlink")?;
    eq(
        nlink(&c.p("d1/h"))?,
        2,
        "link count of the symlink's target (unchanged)",
    )?;
    eq(
        (nlink(&c.p("d1"))?, nlink(&c.p("d2"))?),
        (2, 2),
        "directory link counts (hard links do not count)",
    )?;
    Ok(Verdict::Pass)
}

fn target_of(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            if i % 11 == 10 {
                b'/'
            } else {
                b'a' + (i % 26) as u8
            }
        })
        .collect()
}

pub fn symlink_lengths(c: &Ctx) -> Check {
    for len in [1usize, 30, 59, 60, 61, 100, 1000, 4095] {
        let t = target_of(len);
        let l = c.p(&format!("l{len}"));
        sys::symlink(&t, &l).must(format!("symlink with a {len}-byte target"))?;
        eq_bytes(
            &sys::readlink(&l).must("readlink")?,
            &t,
            format!("readlink of the {len}-byte target"),
        )?;
        let st = lstat(&l)?;
        eq(
            st.st_mode,
            libc::S_IFLNK | 0o777,
            format!("mode of the symlink ({len})"),
        )?;
        eq(
            st.st_size as usize,
            len,
            format!("st_size of the symlink ({len})"),
        )?;
        eq(st.st_nlink, 1, "link count of a symlink")?;
    }
    for len in [4096usize, 5000] {
        expect_err(
            sys::symlink(&target_of(len), &c.p("long")),
            Errno::ENAMETOOLONG,
            format!("symlink with a {len}-byte target"),
        )?;
    }
    expect_err(
        sys::lstat(&c.p("long")),
        Errno::ENOENT,
        "lstat after the refused symlinks",
    )?;
    // Following: a short and a long symlink to a real file.
    drop(create(&c.p("file"), b"followed")?);
    let long = [b"./".repeat(600).as_slice(), b"file"].concat();
    sys::symlink(b"file", &c.p("s1")).must("symlink")?;
    sys::symlink(&long, &c.p("s2")).must("symlink")?;
    eq_bytes(
        &read_path(&c.p("s1"))?,
        b"followed",
        "read through a short symlink",
    )?;
    eq_bytes(
        &read_path(&c.p("s2"))?,
        b"followed",
        "read through a 1204-byte symlink",
    )?;
    eq(
        stat(&c.p("s2"))?.st_ino,
        lstat(&c.p("file"))?.st_ino,
        "stat through a long symlink",
    )?;
    Ok(Verdict::Pass)
}

pub fn symlink_errors(c: &Ctx) -> Check {
    drop(create(&c.p("f"), b"")?);
    sys::symlink(b"x", &c.p("l")).must("symlink")?;
    expect_err(
        sys::symlink(b"y", &c.p("l")),
        Errno::EEXIST,
        "symlink over an existing symlink",
    )?;
    expect_err(
        sys::symlink(b"y", &c.p("f")),
        Errno::EEXIST,
        "symlink over an existing file",
    )?;
    expect_err(
        sys::symlink(b"", &c.p("empty")),
        Errno::ENOENT,
        "symlink with an empty target",
    )?;
    expect_err(
        sys::symlink(b"y", &c.p("missing/l")),
        Errno::ENOENT,
        "symlink in a missing directory",
    )?;
    expect_err(
        sys::readlink(&c.p("f")),
        Errno::EINVAL,
        "readlink of a regular file",
    )?;
    expect_err(
        sys::readlink(&c.p("missing")),
        Errno::ENOENT,
        "readlink of a missing name",
    )?;
    expect_err(
        sys::stat(&c.p("l")),
        Errno::ENOENT,
        "stat through a dangling symlink",
    )?;
    eq_bytes(
        &sys::readlink(&c.p("l")).must("readlink")?,
        b"x",
        "readlink unchanged",
    )?;
    Ok(Verdict::Pass)
}

pub fn mknod_devices(c: &Ctx) -> Check {
    if !c.root_user {
        expect_err(
            sys::mknod(&c.p("c"), libc::S_IFCHR | 0o600, sys::makedev(1, 3)),
            Errno::EPERM,
            "mknod of a character device as non-root",
        )?;
        return Ok(Verdict::Skip(
            "not root: device nodes need CAP_MKNOD (EPERM checked)".into(),
        ));
    }
    for (name, kind, perm, major, minor) in [
        ("null", libc::S_IFCHR, 0o666, 1u32, 3u32),
        ("sda1", libc::S_IFBLK, 0o640, 8, 1),
        ("big-chr", libc::S_IFCHR, 0o600, 259, 300000),
        ("max-blk", libc::S_IFBLK, 0o600, 4095, 1048575),
        ("zero", libc::S_IFCHR, 0o644, 0, 0),
    ] {
        let p = c.p(name);
        sys::mknod(&p, kind | perm, sys::makedev(major, minor)).must(format!("mknod {name}"))?;
        let st = lstat(&p)?;
        eq(st.st_mode, kind | perm, format!("mode of {name}"))?;
        eq(
            (sys::major(st.st_rdev), sys::minor(st.st_rdev)),
            (major, minor),
            format!("major:minor of {name}"),
        )?;
        eq(st.st_size, 0, format!("size of {name}"))?;
        eq(st.st_nlink, 1, format!("link count of {name}"))?;
    }
    expect_err(
        sys::mknod(&c.p("null"), libc::S_IFCHR | 0o600, sys::makedev(1, 3)),
        Errno::EEXIST,
        "mknod of an existing name",
    )?;
    Ok(Verdict::Pass)
}

pub fn mknod_others(c: &Ctx) -> Check {
    sys::mknod(&c.p("fifo"), libc::S_IFIFO | 0o640, 0).must("mknod FIFO")?;
    eq(
        lstat(&c.p("fifo"))?.st_mode,
        libc::S_IFIFO | 0o640,
        "mode of the FIFO",
    )?;
    let fd = open(&c.p("fifo"), O_RDWR, 0)?;
    sys::write_all(&fd, b"ping").must("write to the FIFO")?;
    let mut b = [0u8; 16];
    let n = sys::read(&fd, &mut b).must("read from the FIFO")?;
    eq_bytes(&b[..n], b"ping", "data through the FIFO")?;
    sys::mknod(&c.p("sock"), libc::S_IFSOCK | 0o755, 0).must("mknod S_IFSOCK")?;
    eq(
        lstat(&c.p("sock"))?.st_mode,
        libc::S_IFSOCK | 0o755,
        "mode of the socket",
    )?;
    expect_err(
        sys::open(&c.p("sock"), O_RDONLY, 0),
        Errno::ENXIO,
        "open of a socket node",
    )?;
    sys::mknod(&c.p("reg"), libc::S_IFREG | 0o600, 0).must("mknod S_IFREG")?;
    eq(
        lstat(&c.p("reg"))?.st_mode,
        libc::S_IFREG | 0o600,
        "mode of mknod S_IFREG",
    )?;
    sys::mknod(&c.p("reg0"), 0o640, 0).must("mknod with no type")?;
    eq(
        lstat(&c.p("reg0"))?.st_mode,
        libc::S_IFREG | 0o640,
        "mknod with no type makes a regular file",
    )?;
    expect_err(
        sys::mknod(&c.p("dir"), libc::S_IFDIR | 0o755, 0),
        Errno::EPERM,
        "mknod S_IFDIR",
    )?;
    expect_err(
        sys::mknod(&c.p("fifo"), libc::S_IFIFO | 0o600, 0),
        Errno::EEXIST,
        "mknod of an existing name",
    )?;
    Ok(Verdict::Pass)
}

pub fn rename_file_over_file(c: &Ctx) -> Check {
    let (da, db) = (rnd(300, 100), rnd(301, 200));
    drop(create(&c.p("a"), &da)?);
    let fb = create(&c.p("b"), &db)?;
    let ino_a = lstat(&c.p("a"))?.st_ino;
    sys::rename(&c.p("a"), &c.p("b")).must("rename a b")?;
    expect_err(sys::lstat(&c.p("a")), Errno::ENOENT, "source after rename")?;
    let st = lstat(&c.p("b"))?;
    eq(st.st_ino, ino_a, "inode of the target after rename")?;
    eq(st.st_nlink, 1, "link count of the renamed file")?;
    eq_bytes(
        &read_path(&c.p("b"))?,
        &da,
        "content of the target after rename",
    )?;
    eq(
        fstat(&fb)?.st_nlink,
        0,
        "link count of the replaced (still open) file",
    )?;
    eq_bytes(
        &read_fd(&fb)?,
        &db,
        "the replaced file is still readable through its fd",
    )?;
    // Replacing one link of a multiply linked file.
    drop(create(&c.p("x"), b"x")?);
    sys::link(&c.p("x"), &c.p("y")).must("link")?;
    drop(create(&c.p("z"), b"z")?);
    sys::rename(&c.p("z"), &c.p("y")).must("rename z y")?;
    eq(
        nlink(&c.p("x"))?,
        1,
        "link count of a file one of whose links was replaced",
    )?;
    eq_bytes(&read_path(&c.p("y"))?, b"z", "content of the replaced link")?;
    eq(
        names(&c.dir)?,
        vec![b"b".to_vec(), b"x".to_vec(), b"y".to_vec()],
        "entries after the renames",
    )?;
    Ok(Verdict::Pass)
}

pub fn rename_same_inode(c: &Ctx) -> Check {
    drop(create(&c.p("p"), b"p")?);
    sys::link(&c.p("p"), &c.p("q")).must("link")?;
    sys::rename(&c.p("p"), &c.p("q"))
        .must("rename of a link onto another link of the same inode")?;
    eq(
        names(&c.dir)?,
        vec![b"p".to_vec(), b"q".to_vec()],
        "both links remain (POSIX: rename does nothing)",
    )?;
    eq(nlink(&c.p("p"))?, 2, "link count unchanged")?;
    sys::rename(&c.p("p"), &c.p("p")).must("rename of a file to itself")?;
    mkdir(&c.p("d"), 0o755)?;
    sys::rename(&c.p("d"), &c.p("d")).must("rename of a directory to itself")?;
    eq(
        names(&c.dir)?,
        vec![b"d".to_vec(), b"p".to_vec(), b"q".to_vec()],
        "entries unchanged",
    )?;
    eq(nlink(&c.dir)?, 3, "parent link count unchanged")?;
    Ok(Verdict::Pass)
}

pub fn rename_errors(c: &Ctx) -> Check {
    drop(create(&c.p("f"), b"f")?);
    mkdir(&c.p("w"), 0o755)?;
    mkdir(&c.p("u"), 0o755)?;
    mkdir(&c.p("v"), 0o755)?;
    drop(create(&c.p("v/y"), b"y")?);
    mkdir(&c.p("p"), 0o755)?;
    mkdir(&c.p("p/q"), 0o755)?;
    expect_err(
        sys::rename(&c.p("missing"), &c.p("x")),
        Errno::ENOENT,
        "rename of a missing name",
    )?;
    expect_err(
        sys::rename(&c.p("f"), &c.p("nodir/x")),
        Errno::ENOENT,
        "rename into a missing directory",
    )?;
    expect_err(
        sys::rename(&c.p("f"), &c.p("f/x")),
        Errno::ENOTDIR,
        "rename to file/x",
    )?;
    expect_err(
        sys::rename(&c.p("u"), &c.p("v")),
        Errno::ENOTEMPTY,
        "rename of a directory over a non-empty directory",
    )?;
    expect_err(
        sys::rename(&c.p("f"), &c.p("w")),
        Errno::EISDIR,
        "rename of a file over a directory",
    )?;
    expect_err(
        sys::rename(&c.p("w"), &c.p("f")),
        Errno::ENOTDIR,
        "rename of a directory over a file",
    )?;
    expect_err(
        sys::rename(&c.p("p"), &c.p("p/q/r")),
        Errno::EINVAL,
        "rename of a directory into its own subdirectory",
    )?;
    expect_err(
        sys::rename(&c.p("p"), &c.p("p/q")),
        Errno::EINVAL,
        "rename of a directory onto its own subdirectory",
    )?;
    expect_err(
        sys::rename(&c.p("p/q"), &c.p("p")),
        Errno::ENOTEMPTY,
        "rename of a directory onto its parent",
    )?;
    expect_err(
        sys::rename(&c.p("p/."), &c.p("x")),
        Errno::EBUSY,
        "rename of p/.",
    )?;
    eq(
        names(&c.dir)?,
        ["f", "p", "u", "v", "w"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect::<Vec<_>>(),
        "entries unchanged after the failed renames",
    )?;
    eq(
        names(&c.p("v"))?,
        vec![b"y".to_vec()],
        "entries of v unchanged",
    )?;
    eq(nlink(&c.dir)?, 6, "parent link count unchanged")?;
    Ok(Verdict::Pass)
}

pub fn rename_dir_over_empty(c: &Ctx) -> Check {
    mkdir(&c.p("s"), 0o755)?;
    drop(create(&c.p("s/x"), b"x")?);
    mkdir(&c.p("t"), 0o700)?;
    let ino = lstat(&c.p("s"))?.st_ino;
    eq(
        nlink(&c.dir)?,
        4,
        "parent link count with two subdirectories",
    )?;
    sys::rename(&c.p("s"), &c.p("t")).must("rename of a directory over an empty directory")?;
    let st = lstat(&c.p("t"))?;
    eq(st.st_ino, ino, "inode of the target")?;
    eq(
        st.st_mode,
        libc::S_IFDIR | 0o755,
        "mode of the target (the source's)",
    )?;
    eq_bytes(
        &read_path(&c.p("t/x"))?,
        b"x",
        "content moved with the directory",
    )?;
    expect_err(sys::lstat(&c.p("s")), Errno::ENOENT, "source after rename")?;
    eq(
        nlink(&c.dir)?,
        3,
        "parent link count after replacing a directory",
    )?;
    Ok(Verdict::Pass)
}

fn dotdot_ino(p: &std::path::Path) -> Result<u64> {
    let d = dents(p)?;
    match d.iter().find(|e| e.name == b"..") {
        Some(e) => Ok(e.ino),
        None => bail!("no .. entry in {}", p.display()),
    }
}

pub fn rename_dir_across(c: &Ctx) -> Check {
    mkdir(&c.p("A"), 0o755)?;
    mkdir(&c.p("B"), 0o755)?;
    mkdir(&c.p("A/m"), 0o755)?;
    drop(create(&c.p("A/m/f"), b"f")?);
    eq(
        (nlink(&c.p("A"))?, nlink(&c.p("B"))?),
        (3, 2),
        "link counts before",
    )?;
    sys::rename(&c.p("A/m"), &c.p("B/m")).must("rename A/m B/m")?;
    eq(
        (nlink(&c.p("A"))?, nlink(&c.p("B"))?),
        (2, 3),
        "link counts of the parents after moving a directory",
    )?;
    let b_ino = lstat(&c.p("B"))?.st_ino;
    eq(stat(&c.p("B/m/.."))?.st_ino, b_ino, "B/m/.. is B")?;
    eq(
        dotdot_ino(&c.p("B/m"))?,
        b_ino,
        "the .. entry of the moved directory names B",
    )?;
    eq_bytes(
        &read_path(&c.p("B/m/f"))?,
        b"f",
        "content moved with the directory",
    )?;
    // Rename a directory within the same parent.
    sys::rename(&c.p("B/m"), &c.p("B/n")).must("rename B/m B/n")?;
    eq(
        nlink(&c.p("B"))?,
        3,
        "link count after a rename in the same parent",
    )?;
    eq(
        dotdot_ino(&c.p("B/n"))?,
        b_ino,
        ".. after a rename in the same parent",
    )?;
    Ok(Verdict::Pass)
}

pub fn rename_noreplace(c: &Ctx) -> Check {
    drop(create(&c.p("a"), b"a")?);
    drop(create(&c.p("b"), b"b")?);
    expect_err(
        sys::rename2(&c.p("a"), &c.p("b"), RENAME_NOREPLACE),
        Errno::EEXIST,
        "RENAME_NOREPLACE onto an existing file",
    )?;
    eq_bytes(&read_path(&c.p("a"))?, b"a", "source unchanged")?;
    eq_bytes(&read_path(&c.p("b"))?, b"b", "target unchanged")?;
    sys::rename2(&c.p("a"), &c.p("c"), RENAME_NOREPLACE).must("RENAME_NOREPLACE to a new name")?;
    eq(
        names(&c.dir)?,
        vec![b"b".to_vec(), b"c".to_vec()],
        "entries after RENAME_NOREPLACE",
    )?;
    expect_err(
        sys::rename2(&c.p("b"), &c.p("c"), RENAME_NOREPLACE | RENAME_EXCHANGE),
        Errno::EINVAL,
        "RENAME_NOREPLACE|RENAME_EXCHANGE",
    )?;
    Ok(Verdict::Pass)
}

pub fn rename_exchange(c: &Ctx) -> Check {
    mkdir(&c.p("P1"), 0o755)?;
    mkdir(&c.p("P2"), 0o755)?;
    let df = rnd(310, 3000);
    drop(create(&c.p("P1/f"), &df)?);
    mkdir(&c.p("P2/d"), 0o750)?;
    drop(create(&c.p("P2/d/inner"), b"inner")?);
    let (fi, di) = (lstat(&c.p("P1/f"))?.st_ino, lstat(&c.p("P2/d"))?.st_ino);
    eq(
        (nlink(&c.p("P1"))?, nlink(&c.p("P2"))?),
        (2, 3),
        "parent link counts before the exchange",
    )?;
    sys::rename2(&c.p("P1/f"), &c.p("P2/d"), RENAME_EXCHANGE)
        .must("RENAME_EXCHANGE of a file and a directory")?;
    let (a, b) = (lstat(&c.p("P1/f"))?, lstat(&c.p("P2/d"))?);
    eq(
        (a.st_ino, a.st_mode),
        (di, libc::S_IFDIR | 0o750),
        "P1/f is now the directory",
    )?;
    eq(
        (b.st_ino, b.st_mode),
        (fi, libc::S_IFREG | 0o644),
        "P2/d is now the file",
    )?;
    eq_bytes(
        &read_path(&c.p("P2/d"))?,
        &df,
        "content of the exchanged file",
    )?;
    eq_bytes(
        &read_path(&c.p("P1/f/inner"))?,
        b"inner",
        "content inside the exchanged directory",
    )?;
    let p1 = lstat(&c.p("P1"))?.st_ino;
    eq(stat(&c.p("P1/f/.."))?.st_ino, p1, "P1/f/.. is P1")?;
    eq(
        dotdot_ino(&c.p("P1/f"))?,
        p1,
        "the .. entry of the exchanged directory names P1",
    )?;
    eq(
        (nlink(&c.p("P1"))?, nlink(&c.p("P2"))?),
        (3, 2),
        "parent link counts after the exchange",
    )?;
    // Two files in one directory.
    drop(create(&c.p("x"), b"xx")?);
    drop(create(&c.p("y"), b"yyy")?);
    sys::rename2(&c.p("x"), &c.p("y"), RENAME_EXCHANGE).must("RENAME_EXCHANGE of two files")?;
    eq_bytes(&read_path(&c.p("x"))?, b"yyy", "x after the exchange")?;
    eq_bytes(&read_path(&c.p("y"))?, b"xx", "y after the exchange")?;
    expect_err(
        sys::rename2(&c.p("x"), &c.p("missing"), RENAME_EXCHANGE),
        Errno::ENOENT,
        "RENAME_EXCHANGE with a missing target",
    )?;
    mkdir(&c.p("E"), 0o755)?;
    mkdir(&c.p("E/sub"), 0o755)?;
    expect_err(
        sys::rename2(&c.p("E"), &c.p("E/sub"), RENAME_EXCHANGE),
        Errno::EINVAL,
        "RENAME_EXCHANGE of a directory with its subdirectory",
    )?;
    Ok(Verdict::Pass)
}

pub fn name_lengths(c: &Ctx) -> Check {
    let n255 = "n".repeat(254) + "5";
    let m255 = "m".repeat(255);
    let n256 = "n".repeat(256);
    let f = c.p(&n255);
    drop(create(&f, b"255")?);
    eq_bytes(
        &read_path(&f)?,
        b"255",
        "content of a file with a 255-byte name",
    )?;
    eq(
        names(&c.dir)?,
        vec![n255.as_bytes().to_vec()],
        "listing with a 255-byte name",
    )?;
    sys::rename(&f, &c.p(&m255)).must("rename to another 255-byte name")?;
    mkdir(&c.p(&n255), 0o755)?;
    sys::symlink(
        format!("../{m255}").as_bytes(),
        &c.p(&format!("{n255}/{m255}")),
    )
    .must("symlink with a 255-byte name")?;
    eq_bytes(
        &read_path(&c.p(&format!("{n255}/{m255}")))?,
        b"255",
        "read through the symlink",
    )?;
    let long = c.p(&n256);
    expect_err(
        sys::open(&long, O_WRONLY | O_CREAT, 0o644),
        Errno::ENAMETOOLONG,
        "create with a 256-byte name",
    )?;
    expect_err(
        sys::mkdir(&long, 0o755),
        Errno::ENAMETOOLONG,
        "mkdir with a 256-byte name",
    )?;
    expect_err(
        sys::symlink(b"x", &long),
        Errno::ENAMETOOLONG,
        "symlink with a 256-byte name",
    )?;
    expect_err(
        sys::link(&c.p(&m255), &long),
        Errno::ENAMETOOLONG,
        "link to a 256-byte name",
    )?;
    expect_err(
        sys::rename(&c.p(&m255), &long),
        Errno::ENAMETOOLONG,
        "rename to a 256-byte name",
    )?;
    expect_err(
        sys::mknod(&long, libc::S_IFIFO | 0o644, 0),
        Errno::ENAMETOOLONG,
        "mknod with a 256-byte name",
    )?;
    expect_err(
        sys::lstat(&long),
        Errno::ENAMETOOLONG,
        "lookup of a 256-byte name",
    )?;
    let deep = c.p(&"a/".repeat(2100));
    expect_err(
        sys::lstat(&deep),
        Errno::ENAMETOOLONG,
        "a path of 4200 bytes",
    )?;
    eq(
        names(&c.dir)?,
        vec![m255.as_bytes().to_vec(), n255.as_bytes().to_vec()],
        "listing at the end",
    )?;
    Ok(Verdict::Pass)
}

pub fn name_bytes(c: &Ctx) -> Check {
    let all: Vec<u8> = (1..=255u8).filter(|&b| b != b'/').collect();
    let mut want: Vec<Vec<u8>> = vec![
        all,
        b" ".to_vec(),
        b"-".to_vec(),
        b"...".to_vec(),
        b".hidden".to_vec(),
        b"new\nline".to_vec(),
        "ünïcödé ☃".as_bytes().to_vec(),
        vec![0xff, 0xfe, 0x80],
    ];
    for (i, n) in want.iter().enumerate() {
        let p = c.dir.join(OsStr::from_bytes(n));
        drop(create(&p, format!("{i}").as_bytes())?);
    }
    want.sort();
    eq(
        names(&c.dir)?,
        want.clone(),
        "listing of names with arbitrary bytes",
    )?;
    for n in &want {
        let p = c.dir.join(OsStr::from_bytes(n));
        lstat(&p)?;
        sys::unlink(&p).must(format!("unlink {:?}", String::from_utf8_lossy(n)))?;
    }
    eq(names(&c.dir)?.len(), 0, "entries left")?;
    Ok(Verdict::Pass)
}

fn dt_of(mode: u32) -> u8 {
    match mode & libc::S_IFMT {
        libc::S_IFREG => libc::DT_REG,
        libc::S_IFDIR => libc::DT_DIR,
        libc::S_IFLNK => libc::DT_LNK,
        libc::S_IFIFO => libc::DT_FIFO,
        libc::S_IFCHR => libc::DT_CHR,
        libc::S_IFBLK => libc::DT_BLK,
        libc::S_IFSOCK => libc::DT_SOCK,
        _ => libc::DT_UNKNOWN,
    }
}

pub fn readdir_exact(c: &Ctx) -> Check {
    let e = mkdir(&c.p("empty"), 0o755);
    e?;
    let d = dents(&c.p("empty"))?;
    let mut n: Vec<&[u8]> = d.iter().map(|x| x.name.as_slice()).collect();
    n.sort();
    eq(
        n,
        vec![b".".as_slice(), b"..".as_slice()],
        "entries of an empty directory",
    )?;
    let mut want: Vec<String> = Vec::new();
    for i in 1..=5 {
        drop(create(&c.p(&format!("f{i}")), b"")?);
        want.push(format!("f{i}"));
    }
    for n in ["d1", "d2"] {
        mkdir(&c.p(n), 0o755)?;
    }
    sys::symlink(b"f1", &c.p("l")).must("symlink")?;
    sys::mknod(&c.p("p"), libc::S_IFIFO | 0o644, 0).must("mkfifo")?;
    sys::mknod(&c.p("s"), libc::S_IFSOCK | 0o644, 0).must("mknod socket")?;
    want.extend(["d1", "d2", "l", "p", "s", "empty"].map(String::from));
    if c.root_user {
        sys::mknod(&c.p("c"), libc::S_IFCHR | 0o600, sys::makedev(1, 3)).must("mknod chr")?;
        sys::mknod(&c.p("b"), libc::S_IFBLK | 0o600, sys::makedev(7, 0)).must("mknod blk")?;
        want.extend(["c", "b"].map(String::from));
    }
    want.sort();
    let want: Vec<Vec<u8>> = want.into_iter().map(String::into_bytes).collect();
    let mut std_names: Vec<Vec<u8>> = std::fs::read_dir(&c.dir)?
        .map(|e| e.map(|e| e.file_name().as_bytes().to_vec()))
        .collect::<std::io::Result<_>>()?;
    std_names.sort();
    eq(std_names, want.clone(), "names from readdir(3)")?;
    let d = dents(&c.dir)?;
    let mut seen = BTreeSet::new();
    for e in &d {
        if !seen.insert(e.name.clone()) {
            bail!(
                "getdents64 returned {:?} twice",
                String::from_utf8_lossy(&e.name)
            );
        }
    }
    let mut all = want.clone();
    all.push(b".".to_vec());
    all.push(b"..".to_vec());
    all.sort();
    eq(
        seen.into_iter().collect::<Vec<_>>(),
        all,
        "names from getdents64 (with . and ..)",
    )?;
    for e in &d {
        let (ino, dt) = match e.name.as_slice() {
            b"." => (lstat(&c.dir)?.st_ino, libc::DT_DIR),
            b".." => (lstat(&c.top)?.st_ino, libc::DT_DIR),
            n => {
                let st = lstat(&c.dir.join(OsStr::from_bytes(n)))?;
                (st.st_ino, dt_of(st.st_mode))
            }
        };
        let name = String::from_utf8_lossy(&e.name);
        eq(e.ino, ino, format!("d_ino of {name}"))?;
        eq(e.dtype, dt, format!("d_type of {name}"))?;
    }
    Ok(Verdict::Pass)
}

pub fn readdir_churn(c: &Ctx) -> Check {
    let stable: Vec<String> = (0..300)
        .map(|i| format!("s{i:03}{}", "x".repeat(i % 40)))
        .collect();
    let victims: Vec<String> = (0..100).map(|i| format!("v{i:03}")).collect();
    for n in stable.iter().chain(&victims) {
        drop(create(&c.p(n), b"")?);
    }
    let fd = open(&c.dir, O_RDONLY | O_DIRECTORY, 0)?;
    let mut got: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut k = 0;
    let mut created = Vec::new();
    loop {
        let v = sys::getdents64(&fd, 128).must("getdents64 with a 128-byte buffer")?;
        if v.is_empty() {
            break;
        }
        got.extend(v.into_iter().map(|d| (d.off, d.name)));
        if k < victims.len() {
            sys::unlink(&c.p(&victims[k])).must("unlink during readdir")?;
            let n = format!("n{k:03}");
            drop(create(&c.p(&n), b"")?);
            created.push(n);
            k += 1;
        }
        if got.len() > 2000 {
            bail!("readdir does not end: {} entries returned", got.len());
        }
    }
    let mut count: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for (_, n) in &got {
        *count.entry(n.clone()).or_default() += 1;
    }
    let known: BTreeSet<Vec<u8>> = stable
        .iter()
        .chain(&victims)
        .chain(&created)
        .map(|s| s.as_bytes().to_vec())
        .chain([b".".to_vec(), b"..".to_vec()])
        .collect();
    for (n, k) in &count {
        let name = String::from_utf8_lossy(n);
        ensure(*k == 1, format!("{name} returned {k} times"))?;
        ensure(
            known.contains(n),
            format!("{name} returned but never existed"),
        )?;
    }
    for n in stable
        .iter()
        .map(|s| s.as_bytes())
        .chain([b".".as_slice(), b"..".as_slice()])
    {
        ensure(
            count.contains_key(n),
            format!(
                "{} existed throughout but was not returned",
                String::from_utf8_lossy(n)
            ),
        )?;
    }
    Ok(Verdict::Note(format!(
        "{} entries returned, {k} unlinked and {k} created meanwhile",
        got.len()
    )))
}

pub fn readdir_seek(c: &Ctx) -> Check {
    for i in 0..200 {
        drop(create(
            &c.p(&format!("e{i:03}{}", "y".repeat(i % 30))),
            b"",
        )?);
    }
    let fd = open(&c.dir, O_RDONLY | O_DIRECTORY, 0)?;
    let mut list: Vec<(i64, Vec<u8>)> = Vec::new();
    loop {
        let v = sys::getdents64(&fd, 256).must("getdents64")?;
        if v.is_empty() {
            break;
        }
        list.extend(v.into_iter().map(|d| (d.off, d.name)));
    }
    eq(list.len(), 202, "entries listed")?;
    for i in (0..list.len()).step_by(13).chain([list.len() - 1]) {
        sys::lseek(&fd, list[i].0, libc::SEEK_SET).must("lseek to a d_off")?;
        let v = sys::getdents64(&fd, 256).must("getdents64 after lseek")?;
        let want = list.get(i + 1).map(|e| e.1.clone());
        let got = v.first().map(|d| d.name.clone());
        eq(
            got.as_deref().map(String::from_utf8_lossy),
            want.as_deref().map(String::from_utf8_lossy),
            format!("first entry after seeking to the d_off of entry {i}"),
        )?;
    }
    sys::lseek(&fd, 0, libc::SEEK_SET).must("rewind")?;
    let v = sys::getdents64(&fd, 256).must("getdents64 after rewind")?;
    eq(
        v.first().map(|d| d.name.clone()),
        Some(list[0].1.clone()),
        "first entry after rewinding",
    )?;
    Ok(Verdict::Pass)
}

pub fn large_dir(c: &Ctx) -> Check {
    let n = c.large_dir;
    let big = c.p("big");
    mkdir(&big, 0o755)?;
    let name = |i: usize| format!("entry-{i:05}-{}", "x".repeat(i % 64));
    let path = |i: usize| -> PathBuf { big.join(name(i)) };
    for i in 0..n {
        drop(open(&path(i), O_WRONLY | O_CREAT | O_EXCL, 0o644)?);
    }
    for i in 0..100 {
        mkdir(&big.join(format!("sub{i:03}")), 0o755)?;
    }
    eq(nlink(&big)?, 102, "link count with 100 subdirectories")?;
    let mut inos = BTreeMap::new();
    for i in 0..n {
        let st = lstat(&path(i))?;
        if let Some(j) = inos.insert(st.st_ino, i) {
            bail!("{} and {} share inode {}", name(j), name(i), st.st_ino);
        }
    }
    for i in 0..10 {
        expect_err(
            sys::lstat(&big.join(format!("missing-{i}"))),
            Errno::ENOENT,
            "lookup of a missing name",
        )?;
    }
    let check_listing = |want: &BTreeSet<Vec<u8>>, what: &str| -> Result<()> {
        let d = sys::read_dir_all(&big, 4096).must("getdents64")?;
        let mut got = BTreeSet::new();
        for e in d {
            if e.name == b"." || e.name == b".." {
                continue;
            }
            if !got.insert(e.name.clone()) {
                bail!("{what}: {} listed twice", String::from_utf8_lossy(&e.name));
            }
        }
        if &got != want {
            let missing = want
                .difference(&got)
                .next()
                .map(|n| String::from_utf8_lossy(n).into_owned());
            let extra = got
                .difference(want)
                .next()
                .map(|n| String::from_utf8_lossy(n).into_owned());
            bail!("{what}: {} entries listed, {} expected; first missing {missing:?}, first extra {extra:?}", got.len(), want.len());
        }
        Ok(())
    };
    let mut want: BTreeSet<Vec<u8>> = (0..n).map(|i| name(i).into_bytes()).collect();
    want.extend((0..100).map(|i| format!("sub{i:03}").into_bytes()));
    check_listing(&want, "full listing")?;
    for i in (0..n).step_by(2) {
        sys::unlink(&path(i)).must("unlink")?;
        want.remove(name(i).as_bytes());
    }
    for i in 0..100 {
        sys::rmdir(&big.join(format!("sub{i:03}"))).must("rmdir")?;
        want.remove(format!("sub{i:03}").as_bytes());
    }
    eq(
        nlink(&big)?,
        2,
        "link count after removing the subdirectories",
    )?;
    check_listing(&want, "listing after deleting half")?;
    for i in (0..n).step_by(2).take(20) {
        expect_err(
            sys::lstat(&path(i)),
            Errno::ENOENT,
            "lookup of a deleted entry",
        )?;
    }
    for i in (1..n).step_by(2) {
        sys::unlink(&path(i)).must("unlink")?;
    }
    check_listing(&BTreeSet::new(), "listing after deleting all")?;
    sys::rmdir(&big).must("rmdir of the emptied large directory")?;
    Ok(Verdict::Note(format!("{n} entries")))
}
