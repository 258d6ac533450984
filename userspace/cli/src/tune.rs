//! `livedfs tune DEVICE`: change the superblock's adjustable fields of an
//! unmounted volume, as tune2fs does for ext4: the label (`-L`), the UUID
//! (`-U`), the errors behaviour (`-e`), the default mount options (`-o`),
//! the maximum mount count and current mount count (`-c`, `-C`), the
//! check interval (`-i`) and features that can be turned on in place
//! (`-O huge_file`). The backup superblocks get the same change.
//!
//! **Only unmounted volumes.** The kernel keeps the whole superblock in
//! memory and writes it back whole (at every sync, remount and unmount),
//! and the superblock block goes through the journal: a field written
//! beside a mounted kernel is overwritten by its copy, or brought back by
//! a journal replay, and the write races with the kernel's. No field is
//! safe, so a mounted volume is refused (ext4 has ioctls for an online
//! label change; the livedfs module has none). A volume whose journal
//! needs recovery is refused as well: the replay would write back the
//! journaled superblock.
//!
//! **The UUID seeds every metadata checksum** (format.md, "Checksums").
//! Changing it rewrites every checksummed structure with a checksum from
//! the new seed: the descriptors (and the bitmap checksums they hold), the
//! inodes, the directory blocks, the fingerprint-store blocks, the backup
//! descriptor tables, and the journal superblock (its UUID, and its
//! checksum). Only the checksum fields change. First every structure is
//! checked under the old seed, and nothing is written if one fails (run
//! fsck.livedfs). The superblocks are written last, so an interrupted
//! change leaves the old UUID in the superblock and a mix of old and new
//! checksums elsewhere: running the same `-U NEW` again finishes it (a
//! structure whose checksum already matches the new seed is left as is).
//! ext4's alternative, a separately stored checksum seed
//! (`metadata_csum_seed`), would need a new incompatible feature that the
//! module does not know.

use crate::util::{mounted_at, uuid_str};
use crate::volume::{Crc, Fe, Volume};
use anyhow::{bail, ensure, Context, Result};
use livedfs_format::codec::{get_u16, get_u32, put_u32};
use livedfs_format::csum::volume_seed;
use livedfs_format::dirent;
use livedfs_format::fpstore;
use livedfs_format::group::{
    self, bitmap_checksum, GroupDesc, BG_BLOCK_UNINIT, BG_FP_UNINIT, BG_INODE_UNINIT,
};
use livedfs_format::inode::{self, Inode, S_IFDIR, S_IFMT};
use livedfs_format::jbd2;
use livedfs_format::superblock::*;
use livedfs_format::{bitmap, Geometry, Superblock, DESC_SIZE, FIRST_INO, INODE_SIZE, ROOT_INO};
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Whether the kernel module applies `default_mount_opts` at mount (it
/// does: rust/super_.rs `apply_options`); when false, `tune -o` would say
/// they are only recorded.
pub const KERNEL_APPLIES_DEFAULT_MOUNT_OPTS: bool = true;

/// Largest `-c` (as tune2fs).
pub const MAX_MOUNT_COUNT: u32 = 16000;
/// Largest `-i`: a year, as tune2fs.
pub const MAX_CHECK_INTERVAL: u32 = 365 * 86400;

/// What to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub label: Option<[u8; LABEL_LEN]>,
    pub uuid: Option<[u8; 16]>,
    pub errors: Option<u16>,
    /// Bits to set, bits to clear in `default_mount_opts`.
    pub mount_opts: Option<(u32, u32)>,
    pub max_mount_count: Option<u32>,
    pub mount_count: Option<u32>,
    pub checkinterval: Option<u32>,
    /// Read-only-compatible features to turn on (`-O`).
    pub ro_compat_set: Option<u32>,
}

impl Request {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One field changed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    pub field: &'static str,
    pub old: String,
    pub new: String,
}

/// Structures rewritten for a UUID change.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Resealed {
    pub descriptors: u64,
    pub block_bitmaps: u64,
    pub inode_bitmaps: u64,
    pub inodes: u64,
    pub directory_blocks: u64,
    pub store_blocks: u64,
    pub journal_superblock: bool,
    pub backup_descriptor_tables: u64,
    /// Structures whose checksum already matched the new UUID (an
    /// interrupted change finished).
    pub already_new: u64,
    /// Free or reserved inodes whose checksum matched neither UUID (never
    /// read by the kernel; left as they are).
    pub unused_inodes_skipped: u64,
}

/// What `tune` did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub changes: Vec<Change>,
    pub dry_run: bool,
    /// Backup superblocks written.
    pub backup_superblocks: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resealed: Option<Resealed>,
    /// Things the operator should know (e.g. the kernel does not apply
    /// default mount options yet).
    pub notes: Vec<String>,
}

/// Parses `-O`: features that can be turned on in place. Only
/// `huge_file`: it changes nothing already on the disk (files may then
/// grow past the triple-indirect map). Turning it off would need every
/// file checked, and no other feature can change in place.
pub fn parse_features(s: &str) -> Result<u32> {
    let mut set = 0;
    for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        match item {
            "huge_file" => set |= RO_COMPAT_HUGE_FILE,
            "^huge_file" => bail!(
                "-O ^huge_file: huge_file cannot be turned off in place (a file may already \
                 use the quadruple-indirect map); copy the files to a volume made with \
                 mkfs.livedfs -O ^huge_file"
            ),
            other => bail!(
                "-O {other}: only huge_file can be turned on in place; the other features \
                 are chosen at mkfs"
            ),
        }
    }
    Ok(set)
}

/// Parses `-L`: at most 32 bytes; empty clears the label.
pub fn parse_label(s: &str) -> Result<[u8; LABEL_LEN]> {
    let b = s.as_bytes();
    ensure!(
        b.len() <= LABEL_LEN,
        "the label is {} bytes long; at most {LABEL_LEN} bytes fit",
        b.len()
    );
    let mut l = [0u8; LABEL_LEN];
    l[..b.len()].copy_from_slice(b);
    Ok(l)
}

/// Parses `-U`: a UUID, `random` (version 4), `time` (version 1) or
/// `clear` (all zero), as tune2fs.
pub fn parse_uuid(s: &str) -> Result<[u8; 16]> {
    let u = match s {
        "random" => uuid::Uuid::new_v4(),
        "time" => {
            let mut node = [0u8; 6];
            node.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..6]);
            node[0] |= 1; // a random node id is multicast (RFC 4122 4.5)
            uuid::Uuid::now_v1(&node)
        }
        "clear" | "null" => uuid::Uuid::nil(),
        _ => uuid::Uuid::parse_str(s).map_err(|_| {
            anyhow::anyhow!(
                "-U {s}: give a UUID such as 1b4e28ba-2fa1-11d2-883f-0016d3cca427, or random, \
                 time or clear"
            )
        })?,
    };
    Ok(*u.as_bytes())
}

/// Parses `-e`.
pub fn parse_errors(s: &str) -> Result<u16> {
    Ok(match s {
        "continue" => ERRORS_CONTINUE,
        "remount-ro" => ERRORS_RO,
        "panic" => ERRORS_PANIC,
        _ => bail!("-e {s}: the errors behaviour is continue, remount-ro or panic"),
    })
}

/// The mount option named by a `default_mount_opts` bit.
fn defm_bit(name: &str) -> Option<u32> {
    DEFM_NAMES.iter().find(|(_, n)| *n == name).map(|(b, _)| *b)
}

/// Parses `-o [^]option[,...]` into (set, clear).
pub fn parse_mount_opts(s: &str) -> Result<(u32, u32)> {
    let (mut set, mut clear) = (0u32, 0u32);
    for item in s.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (on, name) = match item.strip_prefix('^') {
            Some(n) => (false, n),
            None => (true, item),
        };
        let Some(bit) = defm_bit(name) else {
            let known: Vec<&str> = DEFM_NAMES.iter().map(|(_, n)| *n).collect();
            bail!(
                "-o {item}: {name} is not a default mount option livedfs records; \
                 known: {} (prefix ^ to clear one)",
                known.join(", ")
            );
        };
        if on {
            set |= bit;
            clear &= !bit;
            // verify and noverify exclude each other.
            if bit == DEFM_VERIFY {
                clear |= DEFM_NOVERIFY;
                set &= !DEFM_NOVERIFY;
            } else if bit == DEFM_NOVERIFY {
                clear |= DEFM_VERIFY;
                set &= !DEFM_VERIFY;
            }
        } else {
            clear |= bit;
            set &= !bit;
        }
    }
    Ok((set, clear))
}

/// The default mount options in words ("(none)" for 0).
pub fn mount_opts_words(v: u32) -> String {
    let mut w: Vec<String> = DEFM_NAMES
        .iter()
        .filter(|(b, _)| v & b != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let known: u32 = DEFM_NAMES.iter().map(|(b, _)| b).fold(0, |a, b| a | b);
    if v & !known != 0 {
        w.push(format!("0x{:x}", v & !known));
    }
    if w.is_empty() {
        "(none)".to_string()
    } else {
        w.join(",")
    }
}

/// Parses `-c`: a count, 0 or -1 (no check by count), or `random` (20 to
/// 40, as tune2fs, so volumes made together are not all checked at the
/// same boot).
pub fn parse_max_mount_count(s: &str) -> Result<u32> {
    if s == "random" {
        let r = uuid::Uuid::new_v4().as_bytes()[0];
        return Ok(20 + u32::from(r) % 21);
    }
    match s.parse::<i64>() {
        Ok(-1) => Ok(0),
        Ok(n) if (0..=i64::from(MAX_MOUNT_COUNT)).contains(&n) => Ok(n as u32),
        _ => bail!("-c {s}: the maximum mount count is 0 to {MAX_MOUNT_COUNT}, -1 or random"),
    }
}

/// Parses `-C`: the mount count.
pub fn parse_mount_count(s: &str) -> Result<u32> {
    s.parse::<u32>()
        .ok()
        .filter(|&n| n <= 65535)
        .with_context(|| format!("-C {s}: the mount count is 0 to 65535"))
}

/// Parses `-i`: a number of days, or with a suffix `d` (days), `w`
/// (weeks), `m` (months of 30 days) or `s` (seconds), as tune2fs; 0
/// disables the check by time.
pub fn parse_interval(s: &str) -> Result<u32> {
    let bad = || {
        anyhow::anyhow!(
            "-i {s}: the check interval is a number with d (days, the default), w (weeks), \
             m (months) or s (seconds), at most a year; 0 disables it"
        )
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit {
        "" | "d" | "D" => 86400,
        "w" | "W" => 7 * 86400,
        "m" | "M" => 30 * 86400,
        "s" | "S" => 1,
        _ => return Err(bad()),
    };
    let v = n.checked_mul(mult).ok_or_else(bad)?;
    ensure!(v <= u64::from(MAX_CHECK_INTERVAL), bad());
    Ok(v as u32)
}

fn interval_words(s: u32) -> String {
    if s == 0 {
        "0 (none)".to_string()
    } else if s.is_multiple_of(86400) {
        format!("{s} seconds ({} days)", s / 86400)
    } else {
        format!("{s} seconds")
    }
}

/// A volume opened for writing.
struct Dev {
    file: File,
    geo: Geometry,
}

impl Dev {
    fn read_block(&self, b: u32) -> Result<Vec<u8>> {
        ensure!(b < self.geo.blocks_count, "block {b} is past the volume");
        let mut buf = vec![0u8; self.geo.block_size as usize];
        self.file
            .read_exact_at(&mut buf, self.geo.block_offset(b))
            .with_context(|| format!("cannot read block {b}"))?;
        Ok(buf)
    }

    fn write_block(&self, b: u32, data: &[u8]) -> Result<()> {
        ensure!(b < self.geo.blocks_count, "block {b} is past the volume");
        ensure!(data.len() == self.geo.block_size as usize, "short block");
        self.file
            .write_all_at(data, self.geo.block_offset(b))
            .with_context(|| format!("cannot write block {b}"))
    }

    fn sync(&self) -> Result<()> {
        self.file.sync_all().context("cannot flush the device")
    }
}

/// Opens `path` for writing, refusing a mounted volume: the mount table
/// says so, or (block devices) the kernel holds it exclusively (O_EXCL
/// fails with EBUSY while it is mounted).
fn open_rw(path: &Path) -> Result<File> {
    if let Some(m) = mounted_at(path) {
        bail!(
            "{} is mounted on {m}: unmount it first (the kernel keeps its own copy of the \
             superblock and would write it back over the change)",
            path.display()
        );
    }
    let is_blk = std::fs::metadata(path)
        .with_context(|| format!("cannot stat {}", path.display()))?
        .file_type()
        .is_block_device();
    let mut o = OpenOptions::new();
    o.read(true).write(true);
    if is_blk {
        o.custom_flags(libc::O_EXCL);
    }
    o.open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::EBUSY) {
            anyhow::anyhow!(
                "{} is in use (mounted, perhaps in another mount namespace, or held by \
                 another program): unmount it first",
                path.display()
            )
        } else {
            anyhow::Error::new(e).context(format!("cannot open {} for writing", path.display()))
        }
    })
}

/// Which seed a stored checksum matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seal {
    Old,
    New,
    Neither,
}

fn seal_of(stored: u32, old: u32, new: u32) -> Seal {
    if stored == old {
        Seal::Old
    } else if stored == new {
        Seal::New
    } else {
        Seal::Neither
    }
}

/// Rewrites (with `write`; else only checks) every checksummed
/// structure from seed `old` to seed `new`. `sb` is the volume's
/// superblock (old UUID), `new_uuid` the journal's new UUID.
fn reseal(
    dev: &Dev,
    vol: &Volume,
    sb: &Superblock,
    old: u32,
    new: u32,
    new_uuid: &[u8; 16],
    write: bool,
) -> Result<Resealed> {
    let geo = dev.geo;
    let bs = geo.block_size as usize;
    let ipg = geo.inodes_per_group;
    let mut r = Resealed::default();
    let fail = |what: String| -> anyhow::Error {
        anyhow::anyhow!(
            "{what} fails its checksum under the volume's UUID (and under the new one): \
             nothing was changed; run fsck.livedfs -f first"
        )
    };
    // The primary descriptor table, whole blocks.
    let gdt_first = geo.first_data_block + 1;
    let mut table = Vec::with_capacity(geo.gdt_blocks as usize * bs);
    for k in 0..geo.gdt_blocks {
        table.extend_from_slice(&dev.read_block(gdt_first + k)?);
    }
    let mut dirs: Vec<(u32, Inode)> = Vec::new();
    for g in 0..geo.group_count {
        let at = g as usize * DESC_SIZE as usize;
        let raw = &mut table[at..at + DESC_SIZE as usize];
        let d = GroupDesc::decode_fields(raw).fe()?;
        let stored = get_u32(raw, group::off::CHECKSUM).fe()?;
        let dseal = seal_of(
            stored,
            GroupDesc::checksum_of(raw, g, old, &Crc).fe()?,
            GroupDesc::checksum_of(raw, g, new, &Crc).fe()?,
        );
        if dseal == Seal::Neither {
            return Err(fail(format!("group {g}'s descriptor")));
        }
        d.validate(&geo, g)
            .fe()
            .with_context(|| format!("group {g}'s descriptor: run fsck.livedfs -f first"))?;
        let l = geo.group(g).fe()?;
        // Bitmaps: their checksums live in the descriptor.
        let mut inode_map = None;
        for (uninit, blk, field, len, what) in [
            (
                BG_BLOCK_UNINIT,
                l.block_bitmap,
                group::off::BLOCK_BITMAP_CSUM,
                bs,
                "block bitmap",
            ),
            (
                BG_INODE_UNINIT,
                l.inode_bitmap,
                group::off::INODE_BITMAP_CSUM,
                ipg as usize / 8,
                "inode bitmap",
            ),
        ] {
            if d.flags & uninit != 0 {
                continue;
            }
            let map = dev.read_block(blk)?;
            let stored = get_u32(raw, field).fe()?;
            match seal_of(
                stored,
                bitmap_checksum(&map[..len], g, old, &Crc),
                bitmap_checksum(&map[..len], g, new, &Crc),
            ) {
                Seal::Neither => return Err(fail(format!("group {g}'s {what}"))),
                Seal::New => r.already_new += 1,
                Seal::Old => {
                    put_u32(raw, field, bitmap_checksum(&map[..len], g, new, &Crc)).fe()?;
                    if uninit == BG_BLOCK_UNINIT {
                        r.block_bitmaps += 1;
                    } else {
                        r.inode_bitmaps += 1;
                    }
                }
            }
            if uninit == BG_INODE_UNINIT {
                inode_map = Some(map);
            }
        }
        let c = GroupDesc::checksum_of(raw, g, new, &Crc).fe()?;
        if dseal == Seal::Old || c != stored {
            put_u32(raw, group::off::CHECKSUM, c).fe()?;
            r.descriptors += 1;
        } else {
            r.already_new += 1;
        }
        // Inodes: the initialised part of the table.
        if let Some(map) = &inode_map {
            let used = ipg - d.itable_unused.min(ipg);
            let ipb = geo.inodes_per_block;
            for k in 0..used.div_ceil(ipb) {
                let blk = l.inode_table + k;
                let mut data = dev.read_block(blk)?;
                let mut dirty = false;
                for s in 0..ipb {
                    let idx = k * ipb + s;
                    if idx >= used {
                        break;
                    }
                    let ino = g * ipg + idx + 1;
                    let at = (s * INODE_SIZE) as usize;
                    let raw = &mut data[at..at + INODE_SIZE as usize];
                    // Reserved inodes (1, 3 to 10) are zero and never read;
                    // fsck checks neither them nor free inodes.
                    let in_use =
                        bitmap::test(map, idx as usize) && (ino >= FIRST_INO || ino == ROOT_INO);
                    if raw.iter().all(|&b| b == 0) {
                        continue;
                    }
                    let gen = get_u32(raw, inode::off::GENERATION).fe()?;
                    let stored = get_u32(raw, inode::off::CHECKSUM).fe()?;
                    match seal_of(
                        stored,
                        Inode::checksum_of(raw, ino, gen, old, &Crc).fe()?,
                        Inode::checksum_of(raw, ino, gen, new, &Crc).fe()?,
                    ) {
                        Seal::Neither if in_use => return Err(fail(format!("inode {ino}"))),
                        Seal::Neither => {
                            r.unused_inodes_skipped += 1;
                            continue;
                        }
                        Seal::New => r.already_new += 1,
                        Seal::Old => {
                            let c = Inode::checksum_of(raw, ino, gen, new, &Crc).fe()?;
                            put_u32(raw, inode::off::CHECKSUM, c).fe()?;
                            r.inodes += 1;
                            dirty = true;
                        }
                    }
                    let mode = get_u16(raw, inode::off::MODE).fe()?;
                    if in_use && mode & S_IFMT == S_IFDIR {
                        dirs.push((ino, Inode::decode_fields(raw).fe()?));
                    }
                }
                if dirty && write {
                    dev.write_block(blk, &data)?;
                }
            }
        }
        // The fingerprint store.
        if d.flags & BG_FP_UNINIT == 0 {
            for j in 0..geo.fp_blocks_per_group {
                let blk = l.fp_store + j;
                let mut data = dev.read_block(blk)?;
                let stored = get_u32(&data, bs - 4).fe()?;
                match seal_of(
                    stored,
                    fpstore::checksum_of(&data, g, j, old, &Crc).fe()?,
                    fpstore::checksum_of(&data, g, j, new, &Crc).fe()?,
                ) {
                    Seal::Neither => {
                        return Err(fail(format!("group {g}'s fingerprint-store block {j}")))
                    }
                    Seal::New => r.already_new += 1,
                    Seal::Old => {
                        fpstore::set_checksum(&mut data, g, j, new, &Crc).fe()?;
                        r.store_blocks += 1;
                        if write {
                            dev.write_block(blk, &data)?;
                        }
                    }
                }
            }
        }
    }
    // Directory blocks, with their directory's number and generation.
    for (ino, i) in &dirs {
        let map = vol.block_map(i)?;
        ensure!(
            map.bad_pointers.is_empty(),
            "directory {ino} points outside the volume: run fsck.livedfs -f first"
        );
        for m in &map.data {
            let mut data = dev.read_block(m.disk_block)?;
            let stored = get_u32(&data, bs - 4).fe()?;
            match seal_of(
                stored,
                dirent::checksum_of(&data, *ino, i.generation, old, &Crc).fe()?,
                dirent::checksum_of(&data, *ino, i.generation, new, &Crc).fe()?,
            ) {
                Seal::Neither => {
                    return Err(fail(format!(
                        "block {} of directory {ino} (disk block {})",
                        m.file_block, m.disk_block
                    )))
                }
                Seal::New => r.already_new += 1,
                Seal::Old => {
                    dirent::set_checksum(&mut data, *ino, i.generation, new, &Crc).fe()?;
                    r.directory_blocks += 1;
                    if write {
                        dev.write_block(m.disk_block, &data)?;
                    }
                }
            }
        }
    }
    // The journal superblock: its UUID (and first user), and its checksum.
    if sb.has_compat(COMPAT_HAS_JOURNAL) {
        let js = sb.journal_start;
        let mut jb = dev.read_block(js)?;
        ensure!(
            livedfs_format::codec::get_be32(&jb, jbd2::off::MAGIC).fe()? == jbd2::MAGIC,
            "the journal superblock (block {js}) has no jbd2 magic: run fsck.livedfs -f first"
        );
        let csum = jbd2::superblock_has_csum(&jb).fe()?;
        if csum {
            let stored = livedfs_format::codec::get_be32(&jb, jbd2::off::CHECKSUM).fe()?;
            ensure!(
                stored == jbd2::superblock_checksum(&jb, &Crc).fe()?,
                "the journal superblock fails its checksum: nothing was changed; run \
                 fsck.livedfs -f first"
            );
        }
        let old_uuid = sb.uuid;
        let mut changed = false;
        if jb[jbd2::off::UUID..jbd2::off::UUID + 16] != new_uuid[..] {
            jb[jbd2::off::UUID..jbd2::off::UUID + 16].copy_from_slice(new_uuid);
            changed = true;
        }
        let u0 = jbd2::off::USERS..jbd2::off::USERS + 16;
        if jb[u0.clone()] == old_uuid[..] && old_uuid != *new_uuid {
            jb[u0].copy_from_slice(new_uuid);
            changed = true;
        }
        if changed {
            if csum {
                let c = jbd2::superblock_checksum(&jb, &Crc).fe()?;
                livedfs_format::codec::put_be32(&mut jb, jbd2::off::CHECKSUM, c).fe()?;
            }
            r.journal_superblock = true;
            if write {
                dev.write_block(js, &jb)?;
            }
        } else {
            r.already_new += 1;
        }
    }
    if write {
        // The primary descriptor table, then its copies.
        for (k, chunk) in table.chunks(bs).enumerate() {
            dev.write_block(gdt_first + k as u32, chunk)?;
        }
    }
    for g in 1..geo.group_count {
        let l = geo.group(g).fe()?;
        if let Some(start) = l.gdt_start {
            if write {
                for (k, chunk) in table.chunks(bs).enumerate() {
                    dev.write_block(start + k as u32, chunk)?;
                }
            }
            r.backup_descriptor_tables += 1;
        }
    }
    Ok(r)
}

fn label_text(l: &[u8; LABEL_LEN]) -> String {
    let s = cstr_field(l);
    format!("'{s}'")
}

/// Applies `req` to the unmounted volume at `path` (with `dry_run`, only
/// checks and reports).
pub fn tune(path: &Path, req: &Request, dry_run: bool) -> Result<Outcome> {
    ensure!(
        !req.is_empty(),
        "nothing to change: give -L, -U, -e, -o, -c, -C, -i or -O (see livedfs(8))"
    );
    let file = open_rw(path)?;
    let mut buf = vec![0u8; SUPERBLOCK_SIZE];
    file.read_exact_at(&mut buf, SUPERBLOCK_OFFSET)
        .with_context(|| format!("cannot read the superblock of {}", path.display()))?;
    let sb = Superblock::decode(&buf, &Crc).fe().with_context(|| {
        format!(
            "{}: not a sound livedfs superblock (run fsck.livedfs)",
            path.display()
        )
    })?;
    let geo = Geometry::from_superblock(&sb).fe()?;
    if sb.has_incompat(INCOMPAT_RECOVER) {
        bail!(
            "{}: the journal needs recovery (mount and unmount the volume once, or run \
             fsck.livedfs): the replay would write the journaled superblock back over the \
             change",
            path.display()
        );
    }
    let unknown_incompat = sb.feature_incompat & !INCOMPAT_KNOWN;
    let unknown_ro = sb.feature_ro_compat & !RO_COMPAT_KNOWN;
    ensure!(
        unknown_incompat == 0 && unknown_ro == 0,
        "{}: the volume has features this livedfs does not know (incompat 0x{unknown_incompat:x}, \
         ro_compat 0x{unknown_ro:x}): use the tools that came with the module that made them",
        path.display()
    );
    let dev = Dev { file, geo };
    let mut new = sb.clone();
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let mut change = |field: &'static str, old: String, new: String| {
        if old != new {
            changes.push(Change { field, old, new });
        }
    };
    if let Some(l) = req.label {
        new.label = l;
        change("label", label_text(&sb.label), label_text(&l));
    }
    if let Some(e) = req.errors {
        new.errors = e;
        change(
            "errors",
            crate::info::errors_words(sb.errors),
            crate::info::errors_words(e),
        );
    }
    if let Some((set, clear)) = req.mount_opts {
        new.default_mount_opts = (sb.default_mount_opts | set) & !clear;
        change(
            "default_mount_opts",
            mount_opts_words(sb.default_mount_opts),
            mount_opts_words(new.default_mount_opts),
        );
        if !KERNEL_APPLIES_DEFAULT_MOUNT_OPTS && new.default_mount_opts != sb.default_mount_opts {
            notes.push(
                "the kernel module does not apply default mount options yet: they are \
                 recorded in the superblock, but give them at mount time (-o, or in \
                 /etc/fstab) to have them"
                    .to_string(),
            );
        }
    }
    if let Some(n) = req.max_mount_count {
        new.max_mount_count = n;
        change(
            "max_mount_count",
            sb.max_mount_count.to_string(),
            n.to_string(),
        );
    }
    if let Some(n) = req.mount_count {
        new.mount_count = n;
        change("mount_count", sb.mount_count.to_string(), n.to_string());
    }
    if let Some(n) = req.checkinterval {
        new.checkinterval = n;
        change(
            "checkinterval",
            interval_words(sb.checkinterval),
            interval_words(n),
        );
    }
    if let Some(set) = req.ro_compat_set {
        new.feature_ro_compat |= set;
        change(
            "features",
            crate::info::feature_names(&sb).join(" "),
            crate::info::feature_names(&new).join(" "),
        );
    }
    let mut resealed = None;
    if let Some(u) = req.uuid {
        new.uuid = u;
        change("uuid", uuid_str(&sb.uuid), uuid_str(&u));
        if u != sb.uuid {
            ensure!(
                sb.state & STATE_VALID != 0 && sb.state & STATE_ERROR == 0,
                "{}: the volume is {}: run fsck.livedfs -f before changing its UUID \
                 (every checksum is rewritten, and only a sound volume can be)",
                path.display(),
                crate::info::state_words(sb.state)
            );
            let unknown_compat = sb.feature_compat & !COMPAT_KNOWN;
            ensure!(
                unknown_compat == 0,
                "{}: compatible features 0x{unknown_compat:x} unknown here may hold checksummed \
                 structures this tool cannot rewrite: the UUID is not changed",
                path.display()
            );
            let vol = Volume::open(path)?;
            let old_seed = volume_seed(&Crc, &sb.uuid);
            let new_seed = volume_seed(&Crc, &u);
            // Check everything first: nothing is written unless all of it
            // can be rewritten.
            let r = reseal(&dev, &vol, &sb, old_seed, new_seed, &u, false)?;
            if !dry_run {
                eprintln!(
                    "livedfs: changing the UUID of {} to {}: if this is interrupted, run \
                     `livedfs tune -U {} {}` again to finish",
                    path.display(),
                    uuid_str(&u),
                    uuid_str(&u),
                    path.display()
                );
                let r = reseal(&dev, &vol, &sb, old_seed, new_seed, &u, true)?;
                dev.sync()?;
                resealed = Some(r);
            } else {
                resealed = Some(r);
            }
        }
    }
    let mut backups = 0u64;
    if !dry_run && (new != sb || !changes.is_empty()) {
        new.write_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(sb.write_time, |d| d.as_secs() as i64);
        let mut out = vec![0u8; SUPERBLOCK_SIZE];
        new.encode(&mut out, &Crc).fe()?;
        // The backups first, then the primary: until the primary is
        // written the volume is what it was (or, for a UUID change, can
        // be finished by running the same command again).
        for g in 1..geo.group_count {
            if let Some(b) = geo.group(g).fe()?.super_block {
                dev.file
                    .write_all_at(&out, geo.block_offset(b))
                    .with_context(|| format!("cannot write the backup superblock at block {b}"))?;
                backups += 1;
            }
        }
        dev.sync()?;
        dev.file
            .write_all_at(&out, SUPERBLOCK_OFFSET)
            .context("cannot write the superblock")?;
        dev.sync()?;
    } else {
        backups = (1..geo.group_count)
            .filter(|&g| geo.group_has_super(g))
            .count() as u64;
    }
    Ok(Outcome {
        changes,
        dry_run,
        backup_superblocks: backups,
        resealed,
        notes,
    })
}

/// Prints the outcome for people.
pub fn print(path: &Path, o: &Outcome) {
    if o.changes.is_empty() {
        println!("{}: nothing to change (already so)", path.display());
    }
    for c in &o.changes {
        println!(
            "{}: {} -> {}{}",
            c.field,
            c.old,
            c.new,
            if o.dry_run { " (not written: -n)" } else { "" }
        );
    }
    if let Some(r) = &o.resealed {
        println!(
            "checksums {}: {} descriptors, {} block and {} inode bitmaps, {} inodes, {} directory \
             blocks, {} store blocks, journal superblock {}, {} backup descriptor tables{}",
            if o.dry_run { "to rewrite" } else { "rewritten" },
            r.descriptors,
            r.block_bitmaps,
            r.inode_bitmaps,
            r.inodes,
            r.directory_blocks,
            r.store_blocks,
            if r.journal_superblock { "yes" } else { "no" },
            r.backup_descriptor_tables,
            if r.already_new > 0 {
                format!(" ({} already under the new UUID)", r.already_new)
            } else {
                String::new()
            }
        );
    }
    if !o.dry_run && !o.changes.is_empty() {
        println!(
            "superblock and {} backup superblock{} written",
            o.backup_superblocks,
            if o.backup_superblocks == 1 { "" } else { "s" }
        );
    }
    for n in &o.notes {
        eprintln!("livedfs: note: {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_as_tune2fs() {
        assert_eq!(parse_errors("remount-ro").unwrap(), ERRORS_RO);
        assert_eq!(parse_errors("continue").unwrap(), ERRORS_CONTINUE);
        assert_eq!(parse_errors("panic").unwrap(), ERRORS_PANIC);
        assert!(parse_errors("ro").is_err());
        assert_eq!(parse_max_mount_count("-1").unwrap(), 0);
        assert_eq!(parse_max_mount_count("25").unwrap(), 25);
        let r = parse_max_mount_count("random").unwrap();
        assert!((20..=40).contains(&r));
        assert!(parse_max_mount_count("16001").is_err());
        assert_eq!(parse_interval("0").unwrap(), 0);
        assert_eq!(parse_interval("3").unwrap(), 3 * 86400);
        assert_eq!(parse_interval("2w").unwrap(), 14 * 86400);
        assert_eq!(parse_interval("1m").unwrap(), 30 * 86400);
        assert_eq!(parse_interval("90s").unwrap(), 90);
        assert!(parse_interval("366d").is_err());
        assert!(parse_interval("1y").is_err());
        assert!(parse_interval("").is_err());
        assert_eq!(parse_mount_count("7").unwrap(), 7);
        assert!(parse_mount_count("x").is_err());
        assert_eq!(&parse_label("images").unwrap()[..7], b"images\0");
        assert!(parse_label(&"x".repeat(33)).is_err());
        assert_eq!(parse_label("").unwrap(), [0; LABEL_LEN]);
        assert_eq!(parse_uuid("clear").unwrap(), [0; 16]);
        let u = parse_uuid("1b4e28ba-2fa1-11d2-883f-0016d3cca427").unwrap();
        assert_eq!(uuid_str(&u), "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
        assert_ne!(parse_uuid("random").unwrap(), parse_uuid("random").unwrap());
        assert_eq!(parse_uuid("time").unwrap()[6] >> 4, 1);
        assert!(parse_uuid("nope").is_err());
    }

    #[test]
    fn mount_options_set_and_clear() {
        assert_eq!(
            parse_mount_opts("noprefetch,nodedup").unwrap(),
            (DEFM_NOPREFETCH | DEFM_NODEDUP, 0)
        );
        assert_eq!(parse_mount_opts("^nodedup").unwrap(), (0, DEFM_NODEDUP));
        // verify and noverify exclude each other; the last one wins.
        assert_eq!(
            parse_mount_opts("noverify,verify").unwrap(),
            (DEFM_VERIFY, DEFM_NOVERIFY)
        );
        assert!(parse_mount_opts("discard").is_err());
        assert_eq!(mount_opts_words(0), "(none)");
        assert_eq!(
            mount_opts_words(DEFM_VERIFY | DEFM_NODEDUP | 0x100),
            "verify,nodedup,0x100"
        );
        // Every name is a mount option the module parses (livedfs(5)).
        for (_, n) in DEFM_NAMES {
            assert!(
                ["verify", "noverify", "noprefetch", "nodedup"].contains(&n),
                "{n}"
            );
        }
    }
}
