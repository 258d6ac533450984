//! `livedfs info DEVICE|IMAGE`: the superblock and feature summary, in the
//! spirit of `dumpe2fs -h`: every superblock field in words, the derived
//! geometry, the journal, the fingerprint layout and filter parameters.

use crate::report::{Section, Value};
use crate::util::{hex, human, time_str, uuid_str};
use crate::volume::Volume;
use anyhow::Result;
use livedfs_format::filter::FilterParams;
use livedfs_format::jbd2;
use livedfs_format::superblock::*;
use serde_json::json;

/// Names of the feature bits set, in mkfs `-O` words where one exists.
pub fn feature_names(sb: &Superblock) -> Vec<String> {
    let mut v = Vec::new();
    if sb.feature_compat & COMPAT_HAS_JOURNAL != 0 {
        v.push("has_journal".to_string());
    }
    if sb.feature_ro_compat & RO_COMPAT_SPARSE_SUPER != 0 {
        v.push("sparse_super".to_string());
    }
    if sb.feature_ro_compat & RO_COMPAT_UNINIT_BG != 0 {
        v.push("uninit_bg".to_string());
    }
    if sb.feature_ro_compat & RO_COMPAT_XATTR != 0 {
        v.push("xattr".to_string());
    }
    if sb.feature_ro_compat & RO_COMPAT_PREALLOC != 0 {
        v.push("prealloc".to_string());
    }
    if sb.feature_ro_compat & RO_COMPAT_HUGE_FILE != 0 {
        v.push("huge_file".to_string());
    }
    if sb.feature_incompat & INCOMPAT_RECOVER != 0 {
        v.push("needs_recovery".to_string());
    }
    if sb.feature_incompat & INCOMPAT_UNWRITTEN != 0 {
        v.push("unwritten".to_string());
    }
    if sb.feature_incompat & INCOMPAT_FP_AT_END != 0 {
        v.push("^spatial_locality".to_string());
    } else {
        v.push("spatial_locality".to_string());
    }
    match sb.fingerprint_algo() {
        Some(a) => v.push(a.name().to_string()),
        None => v.push(format!("fp_algo_{}", sb.fp_algo)),
    }
    for (word, known, bits) in [
        ("compat", COMPAT_KNOWN, sb.feature_compat),
        ("incompat", INCOMPAT_KNOWN, sb.feature_incompat),
        ("ro_compat", RO_COMPAT_KNOWN, sb.feature_ro_compat),
    ] {
        for bit in 0..32 {
            let m = 1u32 << bit;
            if bits & m != 0 && known & m == 0 {
                v.push(format!("{word}_0x{m:x}"));
            }
        }
    }
    v
}

/// The state flags in words.
pub fn state_words(state: u16) -> String {
    let mut w = Vec::new();
    w.push(if state & STATE_VALID != 0 {
        "clean"
    } else {
        "not clean (mounted without a journal, or not cleanly unmounted)"
    });
    if state & STATE_ERROR != 0 {
        w.push("with errors");
    }
    if state & STATE_ORPHANS != 0 {
        w.push("orphans being processed");
    }
    let unknown = state & !(STATE_VALID | STATE_ERROR | STATE_ORPHANS);
    let mut s = w.join(", ");
    if unknown != 0 {
        s.push_str(&format!(", unknown bits 0x{unknown:x}"));
    }
    s
}

/// The errors behaviour in words.
pub fn errors_words(e: u16) -> String {
    match e {
        ERRORS_CONTINUE => "Continue".to_string(),
        ERRORS_RO => "Remount read-only".to_string(),
        ERRORS_PANIC => "Panic".to_string(),
        x => format!("unknown ({x})"),
    }
}

fn be32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

fn jbd2_incompat_words(f: u32) -> String {
    let names = [
        (0x1, "revoke"),
        (0x2, "64bit"),
        (0x4, "async_commit"),
        (0x8, "csum_v2"),
        (0x10, "csum_v3"),
        (0x20, "fast_commit"),
    ];
    let mut v: Vec<String> = names
        .iter()
        .filter(|(m, _)| f & m != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let unknown = f & !0x3f;
    if unknown != 0 {
        v.push(format!("0x{unknown:x}"));
    }
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(" ")
    }
}

/// The name of a (negative) errno as jbd2 records it.
fn errno_name(e: i32) -> String {
    match -e {
        libc::EIO => "EIO: an I/O error or an error the file system reported".to_string(),
        libc::ESHUTDOWN => "ESHUTDOWN: shut down".to_string(),
        libc::ENOSPC => "ENOSPC".to_string(),
        libc::ENOMEM => "ENOMEM".to_string(),
        libc::EROFS => "EROFS".to_string(),
        n => std::io::Error::from_raw_os_error(n).to_string(),
    }
}

/// blkid's tags for a volume (`blkid -o export`): UUID, LABEL (when set),
/// TYPE, BLOCK_SIZE.
pub fn blkid_tags(vol: &Volume) -> Vec<(&'static str, String)> {
    let mut v = vec![("UUID", uuid_str(&vol.sb.uuid))];
    let label = vol.sb.label_str();
    if !label.is_empty() {
        v.push(("LABEL", label.to_string()));
    }
    v.push(("TYPE", "livedfs".to_string()));
    v.push(("BLOCK_SIZE", vol.geo.block_size.to_string()));
    v
}

/// A value quoted for `eval` in a shell, as `blkid -o export` does:
/// shell-special characters and white space get a backslash.
pub fn shell_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if c.is_whitespace() || "!\"$&'()*,;<>?[\\]^`{|}#~".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// udev's encoding of a string (`ID_FS_LABEL_ENC`, libblkid's
/// `blkid_encode_string`): ASCII letters, digits and `#+-.:=@_` and
/// valid UTF-8 beyond ASCII as they are, every other byte `\xNN`.
pub fn udev_encode(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c) || !c.is_ascii() {
            o.push(c);
        } else {
            o.push_str(&format!("\\x{:02x}", c as u32));
        }
    }
    o
}

/// udev's plain form (`ID_FS_LABEL`, libblkid's `blkid_safe_string`):
/// white space becomes `_`.
pub fn udev_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect()
}

/// The properties `blkid -o udev` would print, for an udev rule's
/// IMPORT{program}: ID_FS_UUID(_ENC), ID_FS_LABEL(_ENC), ID_FS_VERSION,
/// ID_FS_TYPE, ID_FS_USAGE.
pub fn udev_props(vol: &Volume) -> Vec<(&'static str, String)> {
    let uuid = uuid_str(&vol.sb.uuid);
    let mut v = vec![
        ("ID_FS_UUID", uuid.clone()),
        ("ID_FS_UUID_ENC", udev_encode(&uuid)),
    ];
    let label = vol.sb.label_str();
    if !label.is_empty() {
        v.push(("ID_FS_LABEL", udev_safe(label)));
        v.push(("ID_FS_LABEL_ENC", udev_encode(label)));
    }
    v.push((
        "ID_FS_VERSION",
        format!("{}.{}", vol.sb.version_major, vol.sb.version_minor),
    ));
    v.push(("ID_FS_TYPE", "livedfs".to_string()));
    v.push(("ID_FS_USAGE", "filesystem".to_string()));
    v
}

/// The fingerprint filter saved at the last clean unmount (fast mount):
/// "none", "present" (header valid, generation matching the superblock:
/// the next mount loads it if the rest checks), "stale" or "damaged"
/// (the next mount ignores it and builds the filter), with words.
pub fn saved_filter_status(vol: &Volume) -> (&'static str, String) {
    use livedfs_format::csum::volume_seed;
    use livedfs_format::savedfilter::{self, SavedHeader};
    let sb = &vol.sb;
    if !sb.has_saved_filter() {
        return (
            "none",
            "none (the next mount builds the filter)".to_string(),
        );
    }
    let (start, n) = (sb.saved_filter_start, sb.saved_filter_blocks);
    let at = format!("header block {start}, {n} blocks of free space");
    let journal = (sb.journal_start, sb.journal_blocks);
    if let Err(e) = savedfilter::check_location(&vol.geo, start, n, journal) {
        return ("damaged", format!("{at}: bad location ({e})"));
    }
    if sb.saved_filter_gen != savedfilter::generation(sb.mount_count, sb.write_time) {
        return (
            "stale",
            format!("{at}: stale (the superblock was written since); ignored"),
        );
    }
    let seed = volume_seed(&crate::volume::Crc, &sb.uuid);
    let b = match vol.read_block(start) {
        Ok(b) => b,
        Err(e) => return ("damaged", format!("{at}: {e}")),
    };
    let h = match SavedHeader::decode(&b, seed, &crate::volume::Crc) {
        Ok(h) => h,
        Err(e) => return ("damaged", format!("{at}: header {e}; ignored")),
    };
    if h.generation != sb.saved_filter_gen || h.total_blocks() != Some(n) {
        return ("stale", format!("{at}: header of another save; ignored"));
    }
    if let Err(e) = savedfilter::check_runs(&vol.geo, &b, &h, start, journal) {
        return ("damaged", format!("{at}: run table {e}; ignored"));
    }
    let runs: Vec<String> = (0..h.run_count)
        .filter_map(|i| savedfilter::run(&b, i).ok())
        .map(|r| format!("{}..{}", r.start, r.end().saturating_sub(1)))
        .collect();
    (
        "present",
        format!(
            "{at}: {} entries, {} bytes; data in {} run(s): blocks {}; loaded at the next mount",
            h.entries,
            h.data_bytes,
            h.run_count,
            runs.join(", ")
        ),
    )
}

/// Looks up a field for `info -s NAME`: blkid's tags (UUID, LABEL,
/// TYPE, BLOCK_SIZE), a field key of any section ("uuid", "errors"), or
/// "section.key" ("journal.errno"); the superblock's field first. Returns
/// (key, JSON value, text for scripts: a string or number as it is, else
/// the human text).
pub fn lookup(
    vol: &Volume,
    secs: &[Section],
    name: &str,
) -> Option<(String, serde_json::Value, String)> {
    if let Some((_, v)) = blkid_tags(vol).into_iter().find(|(k, _)| *k == name) {
        return Some((name.to_string(), json!(v), v));
    }
    if name == "LABEL" {
        return Some((name.to_string(), json!(""), String::new()));
    }
    let lower = name.to_ascii_lowercase();
    let (sec, key) = match lower.split_once('.') {
        Some((s, k)) => (Some(s.to_string()), k.to_string()),
        None => (None, lower.clone()),
    };
    for s in secs {
        if sec.as_deref().is_some_and(|x| x != s.key) {
            continue;
        }
        if let Some(f) = s.fields.iter().find(|f| f.key == key) {
            let text = match &f.value {
                serde_json::Value::String(v) => v.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => f.text.clone(),
            };
            return Some((lower, f.value.clone(), text));
        }
    }
    None
}

/// Every section of the report.
pub fn sections(vol: &Volume) -> Result<Vec<Section>> {
    let sb = &vol.sb;
    let geo = &vol.geo;
    let bs = u64::from(geo.block_size);
    let mut out = Vec::new();

    let mut s = Section::new("superblock", "");
    let label = sb.label_str();
    s.add(
        "label",
        "Filesystem volume name",
        label,
        if label.is_empty() { "<none>" } else { label },
    );
    let lm = sb.last_mounted_str();
    s.add(
        "last_mounted",
        "Last mounted on",
        lm,
        if lm.is_empty() { "<not available>" } else { lm },
    );
    s.add(
        "uuid",
        "Filesystem UUID",
        uuid_str(&sb.uuid),
        uuid_str(&sb.uuid),
    );
    s.add("magic", "Filesystem magic", "LIVEDFS", "LIVEDFS\\0");
    let ver = format!("{}.{}", sb.version_major, sb.version_minor);
    s.add("version", "Format version", ver.clone(), ver);
    let feats = feature_names(sb);
    s.add(
        "features",
        "Filesystem features",
        json!(feats),
        feats.join(" "),
    );
    s.add(
        "feature_compat",
        "Compatible features",
        sb.feature_compat,
        format!("0x{:08x}", sb.feature_compat),
    );
    s.add(
        "feature_incompat",
        "Incompatible features",
        sb.feature_incompat,
        format!("0x{:08x}", sb.feature_incompat),
    );
    s.add(
        "feature_ro_compat",
        "Read-only compatible features",
        sb.feature_ro_compat,
        format!("0x{:08x}", sb.feature_ro_compat),
    );
    s.add(
        "state",
        "Filesystem state",
        json!({"value": sb.state, "words": state_words(sb.state)}),
        state_words(sb.state),
    );
    s.add(
        "errors",
        "Errors behavior",
        json!({"value": sb.errors, "words": errors_words(sb.errors)}),
        errors_words(sb.errors),
    );
    s.add(
        "checksum_ok",
        "Superblock checksum",
        vol.sb_csum_ok,
        if vol.sb_csum_ok {
            "ok"
        } else {
            "BAD (run fsck.livedfs)"
        },
    );
    s.num("inodes_count", "Inode count", u64::from(sb.inodes_count));
    s.add(
        "blocks_count",
        "Block count",
        sb.blocks_count,
        format!("{} ({})", sb.blocks_count, human(sb.blocks_count * bs)),
    );
    s.add(
        "r_blocks_count",
        "Reserved block count",
        sb.r_blocks_count,
        format!(
            "{} ({})",
            sb.r_blocks_count,
            human(u64::from(sb.r_blocks_count) * bs)
        ),
    );
    s.add(
        "free_blocks",
        "Free blocks",
        sb.free_blocks,
        format!("{} ({})", sb.free_blocks, human(sb.free_blocks * bs)),
    );
    s.num("free_inodes", "Free inodes", u64::from(sb.free_inodes));
    s.num(
        "first_data_block",
        "First block",
        u64::from(sb.first_data_block),
    );
    s.num("block_size", "Block size", bs);
    s.num(
        "log_block_size",
        "Log block size",
        u64::from(sb.log_block_size),
    );
    s.num(
        "blocks_per_group",
        "Blocks per group",
        u64::from(sb.blocks_per_group),
    );
    s.num(
        "inodes_per_group",
        "Inodes per group",
        u64::from(sb.inodes_per_group),
    );
    s.num(
        "inode_blocks_per_group",
        "Inode blocks per group",
        u64::from(geo.itable_blocks),
    );
    s.num("group_count", "Block groups", u64::from(sb.group_count));
    s.num(
        "gdt_blocks",
        "Descriptor-table blocks",
        u64::from(sb.gdt_blocks),
    );
    s.num("inode_size", "Inode size", u64::from(sb.inode_size));
    s.num(
        "desc_size",
        "Group descriptor size",
        u64::from(sb.desc_size),
    );
    s.num("first_ino", "First inode", u64::from(sb.first_ino));
    s.add(
        "max_file_size",
        "Maximum file size",
        geo.max_file_size(),
        format!(
            "{} bytes ({})",
            geo.max_file_size(),
            human(geo.max_file_size())
        ),
    );
    for (key, label, t) in [
        ("mkfs_time", "Filesystem created", sb.mkfs_time),
        ("mount_time", "Last mount time", sb.mount_time),
        ("write_time", "Last write time", sb.write_time),
        ("lastcheck_time", "Last checked", sb.lastcheck_time),
    ] {
        s.add(key, label, t, time_str(t));
    }
    s.num("mount_count", "Mount count", u64::from(sb.mount_count));
    s.add(
        "max_mount_count",
        "Maximum mount count",
        sb.max_mount_count,
        if sb.max_mount_count == 0 {
            "0 (no check by count)".to_string()
        } else {
            sb.max_mount_count.to_string()
        },
    );
    s.add(
        "checkinterval",
        "Check interval",
        sb.checkinterval,
        if sb.checkinterval == 0 {
            "0 (none)".to_string()
        } else {
            format!("{} seconds", sb.checkinterval)
        },
    );
    s.add(
        "kbytes_written",
        "Lifetime writes",
        sb.kbytes_written,
        human(sb.kbytes_written.saturating_mul(1024)),
    );
    s.num(
        "def_resuid",
        "Reserved blocks uid",
        u64::from(sb.def_resuid),
    );
    s.num(
        "def_resgid",
        "Reserved blocks gid",
        u64::from(sb.def_resgid),
    );
    s.add(
        "default_mount_opts",
        "Default mount options",
        sb.default_mount_opts,
        crate::tune::mount_opts_words(sb.default_mount_opts),
    );
    s.add(
        "orphan_head",
        "First orphan inode",
        sb.orphan_head,
        if sb.orphan_head == 0 {
            "0 (none)".to_string()
        } else {
            sb.orphan_head.to_string()
        },
    );
    s.add(
        "hash_seed",
        "Directory hash seed",
        hex(&sb.hash_seed),
        hex(&sb.hash_seed),
    );
    out.push(s);

    // Fingerprints and the filter.
    let mut s = Section::new("fingerprints", "Deduplication");
    let algo = sb
        .fingerprint_algo()
        .map(|a| a.name().to_string())
        .unwrap_or_else(|| format!("unknown ({})", sb.fp_algo));
    s.add(
        "algorithm",
        "Fingerprint algorithm",
        json!({"code": sb.fp_algo, "name": algo}),
        format!("{algo} ({}-byte fingerprints)", sb.fp_size),
    );
    s.num("fp_size", "Fingerprint size", u64::from(sb.fp_size));
    s.num(
        "fp_entry_size",
        "Store entry size",
        u64::from(sb.fp_entry_size),
    );
    s.num(
        "fp_entries_per_block",
        "Store entries per block",
        u64::from(sb.fp_entries_per_block),
    );
    s.num(
        "fp_blocks_per_group",
        "Store blocks per group",
        u64::from(sb.fp_blocks_per_group),
    );
    if geo.fp_at_end {
        s.add(
            "layout",
            "Store placement",
            "end",
            format!(
                "at the end of the device (no spatial locality), blocks {}..{}",
                sb.fp_region_start,
                geo.blocks_count.saturating_sub(1)
            ),
        );
    } else {
        s.add(
            "layout",
            "Store placement",
            "group",
            "in each group, before its data region (spatial locality)",
        );
    }
    s.num(
        "fp_region_start",
        "Store region start",
        u64::from(sb.fp_region_start),
    );
    let descs = vol.descs()?;
    let used: u64 = descs.iter().map(|d| u64::from(d.desc.fp_used)).sum();
    let groups_with_data = descs.iter().filter(|d| d.desc.fp_used > 0).count() as u64;
    s.add(
        "fp_entries_used",
        "Store entries in use",
        used,
        format!("{used} (data blocks stored; {groups_with_data} groups hold data)"),
    );
    s.num("groups_with_data", "Groups holding data", groups_with_data);
    let bad_descs = descs.iter().filter(|d| !d.csum_ok).count() as u64;
    s.add(
        "bad_descriptors",
        "Descriptors with bad checksums",
        bad_descs,
        if bad_descs == 0 {
            "0".to_string()
        } else {
            format!("{bad_descs} (run fsck.livedfs)")
        },
    );
    let fp = FilterParams::for_blocks(u64::from(geo.blocks_count));
    s.num(
        "filter_index_bits",
        "Filter index bits (n)",
        u64::from(fp.index_bits),
    );
    s.num(
        "filter_bucket_bits",
        "Filter bucket bits (k)",
        u64::from(fp.bucket_bits),
    );
    let slots = geo.fp_slots();
    s.add(
        "filter_slots",
        "Filter slots",
        slots.count(),
        format!(
            "{} ({} store blocks each: an entry names its slot, not its block)",
            slots.count(),
            slots.span()
        ),
    );
    let rate = fp.false_candidate_log2(u64::from(geo.blocks_count));
    s.add(
        "filter_false_candidate_log2",
        "Filter false-candidate rate",
        rate,
        format!("2^{rate} per lookup (volume full)"),
    );
    let (state, text) = saved_filter_status(vol);
    s.add("saved_filter", "Saved filter", state, text);
    out.push(s);

    // Journal.
    let mut s = Section::new("journal", "Journal");
    if sb.has_compat(COMPAT_HAS_JOURNAL) {
        s.num("start", "Journal start block", u64::from(sb.journal_start));
        s.add(
            "blocks",
            "Journal size",
            sb.journal_blocks,
            format!(
                "{} blocks ({})",
                sb.journal_blocks,
                human(u64::from(sb.journal_blocks) * bs)
            ),
        );
        let g = geo.group_of_block(sb.journal_start).unwrap_or(0);
        s.num("group", "Journal group", u64::from(g));
        s.add(
            "needs_recovery",
            "Needs recovery",
            sb.has_incompat(INCOMPAT_RECOVER),
            if sb.has_incompat(INCOMPAT_RECOVER) {
                "yes (replayed at the next mount or by fsck.livedfs)"
            } else {
                "no"
            },
        );
        match vol.read_block(sb.journal_start) {
            Ok(jb) if be32(&jb, jbd2::off::MAGIC) == jbd2::MAGIC => {
                let btype = be32(&jb, jbd2::off::BLOCKTYPE);
                s.add(
                    "sb_version",
                    "Journal superblock",
                    btype,
                    match btype {
                        jbd2::SUPERBLOCK_V2 => "jbd2 v2".to_string(),
                        jbd2::SUPERBLOCK_V1 => "jbd2 v1".to_string(),
                        x => format!("unexpected block type {x}"),
                    },
                );
                let start = be32(&jb, jbd2::off::START);
                s.add(
                    "log_start",
                    "Journal log start",
                    start,
                    if start == 0 {
                        "0 (clean: nothing to replay)".to_string()
                    } else {
                        format!("{start} (transactions to replay)")
                    },
                );
                s.num(
                    "sequence",
                    "Journal sequence",
                    u64::from(be32(&jb, jbd2::off::SEQUENCE)),
                );
                s.num(
                    "first",
                    "Journal first log block",
                    u64::from(be32(&jb, jbd2::off::FIRST)),
                );
                s.num(
                    "maxlen",
                    "Journal end (maxlen)",
                    u64::from(be32(&jb, jbd2::off::MAXLEN)),
                );
                let inc = be32(&jb, jbd2::off::FEATURE_INCOMPAT);
                s.add(
                    "features",
                    "Journal features",
                    json!({"incompat": inc, "words": jbd2_incompat_words(inc)}),
                    jbd2_incompat_words(inc),
                );
                let ct = jb.get(jbd2::off::CHECKSUM_TYPE).copied().unwrap_or(0);
                s.add(
                    "checksum_type",
                    "Journal checksum type",
                    ct,
                    match ct {
                        0 => "none".to_string(),
                        jbd2::CSUM_TYPE_CRC32C => "crc32c".to_string(),
                        x => format!("{x}"),
                    },
                );
                // jbd2 stores a negative errno (-EIO is -5) in a be32.
                let errno = be32(&jb, jbd2::off::ERRNO) as i32;
                s.add(
                    "errno",
                    "Journal errno",
                    errno,
                    match errno {
                        0 => "0 (no error recorded)".to_string(),
                        e => format!("{e} ({})", errno_name(e)),
                    },
                );
            }
            Ok(_) => {
                s.add(
                    "sb_version",
                    "Journal superblock",
                    Value::Null,
                    "MISSING (no jbd2 magic; run fsck.livedfs)",
                );
            }
            Err(e) => {
                s.add(
                    "sb_version",
                    "Journal superblock",
                    Value::Null,
                    format!("unreadable: {e}"),
                );
            }
        }
    } else {
        s.add("present", "Journal", false, "none (nojournal volume)");
    }
    out.push(s);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_errors_in_words() {
        assert_eq!(state_words(STATE_VALID), "clean");
        assert_eq!(
            state_words(STATE_ERROR),
            "not clean (mounted without a journal, or not cleanly unmounted), with errors"
        );
        assert_eq!(errors_words(ERRORS_RO), "Remount read-only");
        assert_eq!(errors_words(9), "unknown (9)");
        assert_eq!(jbd2_incompat_words(0x12), "64bit csum_v3");
        assert_eq!(jbd2_incompat_words(0), "(none)");
        assert_eq!(errno_name(-5).split(':').next(), Some("EIO"));
    }

    #[test]
    fn fallocate_features_have_names() {
        let sb = Superblock {
            feature_incompat: INCOMPAT_UNWRITTEN,
            feature_ro_compat: RO_COMPAT_PREALLOC,
            ..Superblock::default()
        };
        let v = feature_names(&sb);
        assert!(v.iter().any(|f| f == "unwritten"), "{v:?}");
        assert!(v.iter().any(|f| f == "prealloc"), "{v:?}");
        assert!(!v.iter().any(|f| f.contains("0x")), "{v:?}");
    }

    #[test]
    fn identification_strings() {
        assert_eq!(shell_escape("vm images"), "vm\\ images");
        assert_eq!(shell_escape("a$b"), "a\\$b");
        assert_eq!(shell_escape("plain-1.0"), "plain-1.0");
        assert_eq!(udev_encode("vm images/1"), "vm\\x20images\\x2f1");
        assert_eq!(udev_encode("été"), "été");
        assert_eq!(udev_safe("vm images"), "vm_images");
    }
}
