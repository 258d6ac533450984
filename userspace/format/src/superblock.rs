//! The superblock: 1024 bytes at byte offset 1024 of the device, with
//! backups at the start of groups 1, 3^n, 5^n and 7^n (sparse_super).
//!
//! It holds the volume geometry, the feature words, the fingerprint
//! parameters and the journal location. [`Superblock::decode`] checks the
//! magic, version and checksum; [`super::Geometry::from_superblock`] checks
//! that every size and count fits together.

use super::codec::*;
use super::csum::{volume_seed, Crc32c};
use super::error::{FormatError, Result};
use super::FingerprintAlgo;

/// Byte offset of the primary superblock on the device.
pub const SUPERBLOCK_OFFSET: u64 = 1024;
/// Size of the superblock structure in bytes.
pub const SUPERBLOCK_SIZE: usize = 1024;
/// The magic at offset 0: "LIVEDFS" and a NUL.
pub const MAGIC: [u8; 8] = *b"LIVEDFS\0";
/// The format major version this code writes and reads. A different major
/// version is refused.
pub const VERSION_MAJOR: u16 = 1;
/// The format minor version this code writes; higher minors are readable.
pub const VERSION_MINOR: u16 = 0;

/// Compatible feature: the volume has a jbd2 journal.
pub const COMPAT_HAS_JOURNAL: u32 = 0x0001;
/// All compatible features this code knows.
pub const COMPAT_KNOWN: u32 = COMPAT_HAS_JOURNAL;

/// Read-only-compatible feature: superblock and descriptor backups live only
/// in groups 0, 1 and powers of 3, 5 and 7.
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x0001;
/// Read-only-compatible feature: groups may be uninitialised (descriptor flags).
pub const RO_COMPAT_UNINIT_BG: u32 = 0x0002;
/// Read-only-compatible feature: inodes may have extended attributes in
/// an attribute block (`xattr_block`). Read-only compatible: a module
/// without it reads the volume unchanged, but would zero the pointer of
/// every inode it writes and leak the blocks of the inodes it deletes.
pub const RO_COMPAT_XATTR: u32 = 0x0004;
/// Read-only-compatible feature: files may hold preallocated space
/// (`prealloc_blocks`, the inodes' `prealloc`): a module that does not
/// know it would promise that space to other writers, so it may only
/// mount the volume read-only.
pub const RO_COMPAT_PREALLOC: u32 = 0x0008;
/// Read-only-compatible feature: regular files may map blocks through the
/// quadruple-indirect pointer (`inode::QIND_BLOCK`), up to 2^32 blocks
/// (16 TiB at 4 KiB). A module that does not know it refuses such a
/// file's size, and would leak its tree on truncate, so it may only
/// mount read-only. mkfs sets it unless `-O ^huge_file`.
pub const RO_COMPAT_HUGE_FILE: u32 = 0x0010;
/// All read-only-compatible features this code knows.
pub const RO_COMPAT_KNOWN: u32 = RO_COMPAT_SPARSE_SUPER
    | RO_COMPAT_UNINIT_BG
    | RO_COMPAT_XATTR
    | RO_COMPAT_PREALLOC
    | RO_COMPAT_HUGE_FILE;

/// Incompatible feature: the journal holds transactions not yet replayed.
pub const INCOMPAT_RECOVER: u32 = 0x0001;
/// Incompatible feature: all fingerprint stores sit at the end of the device
/// (the paper's no-spatial-locality variant) instead of one per group.
pub const INCOMPAT_FP_AT_END: u32 = 0x0002;
/// Incompatible feature: regular files' block maps may hold
/// `inode::UNWRITTEN` pointers (preallocated, not yet written blocks that
/// read as zeros). A module that does not know it would take the marker
/// for a block number. Set by the kernel at the first `fallocate` that
/// records one.
pub const INCOMPAT_UNWRITTEN: u32 = 0x0004;
/// All incompatible features this code knows.
pub const INCOMPAT_KNOWN: u32 = INCOMPAT_RECOVER | INCOMPAT_FP_AT_END | INCOMPAT_UNWRITTEN;

/// State flag: cleanly unmounted (cleared while mounted read-write).
pub const STATE_VALID: u16 = 0x0001;
/// State flag: errors were detected; fsck must check the volume.
pub const STATE_ERROR: u16 = 0x0002;
/// State flag: orphan inodes are being processed.
pub const STATE_ORPHANS: u16 = 0x0004;

/// On errors: continue.
pub const ERRORS_CONTINUE: u16 = 1;
/// On errors: remount read-only (default).
pub const ERRORS_RO: u16 = 2;
/// On errors: panic.
pub const ERRORS_PANIC: u16 = 3;

/// `default_mount_opts` bits, set by `livedfs tune -o`: mount options a
/// mount gets when it does not say otherwise (as ext4's
/// `s_default_mount_opts`); the module applies them at mount.
///
/// `verify`: byte-compare before sharing (the default on MD5 volumes).
pub const DEFM_VERIFY: u32 = 0x0001;
/// `noverify`: do not (the default on SHA-256 volumes).
pub const DEFM_NOVERIFY: u32 = 0x0002;
/// `noprefetch`: no read-ahead of a group's whole fingerprint store.
pub const DEFM_NOPREFETCH: u32 = 0x0004;
/// `nodedup`: no inline deduplication (fingerprints still recorded).
pub const DEFM_NODEDUP: u32 = 0x0008;
/// Every `default_mount_opts` bit, with its mount option's name.
pub const DEFM_NAMES: [(u32, &str); 4] = [
    (DEFM_VERIFY, "verify"),
    (DEFM_NOVERIFY, "noverify"),
    (DEFM_NOPREFETCH, "noprefetch"),
    (DEFM_NODEDUP, "nodedup"),
];

/// Length of the volume label in bytes (NUL padded, not terminated when full).
pub const LABEL_LEN: usize = 32;
/// Length of the last-mounted path in bytes.
pub const LAST_MOUNTED_LEN: usize = 64;

/// Field offsets within the superblock (see Documentation/format.md).
pub mod off {
    pub const MAGIC: usize = 0;
    pub const VERSION_MAJOR: usize = 8;
    pub const VERSION_MINOR: usize = 10;
    pub const LOG_BLOCK_SIZE: usize = 12;
    pub const BLOCKS_COUNT: usize = 16;
    pub const FREE_BLOCKS: usize = 24;
    pub const INODES_COUNT: usize = 32;
    pub const FREE_INODES: usize = 36;
    pub const FIRST_DATA_BLOCK: usize = 40;
    pub const BLOCKS_PER_GROUP: usize = 44;
    pub const INODES_PER_GROUP: usize = 48;
    pub const GROUP_COUNT: usize = 52;
    pub const INODE_SIZE: usize = 56;
    pub const DESC_SIZE: usize = 58;
    pub const FIRST_INO: usize = 60;
    pub const FEATURE_COMPAT: usize = 64;
    pub const FEATURE_INCOMPAT: usize = 68;
    pub const FEATURE_RO_COMPAT: usize = 72;
    pub const STATE: usize = 76;
    pub const ERRORS: usize = 78;
    pub const MOUNT_COUNT: usize = 80;
    pub const MAX_MOUNT_COUNT: usize = 84;
    pub const MKFS_TIME: usize = 88;
    pub const MOUNT_TIME: usize = 96;
    pub const WRITE_TIME: usize = 104;
    pub const LASTCHECK_TIME: usize = 112;
    pub const UUID: usize = 120;
    pub const LABEL: usize = 136;
    pub const LAST_MOUNTED: usize = 168;
    pub const FP_ALGO: usize = 232;
    pub const FP_SIZE: usize = 233;
    pub const FP_ENTRY_SIZE: usize = 234;
    pub const FP_ENTRIES_PER_BLOCK: usize = 236;
    pub const FP_BLOCKS_PER_GROUP: usize = 240;
    pub const FP_REGION_START: usize = 244;
    pub const JOURNAL_START: usize = 248;
    pub const JOURNAL_BLOCKS: usize = 252;
    pub const GDT_BLOCKS: usize = 256;
    pub const R_BLOCKS_COUNT: usize = 260;
    pub const ORPHAN_HEAD: usize = 264;
    pub const HASH_SEED: usize = 268;
    pub const DEF_RESUID: usize = 284;
    pub const DEF_RESGID: usize = 286;
    pub const DEFAULT_MOUNT_OPTS: usize = 288;
    pub const CHECKINTERVAL: usize = 292;
    pub const KBYTES_WRITTEN: usize = 296;
    pub const PREALLOC_BLOCKS: usize = 304;
    pub const FILTER_MAX_MIB: usize = 312;
    pub const SAVED_FILTER_START: usize = 316;
    pub const SAVED_FILTER_BLOCKS: usize = 320;
    pub const SAVED_FILTER_GEN: usize = 324;
    pub const CHECKSUM: usize = 1020;
}

/// The superblock, decoded. Field meanings are in Documentation/format.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    pub version_major: u16,
    pub version_minor: u16,
    /// Block size is `1024 << log_block_size`.
    pub log_block_size: u32,
    pub blocks_count: u64,
    pub free_blocks: u64,
    pub inodes_count: u32,
    pub free_inodes: u32,
    pub first_data_block: u32,
    pub blocks_per_group: u32,
    pub inodes_per_group: u32,
    pub group_count: u32,
    pub inode_size: u16,
    pub desc_size: u16,
    pub first_ino: u32,
    pub feature_compat: u32,
    pub feature_incompat: u32,
    pub feature_ro_compat: u32,
    pub state: u16,
    pub errors: u16,
    pub mount_count: u32,
    /// Mounts before fsck is advised; 0 disables the check.
    pub max_mount_count: u32,
    pub mkfs_time: i64,
    pub mount_time: i64,
    pub write_time: i64,
    pub lastcheck_time: i64,
    pub uuid: [u8; 16],
    pub label: [u8; LABEL_LEN],
    pub last_mounted: [u8; LAST_MOUNTED_LEN],
    pub fp_algo: u8,
    pub fp_size: u8,
    pub fp_entry_size: u16,
    pub fp_entries_per_block: u32,
    pub fp_blocks_per_group: u32,
    /// First block of the fingerprint-store region (INCOMPAT_FP_AT_END only).
    pub fp_region_start: u32,
    pub journal_start: u32,
    pub journal_blocks: u32,
    pub gdt_blocks: u32,
    pub r_blocks_count: u32,
    pub orphan_head: u32,
    pub hash_seed: [u8; 16],
    pub def_resuid: u16,
    pub def_resgid: u16,
    pub default_mount_opts: u32,
    /// Seconds between advised checks; 0 disables.
    pub checkinterval: u32,
    pub kbytes_written: u64,
    /// Blocks held by files for writes into their holes (fallocate): the
    /// sum of the inodes' `prealloc`; free, but promised.
    pub prealloc_blocks: u64,
    /// Default cap of the fingerprint filter's memory, MiB (0: none); the
    /// `filter_max=` mount option overrides it.
    pub filter_max_mib: u32,
    /// First block of the fingerprint filter saved at the last clean
    /// unmount (in free space; 0: none). See `crate::savedfilter`.
    pub saved_filter_start: u32,
    /// Blocks of the saved filter, header included (0: none).
    pub saved_filter_blocks: u32,
    /// The saved filter's generation: equal to its header's and to
    /// `savedfilter::generation(mount_count, write_time)` of this
    /// superblock, else the saved filter is stale.
    pub saved_filter_gen: u64,
}

impl Default for Superblock {
    fn default() -> Self {
        Self {
            version_major: 0,
            version_minor: 0,
            log_block_size: 0,
            blocks_count: 0,
            free_blocks: 0,
            inodes_count: 0,
            free_inodes: 0,
            first_data_block: 0,
            blocks_per_group: 0,
            inodes_per_group: 0,
            group_count: 0,
            inode_size: 0,
            desc_size: 0,
            first_ino: 0,
            feature_compat: 0,
            feature_incompat: 0,
            feature_ro_compat: 0,
            state: 0,
            errors: 0,
            mount_count: 0,
            max_mount_count: 0,
            mkfs_time: 0,
            mount_time: 0,
            write_time: 0,
            lastcheck_time: 0,
            uuid: [0; 16],
            label: [0; LABEL_LEN],
            last_mounted: [0; LAST_MOUNTED_LEN],
            fp_algo: 0,
            fp_size: 0,
            fp_entry_size: 0,
            fp_entries_per_block: 0,
            fp_blocks_per_group: 0,
            fp_region_start: 0,
            journal_start: 0,
            journal_blocks: 0,
            gdt_blocks: 0,
            r_blocks_count: 0,
            orphan_head: 0,
            hash_seed: [0; 16],
            def_resuid: 0,
            def_resgid: 0,
            default_mount_opts: 0,
            checkinterval: 0,
            kbytes_written: 0,
            prealloc_blocks: 0,
            filter_max_mib: 0,
            saved_filter_start: 0,
            saved_filter_blocks: 0,
            saved_filter_gen: 0,
        }
    }
}

impl Superblock {
    /// Block size in bytes (valid only after validation bounded the shift).
    pub fn block_size(&self) -> Option<u32> {
        if self.log_block_size > 2 {
            return None;
        }
        1024u32.checked_shl(self.log_block_size)
    }

    /// Fingerprint algorithm, if known.
    pub fn fingerprint_algo(&self) -> Option<FingerprintAlgo> {
        FingerprintAlgo::from_code(self.fp_algo)
    }

    /// Whether an incompatible or other feature bit is set.
    pub fn has_incompat(&self, bit: u32) -> bool {
        self.feature_incompat & bit != 0
    }

    /// Whether a read-only-compatible feature bit is set.
    pub fn has_ro_compat(&self, bit: u32) -> bool {
        self.feature_ro_compat & bit != 0
    }

    /// Forgets the saved fingerprint filter (its region is free space that
    /// is about to be used, or may no longer match the volume).
    pub fn clear_saved_filter(&mut self) {
        self.saved_filter_start = 0;
        self.saved_filter_blocks = 0;
        self.saved_filter_gen = 0;
    }

    /// Whether the superblock points to a saved fingerprint filter.
    pub fn has_saved_filter(&self) -> bool {
        self.saved_filter_start != 0 || self.saved_filter_blocks != 0
    }

    /// Whether a compatible feature bit is set.
    pub fn has_compat(&self, bit: u32) -> bool {
        self.feature_compat & bit != 0
    }

    /// The label as text up to the first NUL (bytes that are not UTF-8 are
    /// cut at the first bad byte).
    pub fn label_str(&self) -> &str {
        cstr_field(&self.label)
    }

    /// The last-mounted path as text.
    pub fn last_mounted_str(&self) -> &str {
        cstr_field(&self.last_mounted)
    }

    /// Decodes a superblock from `buf` (at least [`SUPERBLOCK_SIZE`] bytes),
    /// checking magic, major version and checksum. Geometry is checked by
    /// [`super::Geometry::from_superblock`].
    pub fn decode(buf: &[u8], crc: &impl Crc32c) -> Result<Self> {
        need(buf, SUPERBLOCK_SIZE, "superblock")?;
        if get_bytes::<8>(buf, off::MAGIC)? != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let sb = Self::decode_fields(buf)?;
        if sb.version_major != VERSION_MAJOR {
            return Err(FormatError::UnsupportedVersion {
                major: sb.version_major,
                minor: sb.version_minor,
            });
        }
        let stored = get_u32(buf, off::CHECKSUM)?;
        let computed = Self::checksum_of(buf, &sb.uuid, crc)?;
        if stored != computed {
            return Err(FormatError::BadChecksum {
                what: "superblock",
                stored,
                computed,
            });
        }
        Ok(sb)
    }

    /// Decodes the fields without checking magic, version or checksum: for
    /// fsck, which wants to see what is there.
    pub fn decode_fields(buf: &[u8]) -> Result<Self> {
        need(buf, SUPERBLOCK_SIZE, "superblock")?;
        Ok(Self {
            version_major: get_u16(buf, off::VERSION_MAJOR)?,
            version_minor: get_u16(buf, off::VERSION_MINOR)?,
            log_block_size: get_u32(buf, off::LOG_BLOCK_SIZE)?,
            blocks_count: get_u64(buf, off::BLOCKS_COUNT)?,
            free_blocks: get_u64(buf, off::FREE_BLOCKS)?,
            inodes_count: get_u32(buf, off::INODES_COUNT)?,
            free_inodes: get_u32(buf, off::FREE_INODES)?,
            first_data_block: get_u32(buf, off::FIRST_DATA_BLOCK)?,
            blocks_per_group: get_u32(buf, off::BLOCKS_PER_GROUP)?,
            inodes_per_group: get_u32(buf, off::INODES_PER_GROUP)?,
            group_count: get_u32(buf, off::GROUP_COUNT)?,
            inode_size: get_u16(buf, off::INODE_SIZE)?,
            desc_size: get_u16(buf, off::DESC_SIZE)?,
            first_ino: get_u32(buf, off::FIRST_INO)?,
            feature_compat: get_u32(buf, off::FEATURE_COMPAT)?,
            feature_incompat: get_u32(buf, off::FEATURE_INCOMPAT)?,
            feature_ro_compat: get_u32(buf, off::FEATURE_RO_COMPAT)?,
            state: get_u16(buf, off::STATE)?,
            errors: get_u16(buf, off::ERRORS)?,
            mount_count: get_u32(buf, off::MOUNT_COUNT)?,
            max_mount_count: get_u32(buf, off::MAX_MOUNT_COUNT)?,
            mkfs_time: get_i64(buf, off::MKFS_TIME)?,
            mount_time: get_i64(buf, off::MOUNT_TIME)?,
            write_time: get_i64(buf, off::WRITE_TIME)?,
            lastcheck_time: get_i64(buf, off::LASTCHECK_TIME)?,
            uuid: get_bytes(buf, off::UUID)?,
            label: get_bytes(buf, off::LABEL)?,
            last_mounted: get_bytes(buf, off::LAST_MOUNTED)?,
            fp_algo: get_u8(buf, off::FP_ALGO)?,
            fp_size: get_u8(buf, off::FP_SIZE)?,
            fp_entry_size: get_u16(buf, off::FP_ENTRY_SIZE)?,
            fp_entries_per_block: get_u32(buf, off::FP_ENTRIES_PER_BLOCK)?,
            fp_blocks_per_group: get_u32(buf, off::FP_BLOCKS_PER_GROUP)?,
            fp_region_start: get_u32(buf, off::FP_REGION_START)?,
            journal_start: get_u32(buf, off::JOURNAL_START)?,
            journal_blocks: get_u32(buf, off::JOURNAL_BLOCKS)?,
            gdt_blocks: get_u32(buf, off::GDT_BLOCKS)?,
            r_blocks_count: get_u32(buf, off::R_BLOCKS_COUNT)?,
            orphan_head: get_u32(buf, off::ORPHAN_HEAD)?,
            hash_seed: get_bytes(buf, off::HASH_SEED)?,
            def_resuid: get_u16(buf, off::DEF_RESUID)?,
            def_resgid: get_u16(buf, off::DEF_RESGID)?,
            default_mount_opts: get_u32(buf, off::DEFAULT_MOUNT_OPTS)?,
            checkinterval: get_u32(buf, off::CHECKINTERVAL)?,
            kbytes_written: get_u64(buf, off::KBYTES_WRITTEN)?,
            prealloc_blocks: get_u64(buf, off::PREALLOC_BLOCKS)?,
            filter_max_mib: get_u32(buf, off::FILTER_MAX_MIB)?,
            saved_filter_start: get_u32(buf, off::SAVED_FILTER_START)?,
            saved_filter_blocks: get_u32(buf, off::SAVED_FILTER_BLOCKS)?,
            saved_filter_gen: get_u64(buf, off::SAVED_FILTER_GEN)?,
        })
    }

    /// Encodes into `buf` (at least [`SUPERBLOCK_SIZE`] bytes) with magic and
    /// checksum. Bytes of `buf` not covered by a field are zeroed.
    pub fn encode(&self, buf: &mut [u8], crc: &impl Crc32c) -> Result<()> {
        need(buf, SUPERBLOCK_SIZE, "superblock")?;
        let sb = buf
            .get_mut(..SUPERBLOCK_SIZE)
            .ok_or(FormatError::Truncated {
                what: "superblock",
                need: SUPERBLOCK_SIZE,
                have: 0,
            })?;
        sb.fill(0);
        put_bytes(sb, off::MAGIC, &MAGIC)?;
        put_u16(sb, off::VERSION_MAJOR, self.version_major)?;
        put_u16(sb, off::VERSION_MINOR, self.version_minor)?;
        put_u32(sb, off::LOG_BLOCK_SIZE, self.log_block_size)?;
        put_u64(sb, off::BLOCKS_COUNT, self.blocks_count)?;
        put_u64(sb, off::FREE_BLOCKS, self.free_blocks)?;
        put_u32(sb, off::INODES_COUNT, self.inodes_count)?;
        put_u32(sb, off::FREE_INODES, self.free_inodes)?;
        put_u32(sb, off::FIRST_DATA_BLOCK, self.first_data_block)?;
        put_u32(sb, off::BLOCKS_PER_GROUP, self.blocks_per_group)?;
        put_u32(sb, off::INODES_PER_GROUP, self.inodes_per_group)?;
        put_u32(sb, off::GROUP_COUNT, self.group_count)?;
        put_u16(sb, off::INODE_SIZE, self.inode_size)?;
        put_u16(sb, off::DESC_SIZE, self.desc_size)?;
        put_u32(sb, off::FIRST_INO, self.first_ino)?;
        put_u32(sb, off::FEATURE_COMPAT, self.feature_compat)?;
        put_u32(sb, off::FEATURE_INCOMPAT, self.feature_incompat)?;
        put_u32(sb, off::FEATURE_RO_COMPAT, self.feature_ro_compat)?;
        put_u16(sb, off::STATE, self.state)?;
        put_u16(sb, off::ERRORS, self.errors)?;
        put_u32(sb, off::MOUNT_COUNT, self.mount_count)?;
        put_u32(sb, off::MAX_MOUNT_COUNT, self.max_mount_count)?;
        put_i64(sb, off::MKFS_TIME, self.mkfs_time)?;
        put_i64(sb, off::MOUNT_TIME, self.mount_time)?;
        put_i64(sb, off::WRITE_TIME, self.write_time)?;
        put_i64(sb, off::LASTCHECK_TIME, self.lastcheck_time)?;
        put_bytes(sb, off::UUID, &self.uuid)?;
        put_bytes(sb, off::LABEL, &self.label)?;
        put_bytes(sb, off::LAST_MOUNTED, &self.last_mounted)?;
        put_u8(sb, off::FP_ALGO, self.fp_algo)?;
        put_u8(sb, off::FP_SIZE, self.fp_size)?;
        put_u16(sb, off::FP_ENTRY_SIZE, self.fp_entry_size)?;
        put_u32(sb, off::FP_ENTRIES_PER_BLOCK, self.fp_entries_per_block)?;
        put_u32(sb, off::FP_BLOCKS_PER_GROUP, self.fp_blocks_per_group)?;
        put_u32(sb, off::FP_REGION_START, self.fp_region_start)?;
        put_u32(sb, off::JOURNAL_START, self.journal_start)?;
        put_u32(sb, off::JOURNAL_BLOCKS, self.journal_blocks)?;
        put_u32(sb, off::GDT_BLOCKS, self.gdt_blocks)?;
        put_u32(sb, off::R_BLOCKS_COUNT, self.r_blocks_count)?;
        put_u32(sb, off::ORPHAN_HEAD, self.orphan_head)?;
        put_bytes(sb, off::HASH_SEED, &self.hash_seed)?;
        put_u16(sb, off::DEF_RESUID, self.def_resuid)?;
        put_u16(sb, off::DEF_RESGID, self.def_resgid)?;
        put_u32(sb, off::DEFAULT_MOUNT_OPTS, self.default_mount_opts)?;
        put_u32(sb, off::CHECKINTERVAL, self.checkinterval)?;
        put_u64(sb, off::KBYTES_WRITTEN, self.kbytes_written)?;
        put_u64(sb, off::PREALLOC_BLOCKS, self.prealloc_blocks)?;
        put_u32(sb, off::FILTER_MAX_MIB, self.filter_max_mib)?;
        put_u32(sb, off::SAVED_FILTER_START, self.saved_filter_start)?;
        put_u32(sb, off::SAVED_FILTER_BLOCKS, self.saved_filter_blocks)?;
        put_u64(sb, off::SAVED_FILTER_GEN, self.saved_filter_gen)?;
        let c = Self::checksum_of(sb, &self.uuid, crc)?;
        put_u32(sb, off::CHECKSUM, c)
    }

    /// The checksum of an encoded superblock: crc32c seeded with the UUID,
    /// over bytes 0..1020.
    pub fn checksum_of(buf: &[u8], uuid: &[u8; 16], crc: &impl Crc32c) -> Result<u32> {
        let body = slice(buf, 0, off::CHECKSUM)?;
        Ok(crc.crc32c(volume_seed(crc, uuid), body))
    }
}

/// Text of a NUL-padded byte field, up to the first NUL or invalid UTF-8.
pub fn cstr_field(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let bytes = bytes.get(..end).unwrap_or(&[]);
    match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => core::str::from_utf8(bytes.get(..e.valid_up_to()).unwrap_or(&[])).unwrap_or(""),
    }
}
