//! The kernel's crc32c (lib/libcrc32c, hardware accelerated where the CPU
//! has it) behind the format crate's `Crc32c` trait.

use crate::format::Crc32c;
use crate::sys;

/// crc32c from the kernel's crypto library.
pub(crate) struct KernelCrc;

impl Crc32c for KernelCrc {
    fn crc32c(&self, crc: u32, data: &[u8]) -> u32 {
        // Metadata structures are at most one block; chunk anyway so the
        // length always fits the C `unsigned int`.
        let mut c = crc;
        for chunk in data.chunks(1 << 30) {
            // SAFETY: `chunk` is a valid readable slice of `chunk.len()`
            // bytes for the duration of the call; crc32c only reads it.
            c = unsafe { sys::crc32c(c, chunk.as_ptr().cast(), chunk.len() as u32) };
        }
        c
    }
}
