//! Every option does what it says, and every bad argument ends with exit
//! status 1 and a message that starts with "mkfs.livedfs: " and says what
//! to do.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::FileExt;

fn img_in(d: &tempfile::TempDir) -> String {
    d.path().join("img").to_str().unwrap().to_owned()
}

#[test]
fn bad_arguments_are_refused_with_advice() {
    let d = tmpdir();
    let img = img_in(&d);
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["-b", "1000", &img, "64m"],
            &["block size", "1024, 2048 or 4096"],
        ),
        (&["-b", "8192", &img, "64m"], &["block size"]),
        (&["-b", "x", &img, "64m"], &["block size"]),
        (
            &["-L", "this-label-is-much-longer-than-32-bytes", &img, "64m"],
            &["label", "at most 32 bytes"],
        ),
        (&["-U", "not-a-uuid", &img, "64m"], &["UUID"]),
        (&["-U", "1b4e28ba-2fa1-11d2-883f", &img, "64m"], &["UUID"]),
        (&["-i", "100", &img, "64m"], &["bytes per inode", "1024"]),
        (&["-i", "lots", &img, "64m"], &["bytes per inode"]),
        (&["-i", "-5", &img, "64m"], &[]),
        (&["-N", "0", &img, "64m"], &["number of inodes"]),
        (&["-N", "many", &img, "64m"], &["number of inodes"]),
        (&["-N", "99999999999", &img, "64m"], &["number of inodes"]),
        (
            &["-N", "4000000000", &img, "64m"],
            &["-N 4000000000", "at most", "fewer inodes"],
        ),
        (&["-m", "51", &img, "64m"], &["percentage", "0 to 50"]),
        (&["-m", "-1", &img, "64m"], &["percentage"]),
        (&["-m", "five", &img, "64m"], &["percentage"]),
        (
            &["-O", "dedup_turbo", &img, "64m"],
            &["unknown feature", "spatial_locality"],
        ),
        (&["-O", "^sha256", &img, "64m"], &["cannot be turned off"]),
        (
            &["-E", "lazy_itable_init=1", &img, "64m"],
            &["unknown extended option", "root_owner"],
        ),
        (
            &["-E", "root_owner=alice", &img, "64m"],
            &["root_owner", "uid:gid"],
        ),
        (
            &["-E", "discard=yes", &img, "64m"],
            &["unknown extended option"],
        ),
        (&["-J", "size=0", &img, "64m"], &["journal size"]),
        (&["-J", "size=big", &img, "64m"], &["journal size"]),
        (
            &["-J", "device=/dev/sdz", &img, "64m"],
            &["unknown journal option", "size=<MiB>"],
        ),
        (
            &["-J", "size=1", &img, "1g"],
            &["at least 1024 blocks", "4 MiB"],
        ),
        (
            &["-J", "size=1000", &img, "1g"],
            &["one block group", "at most", "smaller journal"],
        ),
        (
            &["-O", "^has_journal", "-J", "size=16", &img, "1g"],
            &["^has_journal", "drop one"],
        ),
        (&[&img, "100"], &["too small", "at least", "blocks"]),
        (&[&img, "1x"], &["invalid blocks-count"]),
        (&[&img, "0"], &["invalid blocks-count"]),
        (&["-b", "1024", &img, "4t"], &["too large", "-b 4096"]),
        (&[&img, "17t"], &["too large", "at most"]),
        (&[], &["no device given"]),
        (&[&img], &["does not exist", "give a size"]),
        (&["-Z", &img], &["unexpected argument"]),
        (&[&img, "64m", "extra"], &["unexpected argument"]),
    ];
    for (args, words) in cases {
        let o = mkfs(args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {e}");
        assert!(e.starts_with("mkfs.livedfs: "), "{args:?}: {e}");
        for w in *words {
            assert!(e.contains(w), "{args:?}: message lacks {w:?}: {e}");
        }
        assert!(!d.path().join("img").exists(), "{args:?} created the image");
    }
    // A directory is no device.
    let o = mkfs(&[d.path().to_str().unwrap()]);
    fails(&o, &["neither a block device nor a regular file"]);
}

#[test]
fn dry_run_writes_nothing() {
    let d = tmpdir();
    let img = img_in(&d);
    // A missing file is not created.
    let o = mkfs(&["-n", &img, "1t"]);
    ok(&o);
    assert!(stdout(&o).contains("nothing was written"));
    assert!(stdout(&o).contains("Superblock backups stored on blocks"));
    assert!(!d.path().join("img").exists());
    // An existing file (with an ext4 signature) is left as it was.
    let f = fs::File::create(&img).unwrap();
    f.set_len(256 << 20).unwrap();
    f.write_all_at(&[0x53, 0xEF], 1080).unwrap();
    drop(f);
    let before = fs::read(&img).unwrap();
    ok(&mkfs(&["-n", "-O", "md5,^spatial_locality", &img]));
    assert_eq!(fs::read(&img).unwrap(), before);
    assert_eq!(fs::metadata(&img).unwrap().len(), 256 << 20);
}

#[test]
fn existing_file_system_needs_force_without_a_terminal() {
    let d = tmpdir();
    let img = img_in(&d);
    ok(&mkfs(&["-q", &img, "64m"]));
    // A livedfs volume is there now: refused without -F.
    let before = fs::read(&img).unwrap();
    let o = mkfs(&["-q", &img]);
    fails(&o, &["contains a livedfs file system", "-F"]);
    assert_eq!(
        fs::read(&img).unwrap(),
        before,
        "nothing written when refused"
    );
    ok(&mkfs(&["-q", "-F", &img]));
    check_image(std::path::Path::new(&img), &Expect::default());

    // Other file systems' signatures.
    let sigs: &[(u64, &[u8], &str)] = &[
        (1080, &[0x53, 0xEF], "ext2/ext3/ext4"),
        (0, b"XFSB", "XFS"),
        (65600, b"_BHRfS_M", "Btrfs"),
    ];
    for (off, magic, name) in sigs {
        let f = fs::File::create(&img).unwrap();
        f.set_len(64 << 20).unwrap();
        f.write_all_at(magic, *off).unwrap();
        drop(f);
        fails(&mkfs(&["-q", &img]), &[name, "use -F"]);
        ok(&mkfs(&["-q", "-F", &img]));
        check_image(std::path::Path::new(&img), &Expect::default());
        // The old signature is gone.
        let head = fs::read(&img).unwrap();
        assert_ne!(
            &head[*off as usize..*off as usize + magic.len()],
            *magic,
            "{name} signature wiped"
        );
    }

    // A real ext4 file system, if mkfs.ext4 is here.
    let f = fs::File::create(&img).unwrap();
    f.set_len(64 << 20).unwrap();
    drop(f);
    if let Ok(s) = std::process::Command::new("mkfs.ext4")
        .args(["-q", "-F", &img])
        .status()
    {
        if s.success() {
            fails(&mkfs(&["-q", &img]), &["ext2/ext3/ext4", "use -F"]);
            ok(&mkfs(&["-q", "-F", &img]));
            check_image(std::path::Path::new(&img), &Expect::default());
        }
    }
}

#[test]
fn label_uuid_owner_reserved_and_inodes() {
    let d = tmpdir();
    let img = img_in(&d);
    let uuid = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
    ok(&mkfs(&[
        "-q",
        "-L",
        "vm-images",
        "-U",
        uuid,
        "-E",
        "root_owner=1000:100",
        "-m",
        "0",
        "-N",
        "5000",
        &img,
        "512m",
    ]));
    let ch = check_image(
        std::path::Path::new(&img),
        &Expect {
            reserved_pct: Some(0.0),
            ..Expect::default()
        },
    );
    assert_eq!(ch.sb.label_str(), "vm-images");
    assert_eq!(uuid::Uuid::from_bytes(ch.sb.uuid).to_string(), uuid);
    assert_eq!((ch.root.uid, ch.root.gid), (1000, 100));
    assert_eq!((ch.lost_found.uid, ch.lost_found.gid), (0, 0));
    assert_eq!(ch.sb.r_blocks_count, 0);
    assert!(ch.sb.inodes_count >= 5000 && ch.sb.inodes_count < 5000 + 16 * ch.geo.group_count);

    // A full 32-byte label fits; -m 50 is the most.
    ok(&mkfs(&[
        "-q",
        "-F",
        "-L",
        "abcdefghijklmnopqrstuvwxyz012345",
        "-m",
        "50",
        "-i",
        "65536",
        &img,
    ]));
    let ch = check_image(
        std::path::Path::new(&img),
        &Expect {
            reserved_pct: Some(50.0),
            ..Expect::default()
        },
    );
    assert_eq!(ch.sb.label_str(), "abcdefghijklmnopqrstuvwxyz012345");
    assert_eq!(u64::from(ch.sb.inodes_count), (512u64 << 20) / 65536);

    // -U clear and -U time.
    ok(&mkfs(&["-q", "-F", "-U", "clear", &img]));
    assert_eq!(
        check_image(std::path::Path::new(&img), &Expect::default())
            .sb
            .uuid,
        [0; 16]
    );
    ok(&mkfs(&["-q", "-F", "-U", "time", &img]));
    let u = check_image(std::path::Path::new(&img), &Expect::default())
        .sb
        .uuid;
    assert_eq!(uuid::Uuid::from_bytes(u).get_version_num(), 1);
    // Default: random, different each time.
    ok(&mkfs(&["-q", "-F", &img]));
    let a = check_image(std::path::Path::new(&img), &Expect::default())
        .sb
        .uuid;
    ok(&mkfs(&["-q", "-F", &img]));
    let b = check_image(std::path::Path::new(&img), &Expect::default())
        .sb
        .uuid;
    assert_ne!(a, b);
    assert_eq!(uuid::Uuid::from_bytes(a).get_version_num(), 4);
}

#[test]
fn inodes_per_group_are_rounded_and_capped() {
    let d = tmpdir();
    let img = img_in(&d);
    for bs in ["1024", "2048", "4096"] {
        // -i 1024 asks for more inodes than a group's bitmap can hold at
        // 2 and 4 KiB blocks: capped to one inode per block.
        ok(&mkfs(&["-q", "-F", "-b", bs, "-i", "1024", &img, "256m"]));
        let ch = check_image(std::path::Path::new(&img), &Expect::default());
        let ipb = ch.geo.block_size / 256;
        assert_eq!(ch.geo.inodes_per_group % ipb.max(8), 0);
        assert!(ch.geo.inodes_per_group <= ch.geo.blocks_per_group);
        assert!(ch.geo.inodes_per_group <= 8 * ch.geo.block_size);
        // -N spreads evenly, rounded up.
        ok(&mkfs(&["-q", "-F", "-b", bs, "-N", "1001", &img]));
        let ch = check_image(std::path::Path::new(&img), &Expect::default());
        assert!(ch.geo.inodes_count >= 1001);
        assert!(ch.geo.inodes_count - 1001 < ipb.max(8) * ch.geo.group_count);
    }
}

#[test]
fn features_sparse_super_and_journal_size() {
    let d = tmpdir();
    let img = img_in(&d);
    ok(&mkfs(&["-q", "-O", "^sparse_super", &img, "1g"]));
    let ch = check_image(
        std::path::Path::new(&img),
        &Expect {
            sparse_super: Some(false),
            ..Expect::default()
        },
    );
    for g in 0..ch.geo.group_count {
        assert!(ch.geo.group(g).unwrap().has_super, "group {g} has a backup");
    }
    ok(&mkfs(&["-q", "-F", "-J", "size=64", &img]));
    let ch = check_image(
        std::path::Path::new(&img),
        &Expect {
            journal: Some(true),
            ..Expect::default()
        },
    );
    assert_eq!(ch.sb.journal_blocks, 64 * 256);
    assert_eq!(
        ch.geo.group_of_block(ch.sb.journal_start).unwrap(),
        ch.geo.group_count / 2
    );
    // One group: the journal goes in group 0 after the directories.
    ok(&mkfs(&["-q", "-F", "-J", "size=16", &img, "100m"]));
    let ch = check_image(
        std::path::Path::new(&img),
        &Expect {
            journal: Some(true),
            ..Expect::default()
        },
    );
    assert_eq!(ch.geo.group_count, 1);
    assert_eq!(ch.sb.journal_blocks, 16 * 256);
    assert!(ch.sb.journal_start > ch.lost_found.block[0]);
    // 1 KiB blocks: 1 MiB journals are allowed (1024 blocks).
    ok(&mkfs(&[
        "-q", "-F", "-b", "1024", "-J", "size=1", &img, "100m",
    ]));
    let ch = check_image(
        std::path::Path::new(&img),
        &Expect {
            journal: Some(true),
            ..Expect::default()
        },
    );
    assert_eq!(ch.sb.journal_blocks, 1024);
    // -O ^has_journal.
    ok(&mkfs(&["-q", "-F", "-O", "^has_journal", &img, "1g"]));
    check_image(
        std::path::Path::new(&img),
        &Expect {
            journal: Some(false),
            ..Expect::default()
        },
    );
}

#[test]
fn garbage_on_the_device_does_not_leak_into_the_volume() {
    let d = tmpdir();
    let img = img_in(&d);
    // 48 MiB of non-zero bytes (no known signature): everything mkfs
    // relies on must be written or zeroed by it.
    let junk: Vec<u8> = (0..48u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 1)
        .collect();
    fs::write(&img, &junk).unwrap();
    for extra in [&[][..], &["-E", "discard"][..]] {
        let mut args = vec!["-q", "-b", "1024"];
        args.extend_from_slice(extra);
        args.push(&img);
        ok(&mkfs(&args));
        check_image(
            std::path::Path::new(&img),
            &Expect {
                journal: Some(true),
                ..Expect::default()
            },
        );
        fs::write(&img, &junk).unwrap();
    }
}

#[test]
fn discard_on_a_file_leaves_it_sparse() {
    let d = tmpdir();
    let img = img_in(&d);
    fs::write(&img, vec![0xA5u8; 32 << 20]).unwrap();
    ok(&mkfs(&["-q", "-F", "-E", "discard", &img]));
    check_image(std::path::Path::new(&img), &Expect::default());
    assert!(
        allocated(std::path::Path::new(&img)) < 2 << 20,
        "discarded image is sparse"
    );
}

#[test]
fn sizes_grow_files_but_never_shrink_them() {
    let d = tmpdir();
    let img = img_in(&d);
    // A size larger than the file extends it sparsely.
    fs::write(&img, vec![0u8; 1 << 20]).unwrap();
    ok(&mkfs(&["-q", &img, "64m"]));
    assert_eq!(fs::metadata(&img).unwrap().len(), 64 << 20);
    // A smaller size uses part of the file; the file keeps its length.
    ok(&mkfs(&["-q", "-F", &img, "8192"]));
    assert_eq!(fs::metadata(&img).unwrap().len(), 64 << 20);
    assert_eq!(
        check_image(std::path::Path::new(&img), &Expect::default())
            .sb
            .blocks_count,
        8192
    );
    // Sizes in blocks follow -b; 's' is 512-byte sectors.
    ok(&mkfs(&["-q", "-F", "-b", "2048", &img, "10000"]));
    assert_eq!(
        check_image(std::path::Path::new(&img), &Expect::default())
            .sb
            .blocks_count,
        10000
    );
    ok(&mkfs(&["-q", "-F", "-b", "2048", &img, "40000s"]));
    assert_eq!(
        check_image(std::path::Path::new(&img), &Expect::default())
            .sb
            .blocks_count,
        10000
    );
}

#[test]
fn source_date_epoch_makes_images_reproducible() {
    let d = tmpdir();
    let a = d.path().join("a");
    let b = d.path().join("b");
    let env = [("SOURCE_DATE_EPOCH", "1700000000")];
    let u = "0e5e1a61-5a6d-4a31-9b1c-2b6c9c1d6e55";
    ok(&mkfs_env(
        &["-q", "-U", u, a.to_str().unwrap(), "200m"],
        &env,
    ));
    ok(&mkfs_env(
        &["-q", "-U", u, b.to_str().unwrap(), "200m"],
        &env,
    ));
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "identical images"
    );
    let ch = check_image(&a, &Expect::default());
    assert_eq!(ch.sb.mkfs_time, 1_700_000_000);
    assert_eq!(ch.root.mtime.sec, 1_700_000_000);
    fails(
        &mkfs_env(
            &["-q", "-F", a.to_str().unwrap()],
            &[("SOURCE_DATE_EPOCH", "yesterday")],
        ),
        &["SOURCE_DATE_EPOCH"],
    );
}

#[test]
fn version_help_and_summary() {
    let o = mkfs(&["-V"]);
    ok(&o);
    assert!(stdout(&o).starts_with("mkfs.livedfs 0."), "{}", stdout(&o));
    let o = mkfs(&["--help"]);
    ok(&o);
    assert!(stdout(&o).contains("blocks-count"));
    let d = tmpdir();
    let img = img_in(&d);
    let o = mkfs(&["-L", "x", &img, "2g"]);
    ok(&o);
    let s = stdout(&o);
    for w in [
        "4k blocks",
        "inodes",
        "Volume UUID",
        "Volume label: x",
        "block groups",
        "Fingerprints: sha256",
        "spatial locality",
        "Fingerprint filter",
        "Journal: ",
        "Superblock backups stored on blocks:\n\t32768, 98304, 163840, 229376, 294912",
        "Writing superblocks",
    ] {
        assert!(s.contains(w), "summary lacks {w:?}:\n{s}");
    }
    assert!(
        stderr(&o).is_empty(),
        "no progress bar without a terminal: {}",
        stderr(&o)
    );
}

#[test]
fn usage_types_and_errors_behaviour() {
    let d = tmpdir();
    let img = img_in(&d);
    // largefile: one inode per MiB (256 on 256 MiB, 2 groups of 128);
    // largefile4: per 4 MiB, rounded up to whole inode-table blocks (16
    // inodes per 4 KiB block): 2 groups of 32.
    for (t, inodes) in [
        ("largefile", 256),
        ("largefile4", 64),
        ("default", 16384),
        ("huge", 4096),
    ] {
        ok(&mkfs(&["-q", "-F", "-T", t, &img, "256m"]));
        let ch = check_image(std::path::Path::new(&img), &Expect::default());
        assert_eq!(ch.sb.inodes_count, inodes, "-T {t}");
    }
    // -i and -N win over -T.
    ok(&mkfs(&[
        "-q",
        "-F",
        "-T",
        "largefile",
        "-i",
        "65536",
        &img,
        "256m",
    ]));
    let ch = check_image(std::path::Path::new(&img), &Expect::default());
    assert_eq!(ch.sb.inodes_count, 4096);
    // -e sets the superblock's errors behaviour; the summary says so.
    for (e, v) in [("continue", 1), ("remount-ro", 2), ("panic", 3)] {
        let o = mkfs(&["-F", "-e", e, &img, "256m"]);
        ok(&o);
        let ch = check_image(
            std::path::Path::new(&img),
            &Expect {
                errors: Some(v),
                ..Expect::default()
            },
        );
        assert_eq!(ch.sb.errors, v, "-e {e}");
        assert_eq!(
            stdout(&o).contains("Errors behavior:"),
            e != "remount-ro",
            "{}",
            stdout(&o)
        );
    }
    fails(&mkfs(&["-T", "bigfiles", &img]), &["-T", "largefile"]);
    fails(
        &mkfs(&["-e", "ro", &img]),
        &["continue, remount-ro or panic"],
    );
}

#[test]
fn output_to_a_pipe_has_no_progress_bar() {
    // Not a terminal (the test's pipes): plain step lines, no escape
    // sequences or carriage returns, even with TERM set.
    let d = tmpdir();
    let img = img_in(&d);
    let o = mkfs_env(&["-F", &img, "256m"], &[("TERM", "xterm")]);
    ok(&o);
    let all = stdout(&o) + &stderr(&o);
    assert!(!all.contains('\u{1b}') && !all.contains('\r'), "{all:?}");
    assert!(all.contains("Writing group tables: done"), "{all}");
}
