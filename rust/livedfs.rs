// SPDX-License-Identifier: GPL-2.0

//! livedfs: a Linux file system with inline block-level deduplication for
//! virtual-machine images (after Ng et al., "Live Deduplication Storage of
//! Virtual Machine Images in an Open-Source Cloud", Middleware 2011).
//!
//! This crate is the kernel module. Its parts:
//! - `format`: the on-disk format, the very files of the userspace crate
//!   `livedfs-format` (userspace/format/src), compiled in by path;
//! - `vfs`: the only place with `unsafe`: VFS glue and safe wrappers;
//! - `super_`, `inode`, `dir`, `options`, `errors`: the file system;
//! - `kunit_tests`: in-kernel tests, run by KUnit at insmod.
//!
//! Supported so far: a read-write POSIX file system (files through the
//! page cache with delayed allocation, directories, links, symlinks,
//! device nodes, rename with RENAME_NOREPLACE/EXCHANGE, truncate, hole
//! punching, SEEK_DATA/SEEK_HOLE, mmap, O_DIRECT through the page cache,
//! orphan list); mounting validates superblock, geometry and every group
//! descriptor. Deduplication and journaling come next.

#![recursion_limit = "256"]

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
        match vfs::fstype::Registration::new(module) {
            Ok(fs) => {
                pr_info!("livedfs: registered\n");
                Ok(Self { fs: Some(fs) })
            }
            Err(e) => {
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
        vfs::fpmem::destroy();
        vfs::inode::destroy_cache();
        vfs::sysfs::exit();
    }
}
