//! `livedfs`: the operator's command for livedfs volumes.
//!
//! `livedfs stats MOUNTPOINT [--json]` prints the deduplication counters the
//! kernel module publishes in /sys/fs/livedfs/<device>/ and the space saved.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use serde::Serialize;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "livedfs",
    version,
    about = "Statistics and inspection of livedfs volumes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deduplication statistics and space saved for a mounted volume.
    Stats {
        /// A mount point (or any path) of a livedfs volume.
        path: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Read the counters from this directory instead of
        /// /sys/fs/livedfs/<device> (for tests).
        #[arg(long, hide = true)]
        sysfs_dir: Option<PathBuf>,
    },
    /// Copy a file by sharing its blocks (FICLONE, like `cp --reflink`).
    Clone {
        /// The file to copy.
        src: PathBuf,
        /// The new file (created or truncated).
        dst: PathBuf,
    },
    /// Share the blocks of two files where their contents are identical
    /// (FIDEDUPERANGE over the whole of SRC).
    Dedupe {
        /// The file whose blocks are kept.
        src: PathBuf,
        /// The file made to share them.
        dst: PathBuf,
    },
}

/// FICLONE from <linux/fs.h>.
const FICLONE: libc::c_ulong = 0x4004_9409;
/// FIDEDUPERANGE from <linux/fs.h>.
const FIDEDUPERANGE: libc::c_ulong = 0xC018_9436;

fn clone_file(src: &Path, dst: &Path) -> Result<()> {
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
fn dedupe_files(src: &Path, dst: &Path) -> Result<u64> {
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

/// The counters of one mount, as the kernel publishes them.
#[derive(Debug, Serialize)]
struct Stats {
    device: String,
    counters: BTreeMap<String, u64>,
    block_size: u64,
    /// Bytes of file data the volume holds, counting shared blocks once
    /// per reference (what the files would take without deduplication,
    /// zero blocks excluded).
    logical_bytes: u64,
    /// Bytes of data blocks actually stored.
    physical_bytes: u64,
    /// logical - physical.
    saved_bytes: u64,
    /// saved / logical, in percent.
    saved_percent: f64,
    /// Fingerprint-filter memory per stored block, in bytes.
    filter_bytes_per_block: f64,
}

/// The block device name (as in /sys/fs/livedfs) of the volume holding `path`.
fn device_name(path: &Path) -> Result<String> {
    let md = std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    let dev = md.dev();
    let (major, minor) = (libc_major(dev), libc_minor(dev));
    let link = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    let target = std::fs::read_link(&link).with_context(|| {
        format!(
            "{} is not on a block device ({major}:{minor})",
            path.display()
        )
    })?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .context("unexpected /sys/dev/block link")?;
    Ok(name.to_string())
}

fn libc_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

fn libc_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

fn read_stats(device: &str, dir: &Path) -> Result<Stats> {
    if !dir.is_dir() {
        bail!(
            "{} does not exist: is {} a mounted livedfs volume?",
            dir.display(),
            device
        );
    }
    let mut counters = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(entry.path())
            .with_context(|| format!("cannot read {}", entry.path().display()))?;
        let value: u64 = text
            .trim()
            .parse()
            .with_context(|| format!("{}: not a number: {text:?}", entry.path().display()))?;
        counters.insert(name, value);
    }
    let get = |k: &str| counters.get(k).copied().unwrap_or(0);
    let block_size = get("block_size").max(1);
    let logical = get("logical_blocks_referenced").saturating_mul(block_size);
    let physical = get("physical_blocks_used").saturating_mul(block_size);
    let saved = logical.saturating_sub(physical);
    let saved_percent = if logical == 0 {
        0.0
    } else {
        saved as f64 * 100.0 / logical as f64
    };
    let entries = get("filter_entries");
    let filter_bytes_per_block = if entries == 0 {
        0.0
    } else {
        get("filter_bytes") as f64 / entries as f64
    };
    Ok(Stats {
        device: device.to_string(),
        counters,
        block_size,
        logical_bytes: logical,
        physical_bytes: physical,
        saved_bytes: saved,
        saved_percent,
        filter_bytes_per_block,
    })
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn print_stats(s: &Stats) {
    println!("livedfs volume {}", s.device);
    println!(
        "  data referenced by files  {:>12}  ({} blocks)",
        human(s.logical_bytes),
        s.counters.get("logical_blocks_referenced").unwrap_or(&0)
    );
    println!(
        "  data stored               {:>12}  ({} blocks)",
        human(s.physical_bytes),
        s.counters.get("physical_blocks_used").unwrap_or(&0)
    );
    println!(
        "  space saved               {:>12}  ({:.1} %)",
        human(s.saved_bytes),
        s.saved_percent
    );
    println!(
        "  fingerprint filter        {:>12}  ({:.2} bytes per stored block)",
        human(s.counters.get("filter_bytes").copied().unwrap_or(0)),
        s.filter_bytes_per_block
    );
    println!("  counters:");
    for (k, v) in &s.counters {
        println!("    {k:<28} {v}");
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("livedfs: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Stats {
            path,
            json,
            sysfs_dir,
        } => {
            let device = device_name(&path)?;
            let dir = sysfs_dir.unwrap_or_else(|| PathBuf::from("/sys/fs/livedfs").join(&device));
            let stats = read_stats(&device, &dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print_stats(&stats);
            }
        }
        Command::Clone { src, dst } => clone_file(&src, &dst)?,
        Command::Dedupe { src, dst } => {
            let n = dedupe_files(&src, &dst)?;
            println!("{n} bytes shared");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_saved_from_counters() {
        let dir = std::env::temp_dir().join(format!("livedfs-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (k, v) in [
            ("block_size", 4096u64),
            ("logical_blocks_referenced", 300),
            ("physical_blocks_used", 100),
            ("filter_entries", 100),
            ("filter_bytes", 700),
        ] {
            std::fs::write(dir.join(k), format!("{v}\n")).unwrap();
        }
        let s = read_stats("vdz", &dir).unwrap();
        assert_eq!(s.logical_bytes, 300 * 4096);
        assert_eq!(s.physical_bytes, 100 * 4096);
        assert_eq!(s.saved_bytes, 200 * 4096);
        assert!((s.saved_percent - 200.0 * 100.0 / 300.0).abs() < 1e-9);
        assert!((s.filter_bytes_per_block - 7.0).abs() < 1e-9);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_sysfs_dir_is_a_clear_error() {
        let e = read_stats("vdz", Path::new("/nonexistent/livedfs")).unwrap_err();
        assert!(e.to_string().contains("mounted livedfs volume"), "{e}");
    }

    #[test]
    fn device_numbers_split_like_glibc() {
        let dev = (253u64 << 8) | 5; // old encoding for 253:5
        assert_eq!(libc_major(dev), 253);
        assert_eq!(libc_minor(dev), 5);
    }
}
