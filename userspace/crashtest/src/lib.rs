//! Crash-consistency harness for livedfs (issue 6).
//!
//! - [`log`]: the write log QEMU's `blklogwrites` driver records
//!   (dm-log-writes' format), parsed without trusting it;
//! - [`replay`]: crash points (after each flush, and torn ones between
//!   flushes) and the device image at each;
//! - [`workload`] and [`model`]: a seeded workload of VM-image writes with
//!   heavy duplication, overwrites, renames, small fsync'd files, reflinks,
//!   truncation and deletes, and the model history it leaves;
//! - [`exec`]: running it on a real file system with a progress record
//!   after each completed sync;
//! - [`check`]: what a crash image must hold given its progress record;
//! - [`guest`]: the loop/mount/check/fsck cycle in the test VM.
//!
//! See Documentation/crash-testing.md.

pub mod check;
pub mod exec;
pub mod guest;
pub mod hash;
pub mod log;
pub mod model;
pub mod replay;
pub mod rng;
pub mod workload;
