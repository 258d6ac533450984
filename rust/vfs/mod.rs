//! The VFS glue: every `unsafe` call into the kernel lives under this
//! folder, each in a small named wrapper with a `// SAFETY:` comment.
//!
//! Linux 6.12 has no Rust VFS abstractions, so livedfs carries its own,
//! shaped after Wedson Almeida Filho's series and FUJITA Tomonori's ext2:
//! the file-system logic outside this folder sees only safe types
//! ([`SuperBlock`], [`Inode`], [`Buffer`], [`DirEmitter`]) and plain
//! `Result`s, and could move to upstream abstractions later.
//!
//! - `fstype`: registration of the `livedfs` type, mount contexts and the
//!   operation tables (C-ABI trampolines into the file-system logic).
//! - `super_block`: the mounted super block and its private data.
//! - `inode`: inodes with livedfs's per-inode data, and their slab cache.
//! - `buffer`: buffer heads for metadata blocks.
//! - `dir`: the readdir emitter.
//! - `crc`: the kernel's crc32c for the format crate.
//! - `kunit`: hand-registered KUnit suites (6.12 has no Rust macro for it).

pub(crate) mod buffer;
pub(crate) mod crc;
pub(crate) mod dir;
pub(crate) mod fstype;
pub(crate) mod inode;
pub(crate) mod kunit;
pub(crate) mod super_block;

pub(crate) use buffer::Buffer;
pub(crate) use dir::DirEmitter;
pub(crate) use inode::{Inode, InodeRef};
pub(crate) use super_block::SuperBlock;
