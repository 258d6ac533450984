//! Extended attributes: ext2's design. An inode's attributes live in one
//! **attribute block**, named by the inode's `xattr_block`; inodes with
//! identical attribute sets may share one block, counted by the
//! `refcount` of its header and found again through its `hash`.
//!
//! A block is a 32-byte header, the entries from byte 32 in increasing
//! (name index, name) order, a 4-byte end marker (all zero), zeros, and
//! the block's checksum in its last 4 bytes. An entry is
//! `name_index (u8) | name_len (u8) | value_len (le16) | name | value`,
//! zero-padded to a multiple of 4 bytes. So the bytes from 32 to the
//! checksum are a function of the attribute set alone: two blocks hold
//! the same attributes exactly when those bytes are equal, which is what
//! sharing compares.
//!
//! Nothing here allocates: [`set`] edits a block image in place (the
//! kernel keeps a scratch copy, so a refused change leaves the journaled
//! buffer untouched), [`seal`] writes the header and the checksum, and
//! [`verify_block`] checks everything a block read from the disk holds.

use super::codec::*;
use super::csum::Crc32c;
use super::error::{FormatError, Result};

/// Magic of an attribute block: the bytes "LDXA".
pub const MAGIC: u32 = 0x4158_444C;
/// Bytes of the block header.
pub const HEADER_SIZE: usize = 32;
/// Bytes at the end of the block holding its checksum.
pub const TAIL_SIZE: usize = 4;
/// Bytes of an entry's fixed part.
pub const ENTRY_HEADER: usize = 4;
/// Bytes of the end marker after the last entry.
pub const END_MARKER: usize = 4;
/// Longest name (the part after the namespace prefix), in bytes.
pub const NAME_MAX: usize = 255;
/// Inodes that may share one block at most (as ext2's
/// `EXT2_XATTR_REFCOUNT_MAX`): a damaged shared block harms at most this
/// many files. A block whose count reached it is not offered for sharing.
pub const REFCOUNT_MAX: u32 = 1024;

/// Name index of `user.` attributes.
pub const INDEX_USER: u8 = 1;
/// Name index of `system.posix_acl_access` (no name after the prefix).
pub const INDEX_POSIX_ACL_ACCESS: u8 = 2;
/// Name index of `system.posix_acl_default` (no name after the prefix).
pub const INDEX_POSIX_ACL_DEFAULT: u8 = 3;
/// Name index of `trusted.` attributes.
pub const INDEX_TRUSTED: u8 = 4;
/// Name index of `security.` attributes.
pub const INDEX_SECURITY: u8 = 6;

/// Field offsets within the block header.
pub mod off {
    pub const MAGIC: usize = 0;
    pub const REFCOUNT: usize = 4;
    pub const HASH: usize = 8;
}

/// Field offsets within an entry.
pub mod entry_off {
    pub const NAME_INDEX: usize = 0;
    pub const NAME_LEN: usize = 1;
    pub const VALUE_LEN: usize = 2;
    pub const NAME: usize = 4;
}

/// The prefix of a name index: the namespace (`user.`), or the whole
/// name for the two ACLs.
pub fn prefix(index: u8) -> Option<&'static [u8]> {
    match index {
        INDEX_USER => Some(b"user."),
        INDEX_POSIX_ACL_ACCESS => Some(b"system.posix_acl_access"),
        INDEX_POSIX_ACL_DEFAULT => Some(b"system.posix_acl_default"),
        INDEX_TRUSTED => Some(b"trusted."),
        INDEX_SECURITY => Some(b"security."),
        _ => None,
    }
}

/// Whether `index` names a POSIX ACL (a whole name, no suffix).
pub fn is_acl(index: u8) -> bool {
    index == INDEX_POSIX_ACL_ACCESS || index == INDEX_POSIX_ACL_DEFAULT
}

/// Splits a full attribute name (`user.foo`) into its index and the part
/// stored in the entry (`foo`); `None` for a namespace livedfs does not
/// store or a name that is not valid in its namespace.
pub fn split_name(full: &[u8]) -> Option<(u8, &[u8])> {
    for index in [INDEX_POSIX_ACL_ACCESS, INDEX_POSIX_ACL_DEFAULT] {
        if Some(full) == prefix(index) {
            return Some((index, &[]));
        }
    }
    for index in [INDEX_USER, INDEX_TRUSTED, INDEX_SECURITY] {
        let p = prefix(index)?;
        if let Some(rest) = full.strip_prefix(p) {
            return valid_name(index, rest).then_some((index, rest));
        }
    }
    None
}

/// Whether `name` may be stored under `index`: empty for the ACLs, else
/// 1 to 255 bytes without NUL.
pub fn valid_name(index: u8, name: &[u8]) -> bool {
    if prefix(index).is_none() {
        return false;
    }
    if is_acl(index) {
        return name.is_empty();
    }
    !name.is_empty() && name.len() <= NAME_MAX && !name.contains(&0)
}

/// Bytes an entry with a name of `name_len` and a value of `value_len`
/// bytes takes, padding included.
pub fn entry_size(name_len: usize, value_len: usize) -> Option<usize> {
    let n = ENTRY_HEADER
        .checked_add(name_len)?
        .checked_add(value_len)?
        .checked_add(3)?;
    Some(n & !3)
}

/// Bytes available for entries in a block of `block_size` bytes (header,
/// end marker and checksum excluded).
pub fn capacity(block_size: usize) -> usize {
    block_size
        .saturating_sub(HEADER_SIZE)
        .saturating_sub(END_MARKER)
        .saturating_sub(TAIL_SIZE)
}

/// One attribute of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Byte offset of the entry in its block.
    pub offset: usize,
    pub index: u8,
    /// The name after the namespace prefix (empty for the ACLs).
    pub name: &'a [u8],
    pub value: &'a [u8],
}

impl Entry<'_> {
    /// Bytes the entry takes in its block.
    pub fn size(&self) -> usize {
        entry_size(self.name.len(), self.value.len()).unwrap_or(usize::MAX)
    }
}

fn bad(offset: usize, reason: &'static str) -> FormatError {
    FormatError::BadAttrEntry { offset, reason }
}

/// The entry at `pos`, or `None` at the end marker. `end` is where the
/// checksum starts.
fn parse_at(block: &[u8], pos: usize, end: usize) -> Result<Option<Entry<'_>>> {
    if pos & 3 != 0 || pos < HEADER_SIZE {
        return Err(bad(pos, "misaligned"));
    }
    let room = end
        .checked_sub(pos)
        .ok_or(bad(pos, "past the end of the block"))?;
    if room < END_MARKER {
        return Err(bad(pos, "no end marker before the checksum"));
    }
    let index = get_u8(block, pos)?;
    let name_len = usize::from(get_u8(block, pos.saturating_add(entry_off::NAME_LEN))?);
    let value_len = usize::from(get_u16(block, pos.saturating_add(entry_off::VALUE_LEN))?);
    if index == 0 {
        if name_len != 0 || value_len != 0 {
            return Err(bad(pos, "bad end marker"));
        }
        return Ok(None);
    }
    if prefix(index).is_none() {
        return Err(bad(pos, "unknown name index"));
    }
    let size = entry_size(name_len, value_len).ok_or(bad(pos, "entry too large"))?;
    if size.saturating_add(END_MARKER) > room {
        return Err(bad(pos, "entry crosses the end of the block"));
    }
    let name_at = pos.saturating_add(entry_off::NAME);
    let name = slice(block, name_at, name_len)?;
    if !valid_name(index, name) {
        return Err(bad(pos, "invalid name"));
    }
    let value_at = name_at.saturating_add(name_len);
    let value = slice(block, value_at, value_len)?;
    let pad_at = value_at.saturating_add(value_len);
    let pad = slice(
        block,
        pad_at,
        pos.saturating_add(size).saturating_sub(pad_at),
    )?;
    if pad.iter().any(|&b| b != 0) {
        return Err(bad(pos, "padding not zero"));
    }
    if is_acl(index) && !acl_valid(value) {
        return Err(bad(pos, "invalid POSIX ACL"));
    }
    Ok(Some(Entry {
        offset: pos,
        index,
        name,
        value,
    }))
}

/// The entries of a block, in order, each validated (and in strictly
/// increasing (index, name) order after the one before); an error ends
/// the iteration.
pub struct Entries<'a> {
    block: &'a [u8],
    pos: usize,
    prev: Option<(u8, &'a [u8])>,
    done: bool,
}

/// Iterates over the entries of `block`.
pub fn entries(block: &[u8]) -> Entries<'_> {
    Entries {
        block,
        pos: HEADER_SIZE,
        prev: None,
        done: false,
    }
}

impl Entries<'_> {
    /// Offset of the end marker, once the iteration has reached it.
    pub fn end_marker(&self) -> Option<usize> {
        self.done.then_some(self.pos)
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let end = self.block.len().saturating_sub(TAIL_SIZE);
        match parse_at(self.block, self.pos, end) {
            Ok(None) => {
                self.done = true;
                None
            }
            Ok(Some(e)) => {
                let key = (e.index, e.name);
                if self.prev.is_some_and(|p| p >= key) {
                    self.done = true;
                    self.pos = end;
                    return Some(Err(bad(e.offset, "entries out of order or repeated")));
                }
                self.prev = Some(key);
                self.pos = self.pos.saturating_add(e.size());
                Some(Ok(e))
            }
            Err(err) => {
                self.done = true;
                self.pos = end;
                Some(Err(err))
            }
        }
    }
}

/// What a block's walk found: how many entries, and where the end marker
/// is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub count: usize,
    /// Offset of the end marker; the entries are bytes 32 to it.
    pub end_marker: usize,
}

impl Layout {
    /// Bytes from the start of the block to the end of the end marker.
    pub fn used(&self) -> usize {
        self.end_marker.saturating_add(END_MARKER)
    }
}

/// Walks the entries of `block`, validating each.
pub fn layout(block: &[u8]) -> Result<Layout> {
    let mut it = entries(block);
    let mut count = 0usize;
    for e in it.by_ref() {
        e?;
        count = count.saturating_add(1);
    }
    let end_marker = it.end_marker().ok_or(bad(HEADER_SIZE, "no end marker"))?;
    Ok(Layout { count, end_marker })
}

/// Checksum of attribute block `blocknr`: crc32c from the volume seed
/// over the block number (LE) and every byte but the last four.
pub fn checksum_of(block: &[u8], blocknr: u32, seed: u32, crc: &impl Crc32c) -> Result<u32> {
    let body = block
        .len()
        .checked_sub(TAIL_SIZE)
        .ok_or(FormatError::Truncated {
            what: "attribute block",
            need: TAIL_SIZE,
            have: block.len(),
        })?;
    let c = crc.crc32c(seed, &blocknr.to_le_bytes());
    Ok(crc.crc32c(c, slice(block, 0, body)?))
}

/// The sharing hash of a block's attributes: crc32c from the volume seed
/// over bytes 32 up to and including the end marker.
pub fn hash_of(block: &[u8], l: &Layout, seed: u32, crc: &impl Crc32c) -> Result<u32> {
    let len = l.used().saturating_sub(HEADER_SIZE);
    Ok(crc.crc32c(seed, slice(block, HEADER_SIZE, len)?))
}

/// An attribute block's header, verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub refcount: u32,
    pub hash: u32,
    pub layout: Layout,
}

/// Checks everything of a block but its checksum: header (magic, a
/// refcount of at least 1, reserved bytes zero), at least one entry, each
/// valid and in order (ACL values well formed), zeros after the end
/// marker, and the hash.
pub fn verify_fields(block: &[u8], seed: u32, crc: &impl Crc32c) -> Result<Verified> {
    need(block, 1024, "attribute block")?;
    let magic = get_u32(block, off::MAGIC)?;
    if magic != MAGIC {
        return Err(FormatError::BadField {
            field: "attribute block magic",
            value: u64::from(magic),
        });
    }
    let refcount = get_u32(block, off::REFCOUNT)?;
    if refcount == 0 {
        return Err(FormatError::BadField {
            field: "attribute block refcount",
            value: 0,
        });
    }
    let reserved_at = off::HASH.saturating_add(4);
    if slice(block, reserved_at, HEADER_SIZE.saturating_sub(reserved_at))?
        .iter()
        .any(|&b| b != 0)
    {
        return Err(FormatError::BadField {
            field: "attribute block reserved bytes",
            value: 0,
        });
    }
    let l = layout(block)?;
    if l.count == 0 {
        return Err(bad(HEADER_SIZE, "no attributes"));
    }
    let end = block.len().saturating_sub(TAIL_SIZE);
    if slice(block, l.used(), end.saturating_sub(l.used()))?
        .iter()
        .any(|&b| b != 0)
    {
        return Err(bad(l.used(), "bytes after the end marker not zero"));
    }
    let hash = get_u32(block, off::HASH)?;
    let computed = hash_of(block, &l, seed, crc)?;
    if hash != computed {
        return Err(FormatError::Inconsistent {
            what: "attribute block hash",
            found: u64::from(hash),
            expected: u64::from(computed),
        });
    }
    Ok(Verified {
        refcount,
        hash,
        layout: l,
    })
}

/// Verifies attribute block `blocknr` as read from the disk: its
/// checksum, then [`verify_fields`].
pub fn verify_block(block: &[u8], blocknr: u32, seed: u32, crc: &impl Crc32c) -> Result<Verified> {
    need(block, 1024, "attribute block")?;
    let stored = get_u32(block, block.len().saturating_sub(TAIL_SIZE))?;
    let computed = checksum_of(block, blocknr, seed, crc)?;
    if stored != computed {
        return Err(FormatError::BadChecksum {
            what: "attribute block",
            stored,
            computed,
        });
    }
    verify_fields(block, seed, crc)
}

/// An empty block image (no entries; header and checksum not yet set):
/// the start for a new attribute block.
pub fn init_block(block: &mut [u8]) -> Result<()> {
    need(block, 1024, "attribute block")?;
    block.fill(0);
    put_u32(block, off::MAGIC, MAGIC)
}

/// Writes the header (magic, `refcount`, the hash of the entries) and the
/// checksum of a block to be stored as block `blocknr`; returns the hash.
pub fn seal(
    block: &mut [u8],
    refcount: u32,
    blocknr: u32,
    seed: u32,
    crc: &impl Crc32c,
) -> Result<u32> {
    let l = layout(block)?;
    let hash = hash_of(block, &l, seed, crc)?;
    put_u32(block, off::MAGIC, MAGIC)?;
    put_u32(block, off::REFCOUNT, refcount)?;
    put_u32(block, off::HASH, hash)?;
    let c = checksum_of(block, blocknr, seed, crc)?;
    put_u32(block, block.len().saturating_sub(TAIL_SIZE), c)?;
    Ok(hash)
}

/// Changes the refcount of a (valid) block and its checksum.
pub fn set_refcount(
    block: &mut [u8],
    refcount: u32,
    blocknr: u32,
    seed: u32,
    crc: &impl Crc32c,
) -> Result<()> {
    put_u32(block, off::REFCOUNT, refcount)?;
    let c = checksum_of(block, blocknr, seed, crc)?;
    put_u32(block, block.len().saturating_sub(TAIL_SIZE), c)
}

/// The refcount in a block's header.
pub fn refcount(block: &[u8]) -> Result<u32> {
    get_u32(block, off::REFCOUNT)
}

/// The value of attribute (`index`, `name`), if the block has it.
pub fn find<'a>(block: &'a [u8], index: u8, name: &[u8]) -> Result<Option<&'a [u8]>> {
    for e in entries(block) {
        let e = e?;
        match (e.index, e.name).cmp(&(index, name)) {
            core::cmp::Ordering::Less => {}
            core::cmp::Ordering::Equal => return Ok(Some(e.value)),
            core::cmp::Ordering::Greater => return Ok(None),
        }
    }
    Ok(None)
}

/// Whether two blocks of one size hold the same attributes (their bytes
/// between the header and the checksum are equal).
pub fn same_attributes(a: &[u8], b: &[u8]) -> bool {
    let body = |x: &[u8]| -> Option<usize> { x.len().checked_sub(TAIL_SIZE) };
    match (body(a), body(b)) {
        (Some(ea), Some(eb)) if ea == eb => a.get(HEADER_SIZE..ea) == b.get(HEADER_SIZE..eb),
        _ => false,
    }
}

/// How [`set`] treats an existing attribute (the `XATTR_CREATE` and
/// `XATTR_REPLACE` flags of setxattr(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetMode {
    /// Create or replace.
    Any,
    /// Only create: an existing attribute is an error.
    Create,
    /// Only replace: a missing attribute is an error.
    Replace,
}

/// Why [`set`] refused a change (the block is then unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetError {
    /// `Create` and the attribute exists (EEXIST).
    Exists,
    /// `Replace`, or a removal, and the attribute does not exist (ENODATA).
    NoData,
    /// The attributes would not fit in the block (ENOSPC).
    NoSpace,
    /// The name is not valid for its index, or an ACL value is not a
    /// valid ACL (EINVAL).
    Invalid,
    /// The block is malformed.
    Format(FormatError),
}

impl From<FormatError> for SetError {
    fn from(e: FormatError) -> Self {
        Self::Format(e)
    }
}

/// Moves `len` bytes from `src` to `dst` within `buf` (overlapping is
/// fine).
fn move_bytes(buf: &mut [u8], src: usize, dst: usize, len: usize) -> Result<()> {
    if dst < src {
        for i in 0..len {
            let b = get_u8(buf, src.saturating_add(i))?;
            put_u8(buf, dst.saturating_add(i), b)?;
        }
    } else if dst > src {
        for i in (0..len).rev() {
            let b = get_u8(buf, src.saturating_add(i))?;
            put_u8(buf, dst.saturating_add(i), b)?;
        }
    }
    Ok(())
}

/// Sets attribute (`index`, `name`) of the block image `block` to
/// `value`, or removes it (`None`), keeping the entries in order and the
/// rest of the block zero. `block` is a verified attribute block or one
/// from [`init_block`]; its header and checksum are left for [`seal`].
pub fn set(
    block: &mut [u8],
    index: u8,
    name: &[u8],
    value: Option<&[u8]>,
    mode: SetMode,
) -> core::result::Result<(), SetError> {
    if !valid_name(index, name) || (is_acl(index) && value.is_some_and(|v| !acl_valid(v))) {
        return Err(SetError::Invalid);
    }
    let new_size = match value {
        Some(v) => {
            if v.len() > usize::from(u16::MAX) {
                return Err(SetError::NoSpace);
            }
            entry_size(name.len(), v.len()).ok_or(SetError::Invalid)?
        }
        None => 0,
    };
    // Where the attribute is (offset, size), or where it goes.
    let mut at = None;
    let mut found = None;
    let mut it = entries(block);
    for e in it.by_ref() {
        let e = e?;
        match (e.index, e.name).cmp(&(index, name)) {
            core::cmp::Ordering::Less => {}
            core::cmp::Ordering::Equal => {
                found = Some((e.offset, e.size()));
                break;
            }
            core::cmp::Ordering::Greater => {
                at = Some(e.offset);
                break;
            }
        }
    }
    // The end marker: the walk may have stopped early.
    let l = layout(block)?;
    let used = l.used();
    let (at, old_size) = match (found, at) {
        (Some((o, s)), _) => (o, s),
        (None, Some(o)) => (o, 0),
        (None, None) => (l.end_marker, 0),
    };
    match (found.is_some(), value.is_some(), mode) {
        (true, true, SetMode::Create) => return Err(SetError::Exists),
        (false, true, SetMode::Replace) | (false, false, _) => return Err(SetError::NoData),
        _ => {}
    }
    let end = block.len().saturating_sub(TAIL_SIZE);
    let new_used = used
        .checked_sub(old_size)
        .and_then(|u| u.checked_add(new_size))
        .ok_or(SetError::Invalid)?;
    if new_used > end {
        return Err(SetError::NoSpace);
    }
    // Shift what follows the entry, then write the entry and clear what
    // the block no longer uses.
    let tail_from = at.saturating_add(old_size);
    let tail_len = used.saturating_sub(tail_from);
    move_bytes(block, tail_from, at.saturating_add(new_size), tail_len)?;
    if new_used < used {
        let gone = block
            .get_mut(new_used..used)
            .ok_or(FormatError::Truncated {
                what: "attribute block",
                need: used,
                have: end,
            })?;
        gone.fill(0);
    }
    if let Some(v) = value {
        let e = block
            .get_mut(at..at.saturating_add(new_size))
            .ok_or(SetError::NoSpace)?;
        e.fill(0);
        put_u8(e, entry_off::NAME_INDEX, index)?;
        put_u8(e, entry_off::NAME_LEN, name.len() as u8)?;
        put_u16(e, entry_off::VALUE_LEN, v.len() as u16)?;
        put_bytes(e, entry_off::NAME, name)?;
        put_bytes(e, entry_off::NAME.saturating_add(name.len()), v)?;
    }
    Ok(())
}

/// POSIX ACL value format (`<linux/posix_acl_xattr.h>`): a `le32` version
/// (2), then 8-byte entries `tag (le16) | perm (le16) | id (le32)`.
pub mod acl {
    pub const VERSION: u32 = 2;
    pub const HEADER: usize = 4;
    pub const ENTRY: usize = 8;
    pub const USER_OBJ: u16 = 0x01;
    pub const USER: u16 = 0x02;
    pub const GROUP_OBJ: u16 = 0x04;
    pub const GROUP: u16 = 0x08;
    pub const MASK: u16 = 0x10;
    pub const OTHER: u16 = 0x20;
    /// The id of the entries that name no user or group.
    pub const UNDEFINED_ID: u32 = u32::MAX;
}

/// Whether `value` is a valid POSIX ACL as the kernel's
/// `posix_acl_valid` sees it: version 2, whole entries, read/write/execute
/// permissions only, and the entries in the order `USER_OBJ`, `USER`...,
/// `GROUP_OBJ`, `GROUP`..., `MASK` (required with named entries),
/// `OTHER`; named entries with a defined id.
pub fn acl_valid(value: &[u8]) -> bool {
    use acl::*;
    let Some(body) = value.len().checked_sub(HEADER) else {
        return false;
    };
    if body % ENTRY != 0 || get_u32(value, 0).ok() != Some(VERSION) {
        return false;
    }
    // The states of the kernel's check: what may come next.
    #[derive(PartialEq, Eq, Clone, Copy)]
    enum S {
        UserObj,
        Users,
        Groups,
        Other,
        Done,
    }
    let mut state = S::UserObj;
    let mut needs_mask = false;
    for k in 0..body / ENTRY {
        let at = HEADER.saturating_add(k.saturating_mul(ENTRY));
        let (Ok(tag), Ok(perm), Ok(id)) = (
            get_u16(value, at),
            get_u16(value, at.saturating_add(2)),
            get_u32(value, at.saturating_add(4)),
        ) else {
            return false;
        };
        if perm & !7 != 0 {
            return false;
        }
        state = match (tag, state) {
            (USER_OBJ, S::UserObj) => S::Users,
            (USER, S::Users) if id != UNDEFINED_ID => {
                needs_mask = true;
                S::Users
            }
            (GROUP_OBJ, S::Users) => S::Groups,
            (GROUP, S::Groups) if id != UNDEFINED_ID => {
                needs_mask = true;
                S::Groups
            }
            (MASK, S::Groups) => S::Other,
            (OTHER, S::Other) => S::Done,
            (OTHER, S::Groups) if !needs_mask => S::Done,
            _ => return false,
        };
    }
    state == S::Done
}
