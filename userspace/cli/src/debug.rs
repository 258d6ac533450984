//! `livedfs debug inode DEVICE INO` and `livedfs debug group DEVICE G`:
//! an inode's fields and block map with each block's refcount and
//! fingerprint; a group's descriptor, bitmaps and fingerprint store.

use crate::report::{Section, Value};
use crate::util::{hex, time_str};
use crate::volume::{Crc, Fe, Volume};
use anyhow::{bail, Result};
use livedfs_format::bitmap;
use livedfs_format::fpstore;
use livedfs_format::group::{bitmap_checksum, BG_BLOCK_UNINIT, BG_FP_UNINIT, BG_INODE_UNINIT};
use livedfs_format::inode::{self, Inode};
use livedfs_format::superblock::{INCOMPAT_UNWRITTEN, RO_COMPAT_XATTR};
use livedfs_format::xattr;
use serde::Serialize;
use serde_json::json;

/// The file type of a mode, in words.
pub fn type_words(mode: u16) -> &'static str {
    match mode & inode::S_IFMT {
        inode::S_IFREG => "regular file",
        inode::S_IFDIR => "directory",
        inode::S_IFLNK => "symbolic link",
        inode::S_IFCHR => "character device",
        inode::S_IFBLK => "block device",
        inode::S_IFIFO => "FIFO",
        inode::S_IFSOCK => "socket",
        _ if mode == 0 => "free",
        _ => "unknown",
    }
}

fn flag_words(flags: u32) -> String {
    let names = [
        (inode::FL_SYNC, "sync"),
        (inode::FL_IMMUTABLE, "immutable"),
        (inode::FL_APPEND, "append"),
        (inode::FL_NODUMP, "nodump"),
        (inode::FL_NOATIME, "noatime"),
        (inode::FL_DIRSYNC, "dirsync"),
        (inode::FL_DAX, "dax"),
    ];
    let mut v: Vec<String> = names
        .iter()
        .filter(|(m, _)| flags & m != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    if flags & !inode::FL_KNOWN != 0 {
        v.push(format!("unknown 0x{:x}", flags & !inode::FL_KNOWN));
    }
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(" ")
    }
}

/// An attribute value in words: an ACL in getfacl's short form, text as
/// text, anything else in hex.
fn value_words(index: u8, v: &[u8]) -> String {
    if xattr::is_acl(index) {
        let mut out = Vec::new();
        for e in v.get(4..).unwrap_or(&[]).chunks_exact(8) {
            let tag = u16::from_le_bytes([e[0], e[1]]);
            let perm = u16::from_le_bytes([e[2], e[3]]);
            let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
            let who = match tag {
                xattr::acl::USER_OBJ => "user:".to_string(),
                xattr::acl::USER => format!("user:{id}"),
                xattr::acl::GROUP_OBJ => "group:".to_string(),
                xattr::acl::GROUP => format!("group:{id}"),
                xattr::acl::MASK => "mask:".to_string(),
                xattr::acl::OTHER => "other:".to_string(),
                t => format!("tag{t:#x}:{id}"),
            };
            let rwx: String = [(4, 'r'), (2, 'w'), (1, 'x')]
                .iter()
                .map(|&(b, c)| if perm & b != 0 { c } else { '-' })
                .collect();
            out.push(format!("{who}:{rwx}"));
        }
        return out.join(",");
    }
    match std::str::from_utf8(v) {
        Ok(t) if t.chars().all(|c| !c.is_control()) => format!("\"{t}\""),
        _ => format!("0x{}", hex(v)),
    }
}

/// The inode's attribute block and its attributes.
fn attributes(vol: &Volume, node: &Inode, s: &mut Section) {
    let b = node.xattr_block;
    if b == 0 {
        s.add("xattr_block", "Attribute block", 0, "(none)");
        s.add("attributes", "Extended attributes", json!([]), "(none)");
        return;
    }
    let block = match vol.read_block(b) {
        Ok(d) => d,
        Err(e) => {
            s.add(
                "xattr_block",
                "Attribute block",
                b,
                format!("{b} (unreadable: {e})"),
            );
            return;
        }
    };
    let v = xattr::verify_block(&block, b, vol.seed, &Crc);
    let (refcount, ok) = match &v {
        Ok(v) => (v.refcount, "ok".to_string()),
        Err(e) => (
            xattr::refcount(&block).unwrap_or(0),
            format!("BAD: {e} (run fsck.livedfs)"),
        ),
    };
    s.add(
        "xattr_block",
        "Attribute block",
        json!({"block": b, "refcount": refcount, "valid": v.is_ok()}),
        format!("{b} (shared by {refcount} inode(s); {ok})"),
    );
    let mut rows = Vec::new();
    let mut text = Vec::new();
    for e in xattr::entries(&block) {
        let Ok(e) = e else { break };
        let prefix = xattr::prefix(e.index).unwrap_or(b"?");
        let name = String::from_utf8_lossy(&[prefix, e.name].concat()).into_owned();
        text.push(format!(
            "{name} ({} bytes) = {}",
            e.value.len(),
            value_words(e.index, e.value)
        ));
        rows.push(json!({"name": name, "length": e.value.len(), "value_hex": hex(e.value)}));
    }
    s.add(
        "attributes",
        "Extended attributes",
        json!(rows),
        if text.is_empty() {
            "(none)".to_string()
        } else {
            format!("\n    {}", text.join("\n    "))
        },
    );
}

/// One mapped block with its store entry.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct MapRow {
    pub file_block: u64,
    pub disk_block: u32,
    pub refcount: u32,
    /// Hex; empty when the entry is free (refcount 0).
    pub fingerprint: String,
}

/// Indirect blocks as (level 1..3, block).
pub type Indirect = Vec<(u8, u32)>;

/// A run of unwritten (preallocated) file blocks, first to last.
#[derive(Debug, Serialize, PartialEq, Eq, Clone, Copy)]
pub struct UnwrittenRun {
    pub first: u64,
    pub last: u64,
}

/// What `debug inode` shows of the block map.
#[derive(Debug, Default)]
pub struct MapDump {
    pub rows: Vec<MapRow>,
    pub indirect: Indirect,
    pub bad: Vec<u32>,
    /// File blocks marked unwritten (no disk block), as runs.
    pub unwritten: Vec<UnwrittenRun>,
}

/// The runs in words: "1-2, 5".
pub fn runs_words(runs: &[UnwrittenRun]) -> String {
    runs.iter()
        .map(|r| {
            if r.first == r.last {
                r.first.to_string()
            } else {
                format!("{}-{}", r.first, r.last)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The block map of an inode, each data block with its refcount and
/// fingerprint, and its unwritten blocks.
pub fn map_rows(vol: &mut Volume, ino: &Inode) -> Result<MapDump> {
    let map = vol.block_map(ino)?;
    let mut rows = Vec::with_capacity(map.data.len());
    for m in &map.data {
        let e = vol.fp_entry(m.disk_block)?;
        rows.push(MapRow {
            file_block: m.file_block,
            disk_block: m.disk_block,
            refcount: e.refcount,
            fingerprint: if e.refcount == 0 {
                String::new()
            } else {
                hex(e.fingerprint.as_slice())
            },
        });
    }
    let unwritten = map
        .unwritten_runs()
        .into_iter()
        .map(|(first, last)| UnwrittenRun { first, last })
        .collect();
    Ok(MapDump {
        rows,
        indirect: map.indirect,
        bad: map.bad_pointers,
        unwritten,
    })
}

/// `debug inode`: the report sections, and the block map.
pub fn inode_report(vol: &mut Volume, ino: u32) -> Result<(Vec<Section>, MapDump)> {
    let (node, csum_ok) = vol.inode(ino)?;
    let g = vol.geo.group_of_ino(ino).fe()?;
    let d = vol.desc(g)?;
    let idx = (ino - 1) % vol.geo.inodes_per_group;
    let never_used = d.desc.flags & BG_INODE_UNINIT != 0
        || idx
            >= vol
                .geo
                .inodes_per_group
                .saturating_sub(d.desc.itable_unused);
    let mut s = Section::new("inode", "");
    s.num("ino", "Inode", u64::from(ino));
    s.num("group", "Group", u64::from(g));
    let (blk, off) = vol.geo.inode_location(ino).fe()?;
    s.add(
        "location",
        "Location",
        json!({"block": blk, "offset": off}),
        format!("block {blk}, byte {off}"),
    );
    s.add(
        "in_use",
        "In use",
        node.in_use(),
        if never_used {
            "no (never initialised: in the unused tail of its group's table)".to_string()
        } else if node.in_use() {
            "yes".to_string()
        } else {
            "no".to_string()
        },
    );
    s.add(
        "checksum_ok",
        "Checksum",
        csum_ok,
        if csum_ok {
            "ok"
        } else if never_used || node.mode == 0 {
            "not valid (a free inode)"
        } else {
            "BAD (run fsck.livedfs)"
        },
    );
    s.add("type", "Type", type_words(node.mode), type_words(node.mode));
    s.add(
        "mode",
        "Mode",
        node.mode,
        format!("0{:o} (permissions 0{:o})", node.mode, node.mode & 0o7777),
    );
    s.num("uid", "Owner uid", u64::from(node.uid));
    s.num("gid", "Owner gid", u64::from(node.gid));
    s.num("links", "Links", u64::from(node.links_count));
    s.num("size", "Size", node.size);
    s.add(
        "blocks",
        "Blocks",
        node.blocks,
        format!(
            "{} (data and indirect blocks mapped, and the attribute block; shared blocks count once per pointer)",
            node.blocks
        ),
    );
    for (key, label, t) in [
        ("atime", "Access time", node.atime),
        ("mtime", "Modification time", node.mtime),
        ("ctime", "Change time", node.ctime),
        ("crtime", "Creation time", node.crtime),
    ] {
        s.add(
            key,
            label,
            json!({"sec": t.sec, "nsec": t.nsec}),
            format!("{} (+{} ns)", time_str(t.sec), t.nsec),
        );
    }
    s.add("dtime", "Deletion time", node.dtime, time_str(node.dtime));
    s.add(
        "flags",
        "Flags",
        json!({"value": node.flags, "words": flag_words(node.flags)}),
        flag_words(node.flags),
    );
    s.num("generation", "Generation", u64::from(node.generation));
    s.num("next_orphan", "Next orphan", u64::from(node.next_orphan));
    s.add(
        "block",
        "block[]",
        json!(node.block),
        node.block
            .iter()
            .enumerate()
            .map(|(k, &b)| {
                if b == inode::UNWRITTEN && node.is_reg() && k < inode::N_DIRECT {
                    "unwritten".to_string()
                } else {
                    b.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    );
    if node.is_device() {
        s.add(
            "device",
            "Device number",
            json!({"major": node.block[0], "minor": node.block[1]}),
            format!("{}:{}", node.block[0], node.block[1]),
        );
    }
    if node.xattr_block != 0 || vol.sb.has_ro_compat(RO_COMPAT_XATTR) {
        attributes(vol, &node, &mut s);
    }
    if node.is_fast_symlink() {
        let bytes = node.fast_symlink_bytes();
        let t =
            String::from_utf8_lossy(&bytes[..(node.size as usize).min(bytes.len())]).into_owned();
        s.add("symlink_target", "Symlink target (fast)", t.clone(), t);
    }
    let dump = if never_used || !node.in_use() {
        MapDump::default()
    } else {
        map_rows(vol, &node)?
    };
    let rows = &dump.rows;
    let shared = rows.iter().filter(|r| r.refcount > 1).count() as u64;
    let unique = rows.iter().filter(|r| r.refcount == 1).count() as u64;
    let meta = rows.iter().filter(|r| r.refcount == 0).count() as u64;
    s.num("mapped_blocks", "Mapped blocks", rows.len() as u64);
    s.num("shared_blocks", "Shared blocks (refcount > 1)", shared);
    s.num("unique_blocks", "Unique blocks (refcount 1)", unique);
    s.num(
        "blocks_without_fingerprint",
        "Blocks without fingerprint",
        meta,
    );
    s.num(
        "indirect_blocks",
        "Indirect blocks",
        dump.indirect.len() as u64,
    );
    let n_unwritten: u64 = dump.unwritten.iter().map(|r| r.last - r.first + 1).sum();
    if n_unwritten > 0 || vol.sb.has_incompat(INCOMPAT_UNWRITTEN) {
        let mut text = n_unwritten.to_string();
        if n_unwritten > 0 {
            text.push_str(&format!(" (file blocks {})", runs_words(&dump.unwritten)));
            if !vol.sb.has_incompat(INCOMPAT_UNWRITTEN) {
                text.push_str(" (the volume lacks the unwritten feature: run fsck.livedfs)");
            }
        }
        s.add(
            "unwritten_blocks",
            "Unwritten blocks (preallocated, no disk block)",
            n_unwritten,
            text,
        );
    }
    let bad = &dump.bad;
    if !bad.is_empty() {
        s.add(
            "bad_pointers",
            "Pointers outside the volume",
            json!(bad),
            format!("{bad:?} (run fsck.livedfs)"),
        );
    }
    Ok((vec![s], dump))
}

pub fn print_map(dump: &MapDump, is_reg: bool) {
    let (rows, indirect) = (&dump.rows, &dump.indirect);
    println!();
    if !dump.unwritten.is_empty() {
        println!(
            "Unwritten (preallocated, reads as zeros, no disk block): file blocks {}",
            runs_words(&dump.unwritten)
        );
    }
    if !indirect.is_empty() {
        let list: Vec<String> = indirect
            .iter()
            .map(|(l, b)| {
                format!(
                    "{b} ({})",
                    ["", "single", "double", "triple", "quadruple"][*l as usize]
                )
            })
            .collect();
        println!("Indirect blocks: {}", list.join(", "));
    }
    if rows.is_empty() {
        println!("Block map: no blocks mapped");
        return;
    }
    println!("Block map ({} blocks mapped):", rows.len());
    println!(
        "  {:>12}  {:>10}  {:>8}  fingerprint",
        "file block", "disk block", "refcount"
    );
    for r in rows {
        let fp = if r.refcount == 0 {
            if is_reg {
                "-".to_string()
            } else {
                "- (metadata: directory or symlink block)".to_string()
            }
        } else {
            r.fingerprint.clone()
        };
        println!(
            "  {:>12}  {:>10}  {:>8}  {fp}",
            r.file_block, r.disk_block, r.refcount
        );
    }
}

/// One fingerprint-store entry in use.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct StoreRow {
    pub block: u32,
    pub refcount: u32,
    pub fingerprint: String,
}

/// `debug group`: the report sections and the store entries in use.
pub fn group_report(vol: &Volume, g: u32) -> Result<(Vec<Section>, Vec<StoreRow>)> {
    let geo = &vol.geo;
    if g >= geo.group_count {
        bail!(
            "group {g} does not exist: groups are 0 to {}",
            geo.group_count - 1
        );
    }
    let l = geo.group(g).fe()?;
    let d = vol.desc(g)?;
    let desc = &d.desc;
    let flag_words = {
        let mut v = Vec::new();
        if desc.flags & BG_INODE_UNINIT != 0 {
            v.push("INODE_UNINIT");
        }
        if desc.flags & BG_BLOCK_UNINIT != 0 {
            v.push("BLOCK_UNINIT");
        }
        if desc.flags & BG_FP_UNINIT != 0 {
            v.push("FP_UNINIT");
        }
        if v.is_empty() {
            "(none)".to_string()
        } else {
            v.join(" ")
        }
    };

    let mut lay = Section::new("layout", "Layout");
    lay.num("group", "Group", u64::from(g));
    lay.add(
        "blocks",
        "Blocks",
        json!({"first": l.first, "end": l.end, "count": l.blocks()}),
        format!(
            "{}..{} ({} blocks)",
            l.first,
            l.end.saturating_sub(1),
            l.blocks()
        ),
    );
    lay.add(
        "superblock_backup",
        "Superblock copy",
        json!(l.super_block),
        match (l.super_block, l.gdt_start) {
            (Some(s), Some(t)) => format!(
                "block {s}{}, descriptor table {}..{}",
                if g == 0 {
                    " (primary, at byte 1024)"
                } else {
                    ""
                },
                t,
                t + geo.gdt_blocks - 1
            ),
            _ => "none".to_string(),
        },
    );
    lay.num(
        "block_bitmap_at",
        "Block bitmap at",
        u64::from(l.block_bitmap),
    );
    lay.num(
        "inode_bitmap_at",
        "Inode bitmap at",
        u64::from(l.inode_bitmap),
    );
    lay.add(
        "inode_table_at",
        "Inode table",
        l.inode_table,
        format!(
            "{}..{} ({} blocks)",
            l.inode_table,
            l.inode_table + geo.itable_blocks - 1,
            geo.itable_blocks
        ),
    );
    lay.add(
        "fp_store_at",
        "Fingerprint store",
        l.fp_store,
        format!(
            "{}..{} ({} blocks{})",
            l.fp_store,
            l.fp_store + geo.fp_blocks_per_group - 1,
            geo.fp_blocks_per_group,
            if geo.fp_at_end {
                ", in the store region at the end"
            } else {
                ""
            }
        ),
    );
    lay.add(
        "data_start",
        "Data region",
        l.data_start,
        format!(
            "{}..{} ({} blocks)",
            l.data_start,
            l.end.saturating_sub(1),
            l.fresh_free_blocks()
        ),
    );

    let mut ds = Section::new("descriptor", "Descriptor");
    ds.add(
        "checksum_ok",
        "Checksum",
        d.csum_ok,
        if d.csum_ok {
            "ok"
        } else {
            "BAD (run fsck.livedfs)"
        },
    );
    let valid = desc.validate(geo, g);
    ds.add(
        "valid",
        "Consistent with the geometry",
        valid.is_ok(),
        match &valid {
            Ok(()) => "yes".to_string(),
            Err(e) => format!("NO: {e}"),
        },
    );
    ds.add(
        "flags",
        "Flags",
        json!({"value": desc.flags, "words": flag_words}),
        flag_words.clone(),
    );
    ds.num("block_bitmap", "block_bitmap", u64::from(desc.block_bitmap));
    ds.num("inode_bitmap", "inode_bitmap", u64::from(desc.inode_bitmap));
    ds.num("inode_table", "inode_table", u64::from(desc.inode_table));
    ds.num("fp_store", "fp_store", u64::from(desc.fp_store));
    ds.num("free_blocks", "Free blocks", u64::from(desc.free_blocks));
    ds.num("free_inodes", "Free inodes", u64::from(desc.free_inodes));
    ds.num("used_dirs", "Directories", u64::from(desc.used_dirs));
    ds.num(
        "itable_unused",
        "Unused inode-table tail",
        u64::from(desc.itable_unused),
    );
    ds.num(
        "fp_used",
        "Store entries in use (fp_used)",
        u64::from(desc.fp_used),
    );
    ds.add(
        "block_bitmap_csum",
        "Block bitmap checksum",
        desc.block_bitmap_csum,
        format!("0x{:08x}", desc.block_bitmap_csum),
    );
    ds.add(
        "inode_bitmap_csum",
        "Inode bitmap checksum",
        desc.inode_bitmap_csum,
        format!("0x{:08x}", desc.inode_bitmap_csum),
    );

    // Bitmaps.
    let mut bm = Section::new("bitmaps", "Bitmaps");
    let nblocks = l.blocks() as usize;
    if desc.flags & BG_BLOCK_UNINIT != 0 {
        bm.add(
            "block_bitmap",
            "Block bitmap",
            json!({"implied": true, "used": l.overhead(), "free": l.fresh_free_blocks()}),
            format!(
                "not written (BLOCK_UNINIT): implied {} used (metadata), {} free",
                l.overhead(),
                l.fresh_free_blocks()
            ),
        );
    } else {
        let b = vol.read_block(l.block_bitmap)?;
        let used = bitmap::count_set(&b, nblocks) as u64;
        let free = nblocks as u64 - used;
        let ok = bitmap_checksum(&b, g, vol.seed, &Crc) == desc.block_bitmap_csum;
        bm.add(
            "block_bitmap",
            "Block bitmap",
            json!({"implied": false, "used": used, "free": free, "checksum_ok": ok,
                   "matches_descriptor": free == u64::from(desc.free_blocks)}),
            format!(
                "{used} used, {free} free{}; checksum {}",
                if free == u64::from(desc.free_blocks) {
                    String::new()
                } else {
                    format!(" (descriptor says {} free)", desc.free_blocks)
                },
                if ok { "ok" } else { "BAD" }
            ),
        );
    }
    let ipg = geo.inodes_per_group as usize;
    if desc.flags & BG_INODE_UNINIT != 0 {
        bm.add(
            "inode_bitmap",
            "Inode bitmap",
            json!({"implied": true, "used": 0, "free": ipg}),
            format!("not written (INODE_UNINIT): all {ipg} inodes free"),
        );
    } else {
        let b = vol.read_block(l.inode_bitmap)?;
        let used = bitmap::count_set(&b, ipg) as u64;
        let free = ipg as u64 - used;
        let ok = b
            .get(..ipg / 8)
            .map(|m| bitmap_checksum(m, g, vol.seed, &Crc) == desc.inode_bitmap_csum)
            .unwrap_or(false);
        bm.add(
            "inode_bitmap",
            "Inode bitmap",
            json!({"implied": false, "used": used, "free": free, "checksum_ok": ok,
                   "matches_descriptor": free == u64::from(desc.free_inodes)}),
            format!(
                "{used} used, {free} free{}; checksum {}",
                if free == u64::from(desc.free_inodes) {
                    String::new()
                } else {
                    format!(" (descriptor says {} free)", desc.free_inodes)
                },
                if ok { "ok" } else { "BAD" }
            ),
        );
    }

    // The store.
    let mut st = Section::new("store", "Fingerprint store");
    let mut rows = Vec::new();
    if desc.flags & BG_FP_UNINIT != 0 {
        st.add(
            "state",
            "State",
            "uninit",
            "never written (FP_UNINIT): every entry free",
        );
    } else {
        let fs = usize::from(geo.fp_algo.size());
        let es = geo.fp_entry_size as usize;
        let mut bad = Vec::new();
        for j in 0..geo.fp_blocks_per_group {
            let blk = vol.read_block(l.fp_store + j)?;
            if let Err(e) = fpstore::verify_block(geo, &blk, g, j, vol.seed, &Crc) {
                bad.push(json!({"index": j, "block": l.fp_store + j, "error": e.to_string()}));
            }
            for e in 0..geo.fp_entries_per_block {
                let Some(b) = geo.fp_entry_block(g, j, e).fe()? else {
                    continue;
                };
                let ent = fpstore::read_entry(&blk, e as usize * es, fs).fe()?;
                if ent.refcount > 0 {
                    rows.push(StoreRow {
                        block: b,
                        refcount: ent.refcount,
                        fingerprint: hex(ent.fingerprint.as_slice()),
                    });
                }
            }
        }
        st.add("state", "State", "written", "written");
        st.add(
            "bad_blocks",
            "Store blocks failing verification",
            Value::Array(bad.clone()),
            if bad.is_empty() {
                "none".to_string()
            } else {
                format!("{} (run fsck.livedfs): {}", bad.len(), Value::Array(bad))
            },
        );
    }
    let n = rows.len() as u64;
    st.add(
        "entries_in_use",
        "Entries in use",
        n,
        if n == u64::from(desc.fp_used) {
            n.to_string()
        } else {
            format!("{n} (descriptor fp_used says {})", desc.fp_used)
        },
    );
    let refs: u64 = rows.iter().map(|r| u64::from(r.refcount)).sum();
    st.num("references", "References (sum of refcounts)", refs);
    st.num(
        "shared_blocks",
        "Shared blocks (refcount > 1)",
        rows.iter().filter(|r| r.refcount > 1).count() as u64,
    );
    Ok((vec![lay, ds, bm, st], rows))
}

pub fn print_store(rows: &[StoreRow]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!("Store entries in use ({}):", rows.len());
    println!("  {:>10}  {:>8}  fingerprint", "block", "refcount");
    for r in rows {
        println!("  {:>10}  {:>8}  {}", r.block, r.refcount, r.fingerprint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(type_words(0o100644), "regular file");
        assert_eq!(type_words(0o040755), "directory");
        assert_eq!(type_words(0), "free");
        assert_eq!(flag_words(0), "(none)");
        assert_eq!(
            flag_words(inode::FL_IMMUTABLE | inode::FL_APPEND),
            "immutable append"
        );
    }
}
