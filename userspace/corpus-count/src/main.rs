//! corpus-count: the independent, offline ideal for the evaluation.
//!
//! Reads disk images (or any files) as a file system would store them, in
//! 4 KiB blocks at 4 KiB-aligned offsets (a short last block is padded with
//! zeros, as the page cache does), and counts per image and cumulatively in
//! the order given:
//!
//! - logical blocks (the image's size in blocks),
//! - zero blocks and non-zero blocks,
//! - unique non-zero blocks (distinct SHA-256 of the content, within the
//!   image alone and over every image so far).
//!
//! The cumulative unique non-zero count is what an exact, whole-block
//! deduplicating store with free zero blocks must hold: it is the ideal
//! that livedfs's `physical_blocks_used` is compared to. Nothing here
//! shares code with livedfs: plain reads, the `sha2` crate and a HashSet.

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "corpus-count",
    about = "Count logical, non-zero and unique non-zero blocks of disk images, per image and cumulatively (the ideal deduplicated size)"
)]
struct Args {
    /// Write the counts as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Print the table of a JSON file written earlier, and nothing else.
    #[arg(long, conflicts_with = "images")]
    from_json: Option<PathBuf>,
    /// Block size in bytes.
    #[arg(long, default_value_t = 4096)]
    block_size: usize,
    /// Images in import order.
    images: Vec<PathBuf>,
}

/// Counts of one image, and of the corpus up to and including it.
#[derive(Serialize, Deserialize, Clone, Default)]
struct ImageCount {
    path: String,
    name: String,
    bytes: u64,
    /// Blocks of the image (its size, rounded up to a whole block).
    logical: u64,
    zero: u64,
    nonzero: u64,
    /// Distinct non-zero contents within this image alone.
    unique_in_image: u64,
    /// Distinct non-zero contents not present in any earlier image.
    new_unique: u64,
    cum_logical: u64,
    cum_nonzero: u64,
    /// Distinct non-zero contents over this image and every earlier one:
    /// the ideal number of data blocks stored.
    cum_unique: u64,
    seconds: f64,
}

#[derive(Serialize, Deserialize)]
struct Report {
    block_size: usize,
    images: Vec<ImageCount>,
    total_logical: u64,
    total_nonzero: u64,
    total_unique: u64,
    /// total_unique * block_size
    ideal_bytes: u64,
    /// 1 - unique / nonzero (the paper's saving, zero blocks excluded).
    saving_nonzero: f64,
    /// 1 - unique / logical (zero blocks counted, and free).
    saving_all: f64,
}

/// Reads as many bytes as the buffer holds, or up to the end of the file.
fn fill(f: &mut File, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

fn count_image(
    path: &PathBuf,
    bs: usize,
    seen: &mut HashSet<[u8; 32]>,
    prev: Option<&ImageCount>,
) -> Result<ImageCount> {
    let t0 = std::time::Instant::now();
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = vec![0u8; bs * 1024];
    let mut own: HashSet<[u8; 32]> = HashSet::new();
    let mut c = ImageCount {
        path: path.display().to_string(),
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        ..Default::default()
    };
    loop {
        let n = fill(&mut f, &mut buf)?;
        if n == 0 {
            break;
        }
        c.bytes += n as u64;
        // A short last block is padded with zeros.
        let whole = n.div_ceil(bs) * bs;
        buf[n..whole].fill(0);
        for block in buf[..whole].chunks_exact(bs) {
            c.logical += 1;
            if block.iter().all(|&b| b == 0) {
                c.zero += 1;
                continue;
            }
            c.nonzero += 1;
            let fp: [u8; 32] = Sha256::digest(block).into();
            if own.insert(fp) {
                c.unique_in_image += 1;
            }
            if seen.insert(fp) {
                c.new_unique += 1;
            }
        }
        if n < buf.len() {
            break;
        }
    }
    let p = prev.cloned().unwrap_or_default();
    c.cum_logical = p.cum_logical + c.logical;
    c.cum_nonzero = p.cum_nonzero + c.nonzero;
    c.cum_unique = p.cum_unique + c.new_unique;
    c.seconds = t0.elapsed().as_secs_f64();
    Ok(c)
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn print_header() {
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>9} | {:>10} {:>10} {:>10} {:>9} {:>9}",
        "image",
        "logical",
        "non-zero",
        "uniq(own)",
        "new uniq",
        "cum logic",
        "cum nonz",
        "cum uniq",
        "save nz%",
        "save all%"
    );
}

fn print_row(c: &ImageCount) {
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>9} | {:>10} {:>10} {:>10} {:>9.1} {:>9.1}",
        c.name,
        c.logical,
        c.nonzero,
        c.unique_in_image,
        c.new_unique,
        c.cum_logical,
        c.cum_nonzero,
        c.cum_unique,
        100.0 - pct(c.cum_unique, c.cum_nonzero),
        100.0 - pct(c.cum_unique, c.cum_logical)
    );
}

fn print_total(r: &Report) {
    let mib = |blocks: u64| blocks as f64 * r.block_size as f64 / 1048576.0;
    println!(
        "total: {} logical blocks ({:.0} MiB), {} non-zero ({:.0} MiB), {} unique non-zero: ideal {:.0} MiB ({} bytes); saving {:.1}% of non-zero blocks, {:.1}% of all blocks",
        r.total_logical,
        mib(r.total_logical),
        r.total_nonzero,
        mib(r.total_nonzero),
        r.total_unique,
        mib(r.total_unique),
        r.ideal_bytes,
        100.0 * r.saving_nonzero,
        100.0 * r.saving_all
    );
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(j) = &args.from_json {
        let r: Report = serde_json::from_reader(
            File::open(j).with_context(|| format!("opening {}", j.display()))?,
        )
        .with_context(|| format!("parsing {}", j.display()))?;
        print_header();
        r.images.iter().for_each(print_row);
        print_total(&r);
        return Ok(());
    }
    if args.images.is_empty() {
        bail!("no images given (see --help)");
    }
    if args.block_size == 0 || args.block_size % 512 != 0 {
        bail!("--block-size must be a positive multiple of 512");
    }
    let mut seen: HashSet<[u8; 32]> = HashSet::new();
    let mut images: Vec<ImageCount> = Vec::new();
    print_header();
    for p in &args.images {
        let c = count_image(p, args.block_size, &mut seen, images.last())?;
        print_row(&c);
        images.push(c);
    }
    let last = images.last().cloned().unwrap_or_default();
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            1.0 - a as f64 / b as f64
        }
    };
    let r = Report {
        block_size: args.block_size,
        total_logical: last.cum_logical,
        total_nonzero: last.cum_nonzero,
        total_unique: last.cum_unique,
        ideal_bytes: last.cum_unique * args.block_size as u64,
        saving_nonzero: ratio(last.cum_unique, last.cum_nonzero),
        saving_all: ratio(last.cum_unique, last.cum_logical),
        images,
    };
    print_total(&r);
    if let Some(j) = &args.json {
        let mut s = serde_json::to_string_pretty(&r)?;
        s.push('\n');
        std::fs::write(j, s).with_context(|| format!("writing {}", j.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(blocks: &[u8], tail: &[u8]) -> (tempdir::Dir, PathBuf) {
        let d = tempdir::Dir::new();
        let p = d.0.join("img");
        let mut f = File::create(&p).unwrap();
        for &b in blocks {
            f.write_all(&vec![b; 4096]).unwrap();
        }
        f.write_all(tail).unwrap();
        (d, p)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "corpus-count-test-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn counts_zero_unique_and_cumulative() {
        let (_a, pa) = file_with(&[0, 1, 1, 2, 0], &[]);
        let (_b, pb) = file_with(&[2, 3, 0], &[7]);
        let mut seen = HashSet::new();
        let a = count_image(&pa, 4096, &mut seen, None).unwrap();
        assert_eq!(
            (
                a.logical,
                a.zero,
                a.nonzero,
                a.unique_in_image,
                a.new_unique
            ),
            (5, 2, 3, 2, 2)
        );
        let b = count_image(&pb, 4096, &mut seen, Some(&a)).unwrap();
        // 2 seen before; 3 new; the 1-byte tail padded with zeros is new.
        assert_eq!(
            (
                b.logical,
                b.zero,
                b.nonzero,
                b.unique_in_image,
                b.new_unique
            ),
            (4, 1, 3, 3, 2)
        );
        assert_eq!((b.cum_logical, b.cum_nonzero, b.cum_unique), (9, 6, 4));
        assert_eq!(b.bytes, 3 * 4096 + 1);
    }
}
