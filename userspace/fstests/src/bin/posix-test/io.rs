//! Checks of open flags and file data: read/write, holes, seeking,
//! truncation, fallocate, mmap, syncing, copying, appends, statfs.

use std::os::fd::{AsRawFd, OwnedFd};

use anyhow::{bail, Result};
use libc::{
    O_APPEND, O_CREAT, O_DIRECT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_RDWR, O_TRUNC,
    O_WRONLY,
};

use fstests::sys::{self, Errno};

use crate::util::*;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

pub fn open_creat_excl(c: &Ctx) -> Check {
    let f = c.p("f");
    let fd = open(&f, O_RDWR | O_CREAT | O_EXCL, 0o640)?;
    let st = fstat(&fd)?;
    eq(st.st_mode, libc::S_IFREG | 0o640, "mode of the new file")?;
    eq(st.st_size, 0, "size of the new file")?;
    eq(st.st_nlink, 1, "link count of the new file")?;
    eq(st.st_uid, sys::geteuid(), "owner of the new file")?;
    eq(st.st_gid, sys::getegid(), "group of the new file")?;
    expect_err(
        sys::open(&f, O_RDWR | O_CREAT | O_EXCL, 0o640),
        Errno::EEXIST,
        "O_CREAT|O_EXCL on an existing file",
    )?;
    sys::write_all(&fd, b"abc").must("write")?;
    drop(fd);
    let fd = open(&f, O_RDWR | O_CREAT, 0o600)?;
    let st = fstat(&fd)?;
    eq(
        st.st_size,
        3,
        "size after O_CREAT (no O_EXCL) of an existing file",
    )?;
    eq(
        st.st_mode,
        libc::S_IFREG | 0o640,
        "mode after O_CREAT of an existing file (unchanged)",
    )?;
    // A dangling symlink: O_EXCL refuses it, plain O_CREAT creates its target.
    sys::symlink(b"target", &c.p("dangling")).must("symlink")?;
    expect_err(
        sys::open(&c.p("dangling"), O_WRONLY | O_CREAT | O_EXCL, 0o644),
        Errno::EEXIST,
        "O_CREAT|O_EXCL on a dangling symlink",
    )?;
    expect_err(
        sys::lstat(&c.p("target")),
        Errno::ENOENT,
        "target after the refused O_EXCL",
    )?;
    drop(open(&c.p("dangling"), O_WRONLY | O_CREAT, 0o600)?);
    let st = lstat(&c.p("target"))?;
    eq(
        st.st_mode,
        libc::S_IFREG | 0o600,
        "file created through a dangling symlink",
    )?;
    Ok(Verdict::Pass)
}

pub fn open_errors(c: &Ctx) -> Check {
    expect_err(
        sys::open(&c.p("nope"), O_RDONLY, 0),
        Errno::ENOENT,
        "open of a missing file",
    )?;
    expect_err(
        sys::open(&c.p("nodir/x"), O_WRONLY | O_CREAT, 0o644),
        Errno::ENOENT,
        "O_CREAT in a missing directory",
    )?;
    drop(create(&c.p("f"), b"x")?);
    expect_err(
        sys::open(&c.p("f/x"), O_RDONLY, 0),
        Errno::ENOTDIR,
        "open of file/x",
    )?;
    expect_err(
        sys::open(&c.p("f/x"), O_WRONLY | O_CREAT, 0o644),
        Errno::ENOTDIR,
        "O_CREAT of file/x",
    )?;
    mkdir(&c.p("d"), 0o755)?;
    expect_err(
        sys::open(&c.p("d"), O_WRONLY, 0),
        Errno::EISDIR,
        "open of a directory O_WRONLY",
    )?;
    expect_err(
        sys::open(&c.p("d"), O_RDWR, 0),
        Errno::EISDIR,
        "open of a directory O_RDWR",
    )?;
    expect_err(
        sys::open(&c.p("d"), O_WRONLY | O_CREAT, 0o644),
        Errno::EISDIR,
        "O_CREAT of an existing directory",
    )?;
    expect_err(
        sys::open(&c.p("d"), O_RDWR | O_CREAT | O_EXCL, 0o644),
        Errno::EEXIST,
        "O_CREAT|O_EXCL of a directory",
    )?;
    drop(open(&c.p("d"), O_RDONLY, 0)?);
    drop(open(&c.p("d"), O_RDONLY | O_DIRECTORY, 0)?);
    expect_err(
        sys::open(&c.p("f"), O_RDONLY | O_DIRECTORY, 0),
        Errno::ENOTDIR,
        "O_DIRECTORY on a regular file",
    )?;
    let dfd = open(&c.p("d"), O_RDONLY, 0)?;
    let mut b = [0u8; 16];
    expect_err(
        sys::read(&dfd, &mut b),
        Errno::EISDIR,
        "read(2) of a directory",
    )?;
    Ok(Verdict::Pass)
}

pub fn open_nofollow(c: &Ctx) -> Check {
    drop(create(&c.p("f"), b"through the link")?);
    sys::symlink(b"f", &c.p("l")).must("symlink")?;
    expect_err(
        sys::open(&c.p("l"), O_RDONLY | O_NOFOLLOW, 0),
        Errno::ELOOP,
        "O_NOFOLLOW on a symlink",
    )?;
    expect_err(
        sys::open(&c.p("l"), O_WRONLY | O_CREAT | O_NOFOLLOW, 0o644),
        Errno::ELOOP,
        "O_CREAT|O_NOFOLLOW on a symlink",
    )?;
    eq_bytes(
        &read_path(&c.p("l"))?,
        b"through the link",
        "read through the symlink",
    )?;
    drop(open(&c.p("f"), O_RDONLY | O_NOFOLLOW, 0)?);
    sys::symlink(b"l2", &c.p("l1")).must("symlink")?;
    sys::symlink(b"l1", &c.p("l2")).must("symlink")?;
    expect_err(
        sys::open(&c.p("l1"), O_RDONLY, 0),
        Errno::ELOOP,
        "open of a symlink loop",
    )?;
    Ok(Verdict::Pass)
}

pub fn open_trunc(c: &Ctx) -> Check {
    let f = c.p("f");
    drop(create(&f, &rnd(1, 10000))?);
    let fd = open(&f, O_WRONLY | O_TRUNC, 0)?;
    eq(fstat(&fd)?.st_size, 0, "size after O_TRUNC")?;
    eq(read_path(&f)?.len(), 0, "bytes read after O_TRUNC")?;
    sys::write_all(&fd, &rnd(2, 100)).must("write")?;
    eq_bytes(
        &read_path(&f)?,
        &rnd(2, 100),
        "content written after O_TRUNC",
    )?;
    drop(open(&f, O_RDWR | O_TRUNC | O_CREAT, 0o644)?);
    eq(
        lstat(&f)?.st_size,
        0,
        "size after O_CREAT|O_TRUNC of an existing file",
    )?;
    Ok(Verdict::Pass)
}

pub fn open_append(c: &Ctx) -> Check {
    let f = c.p("f");
    drop(create(&f, b"hello")?);
    let fd = open(&f, O_WRONLY | O_APPEND, 0)?;
    eq(
        sys::lseek(&fd, 0, libc::SEEK_SET).must("lseek")?,
        0,
        "lseek to 0",
    )?;
    sys::write_all(&fd, b" world").must("write")?;
    eq(
        sys::lseek(&fd, 0, libc::SEEK_CUR).must("lseek")?,
        11,
        "offset after an O_APPEND write",
    )?;
    eq_bytes(
        &read_path(&f)?,
        b"hello world",
        "content after an O_APPEND write",
    )?;
    // Linux: pwrite on an O_APPEND descriptor appends, whatever the offset.
    eq(
        sys::pwrite(&fd, b"!", 0).must("pwrite")?,
        1,
        "pwrite on O_APPEND",
    )?;
    eq_bytes(
        &read_path(&f)?,
        b"hello world!",
        "content after pwrite at 0 on an O_APPEND fd (Linux appends)",
    )?;
    Ok(Verdict::Pass)
}

pub fn open_ebadf(c: &Ctx) -> Check {
    let f = c.p("f");
    drop(create(&f, b"data")?);
    let ro = open(&f, O_RDONLY, 0)?;
    expect_err(
        sys::write(&ro, b"x"),
        Errno::EBADF,
        "write to an O_RDONLY fd",
    )?;
    expect_err(
        sys::pwrite(&ro, b"x", 0),
        Errno::EBADF,
        "pwrite to an O_RDONLY fd",
    )?;
    expect_err(
        sys::ftruncate(&ro, 0),
        Errno::EINVAL,
        "ftruncate of an O_RDONLY fd",
    )?;
    expect_err(
        sys::fallocate(&ro, 0, 0, 4096),
        Errno::EBADF,
        "fallocate on an O_RDONLY fd",
    )?;
    let wo = open(&f, O_WRONLY, 0)?;
    let mut b = [0u8; 4];
    expect_err(
        sys::read(&wo, &mut b),
        Errno::EBADF,
        "read from an O_WRONLY fd",
    )?;
    expect_err(
        sys::pread(&wo, &mut b, 0),
        Errno::EBADF,
        "pread from an O_WRONLY fd",
    )?;
    eq_bytes(&read_path(&f)?, b"data", "content unchanged")?;
    Ok(Verdict::Pass)
}

pub fn open_umask(c: &Ctx) -> Check {
    let old = sys::umask(0o027);
    let r = (|| -> Result<()> {
        drop(open(&c.p("f"), O_WRONLY | O_CREAT, 0o666)?);
        sys::mkdir(&c.p("d"), 0o777).must("mkdir")?;
        eq(
            lstat(&c.p("f"))?.st_mode,
            libc::S_IFREG | 0o640,
            "file mode 0666 under umask 027",
        )?;
        eq(
            lstat(&c.p("d"))?.st_mode,
            libc::S_IFDIR | 0o750,
            "directory mode 0777 under umask 027",
        )
    })();
    sys::umask(old);
    r?;
    Ok(Verdict::Pass)
}

pub fn o_direct(c: &Ctx) -> Check {
    let f = c.p("f");
    let fd = match sys::open(&f, O_RDWR | O_CREAT | O_DIRECT, 0o644) {
        Ok(fd) => fd,
        Err(e) => bail!("open with O_DIRECT failed with {e:?} ({})", e.desc()),
    };
    let d1 = rnd(10, 64 * KIB as usize);
    let d2 = rnd(11, 16 * KIB as usize);
    let mut a = Aligned::new(64 * KIB as usize);
    a.buf().copy_from_slice(&d1);
    eq(
        sys::pwrite(&fd, a.buf(), 0).must("O_DIRECT pwrite of 64 KiB at 0")?,
        d1.len(),
        "bytes written",
    )?;
    let mut b = Aligned::new(16 * KIB as usize);
    b.buf().copy_from_slice(&d2);
    eq(
        sys::pwrite(&fd, b.buf(), MIB).must("O_DIRECT pwrite of 16 KiB at 1 MiB")?,
        d2.len(),
        "bytes written",
    )?;
    eq(
        fstat(&fd)?.st_size as u64,
        MIB + 16 * KIB,
        "size after O_DIRECT writes",
    )?;
    let mut r = Aligned::new(64 * KIB as usize);
    eq(
        sys::pread(&fd, r.buf(), 0).must("O_DIRECT pread")?,
        d1.len(),
        "O_DIRECT bytes read",
    )?;
    eq_bytes(r.buf(), &d1, "O_DIRECT read of the O_DIRECT write at 0")?;
    let mut r2 = Aligned::new(16 * KIB as usize);
    eq(
        sys::pread(&fd, r2.buf(), MIB).must("O_DIRECT pread")?,
        d2.len(),
        "O_DIRECT bytes read",
    )?;
    eq_bytes(r2.buf(), &d2, "O_DIRECT read at 1 MiB")?;
    let mut h = Aligned::new(4096);
    eq(
        sys::pread(&fd, h.buf(), 512 * KIB).must("O_DIRECT pread of a hole")?,
        4096,
        "bytes read from the hole",
    )?;
    ensure(
        h.buf().iter().all(|&x| x == 0),
        "O_DIRECT read of a hole is not zeros",
    )?;
    // Buffered and direct I/O see each other's data.
    let bfd = open(&f, O_RDWR, 0)?;
    let mut whole = d1.clone();
    whole.resize((MIB + 16 * KIB) as usize, 0);
    whole[MIB as usize..].copy_from_slice(&d2);
    eq_bytes(&read_fd(&bfd)?, &whole, "buffered read of O_DIRECT data")?;
    let d3 = rnd(12, 4096);
    sys::pwrite_all(&bfd, &d3, 4096).must("buffered pwrite")?;
    let mut r3 = Aligned::new(8192);
    eq(
        sys::pread(&fd, r3.buf(), 0).must("O_DIRECT pread")?,
        8192,
        "O_DIRECT bytes read",
    )?;
    eq_bytes(
        &r3.buf()[4096..],
        &d3,
        "O_DIRECT read after a buffered write",
    )?;
    eq_bytes(
        &r3.buf()[..4096],
        &d1[..4096],
        "O_DIRECT read after a buffered write (unchanged block)",
    )?;
    Ok(Verdict::Pass)
}

pub fn rw_odd_offsets(c: &Ctx) -> Check {
    let f = c.p("f");
    let fd = create(&f, b"")?;
    let src = rnd(20, 20000);
    let mut model: Vec<u8> = Vec::new();
    let put = |model: &mut Vec<u8>, off: usize, d: &[u8]| {
        if model.len() < off + d.len() {
            model.resize(off + d.len(), 0);
        }
        model[off..off + d.len()].copy_from_slice(d);
    };
    for (off, a, b) in [
        (4090usize, 0usize, 10usize),
        (8191, 10, 5010),
        (1, 5010, 5013),
        (4095, 5013, 5015),
        (12287, 5015, 9111),
    ] {
        let n = sys::pwrite(&fd, &src[a..b], off as u64)
            .must(format!("pwrite {} bytes at {off}", b - a))?;
        eq(n, b - a, format!("bytes written at {off}"))?;
        put(&mut model, off, &src[a..b]);
        eq(
            fstat(&fd)?.st_size as usize,
            model.len(),
            format!("size after the write at {off}"),
        )?;
        eq_bytes(
            &read_fd(&fd)?,
            &model,
            format!("content after the write at {off}"),
        )?;
    }
    for (off, len) in [
        (4088u64, 16usize),
        (4095, 2),
        (8190, 4100),
        (0, 3),
        (12286, 4097),
    ] {
        let mut b = vec![0u8; len];
        let n = sys::pread(&fd, &mut b, off).must("pread")?;
        eq(n, len, format!("bytes read at {off}"))?;
        eq_bytes(
            &b,
            &model[off as usize..off as usize + len],
            format!("pread of {len} bytes at {off}"),
        )?;
    }
    Ok(Verdict::Pass)
}

pub fn rw_sequential(c: &Ctx) -> Check {
    let f = c.p("f");
    let fd = open(&f, O_RDWR | O_CREAT | O_EXCL, 0o644)?;
    let d = rnd(21, 9000);
    for i in 0..3 {
        eq(
            sys::write(&fd, &d[i * 3000..(i + 1) * 3000]).must("write")?,
            3000,
            "bytes written",
        )?;
        eq(
            sys::lseek(&fd, 0, libc::SEEK_CUR).must("lseek")?,
            3000 * (i as i64 + 1),
            "file offset after write",
        )?;
    }
    eq(
        sys::lseek(&fd, 0, libc::SEEK_SET).must("lseek")?,
        0,
        "rewind",
    )?;
    let mut got = Vec::new();
    let mut b = vec![0u8; 4000];
    loop {
        let n = sys::read(&fd, &mut b).must("read")?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&b[..n]);
    }
    eq_bytes(&got, &d, "sequential read of sequential writes")?;
    eq(
        sys::lseek(&fd, 0, libc::SEEK_CUR).must("lseek")?,
        9000,
        "offset at EOF",
    )?;
    Ok(Verdict::Pass)
}

pub fn read_past_eof(c: &Ctx) -> Check {
    let d = rnd(22, 5000);
    let fd = create(&c.p("f"), &d)?;
    let mut b = vec![0u8; 100];
    eq(
        sys::pread(&fd, &mut b, 5000).must("pread at EOF")?,
        0,
        "bytes read at EOF",
    )?;
    eq(
        sys::pread(&fd, &mut b, 6000).must("pread past EOF")?,
        0,
        "bytes read past EOF",
    )?;
    eq(
        sys::pread(&fd, &mut b, 1 << 40).must("pread at 1 TiB")?,
        0,
        "bytes read at 1 TiB",
    )?;
    eq(
        sys::pread(&fd, &mut b, 4950).must("pread across EOF")?,
        50,
        "bytes read across EOF",
    )?;
    eq_bytes(&b[..50], &d[4950..], "short read across EOF")?;
    sys::lseek(&fd, 4990, libc::SEEK_SET).must("lseek")?;
    eq(
        sys::read(&fd, &mut b).must("read")?,
        10,
        "read(2) across EOF",
    )?;
    eq(sys::read(&fd, &mut b).must("read")?, 0, "read(2) at EOF")?;
    expect_err(
        Errno::result(unsafe { libc::pread64(fd.as_raw_fd(), b.as_mut_ptr().cast(), 10, -1) }),
        Errno::EINVAL,
        "pread at a negative offset",
    )?;
    Ok(Verdict::Pass)
}

pub fn sparse_file(c: &Ctx) -> Check {
    let fd = create(&c.p("f"), b"")?;
    let d = rnd(23, 4096);
    let off = 1u64 << 30;
    sys::pwrite_all(&fd, &d, off).must("pwrite at 1 GiB")?;
    eq(fstat(&fd)?.st_size as u64, off + 4096, "size")?;
    for at in [0u64, 4096, 512 * MIB, off - 4096] {
        let mut b = vec![0xAAu8; 4096];
        eq(
            sys::pread(&fd, &mut b, at).must("pread of the hole")?,
            4096,
            "bytes read from the hole",
        )?;
        ensure(
            b.iter().all(|&x| x == 0),
            format!("hole at {at} does not read as zeros"),
        )?;
    }
    let mut b = vec![0u8; 20];
    sys::pread_full(&fd, &mut b, off - 10).must("pread")?;
    eq_bytes(&b[..10], &[0; 10], "hole just before the data")?;
    eq_bytes(&b[10..], &d[..10], "data after the hole")?;
    sys::fsync(&fd).must("fsync")?;
    let blocks = fstat(&fd)?.st_blocks as u64 * 512;
    ensure(
        (4096..=64 * KIB).contains(&blocks),
        format!("st_blocks of a 1 GiB file with 4 KiB of data is {blocks} bytes (expected 4 KiB + mapping blocks, at most 64 KiB)"),
    )?;
    Ok(Verdict::Pass)
}

pub fn block_map_boundaries(c: &Ctx) -> Check {
    // Straddle the ends of the direct, single, double and triple indirect
    // ranges of an ext2-style map with 4 KiB blocks, and go far (1 TiB).
    let fd = create(&c.p("f"), b"")?;
    let b = 4096u64;
    let ends = [
        12 * b,
        (12 + 1024) * b,
        (12 + 1024 + 1024 * 1024) * b,
        1 << 40,
    ];
    let mut written = Vec::new();
    for (i, &e) in ends.iter().enumerate() {
        let d = rnd(30 + i as u64, 4098);
        sys::pwrite_all(&fd, &d, e - 1).must(format!("pwrite at {}", e - 1))?;
        written.push((e - 1, d));
    }
    eq(fstat(&fd)?.st_size as u64, (1 << 40) - 1 + 4098, "size")?;
    sys::fsync(&fd).must("fsync")?;
    for (off, d) in &written {
        let mut g = vec![0u8; d.len() + 2];
        sys::pread_full(&fd, &mut g, off - 1).must("pread")?;
        eq(g[0], 0, format!("byte before the write at {off}"))?;
        eq_bytes(&g[1..=d.len()], d, format!("data written at {off}"))?;
        eq(g[d.len() + 1], 0, format!("byte after the write at {off}"))?;
    }
    Ok(Verdict::Pass)
}

pub fn lseek_basic(c: &Ctx) -> Check {
    let fd = create(&c.p("f"), &rnd(40, 10000))?;
    let s = |off: i64, wh: i32| sys::lseek(&fd, off, wh);
    eq(s(0, libc::SEEK_SET).must("lseek")?, 0, "SEEK_SET 0")?;
    eq(s(100, libc::SEEK_CUR).must("lseek")?, 100, "SEEK_CUR +100")?;
    eq(s(-50, libc::SEEK_CUR).must("lseek")?, 50, "SEEK_CUR -50")?;
    eq(s(0, libc::SEEK_END).must("lseek")?, 10000, "SEEK_END 0")?;
    eq(s(-1, libc::SEEK_END).must("lseek")?, 9999, "SEEK_END -1")?;
    eq(
        s(5000, libc::SEEK_END).must("lseek")?,
        15000,
        "SEEK_END +5000 (past EOF)",
    )?;
    eq(fstat(&fd)?.st_size, 10000, "size after seeking past EOF")?;
    expect_err(s(-1, libc::SEEK_SET), Errno::EINVAL, "SEEK_SET -1")?;
    expect_err(
        s(-20000, libc::SEEK_END),
        Errno::EINVAL,
        "SEEK_END before the start",
    )?;
    expect_err(s(0, 99), Errno::EINVAL, "unknown whence")?;
    s(15000, libc::SEEK_SET).must("lseek")?;
    sys::write_all(&fd, b"z").must("write past EOF")?;
    eq(fstat(&fd)?.st_size, 15001, "size after writing past EOF")?;
    let all = read_fd(&fd)?;
    ensure(
        all[10000..15000].iter().all(|&x| x == 0),
        "gap left by seeking past EOF is not zeros",
    )?;
    sys::mknod(&c.p("fifo"), libc::S_IFIFO | 0o644, 0).must("mkfifo")?;
    let ff = open(&c.p("fifo"), O_RDWR, 0)?;
    expect_err(
        sys::lseek(&ff, 0, libc::SEEK_SET),
        Errno::ESPIPE,
        "lseek on a FIFO",
    )?;
    Ok(Verdict::Pass)
}

fn rup(x: u64, g: u64) -> u64 {
    x.div_ceil(g) * g
}

fn seek_data_hole(c: &Ctx, sync: bool) -> Check {
    let fd = create(&c.p("f"), b"")?;
    let g = fstat(&fd)?.st_blksize as u64;
    let g = g.max(4096);
    if !g.is_power_of_two() || g > MIB {
        return Ok(Verdict::Skip(format!(
            "st_blksize {g} is not a power of two up to 1 MiB"
        )));
    }
    // Data [0,4K), hole, data [1M,1M+8K), hole, data [3M,3M+100), hole to 5M.
    sys::pwrite_all(&fd, &rnd(50, 4096), 0).must("pwrite")?;
    sys::pwrite_all(&fd, &rnd(51, 8192), MIB).must("pwrite")?;
    sys::pwrite_all(&fd, &rnd(52, 100), 3 * MIB).must("pwrite")?;
    sys::ftruncate(&fd, 5 * MIB as i64).must("ftruncate")?;
    if sync {
        sys::fsync(&fd).must("fsync")?;
    }
    let d = |off: u64| sys::lseek(&fd, off as i64, libc::SEEK_DATA);
    let h = |off: u64| sys::lseek(&fd, off as i64, libc::SEEK_HOLE);
    let e1 = rup(4096, g);
    let e2 = MIB + rup(8192, g);
    let e3 = 3 * MIB + g;
    for (what, got, want) in [
        ("SEEK_DATA from 0", d(0), e(0)),
        ("SEEK_HOLE from 0", h(0), e(e1)),
        ("SEEK_DATA from the first hole", d(e1), e(MIB)),
        ("SEEK_DATA from inside the first hole", d(e1 + 1), e(MIB)),
        ("SEEK_DATA from 1 MiB - 1", d(MIB - 1), e(MIB)),
        ("SEEK_DATA from inside data", d(MIB + 5), e(MIB + 5)),
        ("SEEK_HOLE from inside data", h(MIB + 5), e(e2)),
        ("SEEK_HOLE from a hole", h(e2 + 7), e(e2 + 7)),
        ("SEEK_DATA from the second hole", d(e2), e(3 * MIB)),
        ("SEEK_HOLE from the last data", h(3 * MIB), e(e3)),
        (
            "SEEK_DATA from the hole before EOF",
            d(e3),
            Err(Errno::ENXIO),
        ),
        ("SEEK_HOLE from the hole before EOF", h(4 * MIB), e(4 * MIB)),
        ("SEEK_DATA at EOF", d(5 * MIB), Err(Errno::ENXIO)),
        ("SEEK_HOLE at EOF", h(5 * MIB), Err(Errno::ENXIO)),
        ("SEEK_DATA past EOF", d(6 * MIB), Err(Errno::ENXIO)),
        ("SEEK_HOLE past EOF", h(6 * MIB), Err(Errno::ENXIO)),
    ] {
        eq(got, want, format!("{what} (block granularity {g})"))?;
    }
    Ok(Verdict::Pass)
}

fn e(x: u64) -> Result<i64, Errno> {
    Ok(x as i64)
}

pub fn seek_data_hole_dirty(c: &Ctx) -> Check {
    seek_data_hole(c, false)
}

pub fn seek_data_hole_synced(c: &Ctx) -> Check {
    seek_data_hole(c, true)
}

pub fn seek_data_hole_edges(c: &Ctx) -> Check {
    let empty = create(&c.p("empty"), b"")?;
    eq(
        sys::lseek(&empty, 0, libc::SEEK_DATA),
        Err(Errno::ENXIO),
        "SEEK_DATA in an empty file",
    )?;
    eq(
        sys::lseek(&empty, 0, libc::SEEK_HOLE),
        Err(Errno::ENXIO),
        "SEEK_HOLE in an empty file",
    )?;
    let holes = create(&c.p("holes"), b"")?;
    sys::ftruncate(&holes, MIB as i64).must("ftruncate")?;
    eq(
        sys::lseek(&holes, 0, libc::SEEK_DATA),
        Err(Errno::ENXIO),
        "SEEK_DATA in a file that is all hole",
    )?;
    eq(
        sys::lseek(&holes, 0, libc::SEEK_HOLE),
        Ok(0),
        "SEEK_HOLE in a file that is all hole",
    )?;
    eq(
        sys::lseek(&holes, 1000, libc::SEEK_HOLE),
        Ok(1000),
        "SEEK_HOLE at 1000 in a file that is all hole",
    )?;
    let dense = create(&c.p("dense"), &rnd(53, 10000))?;
    eq(
        sys::lseek(&dense, 0, libc::SEEK_DATA),
        Ok(0),
        "SEEK_DATA in a dense file",
    )?;
    eq(
        sys::lseek(&dense, 9999, libc::SEEK_DATA),
        Ok(9999),
        "SEEK_DATA at the last byte",
    )?;
    eq(
        sys::lseek(&dense, 0, libc::SEEK_HOLE),
        Ok(10000),
        "SEEK_HOLE in a dense file is EOF",
    )?;
    Ok(Verdict::Pass)
}

pub fn truncate_grow_shrink(c: &Ctx) -> Check {
    let f = c.p("f");
    let d = rnd(60, 10000);
    let fd = create(&f, &d)?;
    sys::truncate(&f, 5000).must("truncate to 5000")?;
    eq(fstat(&fd)?.st_size, 5000, "size after shrinking")?;
    eq_bytes(&read_fd(&fd)?, &d[..5000], "content after shrinking")?;
    sys::truncate(&f, 20000).must("truncate to 20000")?;
    let mut want = d[..5000].to_vec();
    want.resize(20000, 0);
    eq_bytes(
        &read_fd(&fd)?,
        &want,
        "content after growing again (old data must not come back)",
    )?;
    // Shrink into the middle of a block, then grow: the block's tail is zero.
    sys::fsync(&fd).must("fsync")?;
    let d2 = rnd(61, 12288);
    sys::pwrite_all(&fd, &d2, 0).must("pwrite")?;
    sys::fsync(&fd).must("fsync")?;
    sys::ftruncate(&fd, 4097).must("ftruncate to 4097")?;
    eq_bytes(
        &read_fd(&fd)?,
        &d2[..4097],
        "content after ftruncate to 4097",
    )?;
    sys::ftruncate(&fd, 12288).must("ftruncate to 12288")?;
    let mut want = d2[..4097].to_vec();
    want.resize(12288, 0);
    eq_bytes(&read_fd(&fd)?, &want, "content after growing to 12288")?;
    sys::fsync(&fd).must("fsync")?;
    eq_bytes(
        &read_path(&f)?,
        &want,
        "content after fsync, through a new fd",
    )?;
    sys::ftruncate(&fd, 12288).must("ftruncate to the same size")?;
    eq(
        fstat(&fd)?.st_size,
        12288,
        "size after a same-size ftruncate",
    )?;
    sys::ftruncate(&fd, 0).must("ftruncate to 0")?;
    sys::fsync(&fd).must("fsync")?;
    let st = fstat(&fd)?;
    eq(st.st_size, 0, "size after ftruncate to 0")?;
    eq(st.st_blocks, 0, "st_blocks after ftruncate to 0")?;
    Ok(Verdict::Pass)
}

pub fn truncate_errors(c: &Ctx) -> Check {
    let f = c.p("f");
    drop(create(&f, b"abc")?);
    expect_err(sys::truncate(&f, -1), Errno::EINVAL, "truncate to -1")?;
    mkdir(&c.p("d"), 0o755)?;
    expect_err(
        sys::truncate(&c.p("d"), 0),
        Errno::EISDIR,
        "truncate of a directory",
    )?;
    expect_err(
        sys::truncate(&c.p("missing"), 0),
        Errno::ENOENT,
        "truncate of a missing file",
    )?;
    sys::mknod(&c.p("fifo"), libc::S_IFIFO | 0o644, 0).must("mkfifo")?;
    expect_err(
        sys::truncate(&c.p("fifo"), 0),
        Errno::EINVAL,
        "truncate of a FIFO",
    )?;
    eq(lstat(&f)?.st_size, 3, "size unchanged")?;
    Ok(Verdict::Pass)
}

const PUNCH: i32 = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;

pub fn punch_hole(c: &Ctx) -> Check {
    let f = c.p("f");
    let d = rnd(70, 65536);
    let fd = create(&f, &d)?;
    sys::fsync(&fd).must("fsync")?;
    let b0 = fstat(&fd)?.st_blocks;
    sys::fallocate(&fd, PUNCH, 8192, 16384).must("punch [8192, 24576)")?;
    let mut want = d.clone();
    want[8192..24576].fill(0);
    eq(
        fstat(&fd)?.st_size,
        65536,
        "size after punching (KEEP_SIZE)",
    )?;
    eq_bytes(&read_fd(&fd)?, &want, "content after punching")?;
    sys::fsync(&fd).must("fsync")?;
    let b1 = fstat(&fd)?.st_blocks;
    eq(
        b0 - b1,
        16384 / 512,
        format!("st_blocks freed by punching 4 blocks (was {b0}, now {b1})"),
    )?;
    // Unaligned: only the exact range becomes zero.
    sys::fallocate(&fd, PUNCH, 100, 4900).must("punch [100, 5000)")?;
    want[100..5000].fill(0);
    eq_bytes(&read_fd(&fd)?, &want, "content after an unaligned punch")?;
    sys::fallocate(&fd, PUNCH, 60000, 10000).must("punch across EOF")?;
    want[60000..].fill(0);
    eq_bytes(&read_fd(&fd)?, &want, "content after punching across EOF")?;
    sys::fallocate(&fd, PUNCH, 100000, 4096).must("punch past EOF")?;
    eq(
        fstat(&fd)?.st_size,
        65536,
        "size after punching past EOF (KEEP_SIZE)",
    )?;
    expect_err(
        sys::fallocate(&fd, libc::FALLOC_FL_PUNCH_HOLE, 0, 4096),
        Errno::EOPNOTSUPP,
        "PUNCH_HOLE without KEEP_SIZE",
    )?;
    expect_err(
        sys::fallocate(&fd, PUNCH, 0, 0),
        Errno::EINVAL,
        "punch of length 0",
    )?;
    expect_err(
        sys::fallocate(&fd, PUNCH, -1, 4096),
        Errno::EINVAL,
        "punch at a negative offset",
    )?;
    eq_bytes(&read_path(&f)?, &want, "content through a new fd")?;
    Ok(Verdict::Pass)
}

pub fn fallocate_mode0(c: &Ctx) -> Check {
    let fd = create(&c.p("f"), b"")?;
    match sys::fallocate(&fd, 0, 0, MIB as i64) {
        Ok(()) => {
            let st = fstat(&fd)?;
            eq(
                st.st_size as u64,
                MIB,
                "size after fallocate mode 0 of 1 MiB",
            )?;
            ensure(
                st.st_blocks as u64 * 512 >= MIB,
                format!("st_blocks {} after fallocating 1 MiB", st.st_blocks),
            )?;
            ensure(
                read_fd(&fd)?.iter().all(|&x| x == 0),
                "fallocated range does not read as zeros",
            )?;
            sys::pwrite_all(&fd, b"abc", 4096).must("write into the fallocated range")?;
            eq_bytes(
                &read_fd(&fd)?[4090..4100],
                b"\0\0\0\0\0\0abc\0",
                "write into the fallocated range",
            )?;
            Ok(Verdict::Note("supported".into()))
        }
        Err(Errno::EOPNOTSUPP) => {
            eq(fstat(&fd)?.st_size, 0, "size after a refused fallocate")?;
            Ok(Verdict::Note("EOPNOTSUPP".into()))
        }
        Err(e) => bail!("fallocate mode 0: expected success or EOPNOTSUPP, got {e:?}"),
    }
}

pub fn fallocate_keep_size(c: &Ctx) -> Check {
    let fd = create(&c.p("f"), &rnd(71, 100))?;
    match sys::fallocate(&fd, libc::FALLOC_FL_KEEP_SIZE, 0, 64 * KIB as i64) {
        Ok(()) => {
            eq(fstat(&fd)?.st_size, 100, "size after fallocate KEEP_SIZE")?;
            eq_bytes(
                &read_fd(&fd)?,
                &rnd(71, 100),
                "content after fallocate KEEP_SIZE",
            )?;
            Ok(Verdict::Note("supported".into()))
        }
        Err(Errno::EOPNOTSUPP) => Ok(Verdict::Note("EOPNOTSUPP".into())),
        Err(e) => bail!("fallocate KEEP_SIZE: expected success or EOPNOTSUPP, got {e:?}"),
    }
}

struct Map {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Map {
    fn new(fd: &OwnedFd, len: usize, flags: i32) -> Result<Map> {
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            bail!("mmap: {:?}", Errno::last());
        }
        Ok(Map { ptr, len })
    }
    fn slice(&mut self) -> &mut [u8] {
        unsafe { std::slice::from_raw_parts_mut(self.ptr.cast::<u8>(), self.len) }
    }
    fn sync(&self) -> Result<()> {
        Errno::result(unsafe { libc::msync(self.ptr, self.len, libc::MS_SYNC) }).must("msync")?;
        Ok(())
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

pub fn mmap_shared(c: &Ctx) -> Check {
    let f = c.p("f");
    let len = 3 * 4096 + 100;
    let mut want = rnd(80, len);
    let fd = create(&f, &want)?;
    {
        let mut m = Map::new(&fd, len, libc::MAP_SHARED)?;
        let p1 = rnd(81, 200);
        let p2 = rnd(82, 88);
        m.slice()[4000..4200].copy_from_slice(&p1);
        m.slice()[12300..12388].copy_from_slice(&p2);
        want[4000..4200].copy_from_slice(&p1);
        want[12300..12388].copy_from_slice(&p2);
        m.sync()?;
    }
    eq(fstat(&fd)?.st_size as usize, len, "size after mmap writes")?;
    eq_bytes(
        &read_fd(&fd)?,
        &want,
        "read(2) after MAP_SHARED writes, msync and munmap",
    )?;
    eq_bytes(&read_path(&f)?, &want, "read through a new fd")?;
    // A write through read(2)'s side is seen by a new mapping.
    sys::pwrite_all(&fd, b"XYZ", 5).must("pwrite")?;
    want[5..8].copy_from_slice(b"XYZ");
    let mut m = Map::new(&fd, len, libc::MAP_SHARED)?;
    eq_bytes(m.slice(), &want, "mapping after pwrite")?;
    Ok(Verdict::Pass)
}

pub fn mmap_hole_private(c: &Ctx) -> Check {
    let f = c.p("f");
    let fd = create(&f, b"")?;
    sys::ftruncate(&fd, 3 * 4096).must("ftruncate")?;
    let page = rnd(83, 4096);
    {
        let mut m = Map::new(&fd, 3 * 4096, libc::MAP_SHARED)?;
        m.slice()[4096..8192].copy_from_slice(&page);
        m.sync()?;
    }
    let mut want = vec![0u8; 3 * 4096];
    want[4096..8192].copy_from_slice(&page);
    eq_bytes(
        &read_fd(&fd)?,
        &want,
        "read after an mmap write into a hole",
    )?;
    sys::fsync(&fd).must("fsync")?;
    let blocks = fstat(&fd)?.st_blocks as u64 * 512;
    ensure(
        blocks >= 4096,
        format!("st_blocks {blocks} bytes after filling a hole through mmap"),
    )?;
    {
        let mut m = Map::new(&fd, 3 * 4096, libc::MAP_PRIVATE)?;
        m.slice()[0..4096].copy_from_slice(&rnd(84, 4096));
        eq_bytes(
            &m.slice()[4096..8192],
            &page,
            "private mapping sees the file",
        )?;
    }
    eq_bytes(
        &read_fd(&fd)?,
        &want,
        "file after writing a MAP_PRIVATE mapping (must be unchanged)",
    )?;
    Ok(Verdict::Pass)
}

pub fn fsyncs(c: &Ctx) -> Check {
    let fd = create(&c.p("f"), &rnd(90, 100000))?;
    sys::fsync(&fd).must("fsync")?;
    sys::pwrite_all(&fd, &rnd(91, 5000), 50000).must("pwrite")?;
    sys::fdatasync(&fd).must("fdatasync")?;
    let ro = open(&c.p("f"), O_RDONLY, 0)?;
    sys::fsync(&ro).must("fsync of an O_RDONLY fd")?;
    let dfd = open(&c.dir, O_RDONLY | O_DIRECTORY, 0)?;
    sys::fsync(&dfd).must("fsync of a directory")?;
    sys::fdatasync(&dfd).must("fdatasync of a directory")?;
    sys::syncfs(&fd).must("syncfs")?;
    let mut want = rnd(90, 100000);
    want[50000..55000].copy_from_slice(&rnd(91, 5000));
    eq_bytes(&read_fd(&fd)?, &want, "content after syncing")?;
    Ok(Verdict::Pass)
}

pub fn copies(c: &Ctx) -> Check {
    let len = MIB as usize + 123;
    let d = rnd(100, len);
    let src = create(&c.p("src"), &d)?;
    // sendfile
    let out = create(&c.p("sendfile"), b"")?;
    let mut off = 0i64;
    while (off as usize) < len {
        let left = len - off as usize;
        let n = sys::sendfile(&out, &src, &mut off, left).must("sendfile")?;
        ensure(n > 0, "sendfile made no progress")?;
    }
    eq_bytes(&read_fd(&out)?, &d, "sendfile copy")?;
    // splice through a pipe
    let out = create(&c.p("splice"), b"")?;
    let (pr, pw) = sys::pipe().must("pipe")?;
    let (mut oi, mut oo) = (0i64, 0i64);
    while (oi as usize) < len {
        let n = sys::splice(src.as_raw_fd(), Some(&mut oi), pw.as_raw_fd(), None, 65536)
            .must("splice to the pipe")?;
        ensure(n > 0, "splice made no progress")?;
        let mut left = n;
        while left > 0 {
            let m = sys::splice(pr.as_raw_fd(), None, out.as_raw_fd(), Some(&mut oo), left)
                .must("splice from the pipe")?;
            ensure(m > 0, "splice made no progress")?;
            left -= m;
        }
    }
    eq_bytes(&read_fd(&out)?, &d, "splice copy")?;
    // copy_file_range
    let out = create(&c.p("cfr"), b"")?;
    let (mut oi, mut oo) = (0i64, 0i64);
    while (oi as usize) < len {
        let left = len - oi as usize;
        let n = sys::copy_file_range(&src, &mut oi, &out, &mut oo, left).must("copy_file_range")?;
        ensure(n > 0, "copy_file_range made no progress")?;
    }
    eq_bytes(&read_fd(&out)?, &d, "copy_file_range copy")?;
    Ok(Verdict::Pass)
}

pub fn append_two_fds(c: &Ctx) -> Check {
    let f = c.p("f");
    drop(create(&f, b"")?);
    let a = open(&f, O_WRONLY | O_APPEND, 0)?;
    let b = open(&f, O_WRONLY | O_APPEND, 0)?;
    let mut want = Vec::new();
    for i in 0..200usize {
        let ra = vec![b'a' + (i % 26) as u8; 37 + i % 50];
        let rb = vec![b'A' + (i % 26) as u8; 4099];
        sys::write_all(&a, &ra).must("write")?;
        sys::write_all(&b, &rb).must("write")?;
        want.extend_from_slice(&ra);
        want.extend_from_slice(&rb);
    }
    eq(
        lstat(&f)?.st_size as usize,
        want.len(),
        "size after alternating appends",
    )?;
    eq_bytes(
        &read_path(&f)?,
        &want,
        "content after alternating appends from two fds",
    )?;
    Ok(Verdict::Pass)
}

pub fn append_threads(c: &Ctx) -> Check {
    let f = c.p("f");
    drop(create(&f, b"")?);
    const N: usize = 300;
    let lens = [1000usize, 3000];
    let mut handles = Vec::new();
    for (t, &len) in lens.iter().enumerate() {
        let fd = open(&f, O_WRONLY | O_APPEND, 0)?;
        handles.push(std::thread::spawn(move || -> Result<(), Errno> {
            for seq in 0..N {
                let mut rec = format!("T{t}:{seq:05}:").into_bytes();
                rec.resize(len - 1, b'0' + t as u8);
                rec.push(b'\n');
                let n = sys::write(&fd, &rec)?;
                if n != len {
                    return Err(Errno::EIO);
                }
            }
            Ok(())
        }));
    }
    for h in handles {
        match h.join() {
            Ok(r) => r.must("append from a thread")?,
            Err(_) => bail!("an appending thread panicked"),
        }
    }
    let all = read_path(&f)?;
    eq(
        all.len(),
        N * (lens[0] + lens[1]),
        "size after concurrent appends",
    )?;
    let mut pos = 0;
    let mut next = [0usize; 2];
    while pos < all.len() {
        let t = match &all[pos..pos + 3] {
            b"T0:" => 0,
            b"T1:" => 1,
            other => bail!(
                "no record header at offset {pos}: {:?}",
                String::from_utf8_lossy(other)
            ),
        };
        let len = lens[t];
        let mut rec = format!("T{t}:{:05}:", next[t]).into_bytes();
        rec.resize(len - 1, b'0' + t as u8);
        rec.push(b'\n');
        eq_bytes(
            &all[pos..(pos + len).min(all.len())],
            &rec,
            format!("record at offset {pos}"),
        )?;
        next[t] += 1;
        pos += len;
    }
    eq(next, [N, N], "records per thread")?;
    Ok(Verdict::Pass)
}

pub fn unlinked_open(c: &Ctx) -> Check {
    let f = c.p("f");
    let d = rnd(110, 10000);
    let fd = create(&f, &d)?;
    let fd2 = open(&f, O_RDONLY, 0)?;
    sys::unlink(&f).must("unlink")?;
    expect_err(sys::lstat(&f), Errno::ENOENT, "lstat after unlink")?;
    eq(
        names(&c.dir)?,
        Vec::<Vec<u8>>::new(),
        "directory listing after unlink",
    )?;
    let st = fstat(&fd)?;
    eq(st.st_nlink, 0, "link count of the unlinked open file")?;
    eq(st.st_size, 10000, "size of the unlinked open file")?;
    eq_bytes(&read_fd(&fd)?, &d, "read of the unlinked file")?;
    let d2 = rnd(111, 5000);
    sys::pwrite_all(&fd, &d2, 20000).must("write to the unlinked file")?;
    sys::fsync(&fd).must("fsync of the unlinked file")?;
    let mut want = d.clone();
    want.resize(25000, 0);
    want[20000..].copy_from_slice(&d2);
    eq_bytes(
        &read_fd(&fd2)?,
        &want,
        "read of the unlinked file through a second fd",
    )?;
    sys::ftruncate(&fd, 12000).must("ftruncate of the unlinked file")?;
    want.truncate(12000);
    eq_bytes(
        &read_fd(&fd)?,
        &want,
        "after ftruncate of the unlinked file",
    )?;
    Ok(Verdict::Pass)
}

pub fn statfs_blocks(c: &Ctx) -> Check {
    let s = sys::statfs(&c.dir).must("statfs")?;
    eq(s.f_namelen, 255, "f_namelen")?;
    ensure(
        s.f_bsize > 0 && s.f_frsize > 0,
        "f_bsize and f_frsize are positive",
    )?;
    if s.f_blocks == 0 {
        return Ok(Verdict::Skip("f_blocks is 0 (no block accounting)".into()));
    }
    ensure(
        s.f_bfree <= s.f_blocks,
        format!("f_bfree {} > f_blocks {}", s.f_bfree, s.f_blocks),
    )?;
    ensure(
        s.f_bavail <= s.f_bfree,
        format!("f_bavail {} > f_bfree {}", s.f_bavail, s.f_bfree),
    )?;
    let need = MIB / s.f_frsize as u64;
    // Other activity on a shared (host) file system can move the counts; a
    // file system that gets them wrong fails every attempt.
    let mut last = String::new();
    for attempt in 1..=3 {
        let f = c.p(&format!("f{attempt}"));
        let dfd = open(&c.dir, O_RDONLY | O_DIRECTORY, 0)?;
        sys::syncfs(&dfd).must("syncfs")?;
        let before = sys::statfs(&c.dir).must("statfs")?.f_bfree;
        let fd = create(&f, &rnd(120 + attempt, MIB as usize))?;
        sys::fsync(&fd).must("fsync")?;
        drop(fd);
        sys::syncfs(&dfd).must("syncfs")?;
        let full = sys::statfs(&c.dir).must("statfs")?.f_bfree;
        sys::unlink(&f).must("unlink")?;
        sys::syncfs(&dfd).must("syncfs")?;
        let after = sys::statfs(&c.dir).must("statfs")?.f_bfree;
        let used = before as i64 - full as i64;
        let freed = after as i64 - full as i64;
        if used >= need as i64 && freed >= need as i64 {
            return Ok(if attempt == 1 {
                Verdict::Pass
            } else {
                Verdict::Note(format!("attempt {attempt}"))
            });
        }
        last = format!(
            "f_bfree {before} before writing 1 MiB, {full} after (used {used}), {after} after unlink+sync (freed {freed}); expected at least {need} each way"
        );
    }
    bail!("{last}")
}
