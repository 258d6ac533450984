//! Extended-attribute blocks, checked in pass 1 as e2fsck's
//! `check_ext_attr` does: when pass 1 meets an inode with an attribute
//! block, the pointer must be in a data region and outside the journal,
//! the block claimed by nothing else (a shared attribute block is claimed
//! once, then counted), and the block valid (`xattr::verify_block`:
//! checksum, header, entries, names, ACL values, hash). A pointer to a
//! bad block is cleared (the inode loses its attributes, as e2fsck
//! clears it); a block whose checksum or hash alone is wrong is
//! rewritten. At the end of pass 1 each block's refcount must equal the
//! number of inodes pointing to it. Its bitmap bit and its
//! fingerprint-store entry (refcount 0, as for all metadata) are passes 5
//! and 6's, since the block is claimed as metadata here.

use std::collections::BTreeMap;

use livedfs_format::inode::Inode;
use livedfs_format::superblock::RO_COMPAT_XATTR;
use livedfs_format::xattr;
use livedfs_format::FormatError;

use crate::crc::Crc;
use crate::ctx::{Fsck, R};
use crate::problem::{PCtx, P};

/// What pass 1 learned about one attribute block.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rec {
    /// Inodes pointing to it (that kept the pointer).
    pub refs: u32,
    /// The refcount in its header.
    pub refcount: u32,
    /// Invalid and kept (with -n): its refcount is not checked.
    pub bad: bool,
}

/// The attribute blocks met so far, by block number.
#[derive(Debug, Default)]
pub struct Blocks {
    pub map: BTreeMap<u32, Rec>,
}

/// Clears inode `i`'s attribute pointer (and its count in `blocks`).
fn clear(i: &mut Inode, dirty: &mut bool) {
    i.xattr_block = 0;
    i.blocks = i.blocks.saturating_sub(1);
    *dirty = true;
}

/// Checks inode `ino`'s attribute block; returns the blocks it keeps
/// (1 if it still has one, counted in its `blocks`). Repairs may clear
/// the pointer (setting `dirty`: the caller writes the inode).
pub fn check_inode(f: &mut Fsck, ino: u32, i: &mut Inode, dirty: &mut bool) -> R<u64> {
    let b = i.xattr_block;
    if b == 0 {
        return Ok(0);
    }
    let ctx = || PCtx::new().ino(ino).blk(b);
    if !f.sb.has_ro_compat(RO_COMPAT_XATTR) && f.fix(P::XATTR_NO_FEATURE, ctx())? {
        clear(i, dirty);
        return Ok(0);
    }
    let range = if !f.geo.is_data_block(b) {
        Some("outside the data area")
    } else if f.in_journal(b) {
        Some("inside the journal")
    } else {
        None
    };
    if let Some(what) = range {
        if f.fix(P::XATTR_BLOCK_RANGE, ctx().s(what))? {
            clear(i, dirty);
        }
        return Ok(0);
    }
    if let Some(rec) = f.xattr.map.get(&b).copied() {
        if rec.bad && f.fix(P::XATTR_BLOCK_BAD, ctx().s("found invalid before"))? {
            clear(i, dirty);
            return Ok(0);
        }
        if let Some(r) = f.xattr.map.get_mut(&b) {
            r.refs = r.refs.saturating_add(1);
        }
        return Ok(1);
    }
    let bb = u64::from(b);
    if f.claims.meta.get(bb) || f.claims.data.get(bb) {
        let what = if f.claims.data.get(bb) {
            "file data"
        } else {
            "another inode's metadata"
        };
        if f.fix(P::XATTR_BLOCK_DUP, ctx().s(what))? {
            clear(i, dirty);
        }
        return Ok(0);
    }
    let mut data = f.read_block(b)?;
    let (refcount, bad) = match xattr::verify_block(&data, b, f.seed, &Crc) {
        Ok(v) => (v.refcount, false),
        Err(e) => match xattr::verify_fields(&data, f.seed, &Crc) {
            Ok(v) => {
                // The checksum alone is wrong.
                if f.fix(P::XATTR_CSUM, ctx())? {
                    reseal(f, &mut data, v.refcount, b)?;
                }
                (v.refcount, false)
            }
            Err(FormatError::Inconsistent {
                what: "attribute block hash",
                found,
                expected,
            }) => {
                let rc = xattr::refcount(&data).unwrap_or(1);
                if f.fix(P::XATTR_HASH, ctx().n(found).m(expected))? {
                    reseal(f, &mut data, rc, b)?;
                }
                (rc, false)
            }
            Err(_) => {
                if f.fix(P::XATTR_BLOCK_BAD, ctx().s(e.to_string()))? {
                    // Remembered, so that other inodes pointing to it are
                    // cleared too; not claimed (pass 5 frees it).
                    f.xattr.map.insert(
                        b,
                        Rec {
                            refs: 0,
                            refcount: 0,
                            bad: true,
                        },
                    );
                    clear(i, dirty);
                    return Ok(0);
                }
                (0, true)
            }
        },
    };
    f.claims.meta.set(bb);
    f.xattr.map.insert(
        b,
        Rec {
            refs: 1,
            refcount,
            bad,
        },
    );
    Ok(1)
}

/// Rewrites block `b`'s header (hash, `refcount`) and checksum.
fn reseal(f: &mut Fsck, data: &mut [u8], refcount: u32, b: u32) -> R<()> {
    if xattr::seal(data, refcount, b, f.seed, &Crc).is_ok() {
        f.write_block(b, data)?;
    }
    Ok(())
}

/// End of pass 1: every attribute block's refcount is the number of
/// inodes that point to it.
pub fn check_refcounts(f: &mut Fsck) -> R<()> {
    let blocks: Vec<(u32, Rec)> = f.xattr.map.iter().map(|(&b, &r)| (b, r)).collect();
    for (b, r) in blocks {
        if r.bad || r.refs == 0 || r.refs == r.refcount {
            continue;
        }
        let ctx = PCtx::new()
            .blk(b)
            .n(u64::from(r.refcount))
            .m(u64::from(r.refs));
        if f.fix(P::XATTR_REFCOUNT, ctx)? {
            let mut data = f.read_block(b)?;
            if xattr::set_refcount(&mut data, r.refs, b, f.seed, &Crc).is_ok() {
                f.write_block(b, &data)?;
            }
            if let Some(rec) = f.xattr.map.get_mut(&b) {
                rec.refcount = r.refs;
            }
        }
    }
    Ok(())
}
