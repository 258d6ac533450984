//! Pass 5: bitmaps and group summaries. Each group's block bitmap must be
//! exactly its fixed metadata, the journal, and the blocks pass 1 found
//! claimed (plus the bits past a short last group's end); its inode bitmap
//! exactly the inodes in use (plus the reserved ones and the padding). An
//! uninitialised group (`BG_*_UNINIT`) must still match what its flags
//! imply. Free counts, directory counts, `itable_unused`, `fp_used` and
//! the bitmap checksums are then recomputed, and the superblock's lazy
//! free counts with them.

use livedfs_format::bitmap;
use livedfs_format::group::{bitmap_checksum, BG_BLOCK_UNINIT, BG_INODE_UNINIT};
use livedfs_format::FIRST_INO;

use crate::crc::Crc;
use crate::ctx::{Abort, Fsck, R};
use crate::problem::{PCtx, P};

/// "+1-3 -7" style list of differences (expected set: +, cleared: -),
/// of items numbered from `base`; at most 12 ranges shown.
fn diff_list(expected: &[u8], disk: &[u8], n: usize, base: u64) -> Option<String> {
    // The common case, equal bitmaps, a byte slice at a time.
    let full = n / 8;
    if expected.get(..full).is_some()
        && expected.get(..full) == disk.get(..full)
        && (full * 8..n).all(|i| bitmap::test(expected, i) == bitmap::test(disk, i))
    {
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    let mut shown = 0;
    let mut total = 0usize;
    let mut i = 0;
    while i < n {
        let e = bitmap::test(expected, i);
        if e == bitmap::test(disk, i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && bitmap::test(expected, i) == e && bitmap::test(disk, i) != e {
            i += 1;
        }
        total += 1;
        if shown < 12 {
            let sign = if e { '+' } else { '-' };
            let a = base + start as u64;
            let b = base + i as u64 - 1;
            out.push(if a == b {
                format!("{sign}{a}")
            } else {
                format!("{sign}({a}--{b})")
            });
            shown += 1;
        }
    }
    if total == 0 {
        return None;
    }
    if total > shown {
        out.push(format!("and {} more", total - shown));
    }
    Some(out.join(" "))
}

/// Runs pass 5.
pub fn run(f: &mut Fsck) -> R<()> {
    let bs = f.geo.block_size as usize;
    let bpg = f.geo.blocks_per_group as usize;
    let ipg = f.geo.inodes_per_group as usize;
    let groups = f.geo.group_count;
    let mut free_blocks_total = 0u64;
    let mut free_inodes_total = 0u64;
    // Every written bitmap (a group's two are adjacent), read ahead at
    // once rather than waited for one group at a time.
    for g in 0..groups {
        let d = f.descs[g as usize];
        if let Ok(l) = f.geo.group(g) {
            let n = if d.flags & BG_INODE_UNINIT != 0 { 1 } else { 2 };
            if d.flags & BG_BLOCK_UNINIT == 0 {
                f.dev.will_need(u64::from(l.block_bitmap), n);
            } else if n == 2 {
                f.dev.will_need(u64::from(l.inode_bitmap), 1);
            }
        }
    }
    for g in 0..groups {
        f.check_cancel()?;
        f.progress.update(5, u64::from(g), u64::from(groups));
        let l = f.geo.group(g).map_err(|e| Abort::Op(e.to_string()))?;
        let mut d = f.descs[g as usize];
        let mut changed = false;

        // Block bitmap.
        let mut want = vec![0u8; bs];
        bitmap::set_range(&mut want, 0, l.overhead() as usize);
        bitmap::set_range(&mut want, l.blocks() as usize, bpg);
        let mut fp_used = 0u32;
        for b in l.data_start..l.end {
            let i = u64::from(b);
            if f.claims.data.get(i) {
                fp_used += 1;
            }
            if f.claims.meta.get(i) || f.claims.data.get(i) || f.in_journal(b) {
                bitmap::set(&mut want, (b - l.first) as usize);
            }
        }
        let mut implied = vec![0u8; bs];
        bitmap::set_range(&mut implied, 0, l.overhead() as usize);
        bitmap::set_range(&mut implied, l.blocks() as usize, bpg);
        let uninit = d.flags & BG_BLOCK_UNINIT != 0;
        let disk = if uninit {
            implied.clone()
        } else {
            f.read_block(l.block_bitmap)?
        };
        if let Some(diffs) = diff_list(&want, &disk, bpg, u64::from(l.first)) {
            if f.fix(P::BLOCK_BITMAP_DIFF, PCtx::new().grp(g).s(diffs))? {
                if want == implied && uninit {
                    // Still what the flag implies: nothing to write.
                } else {
                    if f.rw() {
                        f.write_block(l.block_bitmap, &want)?;
                    }
                    d.flags &= !BG_BLOCK_UNINIT;
                    d.block_bitmap_csum = bitmap_checksum(&want, g, f.seed, &Crc);
                    changed = true;
                }
            }
        } else if !uninit {
            let c = bitmap_checksum(&disk, g, f.seed, &Crc);
            if c != d.block_bitmap_csum && f.fix(P::BITMAP_CSUM, PCtx::new().grp(g).s("block"))? {
                d.block_bitmap_csum = c;
                changed = true;
            }
        } else if d.block_bitmap_csum != 0
            && f.fix(
                P::GROUP_COUNTS,
                PCtx::new()
                    .grp(g)
                    .s("block bitmap checksum should be 0 (uninitialised)"),
            )?
        {
            d.block_bitmap_csum = 0;
            changed = true;
        }
        let free_b = (0..bpg).filter(|&i| !bitmap::test(&want, i)).count() as u32;

        // Inode bitmap.
        let mut iwant = vec![0u8; bs];
        bitmap::set_range(&mut iwant, ipg, bs * 8);
        let mut used = 0u32;
        let mut dirs = 0u32;
        let mut hi: Option<usize> = None;
        for idx in 0..ipg {
            let ino = g * f.geo.inodes_per_group + idx as u32 + 1;
            let reserved = ino < FIRST_INO && ino != livedfs_format::ROOT_INO;
            let rec = f.inodes.get(&ino);
            if reserved || rec.is_some() {
                bitmap::set(&mut iwant, idx);
                used += 1;
                if !reserved {
                    hi = Some(idx);
                }
                if rec.is_some_and(|r| r.is_dir()) {
                    dirs += 1;
                }
            }
        }
        let iuninit = d.flags & BG_INODE_UNINIT != 0;
        let mut iimplied = vec![0u8; bs];
        bitmap::set_range(&mut iimplied, ipg, bs * 8);
        let idisk = if iuninit {
            iimplied.clone()
        } else {
            f.read_block(l.inode_bitmap)?
        };
        let ino_base = u64::from(g) * u64::from(f.geo.inodes_per_group) + 1;
        let pad_bad = !iuninit && (ipg..bs * 8).any(|i| !bitmap::test(&idisk, i));
        let idiff = diff_list(&iwant, &idisk, ipg, ino_base)
            .or_else(|| pad_bad.then(|| "padding bits past the last inode".to_string()));
        if let Some(diffs) = idiff {
            if f.fix(P::INODE_BITMAP_DIFF, PCtx::new().grp(g).s(diffs))?
                && !(iwant == iimplied && iuninit)
            {
                {
                    if f.rw() {
                        f.write_block(l.inode_bitmap, &iwant)?;
                    }
                    d.flags &= !BG_INODE_UNINIT;
                    d.inode_bitmap_csum = bitmap_checksum(&iwant[..ipg / 8], g, f.seed, &Crc);
                    changed = true;
                }
            }
        } else if !iuninit {
            let c = bitmap_checksum(&idisk[..ipg / 8], g, f.seed, &Crc);
            if c != d.inode_bitmap_csum && f.fix(P::BITMAP_CSUM, PCtx::new().grp(g).s("inode"))? {
                d.inode_bitmap_csum = c;
                changed = true;
            }
        } else if d.inode_bitmap_csum != 0
            && f.fix(
                P::GROUP_COUNTS,
                PCtx::new()
                    .grp(g)
                    .s("inode bitmap checksum should be 0 (uninitialised)"),
            )?
        {
            d.inode_bitmap_csum = 0;
            changed = true;
        }

        // Counts.
        let free_i = f.geo.inodes_per_group - used;
        let mut wrong = Vec::new();
        if d.free_blocks != free_b {
            wrong.push(format!("free blocks {} should be {free_b}", d.free_blocks));
        }
        if d.free_inodes != free_i {
            wrong.push(format!("free inodes {} should be {free_i}", d.free_inodes));
        }
        if d.used_dirs != dirs {
            wrong.push(format!("directories {} should be {dirs}", d.used_dirs));
        }
        if d.fp_used != fp_used {
            wrong.push(format!(
                "fingerprints in use {} should be {fp_used}",
                d.fp_used
            ));
        }
        let limit = f.geo.inodes_per_group - d.itable_unused;
        let mut unused = d.itable_unused;
        if let Some(h) = hi {
            if h as u32 >= limit {
                unused = f.geo.inodes_per_group - h as u32 - 1;
                wrong.push(format!(
                    "itable_unused {} should be at most {unused}",
                    d.itable_unused
                ));
            }
        }
        if !wrong.is_empty() && f.fix(P::GROUP_COUNTS, PCtx::new().grp(g).s(wrong.join(", ")))? {
            d.free_blocks = free_b;
            d.free_inodes = free_i;
            d.used_dirs = dirs;
            d.fp_used = fp_used;
            d.itable_unused = unused;
            changed = true;
        }
        free_blocks_total += u64::from(free_b);
        free_inodes_total += u64::from(free_i);
        if changed {
            f.descs[g as usize] = d;
            f.desc_changed(g);
        }
    }
    // Preallocated space: the files' sum, and never more than is free.
    // The kernel journals each file's preallocation with the file and
    // the total only with the superblock (recounted by the mount after a
    // replay): lazy after an unclean shutdown, as the free counts.
    let prealloc = f.stats.prealloc.min(free_blocks_total);
    let p = if f.counters_lazy {
        P::SB_PREALLOC_LAZY
    } else {
        P::SB_PREALLOC
    };
    if f.sb.prealloc_blocks != prealloc
        && f.fix(p, PCtx::new().n(f.sb.prealloc_blocks).m(prealloc))?
    {
        f.sb.prealloc_blocks = prealloc;
        if prealloc > 0 {
            f.sb.feature_ro_compat |= livedfs_format::superblock::RO_COMPAT_PREALLOC;
        }
        f.sb_dirty = true;
    }
    if (f.sb.free_blocks != free_blocks_total || u64::from(f.sb.free_inodes) != free_inodes_total)
        && f.fix(
            P::SB_FREE_COUNTS,
            PCtx::new().n(free_blocks_total).m(free_inodes_total),
        )?
    {
        f.sb.free_blocks = free_blocks_total;
        f.sb.free_inodes = free_inodes_total as u32;
        f.sb_dirty = true;
    }
    Ok(())
}
