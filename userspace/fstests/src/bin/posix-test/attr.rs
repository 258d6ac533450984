//! Checks of attributes: stat fields, modes, owners, timestamps.

use anyhow::Result;
use libc::{O_CREAT, O_RDONLY, O_WRONLY};

use fstests::sys::{self, Errno, Time};

use crate::util::*;

pub fn stat_types(c: &Ctx) -> Check {
    drop(create(&c.p("reg"), b"12345")?);
    mkdir(&c.p("dir"), 0o755)?;
    sys::symlink(b"reg", &c.p("lnk")).must("symlink")?;
    sys::mknod(&c.p("fifo"), libc::S_IFIFO | 0o644, 0).must("mkfifo")?;
    sys::mknod(&c.p("sock"), libc::S_IFSOCK | 0o644, 0).must("mknod socket")?;
    let mut kinds = vec![
        ("reg", libc::S_IFREG),
        ("dir", libc::S_IFDIR),
        ("lnk", libc::S_IFLNK),
        ("fifo", libc::S_IFIFO),
        ("sock", libc::S_IFSOCK),
    ];
    if c.root_user {
        sys::mknod(&c.p("chr"), libc::S_IFCHR | 0o600, sys::makedev(1, 5)).must("mknod chr")?;
        sys::mknod(&c.p("blk"), libc::S_IFBLK | 0o600, sys::makedev(7, 1)).must("mknod blk")?;
        kinds.push(("chr", libc::S_IFCHR));
        kinds.push(("blk", libc::S_IFBLK));
    }
    let dir = lstat(&c.dir)?;
    let mut inos = std::collections::BTreeSet::new();
    for (n, k) in kinds {
        let st = lstat(&c.p(n))?;
        eq(ftype(&st), k, format!("type bits of {n}"))?;
        eq(st.st_dev, dir.st_dev, format!("st_dev of {n}"))?;
        eq(st.st_uid, sys::geteuid(), format!("owner of {n}"))?;
        ensure(
            inos.insert(st.st_ino),
            format!("{n} shares an inode number"),
        )?;
    }
    eq(
        lstat(&c.p("lnk"))?.st_size,
        3,
        "st_size of a symlink is its target's length",
    )?;
    let st = stat(&c.p("lnk"))?;
    eq(
        (ftype(&st), st.st_size),
        (libc::S_IFREG, 5),
        "stat follows the symlink",
    )?;
    let fd = open(&c.p("reg"), O_RDONLY, 0)?;
    let (a, b) = (fstat(&fd)?, lstat(&c.p("reg"))?);
    eq(
        (a.st_ino, a.st_size, a.st_mode, a.st_nlink),
        (b.st_ino, b.st_size, b.st_mode, b.st_nlink),
        "fstat agrees with lstat",
    )?;
    ensure(
        a.st_blksize > 0 && (a.st_blksize as u64).is_power_of_two(),
        format!("st_blksize {}", a.st_blksize),
    )?;
    Ok(Verdict::Pass)
}

pub fn dir_nlink(c: &Ctx) -> Check {
    let d = c.p("D");
    mkdir(&d, 0o755)?;
    for s in ["a", "b", "c"] {
        mkdir(&d.join(s), 0o755)?;
    }
    eq(
        lstat(&d)?.st_nlink,
        5,
        "link count with three subdirectories",
    )?;
    drop(create(&d.join("f"), b"")?);
    sys::symlink(b"a", &d.join("l")).must("symlink")?;
    sys::mknod(&d.join("p"), libc::S_IFIFO | 0o600, 0).must("mkfifo")?;
    eq(
        lstat(&d)?.st_nlink,
        5,
        "link count unchanged by a file, a symlink and a FIFO",
    )?;
    sys::rmdir(&d.join("a")).must("rmdir")?;
    eq(lstat(&d)?.st_nlink, 4, "link count after rmdir")?;
    sys::rename(&d.join("b"), &c.p("bb")).must("rename out")?;
    eq(
        lstat(&d)?.st_nlink,
        3,
        "link count after moving a subdirectory out",
    )?;
    eq(lstat(&c.dir)?.st_nlink, 4, "link count of the new parent")?;
    sys::rename(&d.join("f"), &d.join("c/f")).must("rename a file into a subdirectory")?;
    eq(
        lstat(&d)?.st_nlink,
        3,
        "link count unchanged by moving a file",
    )?;
    eq(
        lstat(&d.join("c"))?.st_nlink,
        2,
        "link count of a directory holding only a file",
    )?;
    Ok(Verdict::Pass)
}

pub fn stat_blocks(c: &Ctx) -> Check {
    // Random data, so deduplication cannot change the counts.
    let dense = create(&c.p("dense"), &rnd(400, 1 << 20))?;
    sys::fsync(&dense).must("fsync")?;
    let st = fstat(&dense)?;
    eq(st.st_size, 1 << 20, "size of the dense file")?;
    ensure(
        (2048..=2048 + 64).contains(&st.st_blocks),
        format!(
            "st_blocks of 1 MiB of random data is {} (expected 2048 plus a few mapping blocks)",
            st.st_blocks
        ),
    )?;
    let sparse = create(&c.p("sparse"), b"")?;
    sys::ftruncate(&sparse, 1 << 20).must("ftruncate")?;
    sys::fsync(&sparse).must("fsync")?;
    let st = fstat(&sparse)?;
    eq(
        (st.st_size, st.st_blocks),
        (1 << 20, 0),
        "size and st_blocks of a 1 MiB hole",
    )?;
    let empty = create(&c.p("empty"), b"")?;
    eq(fstat(&empty)?.st_blocks, 0, "st_blocks of an empty file")?;
    Ok(Verdict::Pass)
}

pub fn chmod_check(c: &Ctx) -> Check {
    let f = c.p("f");
    let fd = create(&f, b"")?;
    for mode in [0, 0o7777, 0o4755, 0o2755, 0o1777, 0o640, 0o777, 0o644] {
        sys::chmod(&f, mode).must(format!("chmod {mode:04o}"))?;
        eq(
            lstat(&f)?.st_mode,
            libc::S_IFREG | mode,
            format!("mode after chmod {mode:04o}"),
        )?;
    }
    sys::fchmod(&fd, 0o600).must("fchmod")?;
    eq(
        lstat(&f)?.st_mode,
        libc::S_IFREG | 0o600,
        "mode after fchmod 0600",
    )?;
    mkdir(&c.p("d"), 0o755)?;
    sys::chmod(&c.p("d"), 0o1777).must("chmod of a directory")?;
    eq(
        lstat(&c.p("d"))?.st_mode,
        libc::S_IFDIR | 0o1777,
        "directory mode after chmod 01777",
    )?;
    sys::symlink(b"f", &c.p("l")).must("symlink")?;
    sys::chmod(&c.p("l"), 0o604).must("chmod through a symlink")?;
    eq(
        lstat(&f)?.st_mode,
        libc::S_IFREG | 0o604,
        "target mode after chmod through the symlink",
    )?;
    eq(
        lstat(&c.p("l"))?.st_mode,
        libc::S_IFLNK | 0o777,
        "the symlink's own mode is unchanged",
    )?;
    // chmod changes ctime, not mtime.
    sys::utimensat(&f, Some((Time::At(1000, 0), Time::At(2000, 0))), 0).must("utimensat")?;
    let before = sys::clock_realtime_coarse();
    sys::chmod(&f, 0o640).must("chmod")?;
    let st = lstat(&f)?;
    eq(ts_of(&st, 'm'), (2000, 0), "mtime after chmod (unchanged)")?;
    ensure(
        ts_of(&st, 'c') >= before,
        format!(
            "ctime {:?} after chmod is before {before:?}",
            ts_of(&st, 'c')
        ),
    )?;
    expect_err(
        sys::chmod(&c.p("missing"), 0o644),
        Errno::ENOENT,
        "chmod of a missing file",
    )?;
    Ok(Verdict::Pass)
}

pub fn chown_check(c: &Ctx) -> Check {
    if !c.root_user {
        return Ok(Verdict::Skip("not root".into()));
    }
    let f = c.p("f");
    let fd = create(&f, b"")?;
    let owner = |p: &std::path::Path| -> Result<(u32, u32)> {
        let st = lstat(p)?;
        Ok((st.st_uid, st.st_gid))
    };
    sys::chown(&f, 1234, 5678).must("chown")?;
    eq(owner(&f)?, (1234, 5678), "owner after chown 1234:5678")?;
    sys::chown(&f, u32::MAX, 42).must("chown -1:42")?;
    eq(owner(&f)?, (1234, 42), "owner after chown -1:42")?;
    sys::fchown(&fd, 7, 8).must("fchown")?;
    eq(owner(&f)?, (7, 8), "owner after fchown 7:8")?;
    sys::chown(&f, 70000, 80000).must("chown to ids above 65535")?;
    eq(
        owner(&f)?,
        (70000, 80000),
        "owner after chown 70000:80000 (32-bit ids)",
    )?;
    sys::symlink(b"f", &c.p("l")).must("symlink")?;
    sys::lchown(&c.p("l"), 11, 12).must("lchown")?;
    eq(owner(&c.p("l"))?, (11, 12), "symlink owner after lchown")?;
    eq(
        owner(&f)?,
        (70000, 80000),
        "target owner after lchown (unchanged)",
    )?;
    sys::chown(&c.p("l"), 13, 14).must("chown through the symlink")?;
    eq(
        owner(&f)?,
        (13, 14),
        "target owner after chown through the symlink",
    )?;
    eq(
        owner(&c.p("l"))?,
        (11, 12),
        "symlink owner after chown through it (unchanged)",
    )?;
    // Changing the owner clears set-user-ID, and set-group-ID with group
    // execute.
    sys::chmod(&f, 0o6755).must("chmod 06755")?;
    sys::chown(&f, 100, 100).must("chown")?;
    eq(
        lstat(&f)?.st_mode,
        libc::S_IFREG | 0o755,
        "mode after chown of a 06755 file",
    )?;
    Ok(Verdict::Pass)
}

pub fn setgid_dir(c: &Ctx) -> Check {
    if !c.root_user {
        return Ok(Verdict::Skip(
            "not root (needs chown to another group)".into(),
        ));
    }
    let g = c.p("g");
    mkdir(&g, 0o755)?;
    sys::chown(&g, 0, 4321).must("chown")?;
    sys::chmod(&g, 0o2775).must("chmod 02775")?;
    drop(open(&g.join("x"), O_WRONLY | O_CREAT, 0o644)?);
    let st = lstat(&g.join("x"))?;
    eq(
        (st.st_gid, st.st_mode),
        (4321, libc::S_IFREG | 0o644),
        "file in a set-group-ID directory: group and mode",
    )?;
    mkdir(&g.join("sub"), 0o755)?;
    let st = lstat(&g.join("sub"))?;
    eq(
        (st.st_gid, st.st_mode),
        (4321, libc::S_IFDIR | 0o2755),
        "subdirectory of a set-group-ID directory: group and mode",
    )?;
    sys::symlink(b"x", &g.join("l")).must("symlink")?;
    eq(
        lstat(&g.join("l"))?.st_gid,
        4321,
        "symlink in a set-group-ID directory: group",
    )?;
    Ok(Verdict::Pass)
}

pub fn utimens_exact(c: &Ctx) -> Check {
    let f = c.p("f");
    drop(create(&f, b"x")?);
    for (a, m) in [
        ((1234567890, 123456789), (987654321, 999999999)),
        ((1, 1), (0, 0)),
        ((-100000, 5), (-1, 999999999)),
        ((8589934592, 7), (4102444800, 500000000)),
    ] {
        let before = sys::clock_realtime_coarse();
        sys::utimensat(&f, Some((Time::At(a.0, a.1), Time::At(m.0, m.1))), 0)
            .must(format!("utimensat {a:?} {m:?}"))?;
        let st = lstat(&f)?;
        eq(
            (ts_of(&st, 'a'), ts_of(&st, 'm')),
            (a, m),
            "atime and mtime after utimensat",
        )?;
        ensure(
            ts_of(&st, 'c') >= before,
            format!(
                "ctime {:?} after utimensat is before {before:?}",
                ts_of(&st, 'c')
            ),
        )?;
    }
    let fd = open(&f, O_RDONLY, 0)?;
    sys::futimens(&fd, Time::At(11, 22), Time::At(33, 44)).must("futimens")?;
    let st = lstat(&f)?;
    eq(
        (ts_of(&st, 'a'), ts_of(&st, 'm')),
        ((11, 22), (33, 44)),
        "times after futimens",
    )?;
    mkdir(&c.p("d"), 0o755)?;
    sys::utimensat(&c.p("d"), Some((Time::At(5, 6), Time::At(7, 8))), 0)
        .must("utimensat of a directory")?;
    let st = lstat(&c.p("d"))?;
    eq(
        (ts_of(&st, 'a'), ts_of(&st, 'm')),
        ((5, 6), (7, 8)),
        "directory times after utimensat",
    )?;
    sys::symlink(b"f", &c.p("l")).must("symlink")?;
    sys::utimensat(
        &c.p("l"),
        Some((Time::At(111, 222), Time::At(333, 444))),
        libc::AT_SYMLINK_NOFOLLOW,
    )
    .must("utimensat AT_SYMLINK_NOFOLLOW")?;
    let st = lstat(&c.p("l"))?;
    eq(
        (ts_of(&st, 'a'), ts_of(&st, 'm')),
        ((111, 222), (333, 444)),
        "symlink times after AT_SYMLINK_NOFOLLOW",
    )?;
    eq(ts_of(&lstat(&f)?, 'm'), (33, 44), "target mtime unchanged")?;
    expect_err(
        sys::utimensat(&f, Some((Time::At(0, 1_000_000_000), Time::Omit)), 0),
        Errno::EINVAL,
        "utimensat with 1000000000 ns",
    )?;
    Ok(Verdict::Pass)
}

pub fn utimens_now_omit(c: &Ctx) -> Check {
    let f = c.p("f");
    drop(create(&f, b"x")?);
    sys::utimensat(&f, Some((Time::At(1000, 1), Time::At(2000, 2))), 0).must("utimensat")?;
    sys::utimensat(&f, Some((Time::Omit, Time::At(5, 1))), 0).must("utimensat OMIT")?;
    let st = lstat(&f)?;
    eq(
        (ts_of(&st, 'a'), ts_of(&st, 'm')),
        ((1000, 1), (5, 1)),
        "UTIME_OMIT keeps atime",
    )?;
    let before = sys::clock_realtime_coarse();
    sys::utimensat(&f, Some((Time::Omit, Time::Now)), 0).must("utimensat NOW")?;
    let after = sys::clock_realtime();
    let st = lstat(&f)?;
    eq(ts_of(&st, 'a'), (1000, 1), "UTIME_OMIT keeps atime")?;
    let m = ts_of(&st, 'm');
    ensure(
        m >= before && m <= after,
        format!("UTIME_NOW mtime {m:?} outside [{before:?}, {after:?}]"),
    )?;
    sys::utimensat(&f, Some((Time::Now, Time::Omit)), 0).must("utimensat NOW OMIT")?;
    let st = lstat(&f)?;
    eq(ts_of(&st, 'm'), m, "UTIME_OMIT keeps mtime")?;
    let a = ts_of(&st, 'a');
    ensure(
        a >= before && a <= sys::clock_realtime(),
        format!("UTIME_NOW atime {a:?} not current"),
    )?;
    sys::utimensat(&f, Some((Time::At(1, 0), Time::At(1, 0))), 0).must("utimensat")?;
    let before = sys::clock_realtime_coarse();
    sys::utimensat(&f, None, 0).must("utimensat with NULL times")?;
    let after = sys::clock_realtime();
    let st = lstat(&f)?;
    for w in ['a', 'm'] {
        let t = ts_of(&st, w);
        ensure(
            t >= before && t <= after,
            format!("{w}time {t:?} after utimensat(NULL) outside [{before:?}, {after:?}]"),
        )?;
    }
    Ok(Verdict::Pass)
}

pub fn implicit_times(c: &Ctx) -> Check {
    let old = Some((Time::At(1000, 0), Time::At(1000, 0)));
    let f = c.p("f");
    let fresh = |what: &str, t: (i64, i64), before: (i64, i64)| -> Result<()> {
        ensure(
            t >= before,
            format!("{what}: {t:?} is before {before:?} (not updated)"),
        )
    };
    let before = sys::clock_realtime_coarse();
    let fd = open(&f, O_WRONLY | O_CREAT, 0o644)?;
    let st = lstat(&f)?;
    for w in ['a', 'm', 'c'] {
        fresh(&format!("{w}time of a new file"), ts_of(&st, w), before)?;
    }
    let st = lstat(&c.dir)?;
    fresh(
        "directory mtime after creating a file",
        ts_of(&st, 'm'),
        before,
    )?;
    fresh(
        "directory ctime after creating a file",
        ts_of(&st, 'c'),
        before,
    )?;
    sys::utimensat(&f, old, 0).must("utimensat")?;
    let before = sys::clock_realtime_coarse();
    sys::write_all(&fd, b"data").must("write")?;
    let st = lstat(&f)?;
    fresh("mtime after write", ts_of(&st, 'm'), before)?;
    fresh("ctime after write", ts_of(&st, 'c'), before)?;
    let m = ts_of(&st, 'm');
    let mut b = [0u8; 4];
    sys::pread(&open(&f, O_RDONLY, 0)?, &mut b, 0).must("pread")?;
    eq(ts_of(&lstat(&f)?, 'm'), m, "mtime after read (unchanged)")?;
    sys::utimensat(&f, old, 0).must("utimensat")?;
    sys::truncate(&f, 2).must("truncate")?;
    fresh("mtime after truncate", ts_of(&lstat(&f)?, 'm'), before)?;
    for (what, op) in [
        ("creating a file", 0),
        ("unlinking a file", 1),
        ("renaming within it", 2),
        ("mkdir in it", 3),
        ("rmdir in it", 4),
    ] {
        sys::utimensat(&c.dir, old, 0).must("utimensat of the directory")?;
        let before = sys::clock_realtime_coarse();
        match op {
            0 => drop(create(&c.p("g"), b"")?),
            1 => sys::unlink(&c.p("g")).must("unlink")?,
            2 => sys::rename(&f, &c.p("h")).must("rename")?,
            3 => mkdir(&c.p("sub"), 0o755)?,
            _ => sys::rmdir(&c.p("sub")).must("rmdir")?,
        }
        let st = lstat(&c.dir)?;
        fresh(
            &format!("directory mtime after {what}"),
            ts_of(&st, 'm'),
            before,
        )?;
        fresh(
            &format!("directory ctime after {what}"),
            ts_of(&st, 'c'),
            before,
        )?;
    }
    Ok(Verdict::Pass)
}
