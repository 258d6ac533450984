//! crc32c for the format crate's checksums (kernel convention: no pre- or
//! post-inversion), from the `crc32c` crate, which inverts around each call.

/// The crc32c the format crate is given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Crc;

impl livedfs_format::Crc32c for Crc {
    fn crc32c(&self, crc: u32, data: &[u8]) -> u32 {
        !crc32c::crc32c_append(!crc, data)
    }
}

/// jbd2's checksum: crc32c in the kernel convention (`jbd2_chksum`).
pub fn jbd2_crc(seed: u32, data: &[u8]) -> u32 {
    !crc32c::crc32c_append(!seed, data)
}

/// Big-endian CRC-32 (poly 0x04C11DB7, no inversion), as the kernel's
/// `crc32_be`: jbd2's old COMPAT_CHECKSUM transaction checksums.
pub fn crc32_be(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use livedfs_format::Crc32c;

    #[test]
    fn check_values() {
        assert_eq!(!Crc.crc32c(!0, b"123456789"), 0xE306_9283);
        // CRC-32/MPEG-2 (crc32_be from ~0, no final xor): 0x0376E6E7.
        assert_eq!(crc32_be(!0, b"123456789"), 0x0376_E6E7);
    }
}
