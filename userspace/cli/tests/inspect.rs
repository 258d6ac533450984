//! `livedfs info` and `livedfs debug` on images made by the workspace's
//! mkfs, checked against the superblock and structures decoded by the
//! format crate; and on an image holding a hand-made file with shared
//! blocks, whose block map, refcounts and fingerprints are known.

mod common;

use common::*;
use livedfs_format::csum::volume_seed;
use livedfs_format::fpstore;
use livedfs_format::group::{bitmap_checksum, GroupDesc, BG_FP_UNINIT};
use livedfs_format::inode::{Inode, S_IFREG};
use livedfs_format::superblock::{SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE};
use livedfs_format::{bitmap, Crc32c, Geometry, Superblock, DESC_SIZE, INODE_SIZE};
use serde_json::{json, Value};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

struct Crc;
impl Crc32c for Crc {
    fn crc32c(&self, crc: u32, data: &[u8]) -> u32 {
        !crc32c::crc32c_append(!crc, data)
    }
}

fn superblock(img: &Path) -> Superblock {
    let f = File::open(img).unwrap();
    let mut b = vec![0u8; SUPERBLOCK_SIZE];
    f.read_exact_at(&mut b, SUPERBLOCK_OFFSET).unwrap();
    Superblock::decode(&b, &Crc).unwrap()
}

#[test]
fn info_shows_every_superblock_field() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    mkfs(&img, "300m", &["-L", "images"]);
    let sb = superblock(&img);
    let geo = Geometry::from_superblock(&sb).unwrap();
    let j = json(&["info", img.to_str().unwrap()]);
    let s = &j["superblock"];
    assert_eq!(s["label"], "images");
    assert_eq!(s["uuid"], UUID);
    assert_eq!(s["version"], "1.0");
    assert_eq!(s["checksum_ok"], true);
    assert_eq!(s["state"]["words"], "clean");
    assert_eq!(s["errors"]["words"], "Remount read-only");
    assert_eq!(
        s["features"],
        json!([
            "has_journal",
            "sparse_super",
            "uninit_bg",
            "xattr",
            "huge_file",
            "spatial_locality",
            "sha256"
        ])
    );
    // Every numeric field of the superblock, by its format.md name.
    let fields: [(&str, u64); 27] = [
        ("blocks_count", sb.blocks_count),
        ("free_blocks", sb.free_blocks),
        ("inodes_count", u64::from(sb.inodes_count)),
        ("free_inodes", u64::from(sb.free_inodes)),
        ("first_data_block", u64::from(sb.first_data_block)),
        ("log_block_size", u64::from(sb.log_block_size)),
        ("blocks_per_group", u64::from(sb.blocks_per_group)),
        ("inodes_per_group", u64::from(sb.inodes_per_group)),
        ("group_count", u64::from(sb.group_count)),
        ("inode_size", u64::from(sb.inode_size)),
        ("desc_size", u64::from(sb.desc_size)),
        ("first_ino", u64::from(sb.first_ino)),
        ("feature_compat", u64::from(sb.feature_compat)),
        ("feature_incompat", u64::from(sb.feature_incompat)),
        ("feature_ro_compat", u64::from(sb.feature_ro_compat)),
        ("mount_count", u64::from(sb.mount_count)),
        ("max_mount_count", u64::from(sb.max_mount_count)),
        ("mkfs_time", sb.mkfs_time as u64),
        ("mount_time", sb.mount_time as u64),
        ("write_time", sb.write_time as u64),
        ("lastcheck_time", sb.lastcheck_time as u64),
        ("gdt_blocks", u64::from(sb.gdt_blocks)),
        ("r_blocks_count", u64::from(sb.r_blocks_count)),
        ("orphan_head", u64::from(sb.orphan_head)),
        ("def_resuid", u64::from(sb.def_resuid)),
        ("def_resgid", u64::from(sb.def_resgid)),
        ("checkinterval", u64::from(sb.checkinterval)),
    ];
    for (k, v) in fields {
        assert_eq!(s[k], json!(v), "superblock.{k}");
    }
    assert_eq!(s["kbytes_written"], json!(sb.kbytes_written));
    assert_eq!(s["default_mount_opts"], json!(sb.default_mount_opts));
    assert_eq!(s["mkfs_time"], json!(1_700_000_000));
    assert_eq!(s["block_size"], 4096);
    assert_eq!(s["max_file_size"], json!(geo.max_file_size()));
    let f = &j["fingerprints"];
    assert_eq!(f["algorithm"]["name"], "sha256");
    assert_eq!(f["fp_size"], 32);
    assert_eq!(f["fp_entry_size"], 36);
    assert_eq!(f["fp_entries_per_block"], 113);
    assert_eq!(f["fp_blocks_per_group"], 290);
    assert_eq!(f["layout"], "group");
    assert_eq!(f["fp_entries_used"], 0);
    // 76800 blocks: b = 17, n = 8, k = 24.
    assert_eq!(f["filter_index_bits"], 8);
    assert_eq!(f["filter_bucket_bits"], 24);
    // 3 groups of 97 slots (3 store blocks, 339 entries, each).
    assert_eq!(f["filter_slots"], 291);
    assert_eq!(f["filter_false_candidate_log2"], -15);
    let jn = &j["journal"];
    assert_eq!(jn["start"], json!(sb.journal_start));
    assert_eq!(jn["blocks"], json!(sb.journal_blocks));
    assert_eq!(jn["sb_version"], 4);
    assert_eq!(jn["log_start"], 0);
    assert_eq!(jn["sequence"], 1);
    assert_eq!(jn["first"], json!(sb.journal_start + 1));
    assert_eq!(jn["maxlen"], json!(sb.journal_start + sb.journal_blocks));
    assert_eq!(jn["needs_recovery"], false);

    // The text form names the same things in words (spaces collapsed).
    let t = squeeze(&ok(&["info", img.to_str().unwrap()]));
    for want in [
        "Filesystem volume name: images",
        &format!("Filesystem UUID: {UUID}"),
        "Filesystem features: has_journal sparse_super uninit_bg xattr huge_file spatial_locality sha256",
        "Filesystem state: clean",
        "Errors behavior: Remount read-only",
        "Filesystem created: 2023-11-14 22:13:20 UTC",
        "Fingerprint algorithm: sha256 (32-byte fingerprints)",
        "Store placement: in each group, before its data region (spatial locality)",
        "Journal log start: 0 (clean: nothing to replay)",
    ] {
        assert!(t.contains(want), "missing {want:?} in:\n{t}");
    }
}

fn squeeze(s: &str) -> String {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn info_of_the_paper_variants() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    mkfs(&img, "300m", &["-O", "md5,^spatial_locality,^has_journal"]);
    let sb = superblock(&img);
    let j = json(&["info", img.to_str().unwrap()]);
    assert_eq!(
        j["superblock"]["features"],
        json!([
            "sparse_super",
            "uninit_bg",
            "xattr",
            "huge_file",
            "^spatial_locality",
            "md5"
        ])
    );
    assert_eq!(j["fingerprints"]["algorithm"]["name"], "md5");
    assert_eq!(j["fingerprints"]["fp_entry_size"], 20);
    assert_eq!(j["fingerprints"]["layout"], "end");
    assert_eq!(
        j["fingerprints"]["fp_region_start"],
        json!(sb.fp_region_start)
    );
    assert!(sb.fp_region_start > 0);
    assert_eq!(j["journal"]["present"], false);
    let t = ok(&["info", img.to_str().unwrap()]);
    assert!(t.contains("none (nojournal volume)"), "{t}");
    assert!(
        t.contains("at the end of the device (no spatial locality)"),
        "{t}"
    );
}

#[test]
fn info_refuses_what_is_not_livedfs() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("zero");
    std::fs::write(&img, vec![0u8; 1 << 20]).unwrap();
    let o = livedfs(&["info", img.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("is not a livedfs volume"), "{e}");
    let o = livedfs(&["info", "/nonexistent/dev"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot open /nonexistent/dev"));
}

#[test]
fn a_report_piped_into_a_closed_reader_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    mkfs(&img, "300m", &[]);
    // `livedfs info IMG | true`: the reader is gone before the report is
    // written (the read end closes as soon as the child runs).
    let mut child = Command::new(livedfs_bin())
        .args(["info", img.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        o.status.success() || o.status.signal() == Some(libc::SIGPIPE),
        "{:?}: {err}",
        o.status
    );
}

#[test]
fn info_reports_a_bad_superblock_checksum() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    mkfs(&img, "64m", &[]);
    // Flip a byte of the reserved area: fields decode, the checksum fails.
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    f.write_all_at(&[0xff], SUPERBLOCK_OFFSET + 500).unwrap();
    let j = json(&["info", img.to_str().unwrap()]);
    assert_eq!(j["superblock"]["checksum_ok"], false);
}

#[test]
fn debug_inode_of_the_root_and_lost_found() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    mkfs(&img, "64m", &[]);
    let sb = superblock(&img);
    let geo = Geometry::from_superblock(&sb).unwrap();
    let l = geo.group(0).unwrap();
    let p = img.to_str().unwrap();
    let j = json(&["debug", "inode", p, "2"]);
    let i = &j["inode"];
    assert_eq!(i["type"], "directory");
    assert_eq!(i["mode"], 0o040755);
    assert_eq!(i["links"], 3);
    assert_eq!(i["size"], 4096);
    assert_eq!(i["checksum_ok"], true);
    assert_eq!(i["in_use"], true);
    assert_eq!(i["mapped_blocks"], 1);
    assert_eq!(
        j["block_map"],
        json!([{"file_block": 0, "disk_block": l.data_start, "refcount": 0, "fingerprint": ""}])
    );
    let j = json(&["debug", "inode", p, "11"]);
    assert_eq!(j["inode"]["mode"], 0o040700);
    assert_eq!(j["inode"]["mapped_blocks"], 4);
    let map = j["block_map"].as_array().unwrap();
    for (n, r) in map.iter().enumerate() {
        assert_eq!(r["file_block"], n);
        assert_eq!(r["disk_block"], l.data_start + 1 + n as u32);
    }
    // A free inode is shown as such; a number past the end is an error.
    let j = json(&["debug", "inode", p, "12"]);
    assert_eq!(j["inode"]["in_use"], false);
    let o = livedfs(&["debug", "inode", p, &(geo.inodes_count + 1).to_string()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
    let t = ok(&["debug", "inode", p, "2"]);
    assert!(t.contains("Type:"), "{t}");
    assert!(t.contains("metadata: directory or symlink block"), "{t}");
}

#[test]
fn debug_group_of_a_fresh_volume() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    mkfs(&img, "300m", &[]);
    let sb = superblock(&img);
    let geo = Geometry::from_superblock(&sb).unwrap();
    let p = img.to_str().unwrap();
    let j = json(&["debug", "group", p, "0"]);
    assert_eq!(j["descriptor"]["checksum_ok"], true);
    assert_eq!(j["descriptor"]["valid"], true);
    assert_eq!(j["descriptor"]["flags"]["words"], "FP_UNINIT");
    assert_eq!(j["bitmaps"]["inode_bitmap"]["used"], 11);
    assert_eq!(j["bitmaps"]["inode_bitmap"]["checksum_ok"], true);
    assert_eq!(j["bitmaps"]["block_bitmap"]["checksum_ok"], true);
    assert_eq!(j["bitmaps"]["block_bitmap"]["matches_descriptor"], true);
    assert_eq!(j["store"]["state"], "uninit");
    assert_eq!(j["store"]["entries_in_use"], 0);
    assert_eq!(j["entries"], json!([]));
    // Group 2 was never touched: everything implied.
    let j = json(&["debug", "group", p, "2"]);
    let l = geo.group(2).unwrap();
    assert_eq!(
        j["descriptor"]["flags"]["words"],
        "INODE_UNINIT BLOCK_UNINIT FP_UNINIT"
    );
    assert_eq!(j["bitmaps"]["block_bitmap"]["implied"], true);
    assert_eq!(j["bitmaps"]["block_bitmap"]["free"], l.fresh_free_blocks());
    assert_eq!(j["layout"]["data_start"], l.data_start);
    let o = livedfs(&["debug", "group", p, &geo.group_count.to_string()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
}

/// Writes inode 12, a regular file whose blocks 0 and 1 are the same
/// disk block D1, block 5 is D2 and block 12 (through a single-indirect
/// block) is D3, with store entries D1 refcount 2, D2 refcount 1, D3
/// refcount 3. Returns (D1, D2, D3, IND, fingerprints).
fn hand_made_file(img: &Path) -> (u32, u32, u32, u32, [Vec<u8>; 3]) {
    let sb = superblock(img);
    let geo = Geometry::from_superblock(&sb).unwrap();
    let seed = volume_seed(&Crc, &sb.uuid);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(img)
        .unwrap();
    let bs = geo.block_size as usize;
    let rd = |b: u32| {
        let mut v = vec![0u8; bs];
        f.read_exact_at(&mut v, geo.block_offset(b)).unwrap();
        v
    };
    let wr = |b: u32, v: &[u8]| f.write_all_at(v, geo.block_offset(b)).unwrap();
    let l = geo.group(0).unwrap();
    let (d1, d2, d3, ind) = (l.end - 10, l.end - 9, l.end - 8, l.end - 7);
    let fps = [vec![0x11u8; 32], vec![0x22u8; 32], vec![0x33u8; 32]];

    // The indirect block: entry 0 is file block 12.
    let mut ib = vec![0u8; bs];
    ib[0..4].copy_from_slice(&d3.to_le_bytes());
    wr(ind, &ib);

    // The inode.
    let mut node = Inode {
        mode: S_IFREG | 0o644,
        links_count: 1,
        size: 13 * 4096,
        blocks: 5,
        generation: 7,
        ..Inode::default()
    };
    node.block[0] = d1;
    node.block[1] = d1;
    node.block[5] = d2;
    node.block[12] = ind;
    let (blk, off) = geo.inode_location(12).unwrap();
    let mut b = rd(blk);
    node.encode(&mut b[off..off + INODE_SIZE as usize], 12, seed, &Crc)
        .unwrap();
    wr(blk, &b);

    // The inode bitmap and the descriptor.
    let mut ibm = rd(l.inode_bitmap);
    bitmap::set(&mut ibm, 11);
    wr(l.inode_bitmap, &ibm);
    let (dblk, doff) = geo.desc_location(0).unwrap();
    let mut db = rd(dblk);
    let raw = &mut db[doff..doff + DESC_SIZE as usize];
    let mut desc = GroupDesc::decode(raw, 0, seed, &Crc).unwrap();
    desc.itable_unused -= 1;
    desc.free_inodes -= 1;
    desc.flags &= !BG_FP_UNINIT;
    desc.fp_used = 3;
    desc.inode_bitmap_csum =
        bitmap_checksum(&ibm[..geo.inodes_per_group as usize / 8], 0, seed, &Crc);
    desc.encode(raw, 0, seed, &Crc).unwrap();
    wr(dblk, &db);

    // The store: every block formatted, three entries in use.
    for j in 0..geo.fp_blocks_per_group {
        let mut sbk = vec![0u8; bs];
        fpstore::init_block(&mut sbk, 0, j, seed, &Crc).unwrap();
        wr(l.fp_store + j, &sbk);
    }
    for (b, rc, fp) in [(d1, 2, &fps[0]), (d2, 1, &fps[1]), (d3, 3, &fps[2])] {
        let (sblk, soff) = geo.fp_entry_location(b).unwrap();
        let mut sbk = rd(sblk);
        fpstore::write_entry(&mut sbk, soff, fp, rc).unwrap();
        fpstore::set_checksum(&mut sbk, 0, sblk - l.fp_store, seed, &Crc).unwrap();
        wr(sblk, &sbk);
    }
    (d1, d2, d3, ind, fps)
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn debug_inode_shows_shared_blocks_with_refcounts_and_fingerprints() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    mkfs(&img, "64m", &[]);
    let (d1, d2, d3, ind, fps) = hand_made_file(&img);
    let p = img.to_str().unwrap();
    let j = json(&["debug", "inode", p, "12"]);
    assert_eq!(j["inode"]["checksum_ok"], true);
    assert_eq!(j["inode"]["in_use"], true);
    assert_eq!(j["inode"]["type"], "regular file");
    assert_eq!(j["inode"]["generation"], 7);
    assert_eq!(
        j["block_map"],
        json!([
            {"file_block": 0, "disk_block": d1, "refcount": 2, "fingerprint": hexs(&fps[0])},
            {"file_block": 1, "disk_block": d1, "refcount": 2, "fingerprint": hexs(&fps[0])},
            {"file_block": 5, "disk_block": d2, "refcount": 1, "fingerprint": hexs(&fps[1])},
            {"file_block": 12, "disk_block": d3, "refcount": 3, "fingerprint": hexs(&fps[2])},
        ])
    );
    assert_eq!(j["indirect_blocks"], json!([{"level": 1, "block": ind}]));
    assert_eq!(j["inode"]["mapped_blocks"], 4);
    assert_eq!(j["inode"]["shared_blocks"], 3);
    assert_eq!(j["inode"]["unique_blocks"], 1);
    let t = ok(&["debug", "inode", p, "12"]);
    assert!(
        t.contains(&format!(
            "{:>12}  {:>10}  {:>8}  {}",
            12,
            d3,
            3,
            hexs(&fps[2])
        )),
        "{t}"
    );
    assert!(
        t.contains(&format!("Indirect blocks: {ind} (single)")),
        "{t}"
    );

    // The group shows the same entries, in block order.
    let j = json(&["debug", "group", p, "0"]);
    assert_eq!(
        j["entries"],
        json!([
            {"block": d1, "refcount": 2, "fingerprint": hexs(&fps[0])},
            {"block": d2, "refcount": 1, "fingerprint": hexs(&fps[1])},
            {"block": d3, "refcount": 3, "fingerprint": hexs(&fps[2])},
        ])
    );
    assert_eq!(j["store"]["state"], "written");
    assert_eq!(j["store"]["entries_in_use"], 3);
    assert_eq!(j["store"]["references"], 6);
    assert_eq!(j["store"]["shared_blocks"], 2);
    assert_eq!(j["store"]["bad_blocks"], json!([]));
    assert_eq!(j["bitmaps"]["inode_bitmap"]["used"], 12);
    assert_eq!(j["bitmaps"]["inode_bitmap"]["checksum_ok"], true);
    assert_eq!(j["descriptor"]["checksum_ok"], true);
    assert_eq!(j["fingerprints"], Value::Null);
    // info counts the entries in use.
    let j = json(&["info", p]);
    assert_eq!(j["fingerprints"]["fp_entries_used"], 3);
    assert_eq!(j["fingerprints"]["groups_with_data"], 1);
}

#[test]
fn debug_group_reports_a_corrupted_store_block() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    mkfs(&img, "64m", &[]);
    let (d1, ..) = hand_made_file(&img);
    let sb = superblock(&img);
    let geo = Geometry::from_superblock(&sb).unwrap();
    let (sblk, soff) = geo.fp_entry_location(d1).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    f.write_all_at(&[0x99], geo.block_offset(sblk) + soff as u64)
        .unwrap();
    let j = json(&["debug", "group", img.to_str().unwrap(), "0"]);
    let bad = j["store"]["bad_blocks"].as_array().unwrap();
    assert_eq!(bad.len(), 1, "{j}");
    assert_eq!(bad[0]["block"], sblk);
}
