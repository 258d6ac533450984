//! Documentation/format.md and the crate can't drift apart: the field
//! tables of the specification are parsed and every documented offset,
//! size and type is checked against the crate's `off::` constants and
//! against the bytes its encoders actually write; every `off::` constant
//! (as found in the sources) must be documented; the value tables (feature
//! bits, flags, file types, entries per block, filter keys) must match the
//! crate's constants and arithmetic.

mod common;

use common::*;
use livedfs_format::group::GroupDesc;
use livedfs_format::inode::{Inode, Timestamp};
use livedfs_format::superblock::{Superblock, SUPERBLOCK_SIZE};
use livedfs_format::{dirent, filter, group, inode, jbd2, superblock};
use livedfs_format::{FingerprintAlgo, Geometry, DESC_SIZE, INODE_SIZE};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn doc() -> String {
    let p = manifest_dir().join("../../Documentation/format.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches('`').trim().to_string()
}

fn cells(line: &str) -> Vec<String> {
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').unwrap_or(t);
    t.split('|').map(|c| c.trim().to_string()).collect()
}

/// The first Markdown table after the line `marker` (a heading, matched
/// exactly, or a paragraph line starting with it): its header cells and
/// its rows.
fn table(doc: &str, marker: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let lines: Vec<&str> = doc.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == marker || (!marker.starts_with('#') && l.starts_with(marker)))
        .unwrap_or_else(|| panic!("format.md has no line {marker:?}"));
    let start = (at + 1..lines.len())
        .find(|&i| lines[i].trim_start().starts_with('|'))
        .unwrap_or_else(|| panic!("no table after {marker:?}"));
    if let Some(h) = (at + 1..start).find(|&i| lines[i].starts_with('#')) {
        panic!(
            "no table under {marker:?} before the next heading {:?}",
            lines[h]
        );
    }
    let header = cells(lines[start]);
    let sep = cells(lines[start + 1]);
    assert!(
        sep.iter()
            .all(|c| c.chars().all(|ch| ch == '-' || ch == ':')),
        "{marker}: no separator row"
    );
    let rows: Vec<Vec<String>> = lines[start + 2..]
        .iter()
        .take_while(|l| l.trim_start().starts_with('|'))
        .map(|l| cells(l))
        .collect();
    for r in &rows {
        assert_eq!(
            r.len(),
            header.len(),
            "{marker}: row {r:?} has the wrong number of cells"
        );
    }
    (header, rows)
}

/// One row of a field table.
#[derive(Debug, Clone)]
struct Field {
    offset: usize,
    size: usize,
    ty: String,
    name: String,
}

fn parse_num(s: &str) -> Option<u64> {
    let s = unquote(s).replace([' ', '_'], "");
    if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(o) = s.strip_prefix("0o") {
        u64::from_str_radix(o, 8).ok()
    } else {
        s.parse().ok()
    }
}

/// Bytes of a documented type, if fixed.
fn type_size(ty: &str) -> Option<usize> {
    let (base, count) = match ty.split_once('[') {
        Some((b, rest)) => (b, rest.strip_suffix(']')?.parse::<usize>().ok()?),
        None => (ty, 1),
    };
    let unit = match base {
        "u8" => 1,
        "le16" => 2,
        "le32" | "be32" => 4,
        "le64" | "sle64" => 8,
        _ => return None,
    };
    Some(unit * count)
}

/// The field table under `heading`: offsets and sizes numeric, types
/// known and matching the sizes, the fields contiguous from 0 to `total`
/// with no gaps or overlaps, names unique, endianness as expected.
fn fields(doc: &str, heading: &str, total: usize, big_endian: bool) -> Vec<Field> {
    let (header, rows) = table(doc, heading);
    assert_eq!(
        header,
        ["Offset", "Size", "Type", "Name", "Meaning"],
        "{heading}: columns"
    );
    let mut out = Vec::new();
    let mut next = 0usize;
    let mut names = BTreeSet::new();
    for r in rows {
        let offset =
            parse_num(&r[0]).unwrap_or_else(|| panic!("{heading}: offset {:?}", r[0])) as usize;
        let size =
            parse_num(&r[1]).unwrap_or_else(|| panic!("{heading}: size {:?}", r[1])) as usize;
        let ty = unquote(&r[2]);
        let name = unquote(&r[3]);
        assert!(!r[4].is_empty(), "{heading}: {name} has no meaning");
        let ts = type_size(&ty).unwrap_or_else(|| panic!("{heading}: {name}: unknown type {ty:?}"));
        assert_eq!(ts, size, "{heading}: {name}: size {size} but type {ty}");
        if big_endian {
            assert!(
                !ty.starts_with("le") && !ty.starts_with("sle"),
                "{heading}: {name}: {ty} in a big-endian structure"
            );
        } else {
            assert!(
                !ty.starts_with("be"),
                "{heading}: {name}: {ty} in a little-endian structure"
            );
        }
        assert_eq!(
            offset, next,
            "{heading}: {name} at {offset}, expected {next} (gap or overlap)"
        );
        next = offset + size;
        if name != "reserved" {
            assert!(
                names.insert(name.clone()),
                "{heading}: {name} documented twice"
            );
        }
        out.push(Field {
            offset,
            size,
            ty,
            name,
        });
    }
    assert_eq!(
        next, total,
        "{heading}: fields end at {next}, the structure at {total}"
    );
    out
}

/// The `pub const NAME: usize = VALUE;` items of `pub mod off` in a source
/// file of the crate.
/// The constants of the module opened by the line `module` in `file`.
fn off_consts_in_module(file: &str, module: &str) -> BTreeMap<String, usize> {
    let p = manifest_dir().join("src").join(file);
    let src = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let start = src
        .find(module)
        .unwrap_or_else(|| panic!("{file}: no `{module}`"));
    let body = &src[start..];
    let body = &body[..body.find('}').expect("end of mod off")];
    let mut m = BTreeMap::new();
    for line in body.lines() {
        let Some(rest) = line.trim().strip_prefix("pub const ") else {
            continue;
        };
        let (name, rest) = rest.split_once(':').expect("const name");
        let value = rest
            .split_once('=')
            .expect("const value")
            .1
            .trim()
            .trim_end_matches(';');
        let v = parse_num(value).unwrap_or_else(|| panic!("{file}: {name} = {value}")) as usize;
        m.insert(name.trim().to_string(), v);
    }
    m
}

/// Each documented field is at its `off::` constant, and each constant is
/// documented. `consts` lists the crate's constants by value; it must match
/// what the source file declares, so a new constant can't be missed.
fn check_offsets(
    fields: &[Field],
    consts: &[(&str, usize)],
    file: &str,
) -> BTreeMap<String, Field> {
    check_offsets_in(fields, consts, file, "pub mod off {")
}

/// [`check_offsets`] for the constants of another module of `file`.
fn check_offsets_in(
    fields: &[Field],
    consts: &[(&str, usize)],
    file: &str,
    module: &str,
) -> BTreeMap<String, Field> {
    let declared = off_consts_in_module(file, module);
    let listed: BTreeMap<String, usize> = consts.iter().map(|&(n, v)| (n.to_string(), v)).collect();
    assert_eq!(
        declared, listed,
        "{file}: `mod off` changed; update this test's list and Documentation/format.md"
    );
    let by_name: BTreeMap<String, Field> = fields
        .iter()
        .filter(|f| f.name != "reserved")
        .map(|f| (f.name.to_uppercase(), f.clone()))
        .collect();
    for (name, f) in &by_name {
        let v = listed
            .get(name)
            .unwrap_or_else(|| panic!("{file}: documented field {} has no off::{name}", f.name));
        assert_eq!(
            *v, f.offset,
            "{file}: off::{name} = {v}, documented at {}",
            f.offset
        );
    }
    for (name, v) in &listed {
        assert!(
            by_name.contains_key(name),
            "{file}: off::{name} (= {v}) is not documented in format.md"
        );
    }
    by_name
}

/// Bytes that differ between two encodings, checksum excluded.
fn changed(a: &[u8], b: &[u8], checksum_at: usize) -> Vec<usize> {
    (0..a.len())
        .filter(|&i| a[i] != b[i] && !(checksum_at..checksum_at + 4).contains(&i))
        .collect()
}

/// The encoder writes field `name` to exactly its documented bytes.
fn check_written(by_name: &BTreeMap<String, Field>, name: &str, bytes: Vec<usize>, what: &str) {
    let f = &by_name[&name.to_uppercase()];
    let want: Vec<usize> = (f.offset..f.offset + f.size).collect();
    assert_eq!(
        bytes, want,
        "{what}: field {name} ({}) is not written where documented",
        f.ty
    );
}

#[test]
fn superblock_table() {
    use superblock::off::*;
    let d = doc();
    let fields = fields(&d, "### Superblock fields", SUPERBLOCK_SIZE, false);
    let consts = [
        ("MAGIC", MAGIC),
        ("VERSION_MAJOR", VERSION_MAJOR),
        ("VERSION_MINOR", VERSION_MINOR),
        ("LOG_BLOCK_SIZE", LOG_BLOCK_SIZE),
        ("BLOCKS_COUNT", BLOCKS_COUNT),
        ("FREE_BLOCKS", FREE_BLOCKS),
        ("INODES_COUNT", INODES_COUNT),
        ("FREE_INODES", FREE_INODES),
        ("FIRST_DATA_BLOCK", FIRST_DATA_BLOCK),
        ("BLOCKS_PER_GROUP", BLOCKS_PER_GROUP),
        ("INODES_PER_GROUP", INODES_PER_GROUP),
        ("GROUP_COUNT", GROUP_COUNT),
        ("INODE_SIZE", INODE_SIZE),
        ("DESC_SIZE", DESC_SIZE),
        ("FIRST_INO", FIRST_INO),
        ("FEATURE_COMPAT", FEATURE_COMPAT),
        ("FEATURE_INCOMPAT", FEATURE_INCOMPAT),
        ("FEATURE_RO_COMPAT", FEATURE_RO_COMPAT),
        ("STATE", STATE),
        ("ERRORS", ERRORS),
        ("MOUNT_COUNT", MOUNT_COUNT),
        ("MAX_MOUNT_COUNT", MAX_MOUNT_COUNT),
        ("MKFS_TIME", MKFS_TIME),
        ("MOUNT_TIME", MOUNT_TIME),
        ("WRITE_TIME", WRITE_TIME),
        ("LASTCHECK_TIME", LASTCHECK_TIME),
        ("UUID", UUID),
        ("LABEL", LABEL),
        ("LAST_MOUNTED", LAST_MOUNTED),
        ("FP_ALGO", FP_ALGO),
        ("FP_SIZE", FP_SIZE),
        ("FP_ENTRY_SIZE", FP_ENTRY_SIZE),
        ("FP_ENTRIES_PER_BLOCK", FP_ENTRIES_PER_BLOCK),
        ("FP_BLOCKS_PER_GROUP", FP_BLOCKS_PER_GROUP),
        ("FP_REGION_START", FP_REGION_START),
        ("JOURNAL_START", JOURNAL_START),
        ("JOURNAL_BLOCKS", JOURNAL_BLOCKS),
        ("GDT_BLOCKS", GDT_BLOCKS),
        ("R_BLOCKS_COUNT", R_BLOCKS_COUNT),
        ("ORPHAN_HEAD", ORPHAN_HEAD),
        ("HASH_SEED", HASH_SEED),
        ("DEF_RESUID", DEF_RESUID),
        ("DEF_RESGID", DEF_RESGID),
        ("DEFAULT_MOUNT_OPTS", DEFAULT_MOUNT_OPTS),
        ("CHECKINTERVAL", CHECKINTERVAL),
        ("KBYTES_WRITTEN", KBYTES_WRITTEN),
        ("PREALLOC_BLOCKS", PREALLOC_BLOCKS),
        ("FILTER_MAX_MIB", FILTER_MAX_MIB),
        ("SAVED_FILTER_START", SAVED_FILTER_START),
        ("SAVED_FILTER_BLOCKS", SAVED_FILTER_BLOCKS),
        ("SAVED_FILTER_GEN", SAVED_FILTER_GEN),
        ("CHECKSUM", CHECKSUM),
    ];
    let by_name = check_offsets(&fields, &consts, "superblock.rs");

    // Sizes as the encoder writes them: set one field to all ones and see
    // which bytes change.
    let enc = |sb: &Superblock| {
        let mut b = vec![0u8; SUPERBLOCK_SIZE];
        sb.encode(&mut b, &Crc).unwrap();
        b
    };
    let base = enc(&Superblock::default());
    type Set = fn(&mut Superblock);
    let probes: Vec<(&str, Set)> = vec![
        ("version_major", |s| s.version_major = !0),
        ("version_minor", |s| s.version_minor = !0),
        ("log_block_size", |s| s.log_block_size = !0),
        ("blocks_count", |s| s.blocks_count = !0),
        ("free_blocks", |s| s.free_blocks = !0),
        ("inodes_count", |s| s.inodes_count = !0),
        ("free_inodes", |s| s.free_inodes = !0),
        ("first_data_block", |s| s.first_data_block = !0),
        ("blocks_per_group", |s| s.blocks_per_group = !0),
        ("inodes_per_group", |s| s.inodes_per_group = !0),
        ("group_count", |s| s.group_count = !0),
        ("inode_size", |s| s.inode_size = !0),
        ("desc_size", |s| s.desc_size = !0),
        ("first_ino", |s| s.first_ino = !0),
        ("feature_compat", |s| s.feature_compat = !0),
        ("feature_incompat", |s| s.feature_incompat = !0),
        ("feature_ro_compat", |s| s.feature_ro_compat = !0),
        ("state", |s| s.state = !0),
        ("errors", |s| s.errors = !0),
        ("mount_count", |s| s.mount_count = !0),
        ("max_mount_count", |s| s.max_mount_count = !0),
        ("mkfs_time", |s| s.mkfs_time = -1),
        ("mount_time", |s| s.mount_time = -1),
        ("write_time", |s| s.write_time = -1),
        ("lastcheck_time", |s| s.lastcheck_time = -1),
        ("uuid", |s| s.uuid = [0xff; 16]),
        ("label", |s| s.label = [0xff; superblock::LABEL_LEN]),
        ("last_mounted", |s| {
            s.last_mounted = [0xff; superblock::LAST_MOUNTED_LEN]
        }),
        ("fp_algo", |s| s.fp_algo = !0),
        ("fp_size", |s| s.fp_size = !0),
        ("fp_entry_size", |s| s.fp_entry_size = !0),
        ("fp_entries_per_block", |s| s.fp_entries_per_block = !0),
        ("fp_blocks_per_group", |s| s.fp_blocks_per_group = !0),
        ("fp_region_start", |s| s.fp_region_start = !0),
        ("journal_start", |s| s.journal_start = !0),
        ("journal_blocks", |s| s.journal_blocks = !0),
        ("gdt_blocks", |s| s.gdt_blocks = !0),
        ("r_blocks_count", |s| s.r_blocks_count = !0),
        ("orphan_head", |s| s.orphan_head = !0),
        ("hash_seed", |s| s.hash_seed = [0xff; 16]),
        ("def_resuid", |s| s.def_resuid = !0),
        ("def_resgid", |s| s.def_resgid = !0),
        ("default_mount_opts", |s| s.default_mount_opts = !0),
        ("checkinterval", |s| s.checkinterval = !0),
        ("kbytes_written", |s| s.kbytes_written = !0),
        ("prealloc_blocks", |s| s.prealloc_blocks = !0),
        ("filter_max_mib", |s| s.filter_max_mib = !0),
        ("saved_filter_start", |s| s.saved_filter_start = !0),
        ("saved_filter_blocks", |s| s.saved_filter_blocks = !0),
        ("saved_filter_gen", |s| s.saved_filter_gen = !0),
    ];
    let mut probed: BTreeSet<String> = BTreeSet::new();
    for (name, set) in probes {
        let mut sb = Superblock::default();
        set(&mut sb);
        check_written(
            &by_name,
            name,
            changed(&base, &enc(&sb), CHECKSUM),
            "superblock",
        );
        probed.insert(name.to_uppercase());
    }
    // The two fields without a struct member: the constant magic and the
    // checksum over everything before it.
    let m = &by_name["MAGIC"];
    assert_eq!(&base[m.offset..m.offset + m.size], &superblock::MAGIC);
    let c = &by_name["CHECKSUM"];
    assert_eq!((c.offset, c.size), (SUPERBLOCK_SIZE - 4, 4));
    probed.extend(["MAGIC".to_string(), "CHECKSUM".to_string()]);
    assert_eq!(
        probed,
        by_name.keys().cloned().collect(),
        "every documented field probed"
    );
    // Reserved bytes are written as zero, whatever the fields hold.
    let mut buf = vec![0xa5u8; SUPERBLOCK_SIZE];
    let sb = Superblock {
        uuid: [0xff; 16],
        hash_seed: [0xff; 16],
        kbytes_written: !0,
        prealloc_blocks: !0,
        filter_max_mib: !0,
        saved_filter_start: !0,
        saved_filter_blocks: !0,
        saved_filter_gen: !0,
        label: [0xff; superblock::LABEL_LEN],
        ..Superblock::default()
    };
    sb.encode(&mut buf, &Crc).unwrap();
    for f in fields.iter().filter(|f| f.name == "reserved") {
        assert!(buf[f.offset..f.offset + f.size].iter().all(|&x| x == 0));
    }
}

#[test]
fn group_descriptor_table() {
    use group::off::*;
    let d = doc();
    let fields = fields(&d, "### Group descriptor fields", DESC_SIZE as usize, false);
    let consts = [
        ("BLOCK_BITMAP", BLOCK_BITMAP),
        ("INODE_BITMAP", INODE_BITMAP),
        ("INODE_TABLE", INODE_TABLE),
        ("FP_STORE", FP_STORE),
        ("FREE_BLOCKS", FREE_BLOCKS),
        ("FREE_INODES", FREE_INODES),
        ("USED_DIRS", USED_DIRS),
        ("ITABLE_UNUSED", ITABLE_UNUSED),
        ("FLAGS", FLAGS),
        ("BLOCK_BITMAP_CSUM", BLOCK_BITMAP_CSUM),
        ("INODE_BITMAP_CSUM", INODE_BITMAP_CSUM),
        ("FP_USED", FP_USED),
        ("CHECKSUM", CHECKSUM),
    ];
    let by_name = check_offsets(&fields, &consts, "group.rs");
    let enc = |g: &GroupDesc| {
        let mut b = vec![0u8; DESC_SIZE as usize];
        g.encode(&mut b, 5, 77, &Crc).unwrap();
        b
    };
    let base = enc(&GroupDesc::default());
    type Set = fn(&mut GroupDesc);
    let probes: Vec<(&str, Set)> = vec![
        ("block_bitmap", |g| g.block_bitmap = !0),
        ("inode_bitmap", |g| g.inode_bitmap = !0),
        ("inode_table", |g| g.inode_table = !0),
        ("fp_store", |g| g.fp_store = !0),
        ("free_blocks", |g| g.free_blocks = !0),
        ("free_inodes", |g| g.free_inodes = !0),
        ("used_dirs", |g| g.used_dirs = !0),
        ("itable_unused", |g| g.itable_unused = !0),
        ("flags", |g| g.flags = !0),
        ("block_bitmap_csum", |g| g.block_bitmap_csum = !0),
        ("inode_bitmap_csum", |g| g.inode_bitmap_csum = !0),
        ("fp_used", |g| g.fp_used = !0),
    ];
    assert_eq!(
        probes.len() + 1,
        by_name.len(),
        "every documented field probed"
    );
    for (name, set) in probes {
        let mut g = GroupDesc::default();
        set(&mut g);
        check_written(
            &by_name,
            name,
            changed(&base, &enc(&g), CHECKSUM),
            "group descriptor",
        );
    }
    assert_eq!(by_name["CHECKSUM"].offset + 4, DESC_SIZE as usize);
}

#[test]
fn inode_table() {
    use inode::off::*;
    let d = doc();
    let fields = fields(&d, "### Inode fields", INODE_SIZE as usize, false);
    let consts = [
        ("MODE", MODE),
        ("UID", UID),
        ("GID", GID),
        ("LINKS", LINKS),
        ("SIZE", SIZE),
        ("BLOCKS", BLOCKS),
        ("ATIME", ATIME),
        ("MTIME", MTIME),
        ("CTIME", CTIME),
        ("CRTIME", CRTIME),
        ("ATIME_NSEC", ATIME_NSEC),
        ("MTIME_NSEC", MTIME_NSEC),
        ("CTIME_NSEC", CTIME_NSEC),
        ("CRTIME_NSEC", CRTIME_NSEC),
        ("FLAGS", FLAGS),
        ("GENERATION", GENERATION),
        ("NEXT_ORPHAN", NEXT_ORPHAN),
        ("DTIME", DTIME),
        ("BLOCK", BLOCK),
        ("XATTR_BLOCK", XATTR_BLOCK),
        ("QIND_BLOCK", QIND_BLOCK),
        ("PREALLOC", PREALLOC),
        ("CHECKSUM", CHECKSUM),
    ];
    let by_name = check_offsets(&fields, &consts, "inode.rs");
    let enc = |i: &Inode| {
        let mut b = vec![0u8; INODE_SIZE as usize];
        i.encode(&mut b, 5, 77, &Crc).unwrap();
        b
    };
    let base = enc(&Inode::default());
    let t = Timestamp { sec: -1, nsec: 0 };
    let n = Timestamp { sec: 0, nsec: !0 };
    type Set = fn(&mut Inode);
    let probes: Vec<(&str, Set)> = vec![
        ("mode", |i| i.mode = !0),
        ("uid", |i| i.uid = !0),
        ("gid", |i| i.gid = !0),
        ("links", |i| i.links_count = !0),
        ("size", |i| i.size = !0),
        ("blocks", |i| i.blocks = !0),
        ("flags", |i| i.flags = !0),
        ("generation", |i| i.generation = !0),
        ("next_orphan", |i| i.next_orphan = !0),
        ("dtime", |i| i.dtime = -1),
        ("block", |i| {
            i.block[..inode::N_ARRAY_BLOCKS].fill(!0);
        }),
        ("qind_block", |i| i.block[inode::QIND_BLOCK] = !0),
        ("xattr_block", |i| i.xattr_block = !0),
        ("prealloc", |i| i.prealloc = !0),
    ];
    let mut count = probes.len();
    for (name, set) in probes {
        let mut i = Inode::default();
        set(&mut i);
        check_written(&by_name, name, changed(&base, &enc(&i), CHECKSUM), "inode");
    }
    type SetT = fn(&mut Inode, Timestamp);
    let times: [(&str, &str, SetT); 4] = [
        ("atime", "atime_nsec", |i, t| i.atime = t),
        ("mtime", "mtime_nsec", |i, t| i.mtime = t),
        ("ctime", "ctime_nsec", |i, t| i.ctime = t),
        ("crtime", "crtime_nsec", |i, t| i.crtime = t),
    ];
    for (sec, nsec, set) in times {
        let mut i = Inode::default();
        set(&mut i, t);
        check_written(&by_name, sec, changed(&base, &enc(&i), CHECKSUM), "inode");
        let mut i = Inode::default();
        set(&mut i, n);
        check_written(&by_name, nsec, changed(&base, &enc(&i), CHECKSUM), "inode");
        count += 2;
    }
    assert_eq!(count + 1, by_name.len(), "every documented field probed");
    assert_eq!(by_name["BLOCK"].size, inode::FAST_SYMLINK_MAX);
    // The block map's UNWRITTEN value, as the text gives it.
    let want = format!(
        "**`UNWRITTEN`** (0x{:08X}, `inode::UNWRITTEN`",
        inode::UNWRITTEN
    );
    assert!(d.contains(&want), "format.md lacks {want:?}");
    assert_eq!(by_name["CHECKSUM"].offset + 4, INODE_SIZE as usize);
}

fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(b[off..off + 4].try_into().unwrap())
}

#[test]
fn journal_superblock_table() {
    use jbd2::off::*;
    let d = doc();
    let fields = fields(&d, "### Journal superblock fields", 1024, true);
    let consts = [
        ("MAGIC", MAGIC),
        ("BLOCKTYPE", BLOCKTYPE),
        ("HSEQUENCE", HSEQUENCE),
        ("BLOCKSIZE", BLOCKSIZE),
        ("MAXLEN", MAXLEN),
        ("FIRST", FIRST),
        ("SEQUENCE", SEQUENCE),
        ("START", START),
        ("ERRNO", ERRNO),
        ("FEATURE_COMPAT", FEATURE_COMPAT),
        ("FEATURE_INCOMPAT", FEATURE_INCOMPAT),
        ("FEATURE_RO_COMPAT", FEATURE_RO_COMPAT),
        ("UUID", UUID),
        ("NR_USERS", NR_USERS),
        ("CHECKSUM_TYPE", CHECKSUM_TYPE),
        ("CHECKSUM", CHECKSUM),
        ("USERS", USERS),
    ];
    let by_name = check_offsets(&fields, &consts, "jbd2.rs");
    // Decimal offsets must also be the jbd2 ones (journal.rst's hex).
    for (name, hex) in [
        ("MAGIC", 0x0),
        ("MAXLEN", 0x10),
        ("START", 0x1C),
        ("UUID", 0x30),
        ("NR_USERS", 0x40),
        ("CHECKSUM_TYPE", 0x50),
        ("CHECKSUM", 0xFC),
        ("USERS", 0x100),
    ] {
        assert_eq!(by_name[name].offset, hex, "{name}");
    }
    assert_eq!(by_name["CHECKSUM_TYPE"].ty, "u8");
    assert_eq!(by_name["UUID"].size, 16);
    assert_eq!(by_name["USERS"].size, 48 * 16);
    let uuid: [u8; 16] = *b"ABCDEFGHIJKLMNOP";
    let mut b = vec![0xeeu8; 4096];
    jbd2::encode_fresh_superblock(&mut b, 4096, 0, 0x0001_2345, &uuid).unwrap();
    let at = |n: &str| by_name[n].offset;
    assert_eq!(be32(&b, at("MAGIC")), jbd2::MAGIC);
    assert_eq!(be32(&b, at("BLOCKTYPE")), jbd2::SUPERBLOCK_V2);
    assert_eq!(be32(&b, at("BLOCKSIZE")), 4096);
    assert_eq!(be32(&b, at("MAXLEN")), 0x0001_2345);
    assert_eq!(be32(&b, at("FIRST")), 1);
    assert_eq!(be32(&b, at("SEQUENCE")), 1);
    assert_eq!(be32(&b, at("NR_USERS")), 1);
    assert_eq!(&b[at("UUID")..at("UUID") + 16], &uuid);
    assert_eq!(&b[at("USERS")..at("USERS") + 16], &uuid);
    // Nothing is written outside the documented named fields.
    for (i, &x) in b.iter().enumerate() {
        if x != 0 {
            let f = fields
                .iter()
                .find(|f| (f.offset..f.offset + f.size).contains(&i));
            let f = f.unwrap_or_else(|| panic!("byte {i} written past the documented superblock"));
            assert_ne!(f.name, "reserved", "byte {i} written in a reserved range");
        }
    }
}

#[test]
fn directory_entry_tables() {
    let d = doc();
    let (header, rows) = table(&d, "### Directory entry fields");
    assert_eq!(header, ["Offset", "Size", "Type", "Name", "Meaning"]);
    let fixed: usize = rows.iter().filter_map(|r| parse_num(&r[1])).sum::<u64>() as usize;
    assert_eq!(fixed, dirent::ENTRY_HEADER, "entry header size");
    let tail = fields(&d, "### Directory block tail", dirent::TAIL_SIZE, false);
    let ft = tail.iter().find(|f| f.name == "file_type").unwrap();
    assert_eq!(ft.offset, 7);
    let (_, rows) = table(&d, "### Directory block tail");
    let mark = rows.iter().find(|r| unquote(&r[3]) == "file_type").unwrap();
    assert!(mark[4].contains(&format!("0x{:X}", dirent::TAIL_MARK)));
    let (_, rows) = table(&d, "### File types");
    let doc_ft: Vec<(u8, String)> = rows
        .iter()
        .map(|r| (parse_num(&r[0]).unwrap() as u8, unquote(&r[1])))
        .collect();
    let want = [
        (dirent::FT_UNKNOWN, "FT_UNKNOWN"),
        (dirent::FT_REG, "FT_REG"),
        (dirent::FT_DIR, "FT_DIR"),
        (dirent::FT_CHRDEV, "FT_CHRDEV"),
        (dirent::FT_BLKDEV, "FT_BLKDEV"),
        (dirent::FT_FIFO, "FT_FIFO"),
        (dirent::FT_SOCK, "FT_SOCK"),
        (dirent::FT_SYMLINK, "FT_SYMLINK"),
    ];
    let want: Vec<(u8, String)> = want.iter().map(|&(v, n)| (v, n.to_string())).collect();
    assert_eq!(doc_ft, want);
    for r in &rows {
        let v = parse_num(&r[0]).unwrap() as u8;
        let dt = r[3]
            .split('(')
            .nth(1)
            .and_then(|x| x.trim_end_matches(')').parse::<u8>().ok());
        assert_eq!(dt, Some(dirent::dtype_of(v)), "d_type of {v}");
    }
}

/// A table of named constants: each documented name has the crate's
/// value, and each of the crate's constants is documented.
fn check_values(doc: &str, heading: &str, value_col: &str, want: &[(&str, u64)]) {
    let (header, rows) = table(doc, heading);
    let vc = header
        .iter()
        .position(|h| h == value_col)
        .expect("value column");
    let nc = header
        .iter()
        .position(|h| h == "Name")
        .expect("name column");
    let got: BTreeMap<String, u64> = rows
        .iter()
        .map(|r| {
            let v = parse_num(&r[vc]).unwrap_or_else(|| panic!("{heading}: value {:?}", r[vc]));
            (unquote(&r[nc]), v)
        })
        .collect();
    let want: BTreeMap<String, u64> = want.iter().map(|&(n, v)| (n.to_string(), v)).collect();
    assert_eq!(got, want, "{heading}");
}

#[test]
fn value_tables() {
    use superblock::*;
    let d = doc();
    check_values(
        &d,
        "### Feature bits",
        "Bit",
        &[
            ("COMPAT_HAS_JOURNAL", COMPAT_HAS_JOURNAL.into()),
            ("RO_COMPAT_SPARSE_SUPER", RO_COMPAT_SPARSE_SUPER.into()),
            ("RO_COMPAT_UNINIT_BG", RO_COMPAT_UNINIT_BG.into()),
            ("RO_COMPAT_XATTR", RO_COMPAT_XATTR.into()),
            ("RO_COMPAT_PREALLOC", RO_COMPAT_PREALLOC.into()),
            ("RO_COMPAT_HUGE_FILE", RO_COMPAT_HUGE_FILE.into()),
            ("INCOMPAT_RECOVER", INCOMPAT_RECOVER.into()),
            ("INCOMPAT_FP_AT_END", INCOMPAT_FP_AT_END.into()),
            ("INCOMPAT_UNWRITTEN", INCOMPAT_UNWRITTEN.into()),
        ],
    );
    assert_eq!(
        COMPAT_KNOWN, COMPAT_HAS_JOURNAL,
        "a new compat feature: document it"
    );
    assert_eq!(
        RO_COMPAT_KNOWN,
        RO_COMPAT_SPARSE_SUPER
            | RO_COMPAT_UNINIT_BG
            | RO_COMPAT_XATTR
            | RO_COMPAT_PREALLOC
            | RO_COMPAT_HUGE_FILE
    );
    assert_eq!(
        INCOMPAT_KNOWN,
        INCOMPAT_RECOVER | INCOMPAT_FP_AT_END | INCOMPAT_UNWRITTEN
    );
    // Each feature sits in the word the table says.
    let (_, rows) = table(&d, "### Feature bits");
    for r in rows {
        let word = unquote(&r[0]);
        let name = unquote(&r[2]);
        let prefix = match word.as_str() {
            "feature_compat" => "COMPAT_",
            "feature_ro_compat" => "RO_COMPAT_",
            "feature_incompat" => "INCOMPAT_",
            w => panic!("unknown feature word {w}"),
        };
        assert!(name.starts_with(prefix), "{name} in {word}");
    }
    check_values(
        &d,
        "### State and errors",
        "Value",
        &[
            ("STATE_VALID", STATE_VALID.into()),
            ("STATE_ERROR", STATE_ERROR.into()),
            ("STATE_ORPHANS", STATE_ORPHANS.into()),
        ],
    );
    check_values(
        &d,
        "`errors` is one value:",
        "Value",
        &[
            ("ERRORS_CONTINUE", ERRORS_CONTINUE.into()),
            ("ERRORS_RO", ERRORS_RO.into()),
            ("ERRORS_PANIC", ERRORS_PANIC.into()),
        ],
    );
    check_values(
        &d,
        "### Descriptor flags",
        "Value",
        &[
            ("BG_INODE_UNINIT", group::BG_INODE_UNINIT.into()),
            ("BG_BLOCK_UNINIT", group::BG_BLOCK_UNINIT.into()),
            ("BG_FP_UNINIT", group::BG_FP_UNINIT.into()),
        ],
    );
    assert_eq!(
        group::BG_FLAGS_KNOWN,
        group::BG_INODE_UNINIT | group::BG_BLOCK_UNINIT | group::BG_FP_UNINIT
    );
    check_values(
        &d,
        "### Mode",
        "Value (octal)",
        &[
            ("S_IFSOCK", inode::S_IFSOCK.into()),
            ("S_IFLNK", inode::S_IFLNK.into()),
            ("S_IFREG", inode::S_IFREG.into()),
            ("S_IFBLK", inode::S_IFBLK.into()),
            ("S_IFDIR", inode::S_IFDIR.into()),
            ("S_IFCHR", inode::S_IFCHR.into()),
            ("S_IFIFO", inode::S_IFIFO.into()),
        ],
    );
    check_values(
        &d,
        "### Flags",
        "Value",
        &[
            ("FL_SYNC", inode::FL_SYNC.into()),
            ("FL_IMMUTABLE", inode::FL_IMMUTABLE.into()),
            ("FL_APPEND", inode::FL_APPEND.into()),
            ("FL_NODUMP", inode::FL_NODUMP.into()),
            ("FL_NOATIME", inode::FL_NOATIME.into()),
            ("FL_DIRSYNC", inode::FL_DIRSYNC.into()),
            ("FL_DAX", inode::FL_DAX.into()),
        ],
    );
    assert_eq!(
        inode::FL_KNOWN,
        inode::FL_SYNC
            | inode::FL_IMMUTABLE
            | inode::FL_APPEND
            | inode::FL_NODUMP
            | inode::FL_NOATIME
            | inode::FL_DIRSYNC
            | inode::FL_DAX
    );
}

#[test]
fn store_and_limit_tables() {
    let d = doc();
    let (header, rows) = table(&d, "Entries per block and store size per group:");
    assert_eq!(
        header[..5],
        [
            "Block size",
            "Algorithm",
            "Entry size",
            "Entries per block",
            "Store blocks per group"
        ]
    );
    assert_eq!(rows.len(), 6);
    for r in rows {
        let bs = parse_num(&r[0]).unwrap() as u32;
        let algo = match r[1].as_str() {
            "SHA-256" => FingerprintAlgo::Sha256,
            "MD5" => FingerprintAlgo::Md5,
            a => panic!("algorithm {a}"),
        };
        let g = geo(bs, u64::from(bs) * 8 * 3, algo, false);
        let doc = [parse_num(&r[2]), parse_num(&r[3]), parse_num(&r[4])];
        let code = [
            g.fp_entry_size,
            g.fp_entries_per_block,
            g.fp_blocks_per_group,
        ]
        .map(|v| Some(u64::from(v)));
        assert_eq!(doc, code, "{bs} {}", r[1]);
        let share: f64 = r[5].trim_end_matches('%').trim().parse().unwrap();
        let want = 100.0 * f64::from(g.fp_blocks_per_group) / f64::from(g.blocks_per_group);
        assert!(
            (share - want).abs() < 0.006,
            "{bs} {}: {share} % vs {want}",
            r[1]
        );
    }
    let (_, rows) = table(
        &d,
        "- **Largest file**: without `RO_COMPAT_HUGE_FILE`, what the",
    );
    for r in rows {
        let bs = parse_num(&r[0]).unwrap() as u32;
        let g = geo(bs, 100_000, FingerprintAlgo::Sha256, false);
        assert_eq!(parse_num(&r[1]), Some(u64::from(g.ptrs_per_block())));
        assert_eq!(
            parse_num(&r[2]),
            Some(g.max_file_size()),
            "largest file at {bs}"
        );
        // With huge_file: 2^32 blocks, as the text says.
        let mut p = g.params();
        p.huge_file = true;
        let h = livedfs_format::Geometry::new(&p).unwrap();
        assert_eq!(h.max_file_size(), (1u64 << 32) * u64::from(bs));
    }
    assert!(d.contains("the largest file is **2^32 blocks** at\n  every block size"));
}

#[test]
fn filter_table() {
    let d = doc();
    let lines: Vec<&str> = d.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("| Blocks `B` |"))
        .expect("filter table");
    let mut n_rows = 0;
    for l in lines[start + 2..].iter().take_while(|l| l.starts_with('|')) {
        let c = cells(l);
        let b_txt = unquote(c[0].split(" (").next().unwrap());
        let blocks: u64 = if let Some(e) = b_txt.strip_prefix("2^") {
            let (e, minus) = match e.split_once(" − ") {
                Some((e, m)) => (e, m.parse::<u64>().unwrap()),
                None => (e, 0),
            };
            (1u64 << e.parse::<u32>().unwrap()) - minus
        } else {
            b_txt.parse().unwrap()
        };
        let p = filter::FilterParams::for_blocks(blocks);
        assert_eq!(
            parse_num(&c[1]),
            Some(u64::from(p.index_bits)),
            "n for {blocks}"
        );
        assert_eq!(
            parse_num(&c[2]),
            Some(u64::from(p.bucket_bits)),
            "k for {blocks}"
        );
        let rate: i64 = c[3].replace('−', "-").trim().parse().unwrap();
        assert_eq!(rate, p.false_candidate_log2(blocks), "rate for {blocks}");
        n_rows += 1;
    }
    assert!(n_rows >= 4);
}

/// The paper's volume: 1 TiB of 4 KiB blocks, SHA-256, 8192 inodes per
/// group.
fn one_tebibyte() -> Geometry {
    Geometry::new(&params(
        4096,
        1 << 28,
        8192,
        FingerprintAlgo::Sha256,
        false,
        true,
    ))
    .unwrap()
}

/// The worked example of the group picture is what the geometry says.
#[test]
fn layout_example() {
    let g = one_tebibyte();
    assert_eq!(
        (
            g.group_count,
            g.gdt_blocks,
            g.itable_blocks,
            g.fp_blocks_per_group
        ),
        (8192, 128, 512, 290)
    );
    let l = g.group(1).unwrap();
    assert_eq!(
        (
            l.super_block,
            l.gdt_start,
            l.block_bitmap,
            l.inode_bitmap,
            l.inode_table,
            l.fp_store,
            l.data_start,
            l.end
        ),
        (
            Some(32768),
            Some(32769),
            32897,
            32898,
            32899,
            33411,
            33701,
            65536
        )
    );
    let l = g.group(2).unwrap();
    assert_eq!(
        (l.block_bitmap, l.fp_store, l.data_start, l.end),
        (65536, 66050, 66340, 98304)
    );
    let d = doc();
    for s in [
        "32769..32896",
        "32899..33410",
        "33411..33700",
        "31835 blocks",
        "66050..66339",
        "66340..98303",
    ] {
        assert!(d.contains(s), "format.md example lost {s}");
    }
}

/// The filter-slot table is what `Geometry::fp_slots` computes.
#[test]
fn filter_slot_table() {
    let d = doc();
    let (header, rows) = table(&d, "so slot `s` is store blocks");
    assert_eq!(header[..2], ["Block size", "Algorithm"]);
    for c in &rows {
        let bs = parse_num(&c[0]).unwrap() as u32;
        let algo = match c[1].trim() {
            "sha256" => FingerprintAlgo::Sha256,
            "md5" => FingerprintAlgo::Md5,
            a => panic!("algorithm {a}"),
        };
        let g = Geometry::new(&params(bs, 1 << 24, bs * 2, algo, false, true)).unwrap();
        let s = g.fp_slots();
        let want = [
            g.fp_entries_per_block,
            g.fp_blocks_per_group,
            s.span(),
            s.per_group(),
            s.span() * g.fp_entries_per_block,
        ];
        for (i, w) in want.iter().enumerate() {
            assert_eq!(
                parse_num(&c[i + 2]),
                Some(u64::from(*w)),
                "{c:?}: column {}",
                i + 2
            );
        }
    }
    assert_eq!(rows.len(), 6);
    let g = one_tebibyte();
    assert_eq!(g.fp_slots().count(), 794_624);
    assert!(d.contains("8192 groups × 97 = 794624"));
}

/// The attribute-block tables: the header where `seal` writes it, the
/// entry layout where `set` writes it, the name indexes and their
/// prefixes.
#[test]
fn attribute_block_tables() {
    use livedfs_format::xattr::{self, off::*};
    let d = doc();
    let fields = fields(&d, "### Attribute block header", xattr::HEADER_SIZE, false);
    let consts = [("MAGIC", MAGIC), ("REFCOUNT", REFCOUNT), ("HASH", HASH)];
    let by_name = check_offsets(&fields, &consts, "xattr.rs");
    let mut b = vec![0xa5u8; 4096];
    xattr::init_block(&mut b).unwrap();
    xattr::set(
        &mut b,
        xattr::INDEX_USER,
        b"k",
        Some(b"v"),
        xattr::SetMode::Any,
    )
    .unwrap();
    let hash = xattr::seal(&mut b, 0x0102_0304, 77, 5, &Crc).unwrap();
    let le = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let at = |n: &str| by_name[n].offset;
    assert_eq!(&b[at("MAGIC")..at("MAGIC") + 4], b"LDXA");
    assert_eq!(le(at("MAGIC")), xattr::MAGIC);
    assert_eq!(le(at("REFCOUNT")), 0x0102_0304);
    assert_eq!(le(at("HASH")), hash);
    for f in fields.iter().filter(|f| f.name == "reserved") {
        assert!(b[f.offset..f.offset + f.size].iter().all(|&x| x == 0));
    }
    assert!(d.contains("\"LDXA\""), "format.md names the magic's bytes");
    // The entry: fixed part, then name and value.
    let (header, rows) = table(&d, "### Attribute entry fields");
    assert_eq!(header, ["Offset", "Size", "Type", "Name", "Meaning"]);
    let fixed: u64 = rows.iter().filter_map(|r| parse_num(&r[1])).sum();
    assert_eq!(fixed as usize, xattr::ENTRY_HEADER);
    let off_of = |n: &str| {
        let r = rows.iter().find(|r| unquote(&r[3]) == n).unwrap();
        parse_num(&r[0]).unwrap() as usize
    };
    use xattr::entry_off;
    assert_eq!(off_of("name_index"), entry_off::NAME_INDEX);
    assert_eq!(off_of("name_len"), entry_off::NAME_LEN);
    assert_eq!(off_of("value_len"), entry_off::VALUE_LEN);
    let e = xattr::HEADER_SIZE;
    assert_eq!(
        &b[e..e + 8],
        &[xattr::INDEX_USER, 1, 1, 0, b'k', b'v', 0, 0]
    );
    assert_eq!(&b[e + 8..e + 12], &[0, 0, 0, 0], "end marker");
    // Name indexes and prefixes.
    check_values(
        &d,
        "### Attribute name indexes",
        "Value",
        &[
            ("INDEX_USER", xattr::INDEX_USER.into()),
            (
                "INDEX_POSIX_ACL_ACCESS",
                xattr::INDEX_POSIX_ACL_ACCESS.into(),
            ),
            (
                "INDEX_POSIX_ACL_DEFAULT",
                xattr::INDEX_POSIX_ACL_DEFAULT.into(),
            ),
            ("INDEX_TRUSTED", xattr::INDEX_TRUSTED.into()),
            ("INDEX_SECURITY", xattr::INDEX_SECURITY.into()),
        ],
    );
    let (_, rows) = table(&d, "### Attribute name indexes");
    for r in rows {
        let v = parse_num(&r[0]).unwrap() as u8;
        assert_eq!(
            Some(unquote(&r[2]).as_bytes()),
            xattr::prefix(v),
            "prefix of index {v}"
        );
    }
    assert!(d.contains(&format!("`REFCOUNT_MAX` = {}", xattr::REFCOUNT_MAX)));
}

#[test]
fn saved_filter_header_table() {
    use livedfs_format::savedfilter::{self, off::*, SavedHeader};
    let d = doc();
    let bs = 1024usize;
    let fields = fields(&d, "### Saved filter header fields", END, false);
    let consts = [
        ("MAGIC", MAGIC),
        ("VERSION", VERSION),
        ("INDEX_BITS", INDEX_BITS),
        ("BUCKET_BITS", BUCKET_BITS),
        ("VALUE_BITS", VALUE_BITS),
        ("VALUES", VALUES),
        ("CHAINS", CHAINS),
        ("ENTRIES", ENTRIES),
        ("DATA_BYTES", DATA_BYTES),
        ("DATA_BLOCKS", DATA_BLOCKS),
        ("GENERATION", GENERATION),
        ("REFERENCED", REFERENCED),
        ("RUN_COUNT", RUN_COUNT),
        ("END", END),
    ];
    let mut fs = fields.clone();
    // END is the end of the fields, not a field.
    fs.push(Field {
        offset: END,
        size: 0,
        ty: String::new(),
        name: "end".to_string(),
    });
    let by_name = check_offsets(&fs, &consts, "savedfilter.rs");
    let enc = |h: &SavedHeader| {
        let mut b = vec![0u8; bs];
        let runs = vec![savedfilter::Run::default(); h.run_count as usize];
        h.encode(&mut b, &runs, 0, &Crc).unwrap();
        b
    };
    let base = enc(&SavedHeader::default());
    type Set = fn(&mut SavedHeader);
    let probes: Vec<(&str, Set)> = vec![
        ("index_bits", |h| h.index_bits = !0),
        ("bucket_bits", |h| h.bucket_bits = !0),
        ("value_bits", |h| h.value_bits = !0),
        ("values", |h| h.values = !0),
        ("chains", |h| h.chains = !0),
        ("entries", |h| h.entries = !0),
        ("data_bytes", |h| h.data_bytes = !0),
        ("data_blocks", |h| h.data_blocks = !0),
        ("generation", |h| h.generation = !0),
        ("referenced", |h| h.referenced = !0),
    ];
    for (name, set) in probes {
        let mut h = SavedHeader::default();
        set(&mut h);
        check_written(
            &by_name,
            name,
            changed(&base, &enc(&h), bs - 4),
            "saved filter header",
        );
    }
    // The run count is bounded by the table's room: its low byte only.
    let h = SavedHeader {
        run_count: 0x55,
        ..SavedHeader::default()
    };
    let rc = &by_name["RUN_COUNT"];
    assert_eq!(changed(&base, &enc(&h), bs - 4), vec![rc.offset]);
    assert_eq!(rc.size, 4);
    let m = &by_name["MAGIC"];
    assert_eq!(&base[m.offset..m.offset + m.size], &savedfilter::MAGIC);
    let v = &by_name["VERSION"];
    assert_eq!(
        base[v.offset..v.offset + 4],
        savedfilter::VERSION.to_le_bytes()
    );
    assert!(base[END..bs - 4].iter().all(|&x| x == 0));

    // The run table entry.
    use savedfilter::run_off;
    let entry = crate::fields(&d, "### Saved filter run table entry", run_off::SIZE, false);
    let consts = [
        ("START", run_off::START),
        ("BLOCKS", run_off::BLOCKS),
        ("SIZE", run_off::SIZE),
    ];
    let mut es = entry.clone();
    es.push(Field {
        offset: run_off::SIZE,
        size: 0,
        ty: String::new(),
        name: "size".to_string(),
    });
    let by_name = check_offsets_in(&es, &consts, "savedfilter.rs", "pub mod run_off {");
    let h = SavedHeader {
        run_count: 2,
        ..SavedHeader::default()
    };
    let mut b = vec![0u8; bs];
    let r = savedfilter::Run {
        start: 0x0102_0304,
        blocks: 0x0506_0708,
    };
    h.encode(&mut b, &[savedfilter::Run::default(), r], 0, &Crc)
        .unwrap();
    let e = END + run_off::SIZE;
    let s = &by_name["START"];
    assert_eq!(b[e + s.offset..e + s.offset + 4], r.start.to_le_bytes());
    let n = &by_name["BLOCKS"];
    assert_eq!(b[e + n.offset..e + n.offset + 4], r.blocks.to_le_bytes());
    assert_eq!(savedfilter::run(&b, 1), Ok(r));
    assert!(d.contains(&format!(
        "{} entries for 4096-byte blocks",
        savedfilter::run_capacity(4096)
    )));
}
