//! KUnit suite `livedfs_xattr`: the format crate's attribute blocks with
//! the kernel's own crc32c (what the module verifies and writes), and the
//! journal credits of an attribute change.

use crate::format::xattr::{self as fx, SetError, SetMode};
use crate::format::Crc32c;
use crate::sys;
use crate::vfs::crc::KernelCrc;
use crate::vfs::kunit::{case, run_xattr, suite, SuitePtr, TestResult};
use kernel::prelude::*;

fn check(cond: bool, msg: &'static str) -> TestResult {
    if cond {
        Ok(())
    } else {
        Err(msg)
    }
}

const SEED: u32 = 0x0bad_5eed;

/// A 4 KiB block image with `attrs` set in the given order, or an error.
fn block(attrs: &[(u8, &[u8], &[u8])]) -> core::result::Result<KVec<u8>, &'static str> {
    let mut b = KVec::from_elem(0u8, 4096, GFP_KERNEL).map_err(|_| "no memory")?;
    fx::init_block(&mut b).map_err(|_| "init_block")?;
    for &(i, n, v) in attrs {
        fx::set(&mut b, i, n, Some(v), SetMode::Any).map_err(|_| "set refused")?;
    }
    Ok(b)
}

/// user::rw-, group::r--, other::r-- in the xattr format.
fn acl_minimal() -> [u8; 28] {
    [
        2, 0, 0, 0, // version
        0x01, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, // USER_OBJ rw-
        0x04, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, // GROUP_OBJ r--
        0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, // OTHER r--
    ]
}

/// Sealed with the kernel's crc32c, a block verifies; any flipped byte
/// (sampled) or another block number is refused.
fn attribute_block_round_trip() -> TestResult {
    let acl = acl_minimal();
    let mut b = block(&[
        (fx::INDEX_SECURITY, b"selinux", b"system_u:object_r:etc_t:s0"),
        (fx::INDEX_USER, b"k", b"v"),
        (fx::INDEX_POSIX_ACL_ACCESS, b"", &acl),
        (fx::INDEX_TRUSTED, b"t", b""),
    ])?;
    let hash = fx::seal(&mut b, 2, 1234, SEED, &KernelCrc).map_err(|_| "seal")?;
    let v = fx::verify_block(&b, 1234, SEED, &KernelCrc).map_err(|_| "a sealed block failed")?;
    check(v.refcount == 2 && v.hash == hash && v.layout.count == 4, "header")?;
    check(fx::verify_block(&b, 1235, SEED, &KernelCrc).is_err(), "another block number accepted")?;
    check(fx::find(&b, fx::INDEX_USER, b"k").ok().flatten() == Some(&b"v"[..]), "find")?;
    check(fx::find(&b, fx::INDEX_USER, b"x").ok().flatten().is_none(), "found a missing name")?;
    // The checksum is crc32c from the seed over the block number, then
    // every byte but the last four, stored as is.
    let c = KernelCrc.crc32c(KernelCrc.crc32c(SEED, &1234u32.to_le_bytes()), b.get(..4092).unwrap_or(&[]));
    check(b.get(4092..) == Some(&c.to_le_bytes()[..]), "checksum convention")?;
    let mut at = 0;
    while at < 4096 {
        if let Some(x) = b.get_mut(at) {
            *x ^= 0x20;
        }
        check(fx::verify_block(&b, 1234, SEED, &KernelCrc).is_err(), "a changed byte was accepted")?;
        if let Some(x) = b.get_mut(at) {
            *x ^= 0x20;
        }
        at += 61;
    }
    Ok(())
}

/// Equal sets give equal bytes (what sharing compares) and equal hashes,
/// whatever the order they were built in.
fn equal_sets_equal_bytes() -> TestResult {
    let mut a = block(&[(fx::INDEX_USER, b"a", b"1"), (fx::INDEX_USER, b"b", b"2"), (fx::INDEX_TRUSTED, b"c", b"3")])?;
    let mut b = block(&[(fx::INDEX_TRUSTED, b"c", b"3"), (fx::INDEX_USER, b"b", b"2"), (fx::INDEX_USER, b"a", b"1")])?;
    let ha = fx::seal(&mut a, 1, 10, SEED, &KernelCrc).map_err(|_| "seal")?;
    let hb = fx::seal(&mut b, 3, 20, SEED, &KernelCrc).map_err(|_| "seal")?;
    check(ha == hb && fx::same_attributes(&a, &b), "equal sets differ")?;
    let mut c = block(&[(fx::INDEX_USER, b"a", b"1"), (fx::INDEX_USER, b"b", b"X"), (fx::INDEX_TRUSTED, b"c", b"3")])?;
    let hc = fx::seal(&mut c, 1, 30, SEED, &KernelCrc).map_err(|_| "seal")?;
    check(hc != ha && !fx::same_attributes(&a, &c), "different sets compare equal")
}

/// The edit refuses what ext4 refuses, leaving the block as it was.
fn edit_errors() -> TestResult {
    let mut b = block(&[(fx::INDEX_USER, b"k", b"v")])?;
    let before = block(&[(fx::INDEX_USER, b"k", b"v")])?;
    check(fx::set(&mut b, fx::INDEX_USER, b"k", Some(b"w"), SetMode::Create) == Err(SetError::Exists), "EEXIST")?;
    check(fx::set(&mut b, fx::INDEX_USER, b"x", Some(b"w"), SetMode::Replace) == Err(SetError::NoData), "ENODATA")?;
    check(fx::set(&mut b, fx::INDEX_USER, b"x", None, SetMode::Replace) == Err(SetError::NoData), "remove")?;
    let big = KVec::from_elem(1u8, 4096 - 40 - 4 - 1, GFP_KERNEL).map_err(|_| "no memory")?;
    check(fx::set(&mut b, fx::INDEX_USER, b"x", Some(&big), SetMode::Any) == Err(SetError::NoSpace), "ENOSPC")?;
    check(fx::set(&mut b, 5, b"x", Some(b"v"), SetMode::Any) == Err(SetError::Invalid), "unknown index")?;
    check(b[..] == before[..], "a refused edit changed the block")?;
    // The largest value a 4 KiB block holds for a 1-byte name.
    let mut e = block(&[])?;
    let max = KVec::from_elem(2u8, 4096 - 40 - 4 - 1, GFP_KERNEL).map_err(|_| "no memory")?;
    let largest = max.get(..max.len().saturating_sub(3)).unwrap_or(&[]);
    check(fx::set(&mut e, fx::INDEX_USER, b"x", Some(largest), SetMode::Any).is_ok(), "largest value")?;
    check(fx::set(&mut e, fx::INDEX_USER, b"x", None, SetMode::Any).is_ok(), "remove the largest")?;
    check(fx::layout(&e).map(|l| l.count) == Ok(0), "an empty block after removing everything")
}

/// ACL values: what posix_acl_valid accepts.
fn acl_values() -> TestResult {
    let good = acl_minimal();
    check(fx::acl_valid(&good), "a minimal ACL refused")?;
    let mut bad = good;
    if let Some(tag) = bad.get_mut(4) {
        *tag = 0x04; // GROUP_OBJ first
    }
    check(!fx::acl_valid(&bad), "an ACL out of order accepted")?;
    check(!fx::acl_valid(good.get(..27).unwrap_or(&[])), "a partial entry accepted")
}

/// An attribute change fits a handle of the smallest journal, and so does
/// a create that inherits two ACLs inside its namespace handle.
fn credits_fit() -> TestResult {
    let max = crate::journal::MIN_JOURNAL_HANDLE_CREDITS;
    check(crate::xattr::CREDITS_XATTR <= max, "an attribute change exceeds the smallest journal's handle")?;
    // A change: inode, old block, new or shared block, two bitmap and
    // descriptor pairs.
    check(crate::xattr::CREDITS_XATTR >= 7, "attribute credits below the worst case")
}

/// The tests, in the order KUnit runs them.
pub(crate) static TESTS: [(&[u8], fn() -> TestResult); 5] = [
    (b"attribute_block_round_trip\0", attribute_block_round_trip),
    (b"equal_sets_equal_bytes\0", equal_sets_equal_bytes),
    (b"edit_errors\0", edit_errors),
    (b"acl_values\0", acl_values),
    (b"credits_fit\0", credits_fit),
];

static mut CASES: [sys::kunit_case; 6] = [
    case(TESTS[0].0, run_xattr::<0>),
    case(TESTS[1].0, run_xattr::<1>),
    case(TESTS[2].0, run_xattr::<2>),
    case(TESTS[3].0, run_xattr::<3>),
    case(TESTS[4].0, run_xattr::<4>),
    // SAFETY: the all-zero case terminates the array, as KUnit expects.
    unsafe { core::mem::zeroed() },
];

static mut SUITE: sys::kunit_suite = suite(b"livedfs_xattr", core::ptr::addr_of_mut!(CASES).cast());

#[used(compiler)]
#[link_section = ".kunit_test_suites"]
static SUITE_PTR: SuitePtr = SuitePtr(core::ptr::addr_of_mut!(SUITE));
