//! `livedfs stats MOUNTPOINT`: the deduplication counters the kernel
//! module publishes in /sys/fs/livedfs/<device>/ and the space saved.

use crate::util::{dev_major, dev_minor, human};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The counters of one mount, as the kernel publishes them.
#[derive(Debug, Serialize)]
pub struct Stats {
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
pub fn device_name(path: &Path) -> Result<String> {
    let md = std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    let dev = md.dev();
    let (major, minor) = (dev_major(dev), dev_minor(dev));
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

pub fn read_stats(device: &str, dir: &Path) -> Result<Stats> {
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

pub fn print_stats(s: &Stats) {
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
    if s.counters.get("filter_loaded") == Some(&1) {
        println!(
            "  filter loaded at mount    {:>12}  (the copy saved at the last clean unmount)",
            format!(
                "{:.1} ms",
                s.counters.get("filter_build_ns").copied().unwrap_or(0) as f64 / 1e6
            )
        );
    }
    if s.counters.get("filter_ready") == Some(&0) {
        println!(
            "  filter being built         group {} of {} ({} blocks written meanwhile, not deduplicated)",
            s.counters.get("filter_build_groups_done").copied().unwrap_or(0),
            s.counters.get("group_count").copied().unwrap_or(0),
            s.counters.get("writes_during_filter_build").copied().unwrap_or(0)
        );
    }
    let cap = s.counters.get("filter_max_bytes").copied().unwrap_or(0);
    if cap > 0 {
        println!(
            "  filter memory cap         {:>12}  ({} stored blocks not recorded: not offered for sharing)",
            human(cap),
            s.counters.get("filter_dropped").copied().unwrap_or(0)
        );
    }
    let repeats = s.counters.get("filter_repeats").copied().unwrap_or(0);
    if repeats > 0 {
        println!("  copies not in the filter  {repeats:>12}  (stored without dedup; 8 copies of their data are recorded)");
    }
    println!("  counters:");
    for (k, v) in &s.counters {
        println!("    {k:<28} {v}");
    }
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
}
