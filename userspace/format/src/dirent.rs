//! Directory blocks: ext2-style variable-length entries, and a 12-byte tail
//! holding the block's checksum.
//!
//! An entry is `inode (u32) | rec_len (u16) | name_len (u8) | file_type (u8)
//! | name`, padded to a multiple of 4; `rec_len` chains to the next entry and
//! the entries of a block tile it exactly up to the tail. A deleted entry is
//! merged into its predecessor's `rec_len` (or, first in its block, keeps its
//! place with inode 0), so the byte offset of a live entry never changes:
//! that offset is the stable readdir position.

use super::codec::*;
use super::csum::Crc32c;
use super::error::{FormatError, Result};

/// Bytes of an entry header.
pub const ENTRY_HEADER: usize = 8;
/// Longest name in bytes.
pub const NAME_MAX: usize = 255;
/// Bytes of the checksum tail at the end of every directory block.
pub const TAIL_SIZE: usize = 12;
/// `file_type` value marking the tail.
pub const TAIL_MARK: u8 = 0xDE;

/// Directory entry file types.
pub const FT_UNKNOWN: u8 = 0;
pub const FT_REG: u8 = 1;
pub const FT_DIR: u8 = 2;
pub const FT_CHRDEV: u8 = 3;
pub const FT_BLKDEV: u8 = 4;
pub const FT_FIFO: u8 = 5;
pub const FT_SOCK: u8 = 6;
pub const FT_SYMLINK: u8 = 7;
/// Largest valid file type.
pub const FT_MAX: u8 = 7;

/// The entry file type for an inode mode.
pub fn file_type_of_mode(mode: u16) -> u8 {
    use super::inode::*;
    match mode & S_IFMT {
        S_IFREG => FT_REG,
        S_IFDIR => FT_DIR,
        S_IFCHR => FT_CHRDEV,
        S_IFBLK => FT_BLKDEV,
        S_IFIFO => FT_FIFO,
        S_IFSOCK => FT_SOCK,
        S_IFLNK => FT_SYMLINK,
        _ => FT_UNKNOWN,
    }
}

/// The `d_type` value (`DT_*` of `<dirent.h>`) for an entry file type.
pub fn dtype_of(ft: u8) -> u8 {
    match ft {
        FT_REG => 8,
        FT_DIR => 4,
        FT_CHRDEV => 2,
        FT_BLKDEV => 6,
        FT_FIFO => 1,
        FT_SOCK => 12,
        FT_SYMLINK => 10,
        _ => 0,
    }
}

/// Space an entry with a name of `name_len` bytes needs.
pub const fn rec_len_for(name_len: usize) -> usize {
    ENTRY_HEADER.saturating_add(name_len).saturating_add(3) & !3
}

/// Whether `name` is a valid entry name: 1..=255 bytes, no '/' or NUL.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.len() <= NAME_MAX && !name.iter().any(|&b| b == b'/' || b == 0)
}

/// One entry of a directory block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirEntry<'a> {
    /// Byte offset of the entry in its block.
    pub offset: usize,
    /// Inode number, 0 for an unused entry.
    pub ino: u32,
    pub rec_len: usize,
    pub file_type: u8,
    pub name: &'a [u8],
}

/// Iterates over the entries of one directory block (tail excluded),
/// validating each; yields an error and stops at the first malformed one.
pub struct DirBlockIter<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
    failed: bool,
}

/// Iterates over the entries of `block`.
pub fn entries(block: &[u8]) -> DirBlockIter<'_> {
    DirBlockIter {
        buf: block,
        pos: 0,
        end: block.len().saturating_sub(TAIL_SIZE),
        failed: false,
    }
}

impl<'a> DirBlockIter<'a> {
    fn parse(&self, off: usize) -> Result<DirEntry<'a>> {
        let bad = |reason| FormatError::BadDirEntry {
            offset: off,
            reason,
        };
        if off & 3 != 0 {
            return Err(bad("misaligned"));
        }
        let room = self.end.checked_sub(off).ok_or(bad("past end of block"))?;
        if room < ENTRY_HEADER {
            return Err(bad("header crosses the block tail"));
        }
        let ino = get_u32(self.buf, off)?;
        let rec_len = usize::from(get_u16(self.buf, off.saturating_add(4))?);
        let name_len = usize::from(get_u8(self.buf, off.saturating_add(6))?);
        let file_type = get_u8(self.buf, off.saturating_add(7))?;
        if rec_len < ENTRY_HEADER || rec_len % 4 != 0 {
            return Err(bad("bad rec_len"));
        }
        if rec_len > room {
            return Err(bad("rec_len crosses the block tail"));
        }
        if ino != 0 {
            if rec_len < rec_len_for(name_len) {
                return Err(bad("name longer than rec_len"));
            }
            if file_type > FT_MAX {
                return Err(bad("bad file type"));
            }
        }
        let name_len = if ino != 0 {
            name_len
        } else {
            name_len.min(rec_len.saturating_sub(ENTRY_HEADER))
        };
        let name = slice(self.buf, off.saturating_add(ENTRY_HEADER), name_len)?;
        if ino != 0 && !valid_name(name) {
            return Err(bad("invalid name"));
        }
        Ok(DirEntry {
            offset: off,
            ino,
            rec_len,
            file_type,
            name,
        })
    }
}

impl<'a> Iterator for DirBlockIter<'a> {
    type Item = Result<DirEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.end {
            return None;
        }
        match self.parse(self.pos) {
            Ok(e) => {
                self.pos = self.pos.saturating_add(e.rec_len);
                Some(Ok(e))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Writes an entry header and name at `off`.
pub fn write_entry(
    block: &mut [u8],
    off: usize,
    ino: u32,
    rec_len: usize,
    name: &[u8],
    ft: u8,
) -> Result<()> {
    let rec = u16::try_from(rec_len).map_err(|_| FormatError::BadDirEntry {
        offset: off,
        reason: "rec_len too large",
    })?;
    let nl = u8::try_from(name.len()).map_err(|_| FormatError::BadDirEntry {
        offset: off,
        reason: "name too long",
    })?;
    // The header and name must fit before anything is written.
    slice(block, off, ENTRY_HEADER.saturating_add(name.len()))?;
    put_u32(block, off, ino)?;
    put_u16(block, off.saturating_add(4), rec)?;
    put_u8(block, off.saturating_add(6), nl)?;
    put_u8(block, off.saturating_add(7), ft)?;
    put_bytes(block, off.saturating_add(ENTRY_HEADER), name)
}

/// Formats `block` as an empty directory block (one unused entry spanning
/// it) with a tail. The checksum is set by [`set_checksum`].
pub fn init_block(block: &mut [u8]) -> Result<()> {
    block.fill(0);
    let end = block
        .len()
        .checked_sub(TAIL_SIZE)
        .ok_or(FormatError::Truncated {
            what: "directory block",
            need: TAIL_SIZE,
            have: block.len(),
        })?;
    write_entry(block, 0, 0, end, &[], 0)?;
    write_tail(block)
}

fn write_tail(block: &mut [u8]) -> Result<()> {
    let t = block
        .len()
        .checked_sub(TAIL_SIZE)
        .ok_or(FormatError::Truncated {
            what: "directory block",
            need: TAIL_SIZE,
            have: block.len(),
        })?;
    write_entry(block, t, 0, TAIL_SIZE, &[], TAIL_MARK)
}

/// Formats the first block of a new directory: "." and "..", the rest
/// unused, and the tail.
pub fn init_first_block(block: &mut [u8], ino: u32, parent: u32) -> Result<()> {
    block.fill(0);
    let end = block
        .len()
        .checked_sub(TAIL_SIZE)
        .ok_or(FormatError::Truncated {
            what: "directory block",
            need: TAIL_SIZE,
            have: block.len(),
        })?;
    let dot = rec_len_for(1);
    write_entry(block, 0, ino, dot, b".", FT_DIR)?;
    let rest = end.checked_sub(dot).ok_or(FormatError::Truncated {
        what: "directory block",
        need: dot,
        have: end,
    })?;
    write_entry(block, dot, parent, rest, b"..", FT_DIR)?;
    write_tail(block)
}

/// Checksum of a directory block: crc32c from the volume seed over the
/// directory's inode number and generation and the block up to the
/// tail's checksum field.
pub fn checksum_of(
    block: &[u8],
    dir_ino: u32,
    generation: u32,
    seed: u32,
    crc: &impl Crc32c,
) -> Result<u32> {
    let body = block.len().checked_sub(4).ok_or(FormatError::Truncated {
        what: "directory block",
        need: 4,
        have: block.len(),
    })?;
    let c = crc.crc32c(seed, &dir_ino.to_le_bytes());
    let c = crc.crc32c(c, &generation.to_le_bytes());
    Ok(crc.crc32c(c, slice(block, 0, body)?))
}

/// Recomputes and stores the tail checksum of a directory block.
pub fn set_checksum(
    block: &mut [u8],
    dir_ino: u32,
    generation: u32,
    seed: u32,
    crc: &impl Crc32c,
) -> Result<()> {
    let c = checksum_of(block, dir_ino, generation, seed, crc)?;
    let at = block.len().saturating_sub(4);
    put_u32(block, at, c)
}

/// Checks a directory block: tail present, checksum correct, every entry
/// well formed.
pub fn verify_block(
    block: &[u8],
    dir_ino: u32,
    generation: u32,
    seed: u32,
    crc: &impl Crc32c,
) -> Result<()> {
    let t = block
        .len()
        .checked_sub(TAIL_SIZE)
        .ok_or(FormatError::Truncated {
            what: "directory block",
            need: TAIL_SIZE,
            have: block.len(),
        })?;
    if get_u32(block, t)? != 0
        || usize::from(get_u16(block, t.saturating_add(4))?) != TAIL_SIZE
        || get_u8(block, t.saturating_add(7))? != TAIL_MARK
    {
        return Err(FormatError::BadDirEntry {
            offset: t,
            reason: "missing checksum tail",
        });
    }
    let stored = get_u32(block, t.saturating_add(8))?;
    let computed = checksum_of(block, dir_ino, generation, seed, crc)?;
    if stored != computed {
        return Err(FormatError::BadChecksum {
            what: "directory block",
            stored,
            computed,
        });
    }
    for e in entries(block) {
        e?;
    }
    Ok(())
}

/// Finds room for an entry with a name of `name_len` bytes: returns the
/// offset of the entry to split (or reuse, if unused).
pub fn find_room(block: &[u8], name_len: usize) -> Result<Option<usize>> {
    let need = rec_len_for(name_len);
    for e in entries(block) {
        let e = e?;
        let used = if e.ino == 0 {
            0
        } else {
            rec_len_for(e.name.len())
        };
        if e.rec_len >= used.saturating_add(need) {
            return Ok(Some(e.offset));
        }
    }
    Ok(None)
}

/// Inserts an entry into the space found by [`find_room`] at `at`; returns
/// the new entry's offset (its stable readdir position).
///
/// `at` must be the offset of an entry of the block (the chain is walked
/// to it, validating every entry on the way), `ino` non-zero, `name` valid
/// and `ft` at most [`FT_MAX`]; otherwise the block is left untouched and
/// an error returned, so a stale or wild offset can't corrupt the block.
pub fn insert_at(block: &mut [u8], at: usize, ino: u32, name: &[u8], ft: u8) -> Result<usize> {
    let bad = |reason| FormatError::BadDirEntry { offset: at, reason };
    if !valid_name(name) {
        return Err(bad("invalid name"));
    }
    if ino == 0 {
        return Err(bad("inode 0"));
    }
    if ft > FT_MAX {
        return Err(bad("bad file type"));
    }
    let mut found = None;
    for e in entries(block) {
        let e = e?;
        if e.offset == at {
            found = Some((e.ino, e.rec_len, e.name.len()));
            break;
        }
        if e.offset > at {
            break;
        }
    }
    let (e_ino, e_rec, e_name) = found.ok_or(bad("no entry at this offset"))?;
    let need = rec_len_for(name.len());
    if e_ino == 0 {
        if e_rec < need {
            return Err(bad("no room"));
        }
        write_entry(block, at, ino, e_rec, name, ft)?;
        return Ok(at);
    }
    let used = rec_len_for(e_name);
    if e_rec < used.saturating_add(need) {
        return Err(bad("no room"));
    }
    let u16_used = u16::try_from(used).map_err(|_| bad("rec_len too large"))?;
    put_u16(block, at.saturating_add(4), u16_used)?;
    let new = at.saturating_add(used);
    write_entry(block, new, ino, e_rec.saturating_sub(used), name, ft)?;
    Ok(new)
}

/// Removes the live entry at `off`: merged into the previous entry, or, if
/// first in the block, marked unused in place.
pub fn remove_at(block: &mut [u8], off: usize) -> Result<()> {
    let mut prev: Option<(usize, usize)> = None;
    for e in entries(block) {
        let e = e?;
        if e.offset == off {
            match prev {
                Some((p, p_rec)) => {
                    let merged = u16::try_from(p_rec.saturating_add(e.rec_len)).map_err(|_| {
                        FormatError::BadDirEntry {
                            offset: off,
                            reason: "rec_len too large",
                        }
                    })?;
                    put_u16(block, p.saturating_add(4), merged)?;
                }
                None => put_u32(block, off, 0)?,
            }
            return Ok(());
        }
        prev = Some((e.offset, e.rec_len));
    }
    Err(FormatError::BadDirEntry {
        offset: off,
        reason: "no entry at this offset",
    })
}
