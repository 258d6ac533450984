//! datatest: data integrity of large and sparse files.
//!
//! `write`/`verify` stream seeded ChaCha8 data through a file in 1 MiB
//! chunks; `sparse-write`/`sparse-verify` put seeded 4 KiB chunks at given
//! offsets and check them and that everything else reads as zeros.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rand::{Rng, RngExt};

use fstests::content::{random_bytes, rng};
use fstests::report::{emit, Report};
use fstests::size::{format_size, parse_size};
use fstests::sys::{self, Errno};

const MIB: usize = 1 << 20;
/// Data regions (as SEEK_DATA/SEEK_HOLE report them) outside the chunks
/// are read whole up to this much; beyond it only spot checks are made.
const MAX_DATA_READ: u64 = 256 << 20;

#[derive(Parser)]
#[command(
    name = "datatest",
    about = "Data integrity tests: seeded random data written and verified bit-exact"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write SIZE bytes of seeded pseudo-random data sequentially, in 1 MiB
    /// chunks, then fsync.
    Write {
        #[arg(long)]
        seed: u64,
        /// Bytes to write; suffixes K, M, G, T, P (binary) are accepted.
        #[arg(long, value_parser = parse_size)]
        size: u64,
        /// Open with O_DIRECT (SIZE must be a multiple of 4096).
        #[arg(long)]
        direct: bool,
        file: PathBuf,
    },
    /// Verify a file written by `write` with the same seed and size,
    /// bit-exact; reports the first bad offset.
    Verify {
        #[arg(long)]
        seed: u64,
        #[arg(long, value_parser = parse_size)]
        size: u64,
        /// Open with O_DIRECT.
        #[arg(long)]
        direct: bool,
        file: PathBuf,
    },
    /// Create (or truncate) FILE and write one seeded chunk at each OFFSET
    /// (suffixes accepted: 4G, 4100M, 5T), then fsync. Chunks must not
    /// overlap.
    SparseWrite {
        #[arg(long)]
        seed: u64,
        /// Bytes per chunk.
        #[arg(long, value_parser = parse_size, default_value = "4096")]
        chunk_size: u64,
        file: PathBuf,
        #[arg(required = true, value_parser = parse_size)]
        offsets: Vec<u64>,
    },
    /// Verify a file written by `sparse-write` with the same seed and
    /// offsets: exact size, every chunk bit-exact, and zeros everywhere
    /// else (holes found with SEEK_DATA/SEEK_HOLE, plus direct spot reads).
    SparseVerify {
        #[arg(long)]
        seed: u64,
        #[arg(long, value_parser = parse_size, default_value = "4096")]
        chunk_size: u64,
        file: PathBuf,
        #[arg(required = true, value_parser = parse_size)]
        offsets: Vec<u64>,
    },
}

fn main() {
    let cli = Cli::parse();
    let mut rep = Report::new();
    let r = match cli.cmd {
        Cmd::Write {
            seed,
            size,
            direct,
            file,
        } => write(&mut rep, seed, size, direct, &file),
        Cmd::Verify {
            seed,
            size,
            direct,
            file,
        } => verify(&mut rep, seed, size, direct, &file),
        Cmd::SparseWrite {
            seed,
            chunk_size,
            file,
            offsets,
        } => sparse_write(&mut rep, seed, chunk_size, &file, &offsets),
        Cmd::SparseVerify {
            seed,
            chunk_size,
            file,
            offsets,
        } => sparse_verify(&mut rep, seed, chunk_size, &file, &offsets),
    };
    if let Err(e) = r {
        rep.fail("datatest", &format!("{e:#}"));
    }
    rep.summary("datatest");
    std::process::exit(rep.exit_code());
}

/// A zeroed buffer of `len` bytes aligned to 4096 (for O_DIRECT).
struct Aligned {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Self {
        let storage = vec![0u8; len + 4096];
        let start = storage.as_ptr().align_offset(4096);
        Aligned {
            storage,
            start,
            len,
        }
    }
    fn buf(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

fn mib_per_s(bytes: u64, t: Instant) -> f64 {
    bytes as f64 / (1 << 20) as f64 / t.elapsed().as_secs_f64().max(1e-9)
}

fn write(rep: &mut Report, seed: u64, size: u64, direct: bool, file: &Path) -> Result<()> {
    if direct && size % 4096 != 0 {
        bail!("--direct needs a size that is a multiple of 4096");
    }
    let name = format!("write {} bytes to {}", size, file.display());
    let t = Instant::now();
    let r = (|| -> Result<()> {
        let mut flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC;
        if direct {
            flags |= libc::O_DIRECT;
        }
        let fd = sys::open(file, flags, 0o644).context("open")?;
        let mut g = rng(seed, 0);
        let mut buf = Aligned::new(MIB);
        let mut off = 0u64;
        while off < size {
            g.fill_bytes(buf.buf());
            let n = (size - off).min(MIB as u64) as usize;
            sys::write_all(&fd, &buf.buf()[..n])
                .with_context(|| format!("write at offset {off}"))?;
            off += n as u64;
        }
        sys::fsync(&fd).context("fsync")?;
        Ok(())
    })();
    let ok = rep.check(&name, r);
    if ok {
        emit(&format!(
            "info: wrote {} at {:.1} MiB/s",
            format_size(size),
            mib_per_s(size, t)
        ));
    }
    Ok(())
}

fn verify(rep: &mut Report, seed: u64, size: u64, direct: bool, file: &Path) -> Result<()> {
    let mut flags = libc::O_RDONLY;
    if direct {
        flags |= libc::O_DIRECT;
    }
    let fd = sys::open(file, flags, 0).with_context(|| format!("open {}", file.display()))?;
    let st = sys::fstat(&fd).context("fstat")?;
    if st.st_size as u64 == size {
        rep.pass(&format!("size of {} is {size}", file.display()));
    } else {
        rep.fail(
            &format!("size of {} is {size}", file.display()),
            &format!("st_size is {}", st.st_size),
        );
    }
    let t = Instant::now();
    let mut g = rng(seed, 0);
    let mut expect = vec![0u8; MIB];
    let mut got = Aligned::new(MIB);
    let mut off = 0u64;
    let mut first_bad: Option<String> = None;
    let mut bad_chunks = 0u64;
    while off < size {
        g.fill_bytes(&mut expect);
        let n = (size - off).min(MIB as u64) as usize;
        // O_DIRECT reads whole blocks; the short tail is compared by length.
        let want = if direct { n.div_ceil(4096) * 4096 } else { n };
        let r = sys::pread_full(&fd, &mut got.buf()[..want], off)
            .with_context(|| format!("read at {off}"))?;
        if r < n {
            first_bad.get_or_insert(format!(
                "end of file at offset {} (expected {size} bytes)",
                off + r as u64
            ));
            bad_chunks += 1;
            break;
        }
        let gb = &got.buf()[..n];
        if gb != &expect[..n] {
            bad_chunks += 1;
            if first_bad.is_none() {
                let i = (0..n).find(|&i| gb[i] != expect[i]).unwrap_or(0);
                let nbad = (0..n).filter(|&i| gb[i] != expect[i]).count();
                first_bad = Some(format!(
                    "first bad byte at offset {} (expected {:#04x}, got {:#04x}); {nbad} bad bytes in the 1 MiB chunk at {off}",
                    off + i as u64,
                    expect[i],
                    gb[i]
                ));
            }
        }
        off += n as u64;
    }
    let name = format!("content of {} is bit-exact", file.display());
    match first_bad {
        None => {
            rep.pass(&name);
            emit(&format!(
                "info: verified {} at {:.1} MiB/s",
                format_size(size),
                mib_per_s(size, t)
            ));
        }
        Some(why) => rep.fail(&name, &format!("{why}; {bad_chunks} bad 1 MiB chunks")),
    }
    Ok(())
}

fn check_offsets(chunk: u64, offsets: &[u64]) -> Result<Vec<u64>> {
    if chunk == 0 || chunk > 64 << 20 {
        bail!("chunk size must be between 1 and 64 MiB");
    }
    let mut sorted = offsets.to_vec();
    sorted.sort_unstable();
    for w in sorted.windows(2) {
        if w[0] + chunk > w[1] {
            bail!("chunks at {} and {} overlap", w[0], w[1]);
        }
    }
    if sorted
        .last()
        .is_some_and(|&o| o.checked_add(chunk).is_none_or(|e| e > i64::MAX as u64))
    {
        bail!("offset too large");
    }
    Ok(sorted)
}

fn chunk_data(seed: u64, off: u64, chunk: u64) -> Vec<u8> {
    random_bytes(&mut rng(seed, off), chunk as usize)
}

fn sparse_write(
    rep: &mut Report,
    seed: u64,
    chunk: u64,
    file: &Path,
    offsets: &[u64],
) -> Result<()> {
    check_offsets(chunk, offsets)?;
    let fd = sys::open(file, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644)
        .with_context(|| format!("open {}", file.display()))?;
    for &off in offsets {
        let r = sys::pwrite_all(&fd, &chunk_data(seed, off, chunk), off)
            .map_err(|e| anyhow::anyhow!("pwrite: {e}"));
        rep.check(
            &format!("write {} chunk at {}", format_size(chunk), format_size(off)),
            r,
        );
    }
    let r = sys::fsync(&fd).map_err(|e| anyhow::anyhow!("{e}"));
    rep.check(&format!("fsync {}", file.display()), r);
    Ok(())
}

/// Read `[off, off+len)` and require zeros; returns the first nonzero offset.
fn zero_range(fd: &impl std::os::fd::AsRawFd, off: u64, len: u64) -> Result<Option<u64>> {
    let mut buf = vec![0u8; MIB];
    let mut pos = off;
    while pos < off + len {
        let n = (off + len - pos).min(MIB as u64) as usize;
        let r =
            sys::pread_full(fd, &mut buf[..n], pos).with_context(|| format!("read at {pos}"))?;
        if r != n {
            bail!("short read at {pos}: {r} of {n} bytes");
        }
        if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
            return Ok(Some(pos + i as u64));
        }
        pos += n as u64;
    }
    Ok(None)
}

fn sparse_verify(
    rep: &mut Report,
    seed: u64,
    chunk: u64,
    file: &Path,
    offsets: &[u64],
) -> Result<()> {
    let sorted = check_offsets(chunk, offsets)?;
    let fd =
        sys::open(file, libc::O_RDONLY, 0).with_context(|| format!("open {}", file.display()))?;
    let size = sorted.last().map_or(0, |&o| o + chunk);
    let st = sys::fstat(&fd).context("fstat")?;
    let name = format!("size of {} is {size}", file.display());
    if st.st_size as u64 == size {
        rep.pass(&name);
    } else {
        rep.fail(&name, &format!("st_size is {}", st.st_size));
    }

    // Every chunk bit-exact.
    for &off in offsets {
        let name = format!("chunk at {} reads back bit-exact", format_size(off));
        let want = chunk_data(seed, off, chunk);
        let mut got = vec![0u8; chunk as usize];
        let r = (|| -> Result<()> {
            let n = sys::pread_full(&fd, &mut got, off).context("pread")?;
            if n != got.len() {
                bail!("short read: {n} of {} bytes", got.len());
            }
            if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
                bail!(
                    "first bad byte at offset {} (expected {:#04x}, got {:#04x})",
                    off + i as u64,
                    want[i],
                    got[i]
                );
            }
            Ok(())
        })();
        rep.check(&name, r);
    }

    // The gaps between chunks: spot reads at their ends, middles and at
    // seeded random places.
    let mut gaps = Vec::new();
    let mut prev = 0u64;
    for &off in &sorted {
        if off > prev {
            gaps.push((prev, off));
        }
        prev = off + chunk;
    }
    let r = (|| -> Result<usize> {
        let mut g = rng(seed, u64::MAX);
        let mut reads = 0;
        for &(a, b) in &gaps {
            let len = b - a;
            let span = len.min(4096);
            let mut spots = vec![a, b - span, a + (len - span) / 2];
            for _ in 0..8 {
                spots.push(a + g.random_range(0..=len - span));
            }
            for s in spots {
                reads += 1;
                if let Some(bad) = zero_range(&fd, s, span)? {
                    bail!("byte at offset {bad} (in the gap {a}..{b}) is not zero");
                }
            }
        }
        Ok(reads)
    })();
    match r {
        Ok(n) => rep.pass(&format!("zeros between the chunks ({n} spot reads)")),
        Err(e) => rep.fail("zeros between the chunks", &format!("{e:#}")),
    }

    // The hole map: every chunk is inside data; whatever else is reported
    // as data reads as zeros.
    let name = "SEEK_DATA/SEEK_HOLE map: chunks are data, the rest reads zero";
    let mut regions = Vec::new();
    let mut pos = 0u64;
    let mut unsupported = None;
    while pos < size {
        match sys::lseek(&fd, pos as i64, libc::SEEK_DATA) {
            Ok(d) => {
                let d = d as u64;
                match sys::lseek(&fd, d as i64, libc::SEEK_HOLE) {
                    Ok(h) => {
                        let h = h as u64;
                        if h <= d {
                            rep.fail(name, &format!("SEEK_HOLE from {d} returned {h}"));
                            return Ok(());
                        }
                        regions.push((d, h));
                        pos = h;
                    }
                    Err(e) => {
                        rep.fail(name, &format!("SEEK_HOLE from data at {d}: {e}"));
                        return Ok(());
                    }
                }
            }
            Err(Errno::ENXIO) => break,
            Err(e @ (Errno::EINVAL | Errno::EOPNOTSUPP)) => {
                unsupported = Some(e);
                break;
            }
            Err(e) => {
                rep.fail(name, &format!("SEEK_DATA from {pos}: {e}"));
                return Ok(());
            }
        }
    }
    if let Some(e) = unsupported {
        rep.skip(name, &format!("SEEK_DATA not supported ({e})"));
        return Ok(());
    }
    for &off in &sorted {
        if !regions.iter().any(|&(d, h)| d <= off && off + chunk <= h) {
            rep.fail(
                name,
                &format!("the chunk at {off} is not inside a data region: {regions:?}"),
            );
            return Ok(());
        }
    }
    let mut extra = Vec::new();
    for &(d, h) in &regions {
        let mut p = d;
        for &off in &sorted {
            if off + chunk <= p || off >= h {
                continue;
            }
            if off > p {
                extra.push((p, off));
            }
            p = p.max(off + chunk);
        }
        if p < h {
            extra.push((p, h.min(size)));
        }
    }
    let extra_bytes: u64 = extra.iter().map(|&(a, b)| b - a).sum();
    if extra_bytes > MAX_DATA_READ {
        rep.skip(
            name,
            &format!("{extra_bytes} bytes outside the chunks are reported as data (file not sparse?); spot checks only"),
        );
        return Ok(());
    }
    for &(a, b) in &extra {
        match zero_range(&fd, a, b - a) {
            Ok(None) => {}
            Ok(Some(bad)) => {
                rep.fail(
                    name,
                    &format!("byte at offset {bad} (outside every chunk) is not zero"),
                );
                return Ok(());
            }
            Err(e) => {
                rep.fail(name, &format!("{e:#}"));
                return Ok(());
            }
        }
    }
    rep.pass(name);
    emit(&format!(
        "info: {} data regions, {extra_bytes} bytes of data outside the chunks read as zeros",
        regions.len()
    ));
    Ok(())
}
