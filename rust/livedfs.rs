// SPDX-License-Identifier: GPL-2.0

//! livedfs: a Linux file system with inline block-level deduplication for
//! virtual-machine images (after Ng et al., "Live Deduplication Storage of
//! Virtual Machine Images in an Open-Source Cloud", Middleware 2011).
//!
//! This crate is the kernel module. Its parts:
//! - `format`: the on-disk format, the very files of the userspace crate
//!   `livedfs-format` (userspace/format/src), compiled in by path;
//! - `vfs`: VFS glue and safe wrappers: where the `unsafe` code is, each
//!   block with a `// SAFETY:` comment. Outside it only five small items:
//!   `InodeData`'s Send/Sync and its jbd2 inode's zero initialiser
//!   (`inode`), the jbd2 commit callback (`journal`), the background filter
//!   build's thread entry (`super_`), and KUnit's array terminator;
//! - `super_`, `inode`, `dir`, `namei`, `file`, `aops`, `balloc`, `ialloc`,
//!   `options`, `errors`: the file system (ext2's split);
//! - `dedup`, `fpstore`, `fpfilter`, `scrub`: deduplication;
//! - `journal`: jbd2 handles and credits; `faults`: test hooks;
//! - `kunit_tests`: in-kernel tests, run by KUnit at insmod.
//!
//! A read-write POSIX file system with inline deduplication and jbd2
//! journaling: files through the page cache with delayed allocation (the
//! dedup decision at writeback), directories, links, symlinks, device
//! nodes, rename with NOREPLACE/EXCHANGE/WHITEOUT, O_TMPFILE, truncate,
//! every fallocate mode, SEEK_DATA/SEEK_HOLE, FIEMAP, mmap, O_DIRECT
//! through the page cache, reflink and FIDEDUPERANGE, inode flags,
//! FS_IOC_SHUTDOWN, online scrub, the orphan list; mounting validates
//! superblock, geometry and every group descriptor (Documentation/).

#![recursion_limit = "512"]

use kernel::prelude::*;

mod aops;
mod balloc;
mod dir;
mod dedup;
mod errors;
mod faults;
mod file;
mod fpfilter;
mod fpstore;
mod groups;
#[allow(
    unused_attributes,
    unused_imports,
    unreachable_pub,
    dead_code,
    missing_docs,
    clippy::all
)]
#[path = "../userspace/format/src/lib.rs"]
mod format;
mod ialloc;
mod journal;
mod inode;
mod kunit_tests;
mod kunit_xattr;
mod namei;
mod options;
mod savedfilter;
mod scrub;
mod super_;
mod sys;
mod vfs;
mod xattr;

module! {
    type: Livedfs,
    name: "livedfs",
    author: "the livedfs developers",
    description: "livedfs: inline-deduplicating file system for VM images",
    license: "GPL",
    alias: ["fs-livedfs"],
}

struct Livedfs {
    fs: Option<vfs::fstype::Registration>,
}

impl kernel::Module for Livedfs {
    fn init(module: &'static ThisModule) -> Result<Self> {
        vfs::sysfs::init()?;
        if let Err(e) = vfs::inode::init_cache() {
            vfs::sysfs::exit();
            return Err(e);
        }
        if let Err(e) = vfs::fpmem::init() {
            vfs::inode::destroy_cache();
            vfs::sysfs::exit();
            return Err(e);
        }
        if let Err(e) = vfs::crypto::init() {
            vfs::fpmem::destroy();
            vfs::inode::destroy_cache();
            vfs::sysfs::exit();
            return Err(e);
        }
        match vfs::fstype::Registration::new(module) {
            Ok(fs) => {
                pr_info!("livedfs: registered\n");
                Ok(Self { fs: Some(fs) })
            }
            Err(e) => {
                vfs::crypto::exit();
                vfs::fpmem::destroy();
                vfs::inode::destroy_cache();
                vfs::sysfs::exit();
                Err(e)
            }
        }
    }
}

impl Drop for Livedfs {
    fn drop(&mut self) {
        // Unregister first, so no new inode can be allocated, then destroy
        // the cache (which reports any leaked inode).
        drop(self.fs.take());
        vfs::crypto::exit();
        vfs::fpmem::destroy();
        vfs::inode::destroy_cache();
        vfs::sysfs::exit();
    }
}
