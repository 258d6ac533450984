//! Errors from decoding and validating on-disk structures.
//!
//! Every way a structure can be wrong has its own variant, so the kernel can
//! log a precise message (naming the device) and fsck can say what it found.

use core::fmt;

/// What was wrong with on-disk bytes or with requested parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// A buffer was shorter than the structure it should hold.
    Truncated {
        /// The structure being read or written.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The superblock magic is not livedfs's.
    BadMagic,
    /// The format version is one this code does not understand.
    UnsupportedVersion {
        /// Major version found on disk.
        major: u16,
        /// Minor version found on disk.
        minor: u16,
    },
    /// A structure's stored checksum does not match its contents.
    BadChecksum {
        /// The structure.
        what: &'static str,
        /// Checksum stored on disk.
        stored: u32,
        /// Checksum computed over the contents.
        computed: u32,
    },
    /// Incompatible features this code does not know: refuse the volume.
    UnknownIncompatFeatures(u32),
    /// A field holds a value outside what the format allows.
    BadField {
        /// The structure and field, e.g. "superblock.log_block_size".
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// Two fields disagree, e.g. a count that does not match the geometry.
    Inconsistent {
        /// What disagrees with what.
        what: &'static str,
        /// The value found on disk.
        found: u64,
        /// The value the rest of the volume implies.
        expected: u64,
    },
    /// A volume would be too small to hold its own metadata.
    TooSmall {
        /// Blocks available.
        blocks: u64,
        /// Blocks needed at least.
        need: u64,
    },
    /// A volume would be larger than 32-bit block numbers can address.
    TooLarge {
        /// Blocks requested.
        blocks: u64,
    },
    /// An inode, block or group number is out of range.
    OutOfRange {
        /// What kind of number.
        what: &'static str,
        /// The number.
        value: u64,
    },
    /// A directory entry is malformed.
    BadDirEntry {
        /// Byte offset of the entry in its block.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An extended-attribute entry is malformed.
    BadAttrEntry {
        /// Byte offset of the entry in its block.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { what, need, have } => {
                write!(f, "{what}: need {need} bytes, have {have}")
            }
            Self::BadMagic => f.write_str("no livedfs superblock (bad magic)"),
            Self::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported format version {major}.{minor}")
            }
            Self::BadChecksum {
                what,
                stored,
                computed,
            } => write!(
                f,
                "{what}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            Self::UnknownIncompatFeatures(bits) => {
                write!(f, "unknown incompatible features {bits:#x}")
            }
            Self::BadField { field, value } => write!(f, "{field}: invalid value {value}"),
            Self::Inconsistent {
                what,
                found,
                expected,
            } => write!(f, "{what}: found {found}, expected {expected}"),
            Self::TooSmall { blocks, need } => {
                write!(f, "volume too small: {blocks} blocks, need at least {need}")
            }
            Self::TooLarge { blocks } => write!(
                f,
                "volume too large: {blocks} blocks exceed 32-bit block numbers"
            ),
            Self::OutOfRange { what, value } => write!(f, "{what} {value} out of range"),
            Self::BadDirEntry { offset, reason } => {
                write!(f, "directory entry at offset {offset}: {reason}")
            }
            Self::BadAttrEntry { offset, reason } => {
                write!(f, "attribute entry at offset {offset}: {reason}")
            }
        }
    }
}

/// Result of format operations.
pub type Result<T> = core::result::Result<T, FormatError>;
