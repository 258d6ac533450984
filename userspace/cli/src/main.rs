//! `livedfs`: the operator's command for livedfs volumes.
//!
//! - `livedfs stats MOUNTPOINT`: deduplication counters (sysfs) and space saved.
//! - `livedfs info DEVICE|IMAGE`: superblock and feature summary (like `dumpe2fs -h`).
//! - `livedfs debug inode DEVICE INO`, `livedfs debug group DEVICE G`:
//!   an inode's block map with refcounts and fingerprints; a group's
//!   descriptor, bitmaps and fingerprint store.
//! - `livedfs debug craft DEVICE KIND` (hidden, for tests): writes one
//!   deliberate inconsistency into an unmounted volume.
//! - `livedfs tune DEVICE`: label, UUID, errors behaviour, default mount
//!   options, check schedule of an unmounted volume (like tune2fs).
//! - `livedfs du PATH...`: how much of files and directories is shared
//!   (no root needed: FIEMAP).
//! - `livedfs clone SRC DST`, `livedfs dedupe SRC DST`: reflink and
//!   out-of-band deduplication.
//! - `livedfs scrub MOUNTPOINT`: every stored block read and checked
//!   against its fingerprint, online; damaged blocks named with their files.
//!
//! Human output by default; `--json` for scripts. Devices are only read,
//! except by `tune` and `debug craft` (unmounted volumes only); `clone`
//! and `dedupe` change files through the mounted file system.

mod craft;
mod debug;
mod du;
mod fiemap;
mod info;
mod reflink;
mod report;
mod scrub;
mod stats;
mod tune;
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
    about = "Statistics, inspection and tuning of livedfs volumes",
    after_help = "Devices and images are opened read-only, except by tune (and the \
                  test-only debug craft), which refuse a mounted volume. See livedfs(8)."
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
    /// Superblock and feature summary of a volume (like dumpe2fs -h);
    /// UUID and label for scripts and udev (-s, --export, --udev).
    Info {
        /// A block device or image file holding a livedfs volume.
        device: PathBuf,
        /// Print only this field's value, one line each (repeatable):
        /// blkid's UUID, LABEL, TYPE or BLOCK_SIZE, or any field of the
        /// report by its JSON key (uuid, label, errors, journal.errno).
        #[arg(short = 's', long = "show", value_name = "field")]
        show: Vec<String>,
        /// Print blkid's tags as NAME=value lines for the shell, like
        /// `blkid -o export` (DEVNAME, UUID, LABEL, TYPE, BLOCK_SIZE).
        #[arg(long, conflicts_with_all = ["show", "udev"])]
        export: bool,
        /// Print the properties `blkid -o udev` would (ID_FS_UUID,
        /// ID_FS_LABEL, ID_FS_TYPE...), for an udev rule's IMPORT{program}.
        #[arg(long, conflicts_with = "show")]
        udev: bool,
    },
    /// Change the label, UUID, errors behaviour, default mount options or
    /// check schedule of an unmounted volume (like tune2fs).
    Tune {
        /// A block device or image file holding an unmounted livedfs volume.
        device: PathBuf,
        /// Set the volume label (at most 32 bytes; "" clears it).
        #[arg(short = 'L', value_name = "label")]
        label: Option<String>,
        /// Set the UUID: a UUID, random, time or clear. Rewrites every
        /// metadata checksum (the UUID seeds them).
        #[arg(short = 'U', value_name = "uuid")]
        uuid: Option<String>,
        /// Set the errors behaviour: continue, remount-ro or panic (the
        /// default when a mount gives no errors=).
        #[arg(short = 'e', value_name = "behaviour")]
        errors: Option<String>,
        /// Set (or with ^ clear) default mount options: verify, noverify,
        /// noprefetch, nodedup. Recorded only: the module does not apply
        /// them yet.
        #[arg(short = 'o', value_name = "[^]option[,...]")]
        mount_opts: Vec<String>,
        /// Set the maximum mount count before fsck -p checks the volume
        /// (0 or -1: never; random: 20 to 40).
        #[arg(
            short = 'c',
            value_name = "max-mount-count",
            allow_hyphen_values = true
        )]
        max_mount_count: Option<String>,
        /// Set the mount count.
        #[arg(short = 'C', value_name = "mount-count")]
        mount_count: Option<String>,
        /// Set the interval between checks: N[d|w|m|s] (days by default;
        /// 0: none).
        #[arg(short = 'i', value_name = "interval")]
        interval: Option<String>,
        /// Turn features on: huge_file (files up to 2^32 blocks; a livedfs
        /// module older than it then mounts the volume read-only).
        #[arg(short = 'O', value_name = "feature[,...]")]
        features: Vec<String>,
        /// Check and show what would change; write nothing.
        #[arg(short = 'n', long)]
        dry_run: bool,
    },
    /// Low-level inspection of a volume's structures.
    #[command(subcommand)]
    Debug(DebugCommand),
    /// Space use of files and directories on a mounted volume: size,
    /// blocks mapped, shared (refcount > 1) and unique, and the space
    /// only they hold. Needs no root: blocks are mapped with FIEMAP; the
    /// exclusive figure is exact when the device is readable, else bounded.
    Du {
        /// Files or directories on one mounted livedfs volume.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print sizes in bytes, not in KiB/MiB/GiB.
        #[arg(short = 'b', long)]
        bytes: bool,
        /// Map blocks with FIBMAP even when FIEMAP is available (root).
        #[arg(long)]
        fibmap: bool,
        /// Do not read reference counts from the device even when it is
        /// readable: FIEMAP's shared flags only, as a user without access
        /// to the device gets.
        #[arg(long)]
        no_device: bool,
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
    /// Read every stored block of a mounted volume and check it against
    /// its fingerprint (root only); name each damaged block and the files
    /// that use it. Exit status 1 if a damaged block was found.
    Scrub {
        /// The mount point (or any path) of a livedfs volume.
        path: PathBuf,
        /// Start at this device block.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Record the position after each batch in FILE (to resume).
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Resume at the position recorded in --state FILE.
        #[arg(long, requires = "state")]
        resume: bool,
        /// Read at most this many MB per second.
        #[arg(long, value_name = "MB_PER_S")]
        rate: Option<f64>,
        /// Device blocks per call into the kernel.
        #[arg(long, default_value_t = 32768, hide = true)]
        batch: u64,
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
        /// dir-size-huge: the directory (default: the root, 2);
        /// unwritten-*: the directory the new file goes in (default: the
        /// root).
        #[arg(long)]
        ino: Option<u32>,
        /// dir-size-huge: the size given to it in bytes (default 2^40);
        /// unwritten-*: the new file's size (default 0).
        #[arg(long)]
        size: Option<u64>,
        /// orphan-long: how many orphans (default 20000); unwritten-*: how
        /// many unwritten blocks, from file block 0 (default 4, at most
        /// 12).
        #[arg(long)]
        count: Option<u32>,
        /// journal-errno: the errno recorded (default -117, EUCLEAN).
        #[arg(long, allow_hyphen_values = true)]
        errno: Option<i32>,
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
        Command::Info {
            device,
            show,
            export,
            udev,
        } => {
            util::warn_if_mounted(&device);
            let vol = volume::Volume::open(&device)?;
            let secs = info::sections(&vol)?;
            if export || udev {
                let mut tags = if udev {
                    info::udev_props(&vol)
                } else {
                    let mut t = vec![("DEVNAME", device.display().to_string())];
                    t.extend(info::blkid_tags(&vol));
                    t
                };
                if json {
                    let m: serde_json::Map<String, Value> = tags
                        .drain(..)
                        .map(|(k, v)| (k.to_string(), json!(v)))
                        .collect();
                    print_json(&Value::Object(m))?;
                } else {
                    for (k, v) in tags {
                        if udev {
                            println!("{k}={v}");
                        } else {
                            println!("{k}={}", info::shell_escape(&v));
                        }
                    }
                }
            } else if !show.is_empty() {
                let mut m = serde_json::Map::new();
                let mut lines = Vec::new();
                for name in &show {
                    let (key, v, text) = info::lookup(&vol, &secs, name).with_context(|| {
                        format!(
                            "no field {name}: use UUID, LABEL, TYPE, BLOCK_SIZE or a key \
                             of `livedfs --json info` (e.g. uuid, label, errors, journal.errno)"
                        )
                    })?;
                    m.insert(key, v);
                    lines.push(text);
                }
                if json {
                    print_json(&Value::Object(m))?;
                } else {
                    for l in lines {
                        println!("{l}");
                    }
                }
            } else if json {
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
            let (secs, dump) = debug::inode_report(&mut vol, ino)?;
            if json {
                let mut m = report::sections_json(&secs);
                m.insert("device".into(), json!(device));
                m.insert("block_map".into(), serde_json::to_value(&dump.rows)?);
                m.insert("unwritten".into(), serde_json::to_value(&dump.unwritten)?);
                m.insert(
                    "indirect_blocks".into(),
                    Value::Array(
                        dump.indirect
                            .iter()
                            .map(|(l, b)| json!({"level": l, "block": b}))
                            .collect(),
                    ),
                );
                print_json(&Value::Object(m))?;
            } else {
                report::print_sections(&secs);
                let (node, _) = vol.inode(ino)?;
                debug::print_map(&dump, node.is_reg());
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
            errno,
        }) => {
            let o = craft::Options {
                block,
                fingerprint: fingerprint.map(|f| f.0),
                ino,
                size,
                count,
                errno,
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
            no_device,
        } => {
            let r = du::run(&paths, fibmap, !no_device)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                du::print(&r, bytes);
            }
        }
        Command::Tune {
            device,
            label,
            uuid,
            errors,
            mount_opts,
            max_mount_count,
            mount_count,
            interval,
            features,
            dry_run,
        } => {
            let mut req = tune::Request {
                label: label.as_deref().map(tune::parse_label).transpose()?,
                uuid: uuid.as_deref().map(tune::parse_uuid).transpose()?,
                errors: errors.as_deref().map(tune::parse_errors).transpose()?,
                max_mount_count: max_mount_count
                    .as_deref()
                    .map(tune::parse_max_mount_count)
                    .transpose()?,
                mount_count: mount_count
                    .as_deref()
                    .map(tune::parse_mount_count)
                    .transpose()?,
                checkinterval: interval.as_deref().map(tune::parse_interval).transpose()?,
                ..tune::Request::default()
            };
            for f in &features {
                let set = tune::parse_features(f)?;
                req.ro_compat_set = Some(req.ro_compat_set.unwrap_or(0) | set);
            }
            if !mount_opts.is_empty() {
                let (mut set, mut clear) = (0u32, 0u32);
                for o in &mount_opts {
                    let (s, c) = tune::parse_mount_opts(o)?;
                    set = (set & !c) | s;
                    clear = (clear & !s) | c;
                }
                req.mount_opts = Some((set, clear));
            }
            let o = tune::tune(&device, &req, dry_run)?;
            if json {
                let mut v = serde_json::to_value(&o)?;
                v["device"] = json!(device);
                print_json(&v)?;
                for n in &o.notes {
                    eprintln!("livedfs: note: {n}");
                }
            } else {
                tune::print(&device, &o);
            }
        }
        Command::Clone { src, dst } => {
            reflink::clone_file(&src, &dst)?;
            if json {
                print_json(&json!({"source": src, "destination": dst, "cloned": true}))?;
            }
        }
        Command::Scrub {
            path,
            start,
            state,
            resume,
            rate,
            batch,
        } => {
            let r = scrub::run(
                &path,
                &scrub::Options {
                    start,
                    resume,
                    state,
                    rate_mb: rate,
                    batch,
                },
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                scrub::print(&r);
            }
            if !r.damaged.is_empty() {
                std::process::exit(1);
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
