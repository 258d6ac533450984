//! The livedfs on-disk format, defined once.
//!
//! This crate is the single definition of every on-disk structure of
//! livedfs, shared by the kernel module (which compiles these very files by
//! path) and the userspace tools (which link it as a crate). It has no
//! dependencies and no `unsafe`, and nothing in it panics on bad bytes:
//! decoders return [`FormatError`]. Documentation/format.md describes the
//! same structures field by field.
//!
//! - [`superblock`]: the superblock and feature words.
//! - [`savedfilter`]: the fingerprint filter saved at a clean unmount.
//! - [`geometry`]: layout arithmetic (where each group's structures live).
//! - [`group`]: group descriptors.
//! - [`inode`]: inodes and the block map.
//! - [`dirent`]: directory entries and directory-block tails.
//! - [`fpstore`]: fingerprint-store entries (fingerprint + refcount).
//! - [`bitmap`]: block and inode bitmaps.
//! - [`filter`]: fingerprint-filter key arithmetic.
//! - [`jbd2`]: the journal superblock mkfs writes.
//! - [`xattr`]: extended-attribute blocks (and the POSIX ACL value format).

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod bitmap;
pub mod codec;
pub mod csum;
pub mod dirent;
pub mod error;
pub mod filter;
pub mod fpfilter;
pub mod fpstore;
pub mod geometry;
pub mod group;
pub mod inode;
pub mod jbd2;
pub mod savedfilter;
pub mod superblock;
pub mod xattr;

pub use csum::Crc32c;
pub use error::{FormatError, Result};
pub use geometry::{Geometry, GeometryParams, GroupLayout};
pub use superblock::Superblock;

/// Size of an on-disk inode in bytes.
pub const INODE_SIZE: u32 = 256;
/// Size of a group descriptor in bytes.
pub const DESC_SIZE: u32 = 64;
/// Inode number of the root directory.
pub const ROOT_INO: u32 = 2;
/// First inode number not reserved for the file system itself; mkfs gives
/// it to `lost+found`.
pub const FIRST_INO: u32 = 11;
/// Inode number mkfs gives `lost+found`.
pub const LOST_FOUND_INO: u32 = FIRST_INO;
/// Bytes of the reference count in a fingerprint-store entry.
pub const FP_REFCOUNT_SIZE: u32 = 4;
/// Bytes at the end of each fingerprint-store block holding its checksum.
pub const FP_BLOCK_TAIL: u32 = 4;

/// The hash used to fingerprint data blocks, chosen at mkfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FingerprintAlgo {
    /// SHA-256, 32-byte fingerprints (default).
    Sha256,
    /// MD5, 16-byte fingerprints (the paper's choice; not collision resistant
    /// against an adversary, see the admin guide).
    Md5,
}

impl FingerprintAlgo {
    /// On-disk code (superblock `fp_algo`).
    pub const fn code(self) -> u8 {
        match self {
            Self::Sha256 => 1,
            Self::Md5 => 2,
        }
    }

    /// Decodes an on-disk code.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Sha256),
            2 => Some(Self::Md5),
            _ => None,
        }
    }

    /// Fingerprint length in bytes.
    pub const fn size(self) -> u8 {
        match self {
            Self::Sha256 => 32,
            Self::Md5 => 16,
        }
    }

    /// Name as used by mkfs `-O` and the kernel crypto API.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Md5 => "md5",
        }
    }

    /// Parses a name as accepted by mkfs.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "md5" => Some(Self::Md5),
            _ => None,
        }
    }
}
