//! Pass 0: the superblock (primary, or a backup when the primary is
//! corrupt or `-b` names one), the journal (checked, and replayed unless
//! `-n`; an error the kernel recorded in it becomes the volume's error
//! state), the group descriptors, the backup superblocks and descriptor
//! tables, and the orphan list.

use std::collections::{HashMap, HashSet};

use livedfs_format::csum::volume_seed;
use livedfs_format::fpstore;
use livedfs_format::group::{GroupDesc, BG_BLOCK_UNINIT, BG_FP_UNINIT, BG_INODE_UNINIT};
use livedfs_format::inode::Inode;
use livedfs_format::superblock::{
    Superblock, COMPAT_HAS_JOURNAL, ERRORS_CONTINUE, ERRORS_PANIC, INCOMPAT_RECOVER,
    RO_COMPAT_KNOWN, STATE_ERROR, STATE_VALID, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE,
};
use livedfs_format::{bitmap, Geometry, DESC_SIZE};

use crate::crc::Crc;
use crate::ctx::{Abort, Fsck, R};
use crate::device::Device;
use crate::journal::{self, JournalDev};
use crate::problem::{PCtx, P};

/// A superblock and its geometry, as found.
pub struct Found {
    pub sb: Superblock,
    pub geo: Geometry,
    /// Block the superblock was read from (None: the primary).
    pub backup_block: Option<u64>,
    /// Why the primary was not used.
    pub primary_error: Option<String>,
    /// The primary decoded but its checksum was wrong.
    pub primary_csum_only: bool,
}

fn read_sb_at(dev: &Device, off: u64) -> Result<(Superblock, Geometry), String> {
    let buf = dev
        .read_at(off, SUPERBLOCK_SIZE)
        .map_err(|e| e.to_string())?;
    let sb = Superblock::decode(&buf, &Crc).map_err(|e| e.to_string())?;
    let geo = Geometry::from_superblock(&sb).map_err(|e| e.to_string())?;
    Ok((sb, geo))
}

/// Candidate backup superblock locations: (byte offset, block, block size).
fn backup_candidates(dev: &Device) -> Vec<(u64, u64, u32)> {
    let mut v = Vec::new();
    for bs in [4096u32, 1024, 2048] {
        let bpg = u64::from(bs) * 8;
        let fdb = u64::from(bs == 1024);
        for g in [1u64, 3, 5, 7, 9, 25, 27, 49] {
            let b = fdb + g * bpg;
            let off = b * u64::from(bs);
            if off + SUPERBLOCK_SIZE as u64 <= dev.size {
                v.push((off, b, bs));
            }
        }
    }
    v
}

/// The fields that change after mkfs (counters, state, times): a backup
/// need not match the primary in these.
pub fn static_view(sb: &Superblock) -> Superblock {
    let mut s = sb.clone();
    s.free_blocks = 0;
    s.free_inodes = 0;
    s.state = 0;
    s.errors = 0;
    s.mount_count = 0;
    s.mount_time = 0;
    s.write_time = 0;
    s.lastcheck_time = 0;
    s.last_mounted = [0; 64];
    s.orphan_head = 0;
    s.feature_incompat &= !INCOMPAT_RECOVER;
    s.kbytes_written = 0;
    // Set by the kernel as files preallocate (the backups keep mkfs's).
    s.prealloc_blocks = 0;
    s.feature_ro_compat &= !livedfs_format::superblock::RO_COMPAT_PREALLOC;
    // Set by the kernel at the first fallocate that records an unwritten
    // block (the backups keep mkfs's features).
    s.feature_incompat &= !livedfs_format::superblock::INCOMPAT_UNWRITTEN;
    s.label = [0; 32];
    // Only the primary points to a saved fingerprint filter.
    s.clear_saved_filter();
    s.max_mount_count = 0;
    s.checkinterval = 0;
    s
}

/// Finds the superblock to use.
pub fn find_superblock(dev: &Device, want: Option<u64>) -> Result<Found, String> {
    if let Some(b) = want {
        for bs in [1024u32, 2048, 4096] {
            let off = b.saturating_mul(u64::from(bs));
            if let Ok((sb, geo)) = read_sb_at(dev, off) {
                if geo.block_size == bs {
                    return Ok(Found {
                        sb,
                        geo,
                        backup_block: Some(b),
                        primary_error: None,
                        primary_csum_only: false,
                    });
                }
            }
        }
        return Err(format!("no valid livedfs superblock at block {b}"));
    }
    let primary = read_sb_at(dev, SUPERBLOCK_OFFSET);
    let perr = match primary {
        Ok((sb, geo)) => {
            return Ok(Found {
                sb,
                geo,
                backup_block: None,
                primary_error: None,
                primary_csum_only: false,
            })
        }
        Err(e) => e,
    };
    let raw = dev.read_at(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE).ok();
    let fields = raw
        .as_ref()
        .and_then(|r| Superblock::decode_fields(r).ok())
        .filter(|_| {
            raw.as_ref()
                .is_some_and(|r| r[..8] == livedfs_format::superblock::MAGIC)
        });
    for (off, b, bs) in backup_candidates(dev) {
        let Ok((bsb, bgeo)) = read_sb_at(dev, off) else {
            continue;
        };
        if bgeo.block_size != bs {
            continue;
        }
        // A primary whose checksum alone is wrong, with the backup's
        // layout: keep its counters and state, fix the checksum.
        if let Some(p) = &fields {
            if static_view(p) == static_view(&bsb) {
                let mut sb = bsb.clone();
                merge_dynamic(&mut sb, p, &bgeo);
                return Ok(Found {
                    sb,
                    geo: bgeo,
                    backup_block: None,
                    primary_error: Some(perr),
                    primary_csum_only: true,
                });
            }
        }
        let mut sb = bsb;
        if let Some(p) = &fields {
            merge_dynamic(&mut sb, p, &bgeo);
        }
        return Ok(Found {
            sb,
            geo: bgeo,
            backup_block: Some(b),
            primary_error: Some(perr),
            primary_csum_only: false,
        });
    }
    // No backup (a one-group volume): a primary whose checksum alone is
    // wrong is still usable.
    if let Some(p) = &fields {
        if let Ok(geo) = Geometry::from_superblock(p) {
            return Ok(Found {
                sb: p.clone(),
                geo,
                backup_block: None,
                primary_error: Some(perr),
                primary_csum_only: true,
            });
        }
    }
    if fields.is_none() {
        return Err(format!(
            "{perr}: no livedfs file system found (no valid primary or backup superblock)"
        ));
    }
    Err(format!(
        "the superblock is corrupt ({perr}) and no valid backup was found; try -b with a backup's block number"
    ))
}

/// Takes the fields that change after mkfs from a damaged primary, each
/// only if it is plausible.
fn merge_dynamic(sb: &mut Superblock, p: &Superblock, geo: &Geometry) {
    sb.state = p.state & 0x7;
    if (ERRORS_CONTINUE..=ERRORS_PANIC).contains(&p.errors) {
        sb.errors = p.errors;
    }
    sb.mount_count = p.mount_count;
    sb.max_mount_count = p.max_mount_count;
    sb.mount_time = p.mount_time;
    sb.write_time = p.write_time;
    sb.lastcheck_time = p.lastcheck_time;
    sb.last_mounted = p.last_mounted;
    sb.label = p.label;
    sb.checkinterval = p.checkinterval;
    sb.kbytes_written = p.kbytes_written;
    if p.orphan_head == 0 || geo.valid_ino(p.orphan_head) {
        sb.orphan_head = p.orphan_head;
    }
    if sb.has_compat(COMPAT_HAS_JOURNAL) {
        sb.feature_incompat |= p.feature_incompat & INCOMPAT_RECOVER;
    }
    // The backups never have it: without it pass 1 would clear every
    // unwritten block (a primary whose feature word is plausible keeps
    // them).
    if p.feature_incompat & !livedfs_format::superblock::INCOMPAT_KNOWN == 0 {
        sb.feature_incompat |= p.feature_incompat & livedfs_format::superblock::INCOMPAT_UNWRITTEN;
    }
}

/// Whether the superblock is that of a volume mounted read-write without
/// a journal and not cleanly unmounted (see [`Fsck::unclean_nojournal`]):
/// the kernel clears `STATE_VALID` only for such a mount (with a journal
/// it keeps it, as ext4) and when it records an error (then with
/// `STATE_ERROR`, which says nothing of the journal, unless the volume
/// has none). A journal that needs recovery rules it out later
/// ([`check_journal`]).
pub fn unclean_nojournal(sb: &Superblock) -> bool {
    sb.state & STATE_VALID == 0
        && (sb.state & STATE_ERROR == 0 || !sb.has_compat(COMPAT_HAS_JOURNAL))
}

/// Loads the superblock into a new checker state.
pub fn open(dev: Device, opts: crate::ctx::Options, out: Box<dyn std::io::Write>) -> R<Fsck> {
    let mut dev = dev;
    let found = find_superblock(&dev, opts.superblock).map_err(Abort::Op)?;
    // As e2fsck: a read-only-compatible feature this fsck does not know
    // changes what a consistent volume is (attribute blocks would look
    // unowned, for one): refuse rather than repair it wrongly.
    let unknown = found.sb.feature_ro_compat & !RO_COMPAT_KNOWN;
    if unknown != 0 {
        return Err(Abort::Op(format!(
            "the file system has read-only-compatible features this fsck.livedfs does not know \
             ({unknown:#x}): get a newer fsck.livedfs"
        )));
    }
    let geo = found.geo;
    dev.set_block_size(geo.block_size);
    let need = u64::from(geo.blocks_count) * u64::from(geo.block_size);
    if dev.size < need {
        return Err(Abort::Op(format!(
            "the device has {} blocks but the file system claims {}: wrong device or a truncated image",
            dev.size / u64::from(geo.block_size),
            geo.blocks_count
        )));
    }
    let seed = volume_seed(&Crc, &found.sb.uuid);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let journal = if found.sb.has_compat(COMPAT_HAS_JOURNAL) {
        Some((
            found.sb.journal_start,
            found.sb.journal_start + found.sb.journal_blocks,
        ))
    } else {
        None
    };
    let progress =
        crate::progress::Progress::new(opts.progress_fd, &opts.device.display().to_string());
    let mut f = Fsck {
        dev,
        opts,
        out,
        sb: found.sb,
        geo,
        seed,
        descs: Vec::new(),
        desc_dirty: HashSet::new(),
        sb_dirty: false,
        found: 0,
        fixed: 0,
        unfixed: 0,
        claims: Default::default(),
        inodes: HashMap::new(),
        dir_blocks: HashMap::new(),
        journal,
        stats: Default::default(),
        progress,
        now,
        verify_all: false,
        unclean_nojournal: false,
        counters_lazy: false,
        xattr: Default::default(),
    };
    f.unclean_nojournal = unclean_nojournal(&f.sb);
    f.counters_lazy =
        f.sb.feature_incompat & INCOMPAT_RECOVER != 0 || f.sb.state & STATE_VALID == 0;
    if let Some(e) = found.primary_error {
        if found.primary_csum_only {
            if f.fix(P::SB_CSUM, PCtx::new())? {
                f.sb_dirty = true;
            }
        } else if let Some(b) = found.backup_block {
            if f.fix(P::SB_PRIMARY_BAD, PCtx::new().blk(b as u32).s(e))? {
                f.sb_dirty = true;
            }
        }
    } else if let Some(b) = found.backup_block {
        f.say(&format!("Using the superblock at block {b} (-b)"));
        // e2fsck writes the primary back from the backup it was told to use.
        f.sb_dirty = f.rw();
    }
    Ok(f)
}

/// The saved fingerprint filter's pointer (fast mount): a header block
/// that can't be one (outside a group's data region, in the journal) or a
/// length under 2 is a superblock inconsistency (cleared). A stale or
/// damaged saved filter is not, nor are its runs (named by the header's
/// run table): the kernel checks them and ignores a bad one, so neither
/// the header nor the payload is read here.
pub fn check_saved_filter(f: &mut Fsck) -> R<()> {
    let sb = &f.sb;
    if !sb.has_saved_filter() {
        return Ok(());
    }
    let journal = (sb.journal_start, sb.journal_blocks);
    let (start, n) = (sb.saved_filter_start, sb.saved_filter_blocks);
    if let Err(e) = livedfs_format::savedfilter::check_location(&f.geo, start, n, journal) {
        let what = format!("{n} blocks at {start}: {e}");
        if f.fix(P::SB_SAVED_FILTER, PCtx::new().s(what))? {
            f.sb.clear_saved_filter();
            f.sb_dirty = true;
        }
    }
    Ok(())
}

/// The journal: check its superblock, replay it if needed.
pub fn check_journal(f: &mut Fsck) -> R<()> {
    let Some((start, end)) = f.journal else {
        if f.sb.has_incompat(INCOMPAT_RECOVER) && f.fix(P::JOURNAL_RECOVER_FLAG, PCtx::new())? {
            f.sb.feature_incompat &= !INCOMPAT_RECOVER;
            f.sb_dirty = true;
        }
        return Ok(());
    };
    let jd = JournalDev::livedfs(start, end - start, u64::from(f.geo.blocks_count));
    let recover_flag = f.sb.has_incompat(INCOMPAT_RECOVER);
    let js = journal::read_super(&f.dev, &jd).and_then(|s| {
        journal::check_features(&s)
            .map(|()| s)
            .map_err(|e| format!("unsupported: {e}"))
    });
    let js = match js {
        Ok(s) => s,
        Err(e) => {
            let p = if e.starts_with("unsupported") {
                P::JOURNAL_FEATURES
            } else {
                P::JOURNAL_SB_BAD
            };
            if f.fix(p, PCtx::new().s(e))? {
                let uuid = f.sb.uuid;
                journal::recreate(&mut f.dev, start, end - start, &uuid).map_err(Abort::Op)?;
                f.sb.feature_incompat &= !INCOMPAT_RECOVER;
                f.sb_dirty = true;
            }
            return Ok(());
        }
    };
    // An error the kernel recorded in the journal (jbd2_journal_abort's
    // s_errno): reported now, recorded in the superblock once the journal
    // has been replayed (as e2fsck; a replay may rewrite the superblock).
    let errno = js.errno;
    if errno != 0 {
        let dev = f.name();
        f.fix(
            P::JOURNAL_ERRNO,
            PCtx::new().s(dev).name(errno.to_string().as_bytes()),
        )?;
    }
    recover(f, &jd, &js, recover_flag)?;
    if errno != 0 {
        record_journal_error(f, &jd)?;
    }
    Ok(())
}

/// As e2fsck (and the ext4 kernel at mount, `ext4_clear_journal_err`):
/// the journal's `s_errno` becomes the volume's `STATE_ERROR`, which
/// forces the full check (also with `-p`). When writing, the superblock
/// with that state reaches the disk before `s_errno` is cleared (a crash
/// in between loses nothing); a check that finds nothing left to repair
/// clears `STATE_ERROR` at its end. With `-n` the state is set in memory
/// only.
fn record_journal_error(f: &mut Fsck, jd: &JournalDev) -> R<()> {
    f.sb.state |= STATE_ERROR;
    if !f.rw() {
        return Ok(());
    }
    f.sb_dirty = true;
    f.write_super()?;
    f.dev.sync()?;
    // Read again: the replay rewrote it (s_start, s_sequence), or a new
    // journal replaced it (s_errno 0 then).
    let js = journal::read_super(&f.dev, jd)
        .ok()
        .filter(|s| journal::check_features(s).is_ok());
    if let Some(js) = js {
        if js.errno != 0 {
            journal::clear_errno(&mut f.dev, jd, &js).map_err(Abort::Op)?;
        }
    }
    Ok(())
}

/// The replay of a journal whose superblock is sound, if it needs one.
/// No data block is read for it: with data=ordered, the data of every
/// committed transaction reached the disk before its commit block, so the
/// replay makes the stores agree with the data (the kernel's own replay at
/// mount trusts them the same way).
fn recover(f: &mut Fsck, jd: &JournalDev, js: &journal::JSuper, recover_flag: bool) -> R<()> {
    if js.start != 0 {
        // A journal that needs recovery refuses a nojournal mount: the
        // last read-write mount used it.
        f.unclean_nojournal = false;
    }
    if js.start == 0 {
        if recover_flag && f.fix(P::JOURNAL_RECOVER_FLAG, PCtx::new())? {
            f.sb.feature_incompat &= !INCOMPAT_RECOVER;
            f.sb_dirty = true;
        }
        return Ok(());
    }
    if !f.rw() {
        f.fix(P::JOURNAL_NEEDS_RECOVERY_RO, PCtx::new())?;
        return Ok(());
    }
    // As e2fsck: a journal to recover with the needs_recovery flag set is
    // the normal state after a crash, not a problem: it is replayed in
    // every writing mode (no question), and the replay alone neither
    // changes the exit status nor forces a check. Only a journal holding
    // transactions without the flag is a problem.
    if recover_flag {
        let dev = f.name();
        f.fix(P::JOURNAL_RECOVER, PCtx::new().s(dev))?;
    } else if !f.fix(P::JOURNAL_HAS_DATA, PCtx::new())? {
        return Ok(());
    }
    let report = journal::replay(&mut f.dev, jd, js);
    match report {
        Ok(r) => {
            if f.opts.verbose {
                f.say(&format!(
                    "Journal: replayed transactions {}..{}, {} blocks, {} revoked",
                    r.start_transaction,
                    r.end_transaction.wrapping_sub(2),
                    r.replayed,
                    r.revoke_hits
                ));
            }
            for b in &r.bad_targets {
                f.fix(P::JOURNAL_BAD_TARGET, PCtx::new().blk(*b as u32))?;
            }
            // The superblock may have been replayed: read it again (the
            // replay flushed its blocks before marking the journal empty).
            let again = find_superblock(&f.dev, None).map_err(Abort::Op)?;
            f.sb = again.sb;
            f.geo = again.geo;
            f.sb.feature_incompat &= !INCOMPAT_RECOVER;
            f.sb_dirty = true;
            f.write_super()?;
            for e in r.errors {
                if f.fix(P::JOURNAL_REPLAY_ERRORS, PCtx::new().s(e))? {
                    f.sb.state |= STATE_ERROR;
                }
            }
        }
        Err(e) => {
            if f.fix(
                P::JOURNAL_REPLAY_ERRORS,
                PCtx::new().s(format!("{e}; the journal is cleared")),
            )? {
                let uuid = f.sb.uuid;
                journal::recreate(&mut f.dev, jd.sb_block as u32, jd.blocks, &uuid)
                    .map_err(Abort::Op)?;
                f.sb.feature_incompat &= !INCOMPAT_RECOVER;
                f.sb_dirty = true;
            }
        }
    }
    Ok(())
}

/// Whether a bitmap block looks written by the kernel or mkfs: the bits
/// in `set_lo..set_hi` and `pad..` are all set.
fn looks_init(map: &[u8], set_hi: usize, pad: usize) -> bool {
    (0..set_hi).all(|i| bitmap::test(map, i)) && (pad..map.len() * 8).all(|i| bitmap::test(map, i))
}

/// A descriptor rebuilt from the geometry, with flags guessed from what
/// the blocks hold; counts are recomputed by pass 5.
fn rebuild_desc(f: &Fsck, g: u32) -> R<GroupDesc> {
    let l = f.geo.group(g).map_err(|e| Abort::Op(e.to_string()))?;
    let mut d = GroupDesc::fresh(&f.geo, &l);
    let ipg = f.geo.inodes_per_group as usize;
    let imap = f.read_block(l.inode_bitmap)?;
    if looks_init(&imap, 0, ipg) {
        d.flags &= !BG_INODE_UNINIT;
        let hi = (0..ipg).rev().find(|&i| bitmap::test(&imap, i));
        d.itable_unused = hi.map_or(f.geo.inodes_per_group, |h| {
            f.geo.inodes_per_group - h as u32 - 1
        });
        d.inode_bitmap_csum =
            livedfs_format::group::bitmap_checksum(&imap[..ipg / 8], g, f.seed, &Crc);
    }
    let bmap = f.read_block(l.block_bitmap)?;
    if looks_init(&bmap, l.overhead() as usize, l.blocks() as usize) {
        d.flags &= !BG_BLOCK_UNINIT;
        d.block_bitmap_csum = livedfs_format::group::bitmap_checksum(&bmap, g, f.seed, &Crc);
    }
    let s0 = f.read_block(l.fp_store)?;
    if fpstore::verify_block(&f.geo, &s0, g, 0, f.seed, &Crc).is_ok() {
        d.flags &= !BG_FP_UNINIT;
    }
    Ok(d)
}

/// Reads and checks the primary descriptor table.
pub fn check_descriptors(f: &mut Fsck) -> R<()> {
    let n = f.geo.group_count;
    let bs = f.geo.block_size as usize;
    let first = f.geo.first_data_block + 1;
    let table = f.dev.read_blocks(u64::from(first), f.geo.gdt_blocks)?;
    let mut descs = Vec::with_capacity(n as usize);
    let mut bad = Vec::new();
    for g in 0..n {
        let at = g as usize * DESC_SIZE as usize;
        let raw = &table[at..at + DESC_SIZE as usize];
        let fields = GroupDesc::decode_fields(raw).unwrap_or_default();
        let csum_ok = GroupDesc::decode(raw, g, f.seed, &Crc).is_ok();
        let valid = fields.validate(&f.geo, g);
        descs.push(fields);
        match (csum_ok, valid) {
            (true, Ok(())) => {}
            (false, Ok(())) => bad.push((g, None)),
            (_, Err(e)) => bad.push((g, Some(e.to_string()))),
        }
    }
    let _ = bs;
    f.descs = descs;
    for (g, why) in bad {
        match why {
            None => {
                // Checksum only: the fields are plausible. A flag bit
                // flipped would be believed, so rebuild when the flags
                // disagree with what the blocks hold.
                let r = rebuild_desc(f, g)?;
                let d = f.descs[g as usize];
                let flags_ok = r.flags & (BG_INODE_UNINIT | BG_BLOCK_UNINIT)
                    == d.flags & (BG_INODE_UNINIT | BG_BLOCK_UNINIT);
                if flags_ok {
                    if f.fix(P::GD_CSUM, PCtx::new().grp(g))? {
                        f.desc_changed(g);
                    }
                } else if f.fix(
                    P::GD_BAD,
                    PCtx::new()
                        .grp(g)
                        .s("checksum mismatch and flags disagree with the bitmaps"),
                )? {
                    f.descs[g as usize] = r;
                    f.desc_changed(g);
                } else {
                    f.descs[g as usize] = r;
                }
            }
            Some(e) => {
                let r = rebuild_desc(f, g)?;
                if f.fix(P::GD_BAD, PCtx::new().grp(g).s(e))? {
                    f.desc_changed(g);
                }
                // Use the rebuilt one either way: the fields are unusable.
                f.descs[g as usize] = r;
            }
        }
    }
    Ok(())
}

/// Checks the backup superblocks and descriptor tables.
pub fn check_backups(f: &mut Fsck) -> R<()> {
    let bs = f.geo.block_size;
    let want = static_view(&f.sb);
    for g in 1..f.geo.group_count {
        f.check_cancel()?;
        let Ok(l) = f.geo.group(g) else { continue };
        let (Some(sbb), Some(gdt)) = (l.super_block, l.gdt_start) else {
            continue;
        };
        let off = u64::from(sbb) * u64::from(bs);
        let raw = f.dev.read_at(off, SUPERBLOCK_SIZE)?;
        let why = match Superblock::decode(&raw, &Crc) {
            Err(e) => Some(e.to_string()),
            Ok(b) if static_view(&b) != want => Some("layout or identity fields differ".into()),
            Ok(_) => None,
        };
        let mut rewrite = false;
        if let Some(why) = why {
            rewrite = f.fix(P::SB_BACKUP_BAD, PCtx::new().grp(g).blk(sbb).s(why))?;
        }
        let table = f.dev.read_blocks(u64::from(gdt), f.geo.gdt_blocks)?;
        let mut gd_bad = None;
        for i in 0..f.geo.group_count {
            let at = i as usize * DESC_SIZE as usize;
            let r = GroupDesc::decode(&table[at..at + DESC_SIZE as usize], i, f.seed, &Crc)
                .and_then(|d| d.validate(&f.geo, i));
            if let Err(e) = r {
                gd_bad = Some((i, e.to_string()));
                break;
            }
        }
        let mut rewrite_gdt = false;
        if let Some((i, e)) = gd_bad {
            rewrite_gdt = f.fix(
                P::SB_BACKUP_GDT_BAD,
                PCtx::new().grp(g).n(u64::from(i)).s(e),
            )?;
        }
        if rewrite && f.rw() {
            let mut buf = vec![0u8; bs as usize];
            let mut s = f.sb.clone();
            s.feature_incompat &= !INCOMPAT_RECOVER;
            s.encode(&mut buf[..SUPERBLOCK_SIZE], &Crc)
                .map_err(|e| Abort::Op(e.to_string()))?;
            f.write_block(sbb, &buf)?;
        }
        if rewrite_gdt && f.rw() {
            let mut t = vec![0u8; f.geo.gdt_blocks as usize * bs as usize];
            for (i, d) in f.descs.iter().enumerate() {
                let at = i * DESC_SIZE as usize;
                d.encode(&mut t[at..at + DESC_SIZE as usize], i as u32, f.seed, &Crc)
                    .map_err(|e| Abort::Op(e.to_string()))?;
            }
            for (k, chunk) in t.chunks(bs as usize).enumerate() {
                f.write_block(gdt + k as u32, chunk)?;
            }
        }
    }
    Ok(())
}

/// The orphan list, as the kernel walks it at mount. Returns the orphans
/// (inode, links) found; with writes allowed they are released (links 0)
/// or marked for truncation by pass 1 (links > 0).
pub fn load_orphans(f: &mut Fsck) -> R<Vec<(u32, u32)>> {
    let mut v = Vec::new();
    let mut seen = HashSet::new();
    let mut cur = f.sb.orphan_head;
    let mut prev: Option<u32> = None;
    while cur != 0 {
        let why = if !f.geo.valid_ino(cur) || cur < livedfs_format::FIRST_INO {
            Some("not a valid inode number".to_string())
        } else if !seen.insert(cur) {
            Some("loop".to_string())
        } else {
            let raw = f.read_inode_raw(cur)?;
            match Inode::decode(&raw, cur, f.seed, &Crc) {
                Err(e) => Some(e.to_string()),
                Ok(i) if i.mode == 0 || i.dtime != 0 => Some("inode not in use".into()),
                Ok(i) if i.validate(&f.geo).is_err() => Some("inode invalid".into()),
                Ok(i) => {
                    v.push((cur, i.links_count));
                    prev = Some(cur);
                    cur = i.next_orphan;
                    continue;
                }
            }
        };
        if let Some(why) = why {
            if f.fix(P::ORPHAN_BAD, PCtx::new().ino(cur).s(why))? {
                match prev {
                    None => {
                        f.sb.orphan_head = 0;
                        f.sb_dirty = true;
                    }
                    Some(p) => {
                        let raw = f.read_inode_raw(p)?;
                        if let Ok(mut i) = Inode::decode(&raw, p, f.seed, &Crc) {
                            i.next_orphan = 0;
                            f.write_inode(p, &i)?;
                        }
                    }
                }
            }
            break;
        }
    }
    Ok(v)
}

/// The free block and inode counts summed from the group descriptors
/// whose checksum verifies (`None` if one does not: then only a check can
/// tell). The superblock's own counts are lazy (the kernel updates the
/// descriptors, not them), so a volume skipped as clean reports these,
/// as e2fsck does before saying "clean".
pub fn summed_free_counts(f: &Fsck) -> R<Option<(u64, u32)>> {
    let first = f.geo.first_data_block + 1;
    let table = f.dev.read_blocks(u64::from(first), f.geo.gdt_blocks)?;
    let (mut blocks, mut inodes) = (0u64, 0u32);
    for g in 0..f.geo.group_count {
        let at = g as usize * DESC_SIZE as usize;
        let Some(raw) = table.get(at..at + DESC_SIZE as usize) else {
            return Ok(None);
        };
        let Ok(d) = GroupDesc::decode(raw, g, f.seed, &Crc) else {
            return Ok(None);
        };
        blocks += u64::from(d.free_blocks);
        inodes = inodes.saturating_add(d.free_inodes);
    }
    Ok(Some((blocks, inodes)))
}
