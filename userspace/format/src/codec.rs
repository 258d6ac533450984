//! Little-endian field access on byte slices that never panics.
//!
//! Decoders read fields at fixed offsets with [`get_u32`] and friends, which
//! return [`FormatError::Truncated`] rather than panic when the slice is too
//! short. Encoders write with [`put_u32`] and friends under the same rule.

use super::error::{FormatError, Result};

fn field<const N: usize>(buf: &[u8], off: usize, what: &'static str) -> Result<[u8; N]> {
    let end = off.checked_add(N).ok_or(FormatError::Truncated {
        what,
        need: usize::MAX,
        have: buf.len(),
    })?;
    let bytes = buf.get(off..end).ok_or(FormatError::Truncated {
        what,
        need: end,
        have: buf.len(),
    })?;
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    Ok(out)
}

fn field_mut<'a>(
    buf: &'a mut [u8],
    off: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a mut [u8]> {
    let have = buf.len();
    let end = off.checked_add(len).ok_or(FormatError::Truncated {
        what,
        need: usize::MAX,
        have,
    })?;
    buf.get_mut(off..end).ok_or(FormatError::Truncated {
        what,
        need: end,
        have,
    })
}

/// Reads a byte at `off`.
pub fn get_u8(buf: &[u8], off: usize) -> Result<u8> {
    Ok(field::<1>(buf, off, "u8 field")?[0])
}

/// Reads a little-endian u16 at `off`.
pub fn get_u16(buf: &[u8], off: usize) -> Result<u16> {
    Ok(u16::from_le_bytes(field(buf, off, "u16 field")?))
}

/// Reads a little-endian u32 at `off`.
pub fn get_u32(buf: &[u8], off: usize) -> Result<u32> {
    Ok(u32::from_le_bytes(field(buf, off, "u32 field")?))
}

/// Reads a little-endian u64 at `off`.
pub fn get_u64(buf: &[u8], off: usize) -> Result<u64> {
    Ok(u64::from_le_bytes(field(buf, off, "u64 field")?))
}

/// Reads a little-endian i64 at `off`.
pub fn get_i64(buf: &[u8], off: usize) -> Result<i64> {
    Ok(i64::from_le_bytes(field(buf, off, "i64 field")?))
}

/// Reads a big-endian u32 at `off` (jbd2 structures are big-endian).
pub fn get_be32(buf: &[u8], off: usize) -> Result<u32> {
    Ok(u32::from_be_bytes(field(buf, off, "be32 field")?))
}

/// Reads `N` raw bytes at `off`.
pub fn get_bytes<const N: usize>(buf: &[u8], off: usize) -> Result<[u8; N]> {
    field(buf, off, "byte array field")
}

/// Writes a byte at `off`.
pub fn put_u8(buf: &mut [u8], off: usize, v: u8) -> Result<()> {
    field_mut(buf, off, 1, "u8 field")?.copy_from_slice(&[v]);
    Ok(())
}

/// Writes a little-endian u16 at `off`.
pub fn put_u16(buf: &mut [u8], off: usize, v: u16) -> Result<()> {
    field_mut(buf, off, 2, "u16 field")?.copy_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Writes a little-endian u32 at `off`.
pub fn put_u32(buf: &mut [u8], off: usize, v: u32) -> Result<()> {
    field_mut(buf, off, 4, "u32 field")?.copy_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Writes a little-endian u64 at `off`.
pub fn put_u64(buf: &mut [u8], off: usize, v: u64) -> Result<()> {
    field_mut(buf, off, 8, "u64 field")?.copy_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Writes a little-endian i64 at `off`.
pub fn put_i64(buf: &mut [u8], off: usize, v: i64) -> Result<()> {
    field_mut(buf, off, 8, "i64 field")?.copy_from_slice(&v.to_le_bytes());
    Ok(())
}

/// Writes a big-endian u32 at `off`.
pub fn put_be32(buf: &mut [u8], off: usize, v: u32) -> Result<()> {
    field_mut(buf, off, 4, "be32 field")?.copy_from_slice(&v.to_be_bytes());
    Ok(())
}

/// Writes raw bytes at `off`.
pub fn put_bytes(buf: &mut [u8], off: usize, v: &[u8]) -> Result<()> {
    field_mut(buf, off, v.len(), "byte array field")?.copy_from_slice(v);
    Ok(())
}

/// Returns `buf[off..off + len]` or a truncation error.
pub fn slice(buf: &[u8], off: usize, len: usize) -> Result<&[u8]> {
    let end = off.checked_add(len).ok_or(FormatError::Truncated {
        what: "slice",
        need: usize::MAX,
        have: buf.len(),
    })?;
    buf.get(off..end).ok_or(FormatError::Truncated {
        what: "slice",
        need: end,
        have: buf.len(),
    })
}

/// Checks that `buf` holds at least `need` bytes for structure `what`.
pub fn need(buf: &[u8], need: usize, what: &'static str) -> Result<()> {
    if buf.len() < need {
        return Err(FormatError::Truncated {
            what,
            need,
            have: buf.len(),
        });
    }
    Ok(())
}
