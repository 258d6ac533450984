//! fsck.livedfs: check and repair a livedfs file system, in e2fsck's
//! manner.
//!
//! The check is a sequence of passes over one shared state
//! ([`ctx::Fsck`]); every problem comes from the one table in [`problem`]
//! and is reported and decided by [`ctx::Fsck::fix`]:
//!
//! - [`pass0`]: superblock (or a backup), journal replay ([`journal`]),
//!   group descriptors, backups, the orphan list;
//! - [`pass1`]: inodes and block maps, claims and pointer counts (1b:
//!   blocks claimed twice), extended-attribute blocks ([`xattr`]);
//! - [`pass2`]: directories; [`pass3`]: connectivity and lost+found;
//!   [`pass4`]: link counts;
//! - [`pass5`]: bitmaps, group summaries, superblock counters;
//! - [`pass6`]: fingerprint stores: refcounts, free entries, unowned data;
//!   the data's fingerprints only in a scrub (`-E scrub`, `-c`) or after a
//!   crash without a journal. Every other pass reads metadata only.
//!
//! Nothing read from the device is trusted: every count is bounded by the
//! geometry, every pointer checked before it is followed, and the device
//! is checked to hold the whole volume before anything is allocated for
//! it.

pub mod crc;
pub mod ctx;
pub mod device;
pub mod journal;
pub mod map;
pub mod mount;
pub mod orphan;
pub mod pass0;
pub mod pass1;
pub mod pass2;
pub mod pass3;
pub mod pass4;
pub mod pass5;
pub mod pass6;
pub mod problem;
pub mod progress;
pub mod xattr;

use std::io::Write;

use livedfs_format::superblock::{INCOMPAT_RECOVER, STATE_ERROR, STATE_ORPHANS, STATE_VALID};

use ctx::{Abort, Fsck, Mode, Options};
use device::Device;
use problem::{PCtx, P};

/// Exit status bits (e2fsck's).
pub mod exit {
    pub const OK: i32 = 0;
    pub const NONDESTRUCT: i32 = 1;
    pub const REBOOT: i32 = 2;
    pub const UNCORRECTED: i32 = 4;
    pub const ERROR: i32 = 8;
    pub const USAGE: i32 = 16;
    pub const CANCELED: i32 = 32;
    pub const LIBRARY: i32 = 128;
}

/// Runs a check; returns the exit status. Messages go to `out`.
pub fn check(opts: &Options, out: Box<dyn Write>) -> i32 {
    let mut out = out;
    let dev_name = opts.device.display().to_string();
    let read_only = opts.mode == Mode::No;
    if !read_only {
        match mount::is_mounted(&opts.device) {
            Ok(Some(at)) => {
                let _ = writeln!(
                    out,
                    "{dev_name} is mounted on {at}: refusing to check it for repairs (use -n for a read-only check)."
                );
                return exit::ERROR;
            }
            Ok(None) => {}
            Err(e) => {
                let _ = writeln!(
                    out,
                    "Warning: could not tell whether {dev_name} is mounted: {e}"
                );
            }
        }
    } else if let Ok(Some(at)) = mount::is_mounted(&opts.device) {
        let _ = writeln!(
            out,
            "Warning: {dev_name} is mounted on {at}; a read-only check of a mounted volume may report false errors."
        );
    }
    let dev = match Device::open(&opts.device, read_only) {
        Ok(d) => d,
        Err(e) => {
            let _ = writeln!(out, "fsck.livedfs: cannot open {dev_name}: {e}");
            return exit::ERROR;
        }
    };
    let mut f = match pass0::open(dev, opts.clone(), out) {
        Ok(f) => f,
        Err(a) => return abort_status(None, a, &dev_name),
    };
    let r = run(&mut f);
    f.progress.finish();
    match r {
        Ok(code) => code,
        Err(a) => abort_status(Some(&mut f), a, &dev_name),
    }
}

fn abort_status(f: Option<&mut Fsck>, a: Abort, dev: &str) -> i32 {
    match a {
        Abort::PreenHalt => {
            if let Some(f) = f {
                // As e2fsck's preenhalt: mark the volume as having errors.
                if f.rw() {
                    f.sb.state |= STATE_ERROR;
                    f.sb.state &= !STATE_VALID;
                    let _ = f.write_descs();
                    let _ = f.write_super();
                    let _ = f.dev.sync();
                }
            }
            exit::UNCORRECTED
        }
        Abort::Cancelled => {
            if let Some(f) = f {
                let _ = f.out.flush();
                let _ = f.dev.sync();
                f.say(&format!("{dev}: check cancelled."));
            } else {
                eprintln!("{dev}: check cancelled.");
            }
            exit::CANCELED
        }
        Abort::Op(msg) => {
            match f {
                Some(f) => {
                    let _ = f.dev.sync();
                    f.say(&format!("fsck.livedfs: {dev}: {msg}"));
                }
                None => eprintln!("fsck.livedfs: {dev}: {msg}"),
            }
            exit::ERROR
        }
    }
}

fn plural(n: u64, w: &str) -> String {
    format!("{n} {w}{}", if n == 1 { "" } else { "s" })
}

/// The passes.
fn run(f: &mut Fsck) -> Result<i32, Abort> {
    let dev = f.name();
    let t0 = std::time::Instant::now();
    pass0::check_journal(f)?;
    pass0::check_saved_filter(f)?;
    if f.opts.timing {
        f.say(&format!(
            "Time, journal: {:.3} s",
            t0.elapsed().as_secs_f64()
        ));
    }
    if f.opts.journal_only {
        // As e2fsck -E journal_only: the replay (and the journal's own
        // problems), then stop.
        if f.sb_dirty && f.rw() {
            f.write_super()?;
        }
        f.dev.sync()?;
        let mut code = exit::OK;
        if f.fixed > 0 {
            code |= exit::NONDESTRUCT;
        }
        if f.unfixed > 0 {
            code |= exit::UNCORRECTED;
        }
        return Ok(code);
    }
    // As e2fsck: the orphan list is finished before deciding whether to
    // check (left to pass 1 if anything about it is unsound).
    let orphans_released = orphan::release(f)?;
    let mut force_reason = force_reason(f, false);
    if f.found > 0 && force_reason.is_none() {
        force_reason = Some("had problems in its superblock or journal".into());
    }
    let Some(reason) = force_reason else {
        if let Some((blocks, inodes)) = pass0::summed_free_counts(f)? {
            if (blocks, inodes) != (f.sb.free_blocks, f.sb.free_inodes) {
                // Lazy counters: brought up to date without a word.
                f.sb.free_blocks = blocks;
                f.sb.free_inodes = inodes;
                f.sb_dirty |= f.rw();
            }
        }
        let used_i = f.sb.inodes_count.saturating_sub(f.sb.free_inodes);
        let used_b = u64::from(f.geo.blocks_count).saturating_sub(f.sb.free_blocks);
        f.say(&format!(
            "{dev}: clean, {used_i}/{} files, {used_b}/{} blocks",
            f.sb.inodes_count, f.geo.blocks_count
        ));
        if f.sb_dirty {
            f.write_super()?;
        }
        return Ok(if f.fixed > 0 {
            exit::NONDESTRUCT
        } else {
            exit::OK
        });
    };
    if !reason.is_empty() {
        f.say(&format!("{dev} {reason}, check forced."));
    }
    // Metadata only, as e2fsck -f, unless a scrub was asked for or the
    // volume went down without a journal (its stores may name data that
    // never reached the disk).
    f.verify_all = f.opts.scrub || f.unclean_nojournal;
    if f.unclean_nojournal {
        f.fix(P::NOJOURNAL_UNCLEAN, PCtx::new().s(dev.clone()))?;
    }
    let preen = f.opts.mode == Mode::Preen;
    let pass_title = |f: &mut Fsck, t: &str| {
        if !preen {
            f.say(t);
        }
    };
    let timing = f.opts.timing;
    let mut t = std::time::Instant::now();
    let mut lap = |f: &mut Fsck, what: &str| {
        if timing {
            let now = std::time::Instant::now();
            f.say(&format!(
                "{what}: {:.3} s",
                now.duration_since(t).as_secs_f64()
            ));
            t = now;
        }
    };
    pass0::check_descriptors(f)?;
    pass0::check_backups(f)?;
    let orphans = pass0::load_orphans(f)?;
    lap(f, "Time, pass 0 (descriptors, backups, orphans)");
    pass_title(f, "Pass 1: Checking inodes, blocks, and sizes");
    pass1::run(f, &orphans)?;
    pass3::check_root(f)?;
    lap(f, "Time, pass 1");
    pass_title(f, "Pass 2: Checking directory structure");
    pass2::run(f)?;
    lap(f, "Time, pass 2");
    pass_title(f, "Pass 3: Checking directory connectivity");
    pass3::run(f)?;
    lap(f, "Time, pass 3");
    pass_title(f, "Pass 4: Checking reference counts");
    pass4::run(f)?;
    lap(f, "Time, pass 4");
    pass_title(f, "Pass 5: Checking group summary information");
    pass5::run(f)?;
    lap(f, "Time, pass 5");
    pass_title(
        f,
        if f.verify_all {
            "Pass 6: Checking fingerprint stores, refcounts and data"
        } else {
            "Pass 6: Checking fingerprint stores and refcounts"
        },
    );
    pass6::run(f)?;
    f.write_descs()?;
    lap(f, "Time, pass 6");
    if timing {
        // As e2fsck -t's "I/O read": what the check cost in reads (with
        // the journal replay's), and the data among it.
        let read = f.dev.read_bytes();
        f.say(&format!(
            "I/O read: {} KiB ({} data blocks hashed), {} writes",
            read / 1024,
            f.stats.verified,
            f.dev.writes
        ));
    }
    // The end: state, counters, time of the check.
    if f.rw() {
        // The mount count changes: a saved filter would be stale anyway.
        f.sb.clear_saved_filter();
        if f.unfixed == 0 {
            f.sb.state |= STATE_VALID;
            f.sb.state &= !(STATE_ERROR | STATE_ORPHANS);
            f.sb.lastcheck_time = f.now;
            f.sb.mount_count = 0;
        } else {
            f.sb.state |= STATE_ERROR;
            f.sb.state &= !STATE_VALID;
        }
        f.write_super()?;
        f.dev.sync()?;
    }
    let s = f.stats;
    let used_i = f.inodes.len() as u64 + 9;
    let used_b = u64::from(f.geo.blocks_count).saturating_sub(f.sb.free_blocks);
    // The orphans released before the check changed the volume: as
    // e2fsck, that is a modification when a check follows (not when the
    // volume was clean and skipped).
    let modified = f.fixed > 0 || orphans_released;
    if f.unfixed > 0 || modified {
        if f.rw() && modified && !preen {
            f.say(&format!("\n{dev}: ***** FILE SYSTEM WAS MODIFIED *****"));
        }
        if f.unfixed > 0 {
            f.say(&format!(
                "\n{dev}: ********** WARNING: Filesystem still has errors **********"
            ));
        }
    }
    f.say(&format!(
        "{dev}: {used_i}/{} files ({} dirs, {} regular, {} symlinks, {} special), {used_b}/{} blocks ({} data blocks in use, {} shared, {} pointers, {} unwritten, {} fingerprints verified)",
        f.sb.inodes_count,
        s.dirs,
        s.regular,
        s.symlinks,
        s.special,
        f.geo.blocks_count,
        s.data_blocks,
        s.shared_blocks,
        s.pointers,
        s.unwritten,
        s.verified
    ));
    let _ = plural;
    let mut code = exit::OK;
    if modified {
        code |= exit::NONDESTRUCT;
    }
    if f.unfixed > 0 {
        code |= exit::UNCORRECTED;
    }
    Ok(code)
}

/// Why the superblock calls for a full check (`None`: it is clean and may
/// be skipped, as e2fsck does). `ignore_recover`: leave a journal that
/// needs recovery out of the reasons (asked before the replay, which may
/// change the superblock, so the answer is a forecast).
pub fn force_reason(f: &Fsck, ignore_recover: bool) -> Option<String> {
    if f.opts.force || f.opts.scrub {
        Some(String::new())
    } else if f.sb.state & STATE_VALID == 0 {
        Some("was not cleanly unmounted".to_string())
    } else if f.sb.state & STATE_ERROR != 0 {
        Some("contains a file system with errors".to_string())
    } else if !ignore_recover && f.sb.has_incompat(INCOMPAT_RECOVER) {
        Some("needs journal recovery".to_string())
    } else if f.sb.orphan_head != 0 {
        Some("has orphan inodes".to_string())
    } else if f.sb.max_mount_count > 0 && f.sb.mount_count >= f.sb.max_mount_count {
        Some(format!(
            "has been mounted {} times without being checked",
            f.sb.mount_count
        ))
    } else if f.sb.checkinterval > 0
        && f.now
            >= f.sb
                .lastcheck_time
                .saturating_add(i64::from(f.sb.checkinterval))
    {
        Some("has gone too long without being checked".to_string())
    } else {
        None
    }
}
