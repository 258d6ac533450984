//! mkfs succeeds, and leaves a volume the format crate accepts in every
//! detail, from the smallest size the geometry allows to the largest
//! (16 TiB at 4 KiB blocks), for every block size, fingerprint algorithm,
//! store placement and journal setting.

mod common;

use common::*;
use std::path::Path;

const BLOCK_SIZES: [u32; 3] = [1024, 2048, 4096];

#[derive(Clone, Copy, Debug)]
struct Case {
    bs: u32,
    md5: bool,
    at_end: bool,
    journal: bool,
}

fn all_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for bs in BLOCK_SIZES {
        for md5 in [false, true] {
            for at_end in [false, true] {
                for journal in [true, false] {
                    v.push(Case {
                        bs,
                        md5,
                        at_end,
                        journal,
                    });
                }
            }
        }
    }
    v
}

fn features(c: Case) -> String {
    format!(
        "{},{},{}",
        if c.md5 { "md5" } else { "sha256" },
        if c.at_end {
            "^spatial_locality"
        } else {
            "spatial_locality"
        },
        if c.journal {
            "has_journal"
        } else {
            "^has_journal"
        }
    )
}

/// Formats `img` with case `c` and `blocks` blocks, and checks it.
fn format_and_check(img: &Path, c: Case, blocks: u64) -> Checked {
    let bs = c.bs.to_string();
    let f = features(c);
    let n = blocks.to_string();
    let o = mkfs(&["-q", "-F", "-b", &bs, "-O", &f, img.to_str().unwrap(), &n]);
    ok(&o);
    assert!(stdout(&o).is_empty(), "-q prints nothing");
    let exp = Expect {
        journal: None,
        fp_at_end: Some(c.at_end),
        fp_algo: Some(if c.md5 { 2 } else { 1 }),
        sparse_super: Some(true),
        block_size: Some(c.bs),
        reserved_pct: Some(5.0),
        errors: None,
    };
    let ch = check_image(img, &exp);
    assert!(
        ch.sb.blocks_count <= blocks,
        "{c:?}: volume within the size given"
    );
    // A default journal is made whenever the volume is big enough.
    let has_j = ch.sb.journal_blocks != 0;
    if !c.journal {
        assert!(!has_j, "{c:?}: ^has_journal");
    } else if blocks >= 1 << 16 {
        assert!(has_j, "{c:?}: journal expected at {blocks} blocks");
    }
    if has_j {
        let jg = ch.geo.group_of_block(ch.sb.journal_start).unwrap();
        let mid = ch.geo.group_count / 2;
        assert!(
            jg == mid || jg == 0,
            "{c:?}: journal in group {jg}, middle is {mid}"
        );
    }
    ch
}

/// The least number of blocks mkfs accepts, as its error message says.
fn min_blocks(c: Case) -> u64 {
    let d = tmpdir();
    let img = d.path().join("tiny");
    let o = mkfs(&[
        "-n",
        "-b",
        &c.bs.to_string(),
        "-O",
        &features(c),
        img.to_str().unwrap(),
        "10",
    ]);
    fails(&o, &["too small", "at least"]);
    let e = stderr(&o);
    let tail = e.split("at least ").nth(1).unwrap();
    tail.split_whitespace().next().unwrap().parse().unwrap()
}

/// The most blocks mkfs accepts, as its error message says (or 2^32 for
/// block sizes whose limit is the 32-bit block number).
fn max_blocks(c: Case) -> u64 {
    let d = tmpdir();
    let img = d.path().join("huge");
    let o = mkfs(&[
        "-n",
        "-b",
        &c.bs.to_string(),
        "-O",
        &features(c),
        img.to_str().unwrap(),
        "16t",
    ]);
    if o.status.success() {
        return (16u64 << 40) / u64::from(c.bs);
    }
    fails(&o, &["too large", "at most"]);
    let e = stderr(&o);
    let tail = e.split("at most ").nth(1).unwrap();
    tail.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn smallest_volume_for_every_option_combination() {
    for c in all_cases() {
        let min = min_blocks(c);
        let d = tmpdir();
        let img = d.path().join("img");
        format_and_check(&img, c, min);
        // One block less is refused with the same advice.
        let o = mkfs(&[
            "-q",
            "-F",
            "-b",
            &c.bs.to_string(),
            "-O",
            &features(c),
            img.to_str().unwrap(),
            &(min - 1).to_string(),
        ]);
        fails(&o, &["too small", &format!("at least {min} blocks")]);
    }
}

#[test]
fn medium_volumes_for_every_option_combination() {
    for c in all_cases() {
        let bpg = u64::from(c.bs) * 8;
        let d = tmpdir();
        let img = d.path().join("img");
        // A short last group, exact groups, and 1 GiB.
        for blocks in [3 * bpg + 700, 2 * bpg, (1u64 << 30) / u64::from(c.bs)] {
            let ch = format_and_check(&img, c, blocks);
            assert!(ch.geo.group_count >= 2);
            std::fs::remove_file(&img).unwrap();
        }
    }
}

#[test]
fn one_tib_stays_small_on_the_host() {
    for c in all_cases().into_iter().filter(|c| c.bs != 1024) {
        let d = tmpdir();
        let img = d.path().join("img");
        let blocks = (1u64 << 40) / u64::from(c.bs);
        let ch = format_and_check(&img, c, blocks);
        let span = u64::from(ch.geo.blocks_per_group) + u64::from(ch.geo.fp_blocks_per_group);
        assert!(
            ch.sb.blocks_count + span > blocks,
            "{c:?}: most of the device is used"
        );
        // What was written: the primary and each backup superblock +
        // descriptor table, a few bitmaps, inode-table and directory blocks,
        // the journal superblock. The journal log is a hole.
        let geo = &ch.geo;
        let bs = u64::from(geo.block_size);
        let copies = 1
            + (1..geo.group_count)
                .filter(|&g| geo.group_has_super(g))
                .count() as u64;
        let per_copy = (1 + u64::from(geo.gdt_blocks)) * bs + 8192;
        let bound = copies * per_copy + 256 * 1024;
        let got = allocated(&img);
        assert!(
            got <= bound,
            "{c:?}: {got} bytes allocated, expected at most {bound}"
        );
        // 4 KiB: 19 copies of a 129-block table, under 10 MiB; 2 KiB
        // blocks have four times the groups, so four times the tables.
        let cap: u64 = if c.bs == 4096 { 12 << 20 } else { 48 << 20 };
        assert!(got < cap, "{c:?}: {got} bytes allocated for 1 TiB");
    }
}

#[test]
fn largest_volume_for_each_block_size() {
    for bs in BLOCK_SIZES {
        for (md5, at_end, journal) in [(false, false, true), (true, true, false)] {
            let c = Case {
                bs,
                md5,
                at_end,
                journal,
            };
            let max = max_blocks(c);
            if bs == 4096 {
                assert_eq!(max, 1 << 32, "16 TiB at 4 KiB blocks");
            }
            let d = tmpdir();
            let img = d.path().join("img");
            let ch = format_and_check(&img, c, max);
            assert!(ch.sb.blocks_count <= u64::from(u32::MAX));
            if bs == 4096 {
                // 2^32 blocks: the last block number is unusable (0 means none).
                assert!(ch.sb.blocks_count > (1u64 << 32) - (1 << 16));
            }
            if max < 1 << 32 {
                let o = mkfs(&[
                    "-n",
                    "-b",
                    &bs.to_string(),
                    "-O",
                    &features(c),
                    img.to_str().unwrap(),
                    &(max + 1).to_string(),
                ]);
                fails(&o, &["too large"]);
            }
        }
    }
}

#[test]
fn sixteen_tib_in_bytes() {
    let d = tmpdir();
    let img = d.path().join("img");
    ok(&mkfs(&["-q", img.to_str().unwrap(), "16t"]));
    let ch = check_image(&img, &Expect::default());
    assert_eq!(ch.geo.group_count, 131072);
    // The file is 16 TiB, or as close as the host file system allows
    // (ext4 stops one block short), and holds the whole volume.
    let len = std::fs::metadata(&img).unwrap().len();
    assert!(len >= ch.sb.blocks_count * 4096 && len <= 16u64 << 40);
}
