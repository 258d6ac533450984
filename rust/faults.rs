//! Test hooks for the writeback decision, armed through sysfs
//! (`/sys/fs/livedfs/<dev>/test_*`, root only; Documentation/testing.md):
//!
//! - `test_fail_decisions` N: the next N block decisions fail, before they
//!   change anything, with errno `test_fail_errno` (default ENOMEM): how a
//!   test proves that a failed decision loses no data and that fsync
//!   reports it;
//! - `test_delay_after_hash_ms` N: every decision sleeps N ms between
//!   fingerprinting a block and recording it, which turns a rare race with
//!   the decision (a folio changed under DMA, say) into a deterministic
//!   one;
//! - `test_delay_store_format_ms` N: formatting a group's fingerprint
//!   store (its first use) sleeps N ms first, which holds whatever that
//!   formatting holds for that long;
//! - `test_delay_filter_save_ms` N: an unmount that saves the fingerprint
//!   filter sleeps N ms after its blocks are on the disk and before the
//!   superblock points to them, so a test can copy the disk as a power
//!   cut at that moment leaves it.
//!
//! Unarmed, each costs one relaxed atomic load per block decision.

use crate::super_::SbInfo;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;

/// ENOMEM.
const DEFAULT_ERRNO: u64 = 12;
/// Longest delay a test may ask for (ms).
const MAX_DELAY_MS: u64 = 10_000;

/// The armed hooks of one mount.
pub(crate) struct Faults {
    fail_decisions: AtomicU64,
    fail_errno: AtomicU64,
    delay_ms: AtomicU64,
    rebuild_delay_ms: AtomicU64,
    store_format_delay_ms: AtomicU64,
    filter_save_delay_ms: AtomicU64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            fail_decisions: AtomicU64::new(0),
            fail_errno: AtomicU64::new(DEFAULT_ERRNO),
            delay_ms: AtomicU64::new(0),
            rebuild_delay_ms: AtomicU64::new(0),
            store_format_delay_ms: AtomicU64::new(0),
            filter_save_delay_ms: AtomicU64::new(0),
        }
    }
}

/// Fails the decision about to start if a test armed it.
pub(crate) fn before_decision(info: &SbInfo) -> Result {
    let f = &info.faults;
    if f.fail_decisions.load(Ordering::Relaxed) == 0 {
        return Ok(());
    }
    let took = f
        .fail_decisions
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok();
    if took {
        let errno = f.fail_errno.load(Ordering::Relaxed).clamp(1, 133) as i32;
        return Err(Error::from_errno(-errno));
    }
    Ok(())
}

/// Sleeps for the delay a test armed in `hook` (none: returns at once).
fn delay(hook: &AtomicU64) {
    let ms = hook.load(Ordering::Relaxed);
    if ms > 0 {
        crate::vfs::sleep_ms(ms.min(MAX_DELAY_MS) as u32);
    }
}

/// Sleeps between fingerprinting and recording if a test asked for it.
pub(crate) fn after_hash(info: &SbInfo) {
    delay(&info.faults.delay_ms);
}

/// Sleeps per group of the filter build if a test asked for it.
pub(crate) fn during_rebuild(info: &SbInfo) {
    delay(&info.faults.rebuild_delay_ms);
}

/// Sleeps before formatting a fingerprint store if a test asked for it.
pub(crate) fn delay_store_format(info: &SbInfo) {
    delay(&info.faults.store_format_delay_ms);
}

/// Sleeps between writing the saved filter and pointing the superblock
/// to it if a test asked for it.
pub(crate) fn delay_filter_save(info: &SbInfo) {
    delay(&info.faults.filter_save_delay_ms);
}

/// The value of hook `which` (the sysfs attribute numbers in helpers.c).
pub(crate) fn value(info: &SbInfo, which: i32) -> u64 {
    let f = &info.faults;
    match which {
        100 => f.fail_decisions.load(Ordering::Relaxed),
        101 => f.fail_errno.load(Ordering::Relaxed),
        102 => f.delay_ms.load(Ordering::Relaxed),
        103 => f.rebuild_delay_ms.load(Ordering::Relaxed),
        104 => f.store_format_delay_ms.load(Ordering::Relaxed),
        105 => f.filter_save_delay_ms.load(Ordering::Relaxed),
        _ => 0,
    }
}

/// Arms hook `which` with `v`.
pub(crate) fn set(info: &SbInfo, which: i32, v: u64) -> Result {
    let f = &info.faults;
    match which {
        100 => f.fail_decisions.store(v, Ordering::Relaxed),
        101 if (1..=133).contains(&v) => f.fail_errno.store(v, Ordering::Relaxed),
        102 if v <= MAX_DELAY_MS => f.delay_ms.store(v, Ordering::Relaxed),
        103 if v <= MAX_DELAY_MS => f.rebuild_delay_ms.store(v, Ordering::Relaxed),
        104 if v <= MAX_DELAY_MS => f.store_format_delay_ms.store(v, Ordering::Relaxed),
        105 if v <= MAX_DELAY_MS => f.filter_save_delay_ms.store(v, Ordering::Relaxed),
        _ => return Err(EINVAL),
    }
    Ok(())
}
