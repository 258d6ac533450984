//! `livedfs`: the operator's command for livedfs volumes.
//!
//! - `livedfs stats MOUNTPOINT`: deduplication counters (sysfs) and space saved.
//! - `livedfs info DEVICE|IMAGE`: superblock and feature summary (like `dumpe2fs -h`).
//! - `livedfs debug inode DEVICE INO`, `livedfs debug group DEVICE G`:
//!   an inode's block map with refcounts and fingerprints; a group's
//!   descriptor, bitmaps and fingerprint store.
//! - `livedfs debug craft DEVICE KIND` (hidden, for tests): writes one
//!   deliberate inconsistency into an unmounted volume (the only
//!   subcommand that writes to a device).
//! - `livedfs du PATH...`: how much of files and directories is shared.
//! - `livedfs clone SRC DST`, `livedfs dedupe SRC DST`: reflink and
//!   out-of-band deduplication.
//!
//! Human output by default; `--json` for scripts. Devices are only read,
//! except by `debug craft`.

mod craft;
mod debug;
mod du;
mod info;
mod reflink;
mod report;
mod stats;
mod util;
mod volume;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "livedfs",
    version,
    about = "Statistics and inspection of livedfs volumes",
    after_help = "Devices and images are opened read-only. See livedfs(8)."
)]
struct Cli {
    /// Print JSON instead of text (any subcommand).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deduplication statistics and space saved for a mounted volume.
    Stats {
        /// A mount point (or any path) of a livedfs volume.
        path: PathBuf,
        /// Read the counters from this directory instead of
        /// /sys/fs/livedfs/<device> (for tests).
        #[arg(long, hide = true)]
        sysfs_dir: Option<PathBuf>,
    },
    /// Superblock and feature summary of a volume (like dumpe2fs -h).
    Info {
        /// A block device or image file holding a livedfs volume.
        device: PathBuf,
    },
    /// Low-level inspection of a volume's structures.
    #[command(subcommand)]
    Debug(DebugCommand),
    /// Space use of files and directories on a mounted volume: size,
    /// blocks mapped, shared (refcount > 1) and unique, and the space
    /// only they hold.
    Du {
        /// Files or directories on one mounted livedfs volume.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print sizes in bytes, not in KiB/MiB/GiB.
        #[arg(short = 'b', long)]
        bytes: bool,
        /// Map blocks with FIBMAP even when FIEMAP is available.
        #[arg(long)]
        fibmap: bool,
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

#[derive(Subcommand)]
enum DebugCommand {
    /// An inode's fields and its block map: every mapped file block, its
    /// disk block, that block's refcount and fingerprint.
    Inode {
        /// A block device or image file holding a livedfs volume.
        device: PathBuf,
        /// The inode number (`ls -i`, `stat -c %i`).
        ino: u32,
    },
    /// A group's layout, descriptor, bitmap summary and the fingerprint
    /// store entries in use.
    Group {
        /// A block device or image file holding a livedfs volume.
        device: PathBuf,
        /// The group number (0 to group count - 1).
        group: u32,
    },
    /// For tests: writes one deliberate inconsistency into an unmounted
    /// volume (every checksum right), to see how the kernel and fsck
    /// treat a hostile volume. Destroys the volume's consistency: only on
    /// scratch volumes. See livedfs(8).
    #[command(hide = true)]
    Craft {
        /// A block device or image file holding an unmounted livedfs volume.
        device: PathBuf,
        /// The inconsistency to make.
        #[arg(value_enum)]
        kind: craft::Kind,
        /// store-entry-*: the block whose store entry is set (default:
        /// group 0's block bitmap; group 0's last free block; the last
        /// block of the first BLOCK_UNINIT group).
        #[arg(long)]
        block: Option<u32>,
        /// store-entry-*: the fingerprint written into the entry, in hex
        /// (default: a fixed pattern holding the block number).
        #[arg(long, value_parser = craft::parse_hex)]
        fingerprint: Option<craft::HexBytes>,
        /// dir-size-huge: the directory (default: the root, 2).
        #[arg(long)]
        ino: Option<u32>,
        /// dir-size-huge: the size given to it in bytes (default 2^40).
        #[arg(long)]
        size: Option<u64>,
        /// orphan-long: how many orphans (default 20000).
        #[arg(long)]
        count: Option<u32>,
    },
}

fn main() {
    // A report piped into `head` ends quietly when the reader goes away,
    // as other Unix tools do (Rust ignores SIGPIPE, so println! panics).
    // SAFETY: restoring the default disposition of a signal before any
    // other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    if let Err(e) = run() {
        eprintln!("livedfs: {e:#}");
        std::process::exit(1);
    }
}

fn print_json(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let json = cli.json;
    match cli.command {
        Command::Stats { path, sysfs_dir } => {
            let device = stats::device_name(&path)?;
            let dir = sysfs_dir.unwrap_or_else(|| PathBuf::from("/sys/fs/livedfs").join(&device));
            let s = stats::read_stats(&device, &dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                stats::print_stats(&s);
            }
        }
        Command::Info { device } => {
            util::warn_if_mounted(&device);
            let vol = volume::Volume::open(&device)?;
            let secs = info::sections(&vol)?;
            if json {
                let mut m = report::sections_json(&secs);
                m.insert("device".into(), json!(device));
                print_json(&Value::Object(m))?;
            } else {
                println!("livedfs {}", device.display());
                report::print_sections(&secs);
            }
        }
        Command::Debug(DebugCommand::Inode { device, ino }) => {
            util::warn_if_mounted(&device);
            let mut vol = volume::Volume::open(&device)?;
            let (secs, rows, indirect) = debug::inode_report(&mut vol, ino)?;
            if json {
                let mut m = report::sections_json(&secs);
                m.insert("device".into(), json!(device));
                m.insert("block_map".into(), serde_json::to_value(&rows)?);
                m.insert(
                    "indirect_blocks".into(),
                    Value::Array(
                        indirect
                            .iter()
                            .map(|(l, b)| json!({"level": l, "block": b}))
                            .collect(),
                    ),
                );
                print_json(&Value::Object(m))?;
            } else {
                report::print_sections(&secs);
                let (node, _) = vol.inode(ino)?;
                debug::print_map(&rows, &indirect, node.is_reg());
            }
        }
        Command::Debug(DebugCommand::Group { device, group }) => {
            util::warn_if_mounted(&device);
            let vol = volume::Volume::open(&device)?;
            let (secs, rows) = debug::group_report(&vol, group)?;
            if json {
                let mut m = report::sections_json(&secs);
                m.insert("device".into(), json!(device));
                m.insert("entries".into(), serde_json::to_value(&rows)?);
                print_json(&Value::Object(m))?;
            } else {
                report::print_sections(&secs);
                debug::print_store(&rows);
            }
        }
        Command::Debug(DebugCommand::Craft {
            device,
            kind,
            block,
            fingerprint,
            ino,
            size,
            count,
        }) => {
            let o = craft::Options {
                block,
                fingerprint: fingerprint.map(|f| f.0),
                ino,
                size,
                count,
            };
            let c = craft::craft(&device, kind, &o)?;
            if json {
                let mut v = serde_json::to_value(&c)?;
                v["device"] = json!(device);
                print_json(&v)?;
            } else {
                println!("{}: {}", device.display(), c.summary);
            }
        }
        Command::Du {
            paths,
            bytes,
            fibmap,
        } => {
            let r = du::run(&paths, fibmap)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                du::print(&r, bytes);
            }
        }
        Command::Clone { src, dst } => {
            reflink::clone_file(&src, &dst)?;
            if json {
                print_json(&json!({"source": src, "destination": dst, "cloned": true}))?;
            }
        }
        Command::Dedupe { src, dst } => {
            let n = reflink::dedupe_files(&src, &dst)
                .with_context(|| format!("dedupe {} {}", src.display(), dst.display()))?;
            if json {
                print_json(&json!({"source": src, "destination": dst, "bytes_shared": n}))?;
            } else {
                println!("{n} bytes shared");
            }
        }
    }
    Ok(())
}
