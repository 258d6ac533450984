//! Work split over the online CPUs (`livedfs_run_shares`, on the
//! workqueue that hashes writeback batches).

use core::ffi::{c_uint, c_void};

/// Calls `f(i, n)` for every share `i` of `n` (at most one per online CPU
/// and `max_shares`), on several CPUs at once; returns when every share
/// has run. `f` splits its work by `(i, n)` and reports through what it
/// captures (atomics, locks).
pub(crate) fn run_shares<F: Fn(usize, usize) + Sync>(max_shares: usize, f: &F) {
    unsafe extern "C" fn share<F: Fn(usize, usize) + Sync>(ctx: *mut c_void, i: c_uint, n: c_uint) {
        // SAFETY: `ctx` is the `&F` passed by `run_shares` below, alive
        // until livedfs_run_shares returns, which waits for every share.
        let f = unsafe { &*ctx.cast_const().cast::<F>() };
        f(i as usize, n as usize);
    }
    let max = u32::try_from(max_shares).unwrap_or(u32::MAX);
    let ctx = (f as *const F).cast_mut().cast::<c_void>();
    // SAFETY: `share::<F>` reads `ctx` as this `&F`, which outlives the call
    // (it returns when every share has run); `F: Sync`: shares may call it
    // from several threads at once.
    unsafe { crate::sys::livedfs_run_shares(Some(share::<F>), ctx, max) };
}
