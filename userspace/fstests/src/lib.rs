//! Shared code of the livedfs file system test programs (`posix-test`,
//! `difftest`, `datatest`, `stress`): system call wrappers with exact errno
//! values, the PASS/FAIL/SKIP report, size parsing, content hashing and the
//! tree manifest used to compare two directory trees.

pub mod content;
pub mod manifest;
pub mod report;
pub mod size;
pub mod sys;
