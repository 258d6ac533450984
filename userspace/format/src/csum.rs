//! Metadata checksums: crc32c, computed by whoever links this crate.
//!
//! The crate stays dependency-free, so the crc32c function is supplied by the
//! caller: the kernel module passes the kernel's `crc32c()` (hardware
//! accelerated), the tools pass the `crc32c` crate. Both compute the same
//! Castagnoli CRC; tests check known vectors.
//!
//! Every checksum is seeded with the volume's UUID (so metadata copied from
//! another livedfs volume is detected), then covers a structure-specific
//! identity (group or inode number) and the structure's bytes with the
//! checksum field itself excluded.

/// A crc32c (Castagnoli) implementation with the kernel's calling convention:
/// `crc32c(seed, data)` with no pre- or post-inversion.
pub trait Crc32c {
    /// Continues a CRC over `data` starting from `crc`.
    fn crc32c(&self, crc: u32, data: &[u8]) -> u32;
}

/// Initial CRC value, as in ext4 (`~0`).
pub const CRC_INIT: u32 = !0;

/// The per-volume seed: crc32c over the UUID.
pub fn volume_seed(c: &impl Crc32c, uuid: &[u8; 16]) -> u32 {
    c.crc32c(CRC_INIT, uuid)
}
