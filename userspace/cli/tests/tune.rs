//! `livedfs tune` on images made by the workspace's mkfs: each field lands
//! in the primary and every backup superblock, fsck.livedfs finds the
//! volume as clean (or as inconsistent) as before, and a UUID change
//! rewrites every checksummed structure, checked with the format crate's
//! decoders under the new UUID, changing nothing but checksum fields and
//! UUIDs. An interrupted UUID change is finished by running it again.
//! Refusals: a journal needing recovery, a structure failing its checksum
//! (nothing written), an empty request, bad values.

mod common;

use common::*;
use livedfs_format::csum::volume_seed;
use livedfs_format::dirent;
use livedfs_format::fpstore;
use livedfs_format::group::{bitmap_checksum, GroupDesc, BG_FP_UNINIT, BG_INODE_UNINIT};
use livedfs_format::inode::Inode;
use livedfs_format::jbd2;
use livedfs_format::superblock::*;
use livedfs_format::{bitmap, Crc32c, Geometry, Superblock, DESC_SIZE, INODE_SIZE, ROOT_INO};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Crc;
impl Crc32c for Crc {
    fn crc32c(&self, crc: u32, data: &[u8]) -> u32 {
        !crc32c::crc32c_append(!crc, data)
    }
}

fn read_at(p: &Path, off: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    File::open(p).unwrap().read_exact_at(&mut b, off).unwrap();
    b
}

fn write_at(p: &Path, off: u64, b: &[u8]) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .unwrap()
        .write_all_at(b, off)
        .unwrap();
}

fn superblock(p: &Path) -> Superblock {
    Superblock::decode(&read_at(p, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE), &Crc).unwrap()
}

/// The superblock copies of the backup groups.
fn backups(p: &Path) -> Vec<Superblock> {
    let sb = superblock(p);
    let geo = Geometry::from_superblock(&sb).unwrap();
    (1..geo.group_count)
        .filter_map(|g| geo.group(g).unwrap().super_block)
        .map(|b| {
            Superblock::decode(&read_at(p, geo.block_offset(b), SUPERBLOCK_SIZE), &Crc).unwrap()
        })
        .collect()
}

fn tune(img: &Path, args: &[&str]) -> Value {
    let mut a = vec!["--json", "tune"];
    a.extend_from_slice(args);
    a.push(img.to_str().unwrap());
    let o = livedfs(&a);
    assert!(
        o.status.success(),
        "livedfs {a:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn tune_err(img: &Path, args: &[&str]) -> String {
    let mut a = vec!["tune"];
    a.extend_from_slice(args);
    a.push(img.to_str().unwrap());
    let o = livedfs(&a);
    assert_eq!(o.status.code(), Some(1), "{a:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// fsck.livedfs `opt`: (exit status, output).
fn fsck(img: &Path, opt: &str) -> (i32, String) {
    let o = Command::new(fsck_bin())
        .arg(opt)
        .arg(img)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.code().unwrap_or(-1), s)
}

fn craft(img: &Path, args: &[&str]) {
    let mut a = vec!["debug", "craft", img.to_str().unwrap()];
    a.extend_from_slice(args);
    ok(&a);
}

/// Every checksummed structure of the image verifies under its
/// superblock's UUID; returns how many of each were checked
/// (descriptors, inodes in use, directory blocks, store blocks).
fn verify_everything(p: &Path) -> (u32, u32, u32, u32) {
    let sb = superblock(p);
    let geo = Geometry::from_superblock(&sb).unwrap();
    let seed = volume_seed(&Crc, &sb.uuid);
    let bs = geo.block_size as usize;
    let blk = |b: u32| read_at(p, geo.block_offset(b), bs);
    let (mut nd, mut ni, mut ndir, mut ns) = (0, 0, 0, 0);
    for g in 0..geo.group_count {
        let (b, off) = geo.desc_location(g).unwrap();
        let d = GroupDesc::decode(&blk(b)[off..off + DESC_SIZE as usize], g, seed, &Crc)
            .unwrap_or_else(|e| panic!("descriptor {g}: {e}"));
        nd += 1;
        let l = geo.group(g).unwrap();
        // Backup descriptor tables decode too.
        if let Some(gs) = l.gdt_start.filter(|_| g > 0) {
            for h in 0..geo.group_count {
                let at = h as usize * DESC_SIZE as usize;
                let tb = blk(gs + (at / bs) as u32);
                GroupDesc::decode(&tb[at % bs..at % bs + DESC_SIZE as usize], h, seed, &Crc)
                    .unwrap_or_else(|e| panic!("backup table in group {g}, descriptor {h}: {e}"));
            }
        }
        if d.flags & BG_INODE_UNINIT == 0 {
            let m = blk(l.inode_bitmap);
            let n = geo.inodes_per_group as usize / 8;
            assert_eq!(bitmap_checksum(&m[..n], g, seed, &Crc), d.inode_bitmap_csum);
            let used = geo.inodes_per_group - d.itable_unused;
            for idx in 0..used {
                let ino = g * geo.inodes_per_group + idx + 1;
                if !bitmap::test(&m, idx as usize) || (ino < 11 && ino != ROOT_INO) {
                    continue;
                }
                let (b, off) = geo.inode_location(ino).unwrap();
                let i = Inode::decode(&blk(b)[off..off + INODE_SIZE as usize], ino, seed, &Crc)
                    .unwrap_or_else(|e| panic!("inode {ino}: {e}"));
                ni += 1;
                if i.is_dir() {
                    for (k, &db) in i.block.iter().take(12).enumerate() {
                        if db != 0 {
                            dirent::verify_block(&blk(db), ino, i.generation, seed, &Crc)
                                .unwrap_or_else(|e| panic!("dir {ino} block {k}: {e}"));
                            ndir += 1;
                        }
                    }
                }
            }
        }
        if d.flags & BG_FP_UNINIT == 0 {
            for j in 0..geo.fp_blocks_per_group {
                fpstore::verify_block(&geo, &blk(l.fp_store + j), g, j, seed, &Crc)
                    .unwrap_or_else(|e| panic!("group {g} store block {j}: {e}"));
                ns += 1;
            }
        }
    }
    if sb.has_compat(COMPAT_HAS_JOURNAL) {
        let jb = blk(sb.journal_start);
        assert_eq!(&jb[jbd2::off::UUID..jbd2::off::UUID + 16], &sb.uuid);
        assert_eq!(&jb[jbd2::off::USERS..jbd2::off::USERS + 16], &sb.uuid);
        if jbd2::superblock_has_csum(&jb).unwrap() {
            assert_eq!(
                u32::from_be_bytes(jb[0xFC..0x100].try_into().unwrap()),
                jbd2::superblock_checksum(&jb, &Crc).unwrap()
            );
        }
    }
    (nd, ni, ndir, ns)
}

/// The blocks where two images differ.
fn changed_blocks(a: &Path, b: &Path, bs: usize) -> BTreeSet<u32> {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    x.chunks(bs)
        .zip(y.chunks(bs))
        .enumerate()
        .filter(|(_, (p, q))| p != q)
        .map(|(i, _)| i as u32)
        .collect()
}

/// A volume with content: many groups (1 KiB blocks), an orphan list of
/// 40 inodes, a formatted fingerprint store with one entry (a deliberate
/// inconsistency fsck reports the same way before and after), and the
/// journal superblock with checksums v3 as the kernel leaves it.
fn busy_image(d: &tempfile::TempDir) -> PathBuf {
    let img = d.path().join("img");
    mkfs(&img, "64m", &["-b", "1024", "-N", "4096", "-L", "busy"]);
    craft(&img, &["orphan-long", "--count", "40"]);
    craft(&img, &["store-entry-on-free"]);
    // The journal as a mounted kernel leaves it: CSUM_V3, crc32c.
    let sb = superblock(&img);
    let geo = Geometry::from_superblock(&sb).unwrap();
    let off = geo.block_offset(sb.journal_start);
    let mut jb = read_at(&img, off, 1024);
    jb[jbd2::off::FEATURE_INCOMPAT..jbd2::off::FEATURE_INCOMPAT + 4]
        .copy_from_slice(&(0x2u32 | jbd2::FEATURE_INCOMPAT_CSUM_V3).to_be_bytes());
    jb[jbd2::off::CHECKSUM_TYPE] = jbd2::CSUM_TYPE_CRC32C;
    let c = jbd2::superblock_checksum(&jb, &Crc).unwrap();
    jb[0xFC..0x100].copy_from_slice(&c.to_be_bytes());
    write_at(&img, off, &jb);
    img
}

#[test]
fn label_errors_options_and_schedule_reach_every_superblock() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    mkfs(&img, "300m", &["-L", "old"]);
    let v = tune(
        &img,
        &[
            "-L",
            "images",
            "-e",
            "continue",
            "-o",
            "noprefetch,nodedup",
            "-c",
            "25",
            "-C",
            "3",
            "-i",
            "2w",
        ],
    );
    assert_eq!(v["dry_run"], false);
    let fields: Vec<&str> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "label",
            "errors",
            "default_mount_opts",
            "max_mount_count",
            "mount_count",
            "checkinterval"
        ]
    );
    // The module applies default mount options, so tune has nothing to
    // warn about.
    assert_eq!(v["notes"].as_array().map(Vec::len), Some(0));
    let sb = superblock(&img);
    assert_eq!(sb.label_str(), "images");
    assert_eq!(sb.errors, ERRORS_CONTINUE);
    assert_eq!(sb.default_mount_opts, DEFM_NOPREFETCH | DEFM_NODEDUP);
    assert_eq!(
        (sb.max_mount_count, sb.mount_count, sb.checkinterval),
        (25, 3, 14 * 86400)
    );
    assert_eq!(sb.uuid, superblock(&img).uuid);
    let b = backups(&img);
    assert_eq!(b.len(), 1); // 3 groups: group 1 holds the one backup
    for x in &b {
        assert_eq!(x, &sb, "a backup superblock differs from the primary");
    }
    assert_eq!(fsck(&img, "-fn").0, 0);
    // Clear one option, the label; a no-op change writes nothing.
    tune(&img, &["-o", "^nodedup", "-L", ""]);
    let sb = superblock(&img);
    assert_eq!(sb.default_mount_opts, DEFM_NOPREFETCH);
    assert_eq!(sb.label_str(), "");
    let before = std::fs::read(&img).unwrap();
    let v = tune(&img, &["-e", "continue"]);
    assert_eq!(v["changes"], Value::Array(vec![]));
    assert!(std::fs::read(&img).unwrap() == before, "a no-op wrote");
    // livedfs info shows them, for people and for scripts.
    let i = json(&["info", img.to_str().unwrap()]);
    assert_eq!(i["superblock"]["errors"]["words"], "Continue");
    assert_eq!(i["superblock"]["max_mount_count"], 25);
    let t = ok(&["info", img.to_str().unwrap()]);
    assert!(
        t.contains("Default mount options:          noprefetch"),
        "{t}"
    );
    // -n: nothing written.
    let v = tune(&img, &["-n", "-L", "other", "-U", "random"]);
    assert_eq!(v["dry_run"], true);
    assert!(std::fs::read(&img).unwrap() == before, "-n wrote");
}

#[test]
fn uuid_change_rewrites_every_checksum_and_nothing_else() {
    let d = tempfile::tempdir().unwrap();
    let img = busy_image(&d);
    let before = d.path().join("before");
    std::fs::copy(&img, &before).unwrap();
    let (rc0, out0) = fsck(&img, "-fn");
    assert_eq!(rc0, 4, "the crafted store entry is reported:\n{out0}");
    let counts = verify_everything(&img);
    let new = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
    let v = tune(&img, &["-U", new]);
    let r = &v["resealed"];
    assert_eq!(r["journal_superblock"], true);
    assert!(r["inodes"].as_u64().unwrap() >= 42, "{r}");
    assert!(r["store_blocks"].as_u64().unwrap() > 0, "{r}");
    assert!(r["directory_blocks"].as_u64().unwrap() >= 2, "{r}");
    assert_eq!(r["already_new"], 0);
    let sb = superblock(&img);
    assert_eq!(
        ok(&["info", "-s", "UUID", img.to_str().unwrap()]).trim(),
        new
    );
    // Everything verifies under the new UUID, as much of it as before.
    assert_eq!(verify_everything(&img), counts);
    for x in backups(&img) {
        assert_eq!(x.uuid, sb.uuid);
    }
    // fsck sees exactly what it saw before (the crafted entry), no
    // checksum problem.
    let (rc, out) = fsck(&img, "-fn");
    assert_eq!(rc, rc0, "{out}");
    let strip = |s: &str| -> String {
        s.lines()
            .filter(|l| !l.contains("UUID") && !l.contains("uuid"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&out), strip(&out0));
    // Only checksum fields and UUIDs changed: decode every changed block
    // with the old and the new seed, field by field.
    let geo = Geometry::from_superblock(&sb).unwrap();
    let bs = geo.block_size as usize;
    let old_sb = superblock(&before);
    let changed = changed_blocks(&before, &img, bs);
    for b in changed {
        let a = read_at(&before, geo.block_offset(b), bs);
        let n = read_at(&img, geo.block_offset(b), bs);
        let diff: Vec<usize> = (0..bs).filter(|&i| a[i] != n[i]).collect();
        let g = b.saturating_sub(geo.first_data_block) / geo.blocks_per_group;
        let l = geo.group(g.min(geo.group_count - 1)).unwrap();
        let ok_offsets = |pred: &dyn Fn(usize) -> bool| diff.iter().all(|&i| pred(i));
        let what = if b == geo.first_data_block {
            // The primary superblock: uuid, write_time, checksum.
            let base = if bs == 4096 { 1024 } else { 0 };
            ok_offsets(&|i| {
                let i = i - base.min(i);
                (120..136).contains(&i) || (104..112).contains(&i) || i >= 1020
            })
        } else if Some(b) == l.super_block {
            // A backup: now the primary, as tune2fs writes them.
            n[..SUPERBLOCK_SIZE] == read_at(&img, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE)[..]
        } else if g > 0
            && l.gdt_start
                .is_some_and(|s| b >= s && b < s + geo.gdt_blocks)
        {
            // A backup table: now the primary's.
            let k = b - l.gdt_start.unwrap();
            n == read_at(&img, geo.block_offset(geo.first_data_block + 1 + k), bs)
        } else if l
            .gdt_start
            .is_some_and(|s| b >= s && b < s + geo.gdt_blocks)
        {
            // Descriptors: bitmap checksums and the checksum.
            ok_offsets(&|i| (36..44).contains(&(i % 64)) || i % 64 >= 60)
        } else if b >= l.inode_table && b < l.inode_table + geo.itable_blocks {
            ok_offsets(&|i| i % 256 >= 252)
        } else if b == old_sb.journal_start {
            ok_offsets(&|i| {
                (0x30..0x40).contains(&i)
                    || (0xFC..0x100).contains(&i)
                    || (0x100..0x110).contains(&i)
            })
        } else {
            // Directory and store blocks: the last four bytes.
            ok_offsets(&|i| i >= bs - 4)
        };
        assert!(what, "block {b}: bytes {diff:?} changed");
    }
}

#[test]
fn an_interrupted_uuid_change_is_finished_by_running_it_again() {
    let d = tempfile::tempdir().unwrap();
    let img = busy_image(&d);
    let full = d.path().join("full");
    std::fs::copy(&img, &full).unwrap();
    let new = "0a0a0a0a-2fa1-41d2-883f-0016d3cca427";
    tune(&full, &["-U", new]);
    // Half the changed blocks made it to the disk, the superblocks not.
    let geo = Geometry::from_superblock(&superblock(&img)).unwrap();
    let bs = geo.block_size as usize;
    let sbs: BTreeSet<u32> = std::iter::once(geo.first_data_block)
        .chain((1..geo.group_count).filter_map(|g| geo.group(g).unwrap().super_block))
        .collect();
    let changed: Vec<u32> = changed_blocks(&img, &full, bs)
        .into_iter()
        .filter(|b| !sbs.contains(b))
        .collect();
    assert!(changed.len() > 10);
    for b in changed.iter().step_by(2) {
        write_at(
            &img,
            geo.block_offset(*b),
            &read_at(&full, geo.block_offset(*b), bs),
        );
    }
    assert_ne!(superblock(&img).uuid, superblock(&full).uuid);
    // Another UUID is refused (structures under neither), nothing written.
    let mid = std::fs::read(&img).unwrap();
    let e = tune_err(&img, &["-U", "random"]);
    assert!(e.contains("fails its checksum"), "{e}");
    assert!(std::fs::read(&img).unwrap() == mid);
    // The same one finishes it.
    let v = tune(&img, &["-U", new]);
    assert!(v["resealed"]["already_new"].as_u64().unwrap() > 0);
    let left: Vec<u32> = changed_blocks(&img, &full, bs)
        .into_iter()
        .filter(|b| !sbs.contains(b))
        .collect();
    assert!(
        left.is_empty(),
        "blocks differ from a full change: {left:?}"
    );
    verify_everything(&img);
}

/// `-O huge_file` turns the feature on in every superblock copy (a
/// volume made without it gets 16 TiB files), the volume stays clean;
/// turning it off, or any other feature, is refused.
#[test]
fn huge_file_is_turned_on_in_every_superblock() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    mkfs(&img, "300m", &["-O", "^huge_file"]);
    let before = superblock(&img);
    assert!(!before.has_ro_compat(RO_COMPAT_HUGE_FILE));
    let g = Geometry::from_superblock(&before).unwrap();
    assert!(g.max_file_size() < 1 << 43, "4 TiB without the feature");
    let j = tune(&img, &["-O", "huge_file"]);
    assert_eq!(j["changes"][0]["field"], "features", "{j}");
    assert!(j["changes"][0]["new"]
        .as_str()
        .unwrap()
        .contains("huge_file"));
    let after = superblock(&img);
    assert!(after.has_ro_compat(RO_COMPAT_HUGE_FILE));
    assert_eq!(
        after.feature_ro_compat & !RO_COMPAT_HUGE_FILE,
        before.feature_ro_compat,
        "nothing else changed"
    );
    let b = backups(&img);
    assert!(!b.is_empty());
    for s in b {
        assert!(s.has_ro_compat(RO_COMPAT_HUGE_FILE), "a backup without it");
    }
    let g = Geometry::from_superblock(&after).unwrap();
    assert_eq!(g.max_file_size(), 1 << 44, "16 TiB with it");
    let (code, out) = fsck(&img, "-fn");
    assert_eq!(code, 0, "{out}");
    // Again: nothing changes.
    assert_eq!(
        tune(&img, &["-O", "huge_file"])["changes"],
        Value::Array(vec![])
    );
    assert!(tune_err(&img, &["-O", "^huge_file"]).contains("cannot be turned off in place"));
    assert!(tune_err(&img, &["-O", "xattr"]).contains("only huge_file"));
}

#[test]
fn refusals() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    mkfs(&img, "300m", &[]);
    // Nothing asked.
    assert!(tune_err(&img, &[]).contains("nothing to change"));
    // Bad values.
    for (a, want) in [
        (&["-L", &"x".repeat(33)][..], "at most 32 bytes"),
        (&["-U", "nope"], "give a UUID"),
        (&["-e", "ro"], "continue, remount-ro or panic"),
        (&["-o", "discard"], "not a default mount option"),
        (&["-c", "20000"], "maximum mount count"),
        (&["-i", "2y"], "check interval"),
    ] {
        let e = tune_err(&img, a);
        assert!(e.contains(want), "{a:?}: {e}");
    }
    // A structure failing its checksum: the UUID is not changed, nothing
    // is written (label changes alone still work).
    let sb = superblock(&img);
    let geo = Geometry::from_superblock(&sb).unwrap();
    let (b, off) = geo.inode_location(ROOT_INO).unwrap();
    let at = geo.block_offset(b) + off as u64 + 40;
    write_at(&img, at, &[0x5a]);
    let before = std::fs::read(&img).unwrap();
    let e = tune_err(&img, &["-U", "random", "-L", "x"]);
    assert!(e.contains("inode 2 fails its checksum"), "{e}");
    assert!(
        std::fs::read(&img).unwrap() == before,
        "wrote after refusing"
    );
    // A journal needing recovery.
    let img2 = d.path().join("img2");
    mkfs(&img2, "300m", &[]);
    let mut sb = superblock(&img2);
    sb.feature_incompat |= INCOMPAT_RECOVER;
    let mut b = vec![0u8; SUPERBLOCK_SIZE];
    sb.encode(&mut b, &Crc).unwrap();
    write_at(&img2, SUPERBLOCK_OFFSET, &b);
    let e = tune_err(&img2, &["-L", "x"]);
    assert!(e.contains("journal needs recovery"), "{e}");
    // A volume with errors: no UUID change.
    let img3 = d.path().join("img3");
    mkfs(&img3, "300m", &[]);
    let mut sb = superblock(&img3);
    sb.state |= STATE_ERROR;
    sb.encode(&mut b, &Crc).unwrap();
    write_at(&img3, SUPERBLOCK_OFFSET, &b);
    let e = tune_err(&img3, &["-U", "random"]);
    assert!(
        e.contains("run fsck.livedfs -f before changing its UUID"),
        "{e}"
    );
}

#[test]
fn info_prints_identification_for_scripts() {
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("img");
    mkfs(&img, "300m", &["-L", "vm images"]);
    let p = img.to_str().unwrap();
    assert_eq!(
        ok(&["info", "-s", "UUID", "-s", "LABEL", "-s", "TYPE", p]),
        format!("{UUID}\nvm images\nlivedfs\n")
    );
    assert_eq!(ok(&["info", "--show", "uuid", p]), format!("{UUID}\n"));
    assert_eq!(ok(&["info", "-s", "journal.errno", p]), "0\n");
    assert_eq!(ok(&["info", "-s", "errors", p]), "Remount read-only\n");
    assert_eq!(
        ok(&["info", "--export", p]),
        format!("DEVNAME={p}\nUUID={UUID}\nLABEL=vm\\ images\nTYPE=livedfs\nBLOCK_SIZE=4096\n")
    );
    assert_eq!(
        ok(&["info", "--udev", p]),
        format!(
            "ID_FS_UUID={UUID}\nID_FS_UUID_ENC={UUID}\nID_FS_LABEL=vm_images\n\
             ID_FS_LABEL_ENC=vm\\x20images\nID_FS_VERSION=1.0\nID_FS_TYPE=livedfs\n\
             ID_FS_USAGE=filesystem\n"
        )
    );
    let j = json(&["info", "-s", "UUID", "-s", "label", p]);
    assert_eq!(j["UUID"], UUID);
    assert_eq!(j["label"], "vm images");
    let o = livedfs(&["info", "-s", "nosuchfield", p]);
    assert_eq!(o.status.code(), Some(1));
    // The journal errno is signed, as jbd2 records it (-EIO).
    let sb = superblock(&img);
    let geo = Geometry::from_superblock(&sb).unwrap();
    write_at(
        &img,
        geo.block_offset(sb.journal_start) + jbd2::off::ERRNO as u64,
        &(-5i32).to_be_bytes(),
    );
    assert_eq!(ok(&["info", "-s", "journal.errno", p]), "-5\n");
    let t = ok(&["info", p]);
    assert!(t.contains("Journal errno:                  -5 (EIO"), "{t}");
}
