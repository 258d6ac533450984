//! Pass 6: fingerprint stores. Every refcount is recomputed from the block
//! maps (pass 1 counted the regular-file pointers to each block) and
//! compared with the store; metadata and free blocks must have empty (all
//! zero) entries; blocks whose entry says they hold data but that no file
//! points to are freed; store blocks must pass their checksum. All of
//! that reads the stores only, never the data.
//!
//! Data blocks are read only for a repair that needs a fingerprint (an
//! entry made for a block in use, a store block rebuilt) and when every
//! fingerprint is verified ([`Fsck::verify_all`]: a scrub, `-E scrub` or
//! `-c`; or a volume that went down while mounted without a journal): then
//! each block in use is read and hashed, and a wrong fingerprint is
//! replaced by the true fingerprint of what the block holds.

use livedfs_format::fpstore::{self, REFCOUNT_MAX};
use livedfs_format::group::BG_FP_UNINIT;
use livedfs_format::FingerprintAlgo;
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::crc::Crc;
use crate::ctx::{Abort, Fsck, R};
use crate::problem::{PCtx, P};

/// The fingerprint of a block's content.
pub fn fingerprint(algo: FingerprintAlgo, data: &[u8]) -> Vec<u8> {
    match algo {
        FingerprintAlgo::Sha256 => Sha256::digest(data).to_vec(),
        FingerprintAlgo::Md5 => Md5::digest(data).to_vec(),
    }
}

/// Runs pass 6.
pub fn run(f: &mut Fsck) -> R<()> {
    let groups = f.geo.group_count;
    for g in 0..groups {
        f.check_cancel()?;
        f.progress.update(6, u64::from(g), u64::from(groups));
        // The next written store, read ahead while this one is checked.
        if let Some(d) = f.descs.get(g as usize + 1) {
            if d.flags & BG_FP_UNINIT == 0 {
                if let Ok(l) = f.geo.group(g + 1) {
                    f.dev
                        .will_need(u64::from(l.fp_store), u64::from(f.geo.fp_blocks_per_group));
                }
            }
        }
        check_group(f, g)?;
    }
    Ok(())
}

fn check_group(f: &mut Fsck, g: u32) -> R<()> {
    let l = f.geo.group(g).map_err(|e| Abort::Op(e.to_string()))?;
    let fpb = f.geo.fp_blocks_per_group;
    let epb = f.geo.fp_entries_per_block;
    let es = f.geo.fp_entry_size as usize;
    let fs = usize::from(f.geo.fp_algo.size());
    let bs = f.geo.block_size as usize;
    let has_data = f
        .claims
        .data
        .any_in(u64::from(l.data_start), u64::from(l.end));
    let mut d = f.descs[g as usize];
    let mut format = false;
    if d.flags & BG_FP_UNINIT != 0 {
        if !has_data {
            return Ok(());
        }
        if !f.fix(P::FP_UNINIT_DATA, PCtx::new().grp(g))? {
            return Ok(());
        }
        // The store may have been written after all (a flag bit lost):
        // keep what verifies, format the rest.
        d.flags &= !BG_FP_UNINIT;
        f.descs[g as usize] = d;
        f.desc_changed(g);
        format = true;
    }
    let slack_at = epb as usize * es;
    // The whole store in one request.
    let store = f.dev.read_blocks(u64::from(l.fp_store), fpb)?;
    for j in 0..fpb {
        let sb = l.fp_store + j;
        // The data of the next store block's entries that will be
        // verified, read ahead in the background while this one's is
        // hashed.
        let next = u64::from(l.first) + u64::from(j + 1) * u64::from(epb);
        if next < u64::from(l.end) {
            let n = u64::from(epb).min(u64::from(l.end) - next);
            if f.verify_all && f.claims.data.any_in(next, next + n) {
                f.dev.will_need(next, n);
            }
        }
        let mut blk = store[j as usize * bs..(j as usize + 1) * bs].to_vec();
        let csum_ok = fpstore::checksum_of(&blk, g, j, f.seed, &Crc)
            .is_ok_and(|c| c.to_le_bytes() == blk[bs - 4..]);
        let mut dirty = false;
        let mut rehash_all = false;
        if !csum_ok {
            if (format && blk.iter().all(|&b| b == 0))
                || f.fix(P::FP_BLOCK_CSUM, PCtx::new().grp(g).n(u64::from(j)).blk(sb))?
            {
                dirty = true;
                rehash_all = true;
            } else {
                continue;
            }
        }
        // The data hashed ahead: every block in use when all fingerprints
        // are verified, or when a rebuilt store block needs them all.
        let pre = if f.verify_all || rehash_all {
            prehash(f, &l, j, epb)?
        } else {
            Vec::new()
        };
        if blk[slack_at..bs - 4].iter().any(|&b| b != 0)
            && f.fix(P::FP_SLACK_NOT_ZERO, PCtx::new().grp(g).n(u64::from(j)))?
        {
            blk[slack_at..bs - 4].fill(0);
            dirty = true;
        }
        for e in 0..epb {
            let off = e as usize * es;
            let ent = fpstore::read_entry(&blk, off, fs).map_err(|x| Abort::Op(x.to_string()))?;
            let all_zero = blk[off..off + es].iter().all(|&b| b == 0);
            let target = f.geo.fp_entry_block(g, j, e).ok().flatten();
            let Some(b) = target else {
                if !all_zero && f.fix(P::FP_SLACK_NOT_ZERO, PCtx::new().grp(g).n(u64::from(j)))? {
                    blk[off..off + es].fill(0);
                    dirty = true;
                }
                continue;
            };
            let count = f.claims.data_count(b);
            let want = count.min(u64::from(REFCOUNT_MAX)) as u32;
            if want == 0 {
                if ent.refcount != 0 {
                    let fixed = if f.claims.meta.get(u64::from(b)) || f.is_fixed_meta(b) {
                        let what = if f.claims.meta.get(u64::from(b)) {
                            "directory, symlink or indirect block"
                        } else {
                            "fixed metadata"
                        };
                        f.fix(
                            P::FP_META_REFCOUNT,
                            PCtx::new().blk(b).n(u64::from(ent.refcount)).s(what),
                        )?
                    } else {
                        f.fix(P::FP_UNOWNED, PCtx::new().blk(b).n(u64::from(ent.refcount)))?
                    };
                    if fixed {
                        blk[off..off + es].fill(0);
                        dirty = true;
                    }
                } else if !all_zero && f.fix(P::FP_FREE_NOT_ZERO, PCtx::new().blk(b))? {
                    blk[off..off + es].fill(0);
                    dirty = true;
                }
                continue;
            }
            // A data block in use.
            f.stats.data_blocks += 1;
            if count > 1 {
                f.stats.shared_blocks += 1;
            }
            let mut fp = ent.fingerprint.as_slice().to_vec();
            let mut refcount = ent.refcount;
            let mut need_hash = rehash_all || ent.refcount == 0;
            if ent.refcount != want {
                let p = if ent.refcount < want {
                    P::FP_REFCOUNT_LOW
                } else {
                    P::FP_REFCOUNT_HIGH
                };
                if f.fix(
                    p,
                    PCtx::new()
                        .blk(b)
                        .n(u64::from(ent.refcount))
                        .m(u64::from(want)),
                )? {
                    refcount = want;
                    dirty = true;
                } else {
                    need_hash = false;
                }
            }
            if f.verify_all || need_hash {
                let (truth, zero) = match pre.get(e as usize).and_then(Option::as_ref) {
                    Some(h) => h.clone(),
                    None => {
                        let data = f.read_block(b)?;
                        (
                            fingerprint(f.geo.fp_algo, &data),
                            data.iter().all(|&x| x == 0),
                        )
                    }
                };
                f.stats.verified += 1;
                if zero {
                    f.fix(P::FP_ZERO_BLOCK, PCtx::new().blk(b))?;
                }
                if truth != fp {
                    if need_hash && ent.refcount == 0 {
                        // A new entry (refcount was 0): its fingerprint
                        // is part of the refcount repair.
                        fp = truth;
                        dirty = true;
                    } else if f.fix(
                        if f.unclean_nojournal {
                            P::FP_WRONG_UNCLEAN
                        } else {
                            P::FP_WRONG
                        },
                        PCtx::new().blk(b),
                    )? {
                        fp = truth;
                        dirty = true;
                    }
                }
            }
            if dirty {
                fpstore::write_entry(&mut blk, off, &fp, refcount)
                    .map_err(|x| Abort::Op(x.to_string()))?;
            }
        }
        if dirty && f.rw() {
            fpstore::set_checksum(&mut blk, g, j, f.seed, &Crc)
                .map_err(|x| Abort::Op(x.to_string()))?;
            f.write_block(sb, &blk)?;
        }
    }
    Ok(())
}

/// A block's fingerprint and whether it is all zeros.
type Hashed = (Vec<u8>, bool);

/// The fingerprints (and whether the block is all zeros) of the data
/// blocks in use covered by store block `j` of group `l`, indexed by
/// entry: read in one request and hashed on every CPU. Blocks it leaves
/// out (`None`) are read one by one if a repair needs their hash.
fn prehash(
    f: &Fsck,
    l: &livedfs_format::geometry::GroupLayout,
    j: u32,
    epb: u32,
) -> R<Vec<Option<Hashed>>> {
    let first = u64::from(l.first) + u64::from(j) * u64::from(epb);
    let end = u64::from(l.end);
    if first >= end {
        return Ok(Vec::new());
    }
    let n = u64::from(epb).min(end - first) as usize;
    let want: Vec<bool> = (0..n as u64)
        .map(|e| {
            let b = first + e;
            f.claims.data.get(b)
        })
        .collect();
    let (Some(lo), Some(hi)) = (want.iter().position(|&w| w), want.iter().rposition(|&w| w)) else {
        return Ok(Vec::new());
    };
    let bs = f.geo.block_size as usize;
    let data = f.dev.read_blocks(first + lo as u64, (hi - lo + 1) as u32)?;
    let algo = f.geo.fp_algo;
    let mut out: Vec<Option<Hashed>> = vec![None; n];
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(8);
    let slots = &mut out[lo..=hi];
    let per = slots.len().div_ceil(threads);
    std::thread::scope(|sc| {
        for (k, chunk) in slots.chunks_mut(per).enumerate() {
            let data = &data;
            let want = &want;
            sc.spawn(move || {
                for (i, slot) in chunk.iter_mut().enumerate() {
                    let idx = k * per + i;
                    if !want[lo + idx] {
                        continue;
                    }
                    let d = &data[idx * bs..(idx + 1) * bs];
                    *slot = Some((fingerprint(algo, d), d.iter().all(|&x| x == 0)));
                }
            });
        }
    });
    Ok(out)
}
