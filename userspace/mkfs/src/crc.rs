//! crc32c for the format crate's checksums, from the `crc32c` crate.
//!
//! The format crate uses the kernel's convention: a raw CRC register
//! continued over the data, with no pre- or post-inversion. The `crc32c`
//! crate's `crc32c_append` inverts on entry and exit, so undo both.

/// The crc32c implementation mkfs hands to the format crate.
#[derive(Debug, Clone, Copy, Default)]
pub struct Crc;

impl livedfs_format::Crc32c for Crc {
    fn crc32c(&self, crc: u32, data: &[u8]) -> u32 {
        !crc32c::crc32c_append(!crc, data)
    }
}

#[cfg(test)]
mod tests {
    use super::Crc;
    use livedfs_format::Crc32c;

    #[test]
    fn standard_check_value() {
        // The standard crc32c of "123456789" is 0xE3069283: init ~0, final
        // inversion, both done by the caller in the kernel convention.
        assert_eq!(!Crc.crc32c(!0, b"123456789"), 0xE306_9283);
        // Continuation equals one pass.
        let a = Crc.crc32c(!0, b"12345");
        assert_eq!(Crc.crc32c(a, b"6789"), Crc.crc32c(!0, b"123456789"));
    }
}
