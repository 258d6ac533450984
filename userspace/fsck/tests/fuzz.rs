//! A bounded corruption harness (fixed seed, bounded iterations and time,
//! well under a minute): populated images are mutated at random — bit
//! flips and zeroed blocks in every kind of metadata, random pointers,
//! random counts and refcounts — then fsck.livedfs -fn must neither crash
//! nor hang, -fy must repair, and a second -fn must be clean (exit 0).

mod common;

use common::*;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Blocks worth corrupting: every metadata block the populated image
/// uses, and a few data blocks.
fn targets(img: &Path) -> Vec<u32> {
    let v = Vol::open(img);
    let l = v.geo.group(0).unwrap();
    let mut t = vec![
        0u32,
        v.geo.first_data_block + 1,
        l.block_bitmap,
        l.inode_bitmap,
    ];
    let used_inodes = v.geo.inodes_per_group - v.desc.itable_unused;
    for k in 0..used_inodes.div_ceil(v.geo.inodes_per_block) {
        t.push(l.inode_table + k);
    }
    for j in 0..v.geo.fp_blocks_per_group.min(4) {
        t.push(l.fp_store + j);
    }
    // Directory, indirect and data blocks: the used part of the data
    // region after the journal.
    let mut b = l.data_start;
    let bs = v.bs();
    while b < l.end && t.len() < 400 {
        let i = v.geo.block_index_in_group(b).unwrap() as usize;
        if livedfs_format::bitmap::test(&v.bmap, i)
            && !(b >= v.sb.journal_start && b < v.sb.journal_start + v.sb.journal_blocks)
        {
            t.push(b);
        }
        b += 1;
    }
    let _ = bs;
    t
}

fn mutate(img: &Path, rng: &mut Rng, targets: &[u32], bs: u64) -> String {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(img)
        .unwrap();
    let blk = u64::from(targets[rng.below(targets.len() as u64) as usize]);
    match rng.below(10) {
        0 => {
            f.write_all_at(&vec![0u8; bs as usize], blk * bs).unwrap();
            format!("zero block {blk}")
        }
        1 | 2 => {
            // A random 32-bit value (a pointer, a count, a refcount).
            let off = blk * bs + (rng.below(bs / 4) * 4);
            let v = match rng.below(3) {
                0 => rng.next() as u32,
                1 => rng.below(20000) as u32,
                _ => rng.below(8) as u32,
            };
            f.write_all_at(&v.to_le_bytes(), off).unwrap();
            format!("u32 {v} at {off}")
        }
        _ => {
            let n = 1 + rng.below(4);
            let mut what = String::new();
            for _ in 0..n {
                // Superblock fields are at bytes 1024.. of block 0.
                let off = if blk == 0 {
                    1024 + rng.below(1024)
                } else {
                    blk * bs + rng.below(bs)
                };
                let mut b = [0u8];
                f.read_exact_at(&mut b, off).unwrap();
                b[0] ^= 1 << rng.below(8);
                f.write_all_at(&b, off).unwrap();
                what += &format!("flip {off} ");
            }
            what
        }
    }
}

#[test]
fn random_corruptions_are_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let budget = Duration::from_secs(40);
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut failures = Vec::new();
    let mut runs = 0;
    for (variant, args) in [vec![], vec!["-b", "1024", "-O", "md5,^spatial_locality"]]
        .into_iter()
        .enumerate()
    {
        let base = dir.path().join(format!("base{variant}.img"));
        populated(&base, &args);
        let bs = u64::from(Vol::open(&base).geo.block_size);
        let tg = targets(&base);
        let work = dir.path().join("work.img");
        for _ in 0..60 {
            if t0.elapsed() > budget {
                break;
            }
            std::fs::copy(&base, &work).unwrap();
            let mut what = Vec::new();
            for _ in 0..1 + rng.below(3) {
                what.push(mutate(&work, &mut rng, &tg, bs));
            }
            runs += 1;
            let n = fsck_t(&work, &["-fn"], 20);
            if ![0, 4, 8].contains(&n.code) {
                failures.push(format!("{what:?}: -fn exit {}:\n{}", n.code, n.out));
                continue;
            }
            let y = fsck_t(&work, &["-fy"], 20);
            if y.code == 8 {
                continue; // unusable (e.g. superblock gone, no backup): reported
            }
            if ![0, 1].contains(&y.code) {
                failures.push(format!("{what:?}: -fy exit {}:\n{}", y.code, y.out));
                continue;
            }
            let again = fsck_t(&work, &["-fn"], 20);
            if again.code != 0 {
                failures.push(format!(
                    "{what:?}: -fn after -fy exit {}:\n{}\n--- -fy:\n{}",
                    again.code, again.out, y.out
                ));
            }
        }
    }
    eprintln!("{runs} corrupted images in {:?}", t0.elapsed());
    assert!(runs >= 20, "too few runs");
    assert!(
        failures.is_empty(),
        "{} of {runs} failed; first:\n{}",
        failures.len(),
        failures
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n=====\n")
    );
}
