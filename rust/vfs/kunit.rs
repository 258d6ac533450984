//! KUnit suites written in Rust, registered by hand: Linux 6.12 has only
//! assertion macros, so a suite here is a static `kunit_suite` with a
//! static array of cases, and a pointer to it in the module's
//! `.kunit_test_suites` section, which KUnit runs at insmod (KTAP output
//! in the kernel log).
//!
//! A test is a plain `fn() -> TestResult`; [`run`] is the C-ABI trampoline
//! KUnit calls, indexed at compile time into the suite's test table.

use crate::sys;
use kernel::prelude::*;

/// Outcome of one test: `Err(message)` fails it.
pub(crate) type TestResult = core::result::Result<(), &'static str>;

/// Fails `test` with `msg` if `r` is an error.
fn report(test: *mut sys::kunit, name: &[u8], r: TestResult) {
    if let Err(msg) = r {
        let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
        pr_err!("livedfs kunit: {}: {}\n", crate::vfs::Name(name), msg);
        // SAFETY: KUnit passes the live `kunit` of the running case; writing
        // its status is what kunit_set_failure() does.
        unsafe { (*test).status = sys::kunit_status_KUNIT_FAILURE };
    }
}

/// Trampoline for case `I` of `TESTS`.
pub(crate) unsafe extern "C" fn run<const I: usize>(test: *mut sys::kunit) {
    if let Some((name, f)) = crate::kunit_tests::TESTS.get(I) {
        report(test, name, f());
    }
}

/// Trampoline for case `I` of the extended-attribute suite's `TESTS`.
pub(crate) unsafe extern "C" fn run_xattr<const I: usize>(test: *mut sys::kunit) {
    if let Some((name, f)) = crate::kunit_xattr::TESTS.get(I) {
        report(test, name, f());
    }
}

/// A case entry for KUnit's table.
pub(crate) const fn case(name: &'static [u8], run: unsafe extern "C" fn(*mut sys::kunit)) -> sys::kunit_case {
    // SAFETY: all-zero is the C initial state of a kunit_case (KUnit fills
    // status, module name and log itself).
    let mut c: sys::kunit_case = unsafe { core::mem::zeroed() };
    c.run_case = Some(run);
    c.name = name.as_ptr().cast();
    c
}

/// The NUL-padded suite name array.
pub(crate) const fn suite_name(name: &[u8]) -> [kernel::ffi::c_char; 256] {
    let mut out = [0 as kernel::ffi::c_char; 256];
    let mut i = 0;
    while i < name.len() && i < 255 {
        out[i] = name[i] as kernel::ffi::c_char;
        i += 1;
    }
    out
}

/// A suite with its cases array (terminated by an all-zero case).
pub(crate) const fn suite(name: &[u8], cases: *mut sys::kunit_case) -> sys::kunit_suite {
    // SAFETY: all-zero is the C initial state of a kunit_suite.
    let mut s: sys::kunit_suite = unsafe { core::mem::zeroed() };
    s.name = suite_name(name);
    s.test_cases = cases;
    s
}

/// A pointer KUnit finds in `.kunit_test_suites`.
#[repr(transparent)]
pub(crate) struct SuitePtr(pub(crate) *mut sys::kunit_suite);

// SAFETY: the pointer is only read by KUnit at module load, which then
// runs the suite single-threaded.
unsafe impl Sync for SuitePtr {}
