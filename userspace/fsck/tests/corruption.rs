//! fsck.livedfs on images made by mkfs.livedfs and populated the way the
//! kernel lays files out: clean images check clean; each class of
//! corruption is found with -n (exit 4, the right message), repaired by
//! -y (exit 1), after which -n is clean (exit 0).

mod common;

use common::*;
use livedfs_format::dirent;
use livedfs_format::group::GroupDesc;
use livedfs_format::inode::Inode;
use livedfs_format::ROOT_INO;
use std::collections::HashMap;
use std::os::unix::fs::FileExt;

fn img(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join(name);
    (d, p)
}

fn poke(p: &std::path::Path, off: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.write_all_at(bytes, off).unwrap();
}

fn flip(p: &std::path::Path, off: u64) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, off).unwrap();
    b[0] ^= 0x10;
    f.write_all_at(&b, off).unwrap();
}

#[test]
fn fresh_volumes_are_clean() {
    for args in [
        vec![],
        vec!["-b", "1024", "-O", "md5"],
        vec!["-O", "^spatial_locality,^has_journal"],
        vec!["-b", "2048", "-O", "md5,^spatial_locality"],
    ] {
        let (_d, p) = img("fresh.img");
        mkfs(&p, "96M", &args);
        assert_clean(&p);
        let r = fsck(&p, &["-n"]);
        assert_eq!(r.code, 0);
        assert!(r.out.contains("clean"), "{}", r.out);
        let r = fsck(&p, &["-p"]);
        assert_eq!(r.code, 0, "{}", r.out);
    }
}

#[test]
fn populated_volumes_are_clean() {
    for args in [
        vec![],
        vec!["-b", "1024", "-O", "md5"],
        vec!["-O", "^spatial_locality"],
    ] {
        let (_d, p) = img("pop.img");
        populated(&p, &args);
        assert_clean(&p);
        let r = fsck(&p, &["-fy"]);
        assert_eq!(r.code, 0, "{}", r.out);
        assert!(r.out.contains("shared"), "{}", r.out);
    }
}

#[test]
fn usage_and_mode_errors() {
    let (_d, p) = img("u.img");
    mkfs(&p, "64M", &[]);
    assert_eq!(fsck(&p, &["-n", "-y"]).code, 16);
    assert_eq!(fsck(&p, &["-Z"]).code, 16);
    let r = fsck_t(std::path::Path::new("/nonexistent/dev"), &["-n"], 10);
    assert_eq!(r.code, 8);
    // Interactive without a terminal: operational error, as e2fsck.
    assert_eq!(fsck(&p, &[]).code, 8);
    let h = std::process::Command::new(fsck_bin())
        .arg("--help")
        .output()
        .unwrap();
    assert!(h.status.success());
}

#[test]
fn superblock_checksum() {
    let (_d, p) = img("sb.img");
    populated(&p, &[]);
    flip(&p, 1024 + 24); // free_blocks: only the checksum breaks
    assert_repairs(&p, "Superblock checksum does not match");
}

#[test]
fn superblock_destroyed_uses_backup() {
    let (_d, p) = img("sb2.img");
    populated(&p, &["-b", "1024"]); // 8 groups: backups in 1, 3, 5, 7
    poke(&p, 1024, &[0xAAu8; 300]);
    let out = assert_repairs(&p, "primary superblock is corrupt");
    assert!(out.contains("using the superblock at block 8193"), "{out}");
}

#[test]
fn backup_superblock_with_b() {
    let (_d, p) = img("sb3.img");
    populated(&p, &["-b", "1024"]);
    let r = fsck(&p, &["-fn", "-b", "8193"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.out.contains("block 8193"));
}

#[test]
fn backup_superblock_corrupt() {
    let (_d, p) = img("sb4.img");
    populated(&p, &["-b", "1024"]);
    flip(&p, 8193 * 1024 + 60);
    assert_repairs(&p, "Backup superblock in group 1");
}

#[test]
fn group_descriptor_checksum_and_counts() {
    let (_d, p) = img("gd.img");
    populated(&p, &[]);
    flip(&p, 4096 + 16); // descriptor 0 free_blocks
    assert_repairs(&p, "Group descriptor 0 checksum");
}

#[test]
fn group_descriptor_position() {
    let (_d, p) = img("gd2.img");
    populated(&p, &[]);
    let v = Vol::open(&p);
    let (blk, off) = v.geo.desc_location(0).unwrap();
    let mut d = v.desc;
    d.inode_table += 5;
    let mut buf = vec![0u8; 64];
    d.encode(&mut buf, 0, v.seed, &Crc).unwrap();
    poke(&p, u64::from(blk) * 4096 + off as u64, &buf);
    assert_repairs(&p, "Group descriptor 0 is corrupt");
    let v = Vol::open(&p);
    assert_eq!(v.desc.inode_table, v.geo.group(0).unwrap().inode_table);
}

#[test]
fn zeroed_block_bitmap() {
    let (_d, p) = img("bb.img");
    populated(&p, &[]);
    let v = Vol::open(&p);
    let l = v.geo.group(0).unwrap();
    poke(&p, u64::from(l.block_bitmap) * 4096, &[0u8; 4096]);
    assert_repairs(&p, "Block bitmap differences");
}

#[test]
fn inode_bitmap_bit_lost_keeps_the_file() {
    let (_d, p) = img("ib.img");
    let m = populated(&p, &[]);
    let v = Vol::open(&p);
    let l = v.geo.group(0).unwrap();
    let idx = (m["c"] - 1) as u64;
    let mut imap = v.read(l.inode_bitmap);
    imap[(idx / 8) as usize] &= !(1 << (idx % 8));
    v.write(l.inode_bitmap, &imap);
    assert_repairs(&p, "Inode bitmap differences");
    let v = Vol::open(&p);
    assert_eq!(v.read_inode(m["c"]).size, 4096 * 320);
}

#[test]
fn inode_checksum() {
    let (_d, p) = img("ic.img");
    let m = populated(&p, &[]);
    let v = Vol::open(&p);
    let (b, off) = v.geo.inode_location(m["small"]).unwrap();
    flip(&p, u64::from(b) * 4096 + off as u64 + 33); // atime byte
    assert_repairs(&p, "checksum does not match");
}

#[test]
fn inode_garbage_is_cleared_and_entries_removed() {
    let (_d, p) = img("ig.img");
    let m = populated(&p, &[]);
    let v = Vol::open(&p);
    let (b, off) = v.geo.inode_location(m["rep"]).unwrap();
    poke(&p, u64::from(b) * 4096 + off as u64, &[0xFF; 256]);
    let out = assert_repairs(&p, "Inode");
    assert!(out.contains("corrupt") || out.contains("deleted"), "{out}");
}

#[test]
fn pointer_out_of_range_and_into_metadata() {
    let (_d, p) = img("pr.img");
    let m = populated(&p, &[]);
    let v = Vol::open(&p);
    let mut i = v.read_inode(m["a"]);
    i.block[3] = 3_000_000; // past the end
    i.block[4] = v.geo.group(0).unwrap().inode_table; // fixed metadata
    v.write_inode(m["a"], &i);
    let out = assert_repairs(&p, "outside the data area");
    assert!(out.contains("block #4"), "{out}");
}

#[test]
fn cross_linked_directory_block() {
    let (_d, p) = img("cl.img");
    let m = populated(&p, &[]);
    let v = Vol::open(&p);
    // The regular file 'a' points at the block of directory 'dir'.
    let dirblk = v.read_inode(m["dir"]).block[0];
    let mut i = v.read_inode(m["b"]);
    i.block[0] = dirblk;
    v.write_inode(m["b"], &i);
    assert_repairs(&p, "also claimed by");
}

#[test]
fn refcount_too_high_and_too_low() {
    let (_d, p) = img("rc.img");
    let m = populated(&p, &[]);
    let mut v = Vol::open(&p);
    let b = v.file_block(m["rep"], 0);
    assert_eq!(v.refcount(b), 8);
    v.set_refcount(b, 5);
    let b2 = v.file_block(m["c"], 100);
    v.set_refcount(b2, 7);
    v.flush();
    let out = assert_repairs(&p, "has refcount 5, but 8 pointers refer to it");
    assert!(out.contains("has refcount 7, but only 1 pointers"), "{out}");
    let v = Vol::open(&p);
    assert_eq!(v.refcount(b), 8);
}

/// A data block changed under its fingerprint: the metadata check (-f)
/// does not read data and finds nothing; a scrub (-E scrub, or -c) does.
#[test]
fn wrong_fingerprint_and_data_changed() {
    let (_d, p) = img("fp.img");
    let m = populated(&p, &[]);
    let v = Vol::open(&p);
    let b = v.file_block(m["c"], 200);
    flip(&p, u64::from(b) * 4096 + 7);
    let r = fsck(&p, &["-fn"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(!r.out.contains("fingerprint in the store"), "{}", r.out);
    for scrub in [&["-E", "scrub"][..], &["-c"]] {
        let r = fsck(&p, &[&["-fn"][..], scrub].concat());
        assert_eq!(r.code, 4, "{}", r.out);
        assert!(
            r.out.contains(&format!(
                "\nBlock {b}: the fingerprint in the store does not match its content.  Recompute? no\n"
            )),
            "{}",
            r.out
        );
    }
    assert_repairs_with(
        &p,
        &["-E", "scrub"],
        "fingerprint in the store does not match",
    );
}

#[test]
fn unowned_data_block_is_freed() {
    let (_d, p) = img("uo.img");
    let m = populated(&p, &[]);
    let v = Vol::open(&p);
    let mut i = v.read_inode(m["sparse"]);
    i.block[12] = 0; // drop its indirect block: block 29 and the indirect
    v.write_inode(m["sparse"], &i);
    let out = assert_repairs(&p, "no file points to it");
    assert!(out.contains("i_blocks"), "{out}");
}

#[test]
fn bad_free_counts_are_fixed_silently() {
    let (_d, p) = img("fc.img");
    populated(&p, &[]);
    let mut v = Vol::open(&p);
    v.sb.free_blocks -= 17;
    v.write_sb();
    let r = fsck(&p, &["-fn"]);
    assert_eq!(r.code, 0, "lazy counters are not errors:\n{}", r.out);
    let r = fsck(&p, &["-fy"]);
    assert_eq!(r.code, 0, "{}", r.out);
    let v = Vol::open(&p);
    assert_eq!(v.sb.free_blocks, u64::from(v.desc.free_blocks));
}

#[test]
fn unreachable_inode_goes_to_lost_found() {
    let (_d, p) = img("ur.img");
    let m = populated(&p, &[]);
    let v = Vol::open(&p);
    // Remove the entry 'c' from the root directory.
    let rb = v.dir_blocks(ROOT_INO)[0];
    let mut d = v.read(rb);
    let off = dirent::entries(&d)
        .flatten()
        .find(|e| e.name == b"c")
        .unwrap()
        .offset;
    dirent::remove_at(&mut d, off).unwrap();
    let gen = v.read_inode(ROOT_INO).generation;
    dirent::set_checksum(&mut d, ROOT_INO, gen, v.seed, &Crc).unwrap();
    v.write(rb, &d);
    assert_repairs(&p, &format!("Unattached inode {}", m["c"]));
    let v = Vol::open(&p);
    let lf = v.dir_blocks(11)[0];
    let name = format!("#{}", m["c"]);
    assert!(dirent::entries(&v.read(lf))
        .flatten()
        .any(|e| e.name == name.as_bytes()));
}

#[test]
fn unconnected_directory() {
    let (_d, p) = img("ud.img");
    let m = populated(&p, &[]);
    let v = Vol::open(&p);
    let db = v.dir_blocks(m["dir"])[0];
    let mut d = v.read(db);
    let off = dirent::entries(&d)
        .flatten()
        .find(|e| e.name == b"sub")
        .unwrap()
        .offset;
    dirent::remove_at(&mut d, off).unwrap();
    let gen = v.read_inode(m["dir"]).generation;
    dirent::set_checksum(&mut d, m["dir"], gen, v.seed, &Crc).unwrap();
    v.write(db, &d);
    assert_repairs(&p, "Unconnected directory inode");
}

#[test]
fn wrong_link_count() {
    let (_d, p) = img("lc.img");
    let m = populated(&p, &[]);
    let v = Vol::open(&p);
    let mut i = v.read_inode(m["small"]);
    i.links_count = 5;
    v.write_inode(m["small"], &i);
    assert_repairs(&p, "ref count is 5, should be 2");
}

#[test]
fn directory_block_damage() {
    let (_d, p) = img("db.img");
    let m = populated(&p, &[]);
    let v = Vol::open(&p);
    let db = v.dir_blocks(m["many"])[0];
    // An entry's name length byte: salvage keeps the rest.
    let blk = v.read(db);
    let e = dirent::entries(&blk).flatten().nth(5).unwrap();
    poke(&p, u64::from(db) * 4096 + e.offset as u64 + 6, &[200]);
    assert_repairs(&p, "is corrupt");
    // A checksum-only change.
    let v = Vol::open(&p);
    let rb = v.dir_blocks(ROOT_INO)[0];
    flip(&p, u64::from(rb) * 4096 + 4095);
    assert_repairs(&p, "checksum does not match");
}

#[test]
fn directory_size_past_its_blocks() {
    // A size claiming far more blocks than the directory maps (2^40: 2^28
    // blocks of 4 KiB) is a wrong size, fixed to the blocks mapped, not
    // 2^28 holes to report and fill (which never ended).
    let (_d, p) = img("ds.img");
    let m = populated(&p, &[]);
    let v = Vol::open(&p);
    for (ino, size) in [(ROOT_INO, 1u64 << 40), (m["many"], 1 << 40)] {
        let mut i = v.read_inode(ino);
        let want = i.size;
        i.size = size;
        v.write_inode(ino, &i);
        let out = assert_repairs(
            &p,
            &format!("Inode {ino}, i_size is {size}, should be {want}"),
        );
        assert!(!out.contains("hole"), "{out}");
        assert_eq!(Vol::open(&p).read_inode(ino).size, want);
    }
}

#[test]
fn duplicate_entry_and_bad_file_type() {
    let (_d, p) = img("de.img");
    let m = populated(&p, &[]);
    let mut v = Vol::open(&p);
    v.add_entry(m["dir"], "small", m["small"], dirent::FT_REG);
    v.add_entry(m["dir"], "small-as-dir", m["small"], dirent::FT_DIR);
    let out = assert_repairs(&p, "Duplicate entry 'small'");
    assert!(out.contains("has file type 2, should be 1"), "{out}");
}

#[test]
fn orphan_chain_is_finished() {
    let (_d, p) = img("or.img");
    let m = populated(&p, &[]);
    // 'c' unlinked while open: entry gone, links 0, on the orphan list;
    // 'a' after it, truncated to 5 blocks with the truncation unfinished.
    orphan_c(&p, &m, m["a"]);
    let mut v = Vol::open(&p);
    let mut a = v.read_inode(m["a"]);
    a.size = 5 * 4096;
    v.write_inode(m["a"], &a);
    v.sb.state &= !livedfs_format::superblock::STATE_VALID;
    v.write_sb();
    // -n: the kernel would finish it at mount: reported, not an error.
    let r = fsck(&p, &["-n"]);
    assert!(r.out.contains("orphan list"), "{}", r.out);
    let r = fsck(&p, &["-p"]);
    assert_eq!(r.code, 1, "{}", r.out);
    // As e2fsck: finished before the check, which then finds nothing.
    // The volume is not valid (as the kernel leaves it mounted without a
    // journal): every fingerprint is verified too.
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines.len(), 5, "{}", r.out);
    assert!(
        lines[0].ends_with(&format!(
            ": Clearing orphaned inode {} (mode 0100644)",
            m["c"]
        )),
        "{}",
        r.out
    );
    assert!(
        lines[1].ends_with(&format!(
            ": Truncating orphaned inode {} to 20480 bytes (mode 0100644)",
            m["a"]
        )),
        "{}",
        r.out
    );
    assert!(
        lines[2].ends_with("was not cleanly unmounted, check forced."),
        "{}",
        r.out
    );
    assert_eq!(
        lines[3],
        format!(
            "{}: the volume went down while mounted without a journal: verifying the fingerprint of every data block in use",
            p.display()
        ),
        "{}",
        r.out
    );
    let [data, _, _, verified] = summary_counts(&r.out);
    assert!(data > 0 && verified == data, "{}", r.out);
    assert_clean(&p);
    let v = Vol::open(&p);
    assert_eq!(v.sb.orphan_head, 0);
    assert_eq!(v.read_inode(m["a"]).blocks, 5);
}

/// Makes 'c' an orphan unlinked while open (entry removed, links 0, head
/// of the list, followed by `next`); returns its inode number.
fn orphan_c(p: &std::path::Path, m: &HashMap<&'static str, u32>, next: u32) -> u32 {
    let mut v = Vol::open(p);
    let rb = v.dir_blocks(ROOT_INO)[0];
    let mut d = v.read(rb);
    let off = dirent::entries(&d)
        .flatten()
        .find(|e| e.name == b"c")
        .unwrap()
        .offset;
    dirent::remove_at(&mut d, off).unwrap();
    let gen = v.read_inode(ROOT_INO).generation;
    dirent::set_checksum(&mut d, ROOT_INO, gen, v.seed, &Crc).unwrap();
    v.write(rb, &d);
    let mut c: Inode = v.read_inode(m["c"]);
    c.links_count = 0;
    c.next_orphan = next;
    v.write_inode(m["c"], &c);
    v.sb.orphan_head = m["c"];
    v.write_sb();
    m["c"]
}

/// A volume left valid (as the kernel keeps it with a journal) with an
/// orphan: as e2fsck -p after a power cut, the orphan is cleared and the
/// volume is clean, exit 0; its blocks are free and its shared blocks
/// keep the references of the other files.
#[test]
fn orphans_on_a_valid_volume_are_released_without_a_check() {
    let (_d, p) = img("ov.img");
    let m = populated(&p, &[]);
    let free_before = Vol::open(&p).sb.free_blocks;
    let ino = orphan_c(&p, &m, 0);
    let r = fsck(&p, &["-p"]);
    assert_eq!(r.code, 0, "{}", r.out);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.out);
    assert!(
        lines[0].ends_with(&format!(": Clearing orphaned inode {ino} (mode 0100644)")),
        "{}",
        r.out
    );
    assert!(lines[1].contains(": clean, "), "{}", r.out);
    let v = Vol::open(&p);
    assert_eq!(v.sb.orphan_head, 0);
    // c: 20 blocks shared with a and b, 300 of its own and the indirect
    // block that maps them (4 KiB blocks).
    assert_eq!(v.bs(), 4096);
    assert_eq!(v.sb.free_blocks, free_before + 300 + 1);
    assert_clean(&p);
}

/// An orphan whose release would not add up (here a block it points to
/// has refcount 0) is left to the full check, which reports every repair;
/// nothing was written before it.
#[test]
fn unsound_orphan_is_left_to_the_check() {
    let (_d, p) = img("ou.img");
    let m = populated(&p, &[]);
    let ino = orphan_c(&p, &m, 0);
    let mut v = Vol::open(&p);
    let b = v.file_block(m["c"], 100);
    v.set_refcount(b, 0);
    v.flush();
    drop(v);
    let before = std::fs::read(&p).unwrap();
    let r = fsck(&p, &["-n"]);
    assert_eq!(std::fs::read(&p).unwrap(), before, "-n wrote");
    assert!(
        r.out.contains("has orphan inodes, check forced"),
        "{}",
        r.out
    );
    let r = fsck(&p, &["-y"]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(!r.out.contains("Clearing orphaned inode"), "{}", r.out);
    assert!(
        r.out.contains("has orphan inodes, check forced"),
        "{}",
        r.out
    );
    assert!(
        r.out.contains(&format!("Releasing orphan inode {ino}")),
        "{}",
        r.out
    );
    assert_clean(&p);
}

/// A volume skipped as clean reports (and, when writing, stores) the
/// free counts of its group descriptors, not the superblock's lazy ones,
/// as e2fsck does.
#[test]
fn clean_volume_reports_the_descriptors_counts() {
    let (_d, p) = img("lz.img");
    populated(&p, &[]);
    let r = fsck(&p, &["-p"]);
    assert_eq!(r.code, 0, "{}", r.out);
    let clean = r.out.clone();
    let mut v = Vol::open(&p);
    let (fb, fi) = (v.sb.free_blocks, v.sb.free_inodes);
    v.sb.free_blocks = 0;
    v.sb.free_inodes = 0;
    v.write_sb();
    drop(v);
    let r = fsck(&p, &["-n"]);
    assert_eq!((r.code, &r.out), (0, &clean), "-n");
    assert_eq!(Vol::open(&p).sb.free_blocks, 0, "-n wrote");
    let r = fsck(&p, &["-p"]);
    assert_eq!((r.code, &r.out), (0, &clean), "-p");
    let v = Vol::open(&p);
    assert_eq!((v.sb.free_blocks, v.sb.free_inodes), (fb, fi));
}

#[test]
fn preen_stops_on_serious_problems() {
    let (_d, p) = img("pp.img");
    let m = populated(&p, &[]);
    let v = Vol::open(&p);
    let mut i = v.read_inode(m["a"]);
    i.block[3] = 3_000_000;
    v.write_inode(m["a"], &i);
    let r = fsck(&p, &["-p"]);
    assert_eq!(r.code, 0, "a clean volume is skipped: {}", r.out);
    let r = fsck(&p, &["-pf"]);
    assert_eq!(r.code, 4, "{}", r.out);
    assert!(
        r.out
            .contains("UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY."),
        "{}",
        r.out
    );
    // Preen fixes a bitmap on its own.
    let (_d2, p2) = img("pp2.img");
    populated(&p2, &[]);
    let v = Vol::open(&p2);
    let l = v.geo.group(0).unwrap();
    poke(&p2, u64::from(l.block_bitmap) * 4096, &[0u8; 512]);
    let mut sb = v.sb.clone();
    sb.state &= !livedfs_format::superblock::STATE_VALID;
    let mut b = vec![0u8; 1024];
    sb.encode(&mut b, &Crc).unwrap();
    poke(&p2, 1024, &b);
    let r = fsck(&p2, &["-p"]);
    assert_eq!(r.code, 1, "{}", r.out);
    assert_clean(&p2);
}

#[test]
fn progress_to_a_descriptor() {
    let (_d, p) = img("pg.img");
    populated(&p, &[]);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} -fn -C 3 {} 3>&1 >/dev/null",
            fsck_bin().display(),
            p.display()
        ))
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.lines()
            .any(|l| l.starts_with("1 ") && l.ends_with(&p.display().to_string())),
        "{s}"
    );
    assert!(s.lines().any(|l| l.starts_with("6 ")), "{s}");
}

#[test]
fn descriptor_flag_fp_uninit_with_data() {
    let (_d, p) = img("fu.img");
    populated(&p, &[]);
    let v = Vol::open(&p);
    let (blk, off) = v.geo.desc_location(0).unwrap();
    let mut d: GroupDesc = v.desc;
    d.flags |= livedfs_format::group::BG_FP_UNINIT;
    let mut buf = vec![0u8; 64];
    d.encode(&mut buf, 0, v.seed, &Crc).unwrap();
    poke(&p, u64::from(blk) * 4096 + off as u64, &buf);
    assert_repairs(&p, "fingerprint store is marked never written");
}

/// A saved fingerprint filter (fast mount) pointing where none can be is
/// a superblock inconsistency (-n: exit 4; -y clears it); a stale or
/// damaged one at a valid place is not an error (the kernel checks and
/// ignores it), and a full check forgets it.
#[test]
fn saved_filter_pointer() {
    let (_d, p) = img("sf.img");
    populated(&p, &[]);
    let mut v = Vol::open(&p);
    let l = v.geo.group(0).unwrap();
    // Over the group's metadata: invalid.
    v.sb.saved_filter_start = l.block_bitmap;
    v.sb.saved_filter_blocks = 4;
    v.sb.saved_filter_gen = 1;
    v.write_sb();
    assert_repairs(&p, "saved fingerprint filter at an invalid place");
    let v = Vol::open(&p);
    assert!(!v.sb.has_saved_filter());

    // In free space, but stale (generation) and its header garbage: not
    // an error; -n leaves it, -fy forgets it (a full check writes).
    let mut v = Vol::open(&p);
    v.sb.saved_filter_start = l.end - 8;
    v.sb.saved_filter_blocks = 4;
    v.sb.saved_filter_gen = 12345;
    v.write_sb();
    let n = fsck(&p, &["-fn"]);
    assert_eq!(n.code, 0, "{}", n.out);
    assert!(Vol::open(&p).sb.has_saved_filter());
    let y = fsck(&p, &["-fy"]);
    assert_eq!(y.code, 0, "{}", y.out);
    assert!(!Vol::open(&p).sb.has_saved_filter());
}
