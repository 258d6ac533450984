//! Layout arithmetic: where every structure of a volume lives.
//!
//! A [`Geometry`] is built from a few primary parameters (block size, device
//! size, inodes per group, fingerprint algorithm and layout) by
//! [`Geometry::new`], which mkfs calls; everything else (group count, table
//! sizes, the position of each group's bitmaps, inode table and fingerprint
//! store) is derived. The kernel and fsck call
//! [`Geometry::from_superblock`], which re-derives the layout from the
//! superblock's primary parameters and refuses the volume unless every stored
//! derived value matches. Because positions are a pure function of the
//! geometry, a group descriptor pointing anywhere else is corruption.
//!
//! All methods are total: out-of-range input gives an error, never a panic
//! or an overflow.

use super::error::{FormatError, Result};
use super::superblock::*;
use super::{
    FingerprintAlgo, DESC_SIZE, FIRST_INO, FP_BLOCK_TAIL, FP_REFCOUNT_SIZE, INODE_SIZE, ROOT_INO,
};

/// Smallest number of data blocks a group must offer beyond its metadata;
/// a trailing partial group smaller than this is left unused.
pub const MIN_GROUP_DATA_BLOCKS: u32 = 64;
/// Largest number of blocks a volume may have (block numbers are 32-bit and
/// 0 means "no block").
pub const MAX_BLOCKS: u64 = u32::MAX as u64;

/// The primary parameters from which a layout is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeometryParams {
    /// Block size in bytes: 1024, 2048 or 4096.
    pub block_size: u32,
    /// Blocks available on the device (the volume may use fewer).
    pub device_blocks: u64,
    /// Inodes per group; a multiple of the inodes per block and of 8.
    pub inodes_per_group: u32,
    /// Fingerprint algorithm.
    pub fp_algo: FingerprintAlgo,
    /// All fingerprint stores at the end of the device instead of per group.
    pub fp_at_end: bool,
    /// Superblock backups only in groups 0, 1 and powers of 3, 5, 7.
    pub sparse_super: bool,
    /// Regular files may use the quadruple-indirect block
    /// (`RO_COMPAT_HUGE_FILE`): files up to 2^32 blocks.
    pub huge_file: bool,
}

/// A validated volume layout. All fields are consistent with each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// `_sealed` is private so that no code outside this module, even in the
// kernel crate that includes these files as a module, can build a
// `Geometry`; `#[non_exhaustive]` would only restrict other crates.
#[allow(clippy::manual_non_exhaustive)]
pub struct Geometry {
    pub block_size: u32,
    pub log_block_size: u32,
    /// Blocks of the volume: groups plus (at-end layout) the store region.
    pub blocks_count: u32,
    /// First block of group 0: 1 with 1 KiB blocks (block 0 is the boot
    /// block holding the superblock at byte 1024), else 0.
    pub first_data_block: u32,
    pub blocks_per_group: u32,
    pub inodes_per_group: u32,
    pub group_count: u32,
    pub inodes_count: u32,
    pub inode_size: u32,
    pub inodes_per_block: u32,
    /// Inode-table blocks per group.
    pub itable_blocks: u32,
    pub desc_per_block: u32,
    /// Blocks of the group descriptor table.
    pub gdt_blocks: u32,
    pub fp_algo: FingerprintAlgo,
    /// Bytes per fingerprint-store entry: fingerprint + 32-bit refcount.
    pub fp_entry_size: u32,
    pub fp_entries_per_block: u32,
    /// Blocks of one group's fingerprint store (covers every block of the group).
    pub fp_blocks_per_group: u32,
    pub fp_at_end: bool,
    /// First block past the last group; the store region starts here in the
    /// at-end layout.
    pub groups_end: u32,
    pub sparse_super: bool,
    /// `RO_COMPAT_HUGE_FILE`: see [`GeometryParams::huge_file`].
    pub huge_file: bool,
    /// Private: a `Geometry` exists only as built by [`Geometry::new`], so
    /// its divisors are never zero and its values fit together.
    _sealed: (),
}

/// Store entries a fingerprint-filter slot covers, at least (see
/// [`FpSlots`]).
pub const FP_SLOT_ENTRIES: u32 = 256;

/// The fingerprint filter's values: slots of the fingerprint stores.
///
/// The filter does not remember which block holds a fingerprint, only
/// which *slot* does: a run of [`span`](Self::span) consecutive store
/// blocks of one group (the fewest holding [`FP_SLOT_ENTRIES`] entries, so
/// about 256 to 400 entries). A lookup reads the slot's store blocks (a few
/// KiB, usually cached: the first access to a group's store prefetches all
/// of it) and compares the fingerprint with each live entry; the match's
/// position gives the block. A slot number takes about 8 bits fewer than a
/// block number, which is about one byte of memory per stored block.
///
/// Slot `s` is store blocks `(s % per_group) * span ..` (at most `span`,
/// within the store) of group `s / per_group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FpSlots {
    first_data_block: u32,
    groups_end: u32,
    blocks_per_group: u32,
    entries_per_block: u32,
    store_blocks: u32,
    span: u32,
    per_group: u32,
    groups: u32,
}

impl FpSlots {
    /// Store blocks per slot.
    pub fn span(&self) -> u32 {
        self.span
    }

    /// Slots per group.
    pub fn per_group(&self) -> u32 {
        self.per_group
    }

    /// Slots of the volume: every slot number is below this.
    pub fn count(&self) -> u64 {
        u64::from(self.per_group).saturating_mul(u64::from(self.groups))
    }

    /// The slot holding block `b`'s store entry (`None` outside the groups).
    pub fn slot_of(&self, b: u32) -> Option<u32> {
        if b >= self.groups_end {
            return None;
        }
        let i = b.checked_sub(self.first_data_block)?;
        let g = i.checked_div(self.blocks_per_group)?;
        if g >= self.groups {
            return None;
        }
        let j = i
            .checked_rem(self.blocks_per_group)?
            .checked_div(self.entries_per_block)?;
        g.checked_mul(self.per_group)?
            .checked_add(j.checked_div(self.span)?)
    }

    /// The store blocks of slot `s`: (group, first store block of the
    /// group's store, number of store blocks); `None` past the last slot.
    pub fn store_blocks(&self, s: u32) -> Option<(u32, u32, u32)> {
        let g = s.checked_div(self.per_group)?;
        if g >= self.groups {
            return None;
        }
        let first = s.checked_rem(self.per_group)?.checked_mul(self.span)?;
        let n = self.store_blocks.checked_sub(first)?.min(self.span);
        (n > 0).then_some((g, first, n))
    }
}

/// Where one group's structures are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLayout {
    pub group: u32,
    /// First block of the group.
    pub first: u32,
    /// One past the last block of the group.
    pub end: u32,
    /// Whether the group holds a superblock and descriptor-table copy.
    pub has_super: bool,
    /// Superblock (copy) block, if any.
    pub super_block: Option<u32>,
    /// First block of the descriptor table (copy), if any.
    pub gdt_start: Option<u32>,
    pub block_bitmap: u32,
    pub inode_bitmap: u32,
    pub inode_table: u32,
    /// First block of this group's fingerprint store (may be outside the
    /// group in the at-end layout).
    pub fp_store: u32,
    /// First block available for data and other allocations.
    pub data_start: u32,
}

impl GroupLayout {
    /// Blocks in the group.
    pub fn blocks(&self) -> u32 {
        self.end.saturating_sub(self.first)
    }
    /// Blocks taken by the group's own fixed metadata (all blocks before
    /// `data_start`).
    pub fn overhead(&self) -> u32 {
        self.data_start.saturating_sub(self.first)
    }
    /// Blocks free in a freshly made group (before mkfs places anything).
    pub fn fresh_free_blocks(&self) -> u32 {
        self.end.saturating_sub(self.data_start)
    }
}

// Arithmetic that cannot panic. Every quantity here is bounded (blocks
// < 2^32, groups < 2^20, block sizes <= 4096), so saturation never happens
// on a validated geometry; but the kernel builds with overflow checks and a
// panic there is a BUG(), so no operator may be able to panic at all.
fn add(a: u64, b: u64) -> u64 {
    a.saturating_add(b)
}
fn sub(a: u64, b: u64) -> u64 {
    a.saturating_sub(b)
}
fn mul(a: u64, b: u64) -> u64 {
    a.saturating_mul(b)
}
fn div(a: u64, b: u64) -> u64 {
    a.checked_div(b).unwrap_or(0)
}
fn rem(a: u64, b: u64) -> u64 {
    a.checked_rem(b).unwrap_or(0)
}
fn div32(a: u32, b: u32) -> u32 {
    a.checked_div(b).unwrap_or(0)
}
fn rem32(a: u32, b: u32) -> u32 {
    a.checked_rem(b).unwrap_or(0)
}

fn div_ceil(a: u64, b: u64) -> u64 {
    add(div(a, b), u64::from(rem(a, b) != 0))
}

fn to_u32(v: u64, what: &'static str) -> Result<u32> {
    u32::try_from(v).map_err(|_| FormatError::OutOfRange { what, value: v })
}

fn is_power_of(mut n: u32, base: u32) -> bool {
    if n == 0 || base < 2 {
        return false;
    }
    while n.checked_rem(base) == Some(0) {
        n /= base;
    }
    n == 1
}

/// Whether group `g` carries a superblock backup under sparse_super.
pub fn sparse_group_has_super(g: u32) -> bool {
    g <= 1 || is_power_of(g, 3) || is_power_of(g, 5) || is_power_of(g, 7)
}

impl Geometry {
    /// Derives a layout from primary parameters, or says why it cannot.
    pub fn new(p: &GeometryParams) -> Result<Self> {
        let log_block_size = match p.block_size {
            1024 => 0,
            2048 => 1,
            4096 => 2,
            v => {
                return Err(FormatError::BadField {
                    field: "block_size",
                    value: u64::from(v),
                })
            }
        };
        let bs = u64::from(p.block_size);
        let first_data_block: u32 = if p.block_size == 1024 { 1 } else { 0 };
        let blocks_per_group = p.block_size.saturating_mul(8); // one bitmap block per group
        let inode_size = INODE_SIZE;
        let inodes_per_block = div32(p.block_size, inode_size);
        let ipg = p.inodes_per_group;
        // Whole inode-table blocks, and whole inode-bitmap bytes: the
        // bitmap's checksum covers its first inodes_per_group / 8 bytes, so
        // with a partial last byte some inodes' bits would go unchecked.
        if ipg == 0
            || rem32(ipg, inodes_per_block) != 0
            || rem32(ipg, 8) != 0
            || ipg > blocks_per_group
        {
            return Err(FormatError::BadField {
                field: "inodes_per_group",
                value: u64::from(ipg),
            });
        }
        let itable_blocks = div32(ipg, inodes_per_block);
        let fp_entry_size = u32::from(p.fp_algo.size()).saturating_add(FP_REFCOUNT_SIZE);
        let fp_entries_per_block = div32(p.block_size.saturating_sub(FP_BLOCK_TAIL), fp_entry_size);
        let fp_blocks_per_group = to_u32(
            div_ceil(u64::from(blocks_per_group), u64::from(fp_entries_per_block)),
            "fp blocks",
        )?;
        let desc_per_block = div32(p.block_size, DESC_SIZE);

        let device = p.device_blocks.min(MAX_BLOCKS);
        if p.device_blocks > MAX_BLOCKS.saturating_add(1) {
            // One block past 2^32-1 is tolerated (exactly 16 TiB at 4 KiB):
            // the last block goes unused.
            return Err(FormatError::TooLarge {
                blocks: p.device_blocks,
            });
        }
        let avail = device.saturating_sub(u64::from(first_data_block));
        // Blocks each group consumes from the device: the group itself, plus
        // its store in the region at the end for the at-end layout.
        let span = add(
            u64::from(blocks_per_group),
            if p.fp_at_end {
                u64::from(fp_blocks_per_group)
            } else {
                0
            },
        );
        let mut groups = div_ceil(avail, span).max(1);
        // The primary descriptor table must fit in group 0 (no meta_bg).
        let g0_fixed = add(
            add(3, u64::from(itable_blocks)),
            add(
                if p.fp_at_end {
                    0
                } else {
                    u64::from(fp_blocks_per_group)
                },
                u64::from(MIN_GROUP_DATA_BLOCKS),
            ),
        );
        let max_groups = div(
            mul(sub(u64::from(blocks_per_group), g0_fixed), bs),
            u64::from(DESC_SIZE),
        );
        if groups > max_groups {
            return Err(FormatError::TooLarge {
                blocks: p.device_blocks,
            });
        }
        // The descriptor table size depends on the group count; the group
        // count on whether the last partial group can hold its metadata.
        loop {
            let gdt_blocks = div_ceil(mul(groups, u64::from(DESC_SIZE)), bs);
            let full = mul(sub(groups, 1), span);
            let rest = avail.saturating_sub(full);
            let last_store = if p.fp_at_end {
                u64::from(fp_blocks_per_group)
            } else {
                0
            };
            let last_blocks = rest
                .saturating_sub(last_store)
                .min(u64::from(blocks_per_group));
            let g_last = to_u32(sub(groups, 1), "group count")?;
            let has_super = !p.sparse_super || sparse_group_has_super(g_last);
            let overhead = add(
                add(if has_super { add(1, gdt_blocks) } else { 0 }, 2),
                add(
                    u64::from(itable_blocks),
                    if p.fp_at_end {
                        0
                    } else {
                        u64::from(fp_blocks_per_group)
                    },
                ),
            );
            if last_blocks >= add(overhead, u64::from(MIN_GROUP_DATA_BLOCKS)) {
                let groups_end = add(
                    add(
                        u64::from(first_data_block),
                        mul(sub(groups, 1), u64::from(blocks_per_group)),
                    ),
                    last_blocks,
                );
                let blocks_count = add(groups_end, mul(groups, last_store));
                let group_count = to_u32(groups, "group count")?;
                // Inode numbers are 32-bit: more inodes than that is a bad
                // inodes_per_group for this size, like too few.
                let inodes = mul(groups, u64::from(ipg));
                let inodes_count = u32::try_from(inodes).map_err(|_| FormatError::BadField {
                    field: "inodes_count",
                    value: inodes,
                })?;
                if u64::from(inodes_count) <= u64::from(FIRST_INO) {
                    return Err(FormatError::BadField {
                        field: "inodes_count",
                        value: u64::from(inodes_count),
                    });
                }
                let geo = Geometry {
                    block_size: p.block_size,
                    log_block_size,
                    blocks_count: to_u32(blocks_count, "block count")?,
                    first_data_block,
                    blocks_per_group,
                    inodes_per_group: ipg,
                    group_count,
                    inodes_count,
                    inode_size,
                    inodes_per_block,
                    itable_blocks,
                    desc_per_block,
                    gdt_blocks: to_u32(gdt_blocks, "descriptor table blocks")?,
                    fp_algo: p.fp_algo,
                    fp_entry_size,
                    fp_entries_per_block,
                    fp_blocks_per_group,
                    fp_at_end: p.fp_at_end,
                    groups_end: to_u32(groups_end, "block count")?,
                    sparse_super: p.sparse_super,
                    huge_file: p.huge_file,
                    _sealed: (),
                };
                // Group 0 always holds the primary superblock and table.
                let g0 = geo.group(0)?;
                if g0.data_start >= g0.end {
                    break;
                }
                return Ok(geo);
            }
            if groups == 1 {
                break;
            }
            groups = sub(groups, 1);
        }
        // Too small: report the least that would do for one group.
        let need = add(
            add(u64::from(first_data_block), 4),
            add(
                add(u64::from(itable_blocks), u64::from(fp_blocks_per_group)),
                u64::from(MIN_GROUP_DATA_BLOCKS),
            ),
        );
        Err(FormatError::TooSmall {
            blocks: p.device_blocks,
            need,
        })
    }

    /// The primary parameters this geometry was derived from.
    pub fn params(&self) -> GeometryParams {
        GeometryParams {
            block_size: self.block_size,
            device_blocks: u64::from(self.blocks_count),
            inodes_per_group: self.inodes_per_group,
            fp_algo: self.fp_algo,
            fp_at_end: self.fp_at_end,
            sparse_super: self.sparse_super,
            huge_file: self.huge_file,
        }
    }

    /// Validates a superblock's geometry: re-derives the layout from its
    /// primary parameters and checks every stored derived value against it.
    pub fn from_superblock(sb: &Superblock) -> Result<Self> {
        let unknown = sb.feature_incompat & !INCOMPAT_KNOWN;
        if unknown != 0 {
            return Err(FormatError::UnknownIncompatFeatures(unknown));
        }
        let block_size = sb.block_size().ok_or(FormatError::BadField {
            field: "superblock.log_block_size",
            value: u64::from(sb.log_block_size),
        })?;
        let fp_algo = sb.fingerprint_algo().ok_or(FormatError::BadField {
            field: "superblock.fp_algo",
            value: u64::from(sb.fp_algo),
        })?;
        if sb.blocks_count == 0 || sb.blocks_count > MAX_BLOCKS {
            return Err(FormatError::BadField {
                field: "superblock.blocks_count",
                value: sb.blocks_count,
            });
        }
        let geo = Self::new(&GeometryParams {
            block_size,
            device_blocks: sb.blocks_count,
            inodes_per_group: sb.inodes_per_group,
            fp_algo,
            fp_at_end: sb.has_incompat(INCOMPAT_FP_AT_END),
            sparse_super: sb.has_ro_compat(RO_COMPAT_SPARSE_SUPER),
            huge_file: sb.has_ro_compat(RO_COMPAT_HUGE_FILE),
        })?;
        let checks: [(&'static str, u64, u64); 14] = [
            (
                "superblock.blocks_count",
                sb.blocks_count,
                u64::from(geo.blocks_count),
            ),
            (
                "superblock.first_data_block",
                u64::from(sb.first_data_block),
                u64::from(geo.first_data_block),
            ),
            (
                "superblock.blocks_per_group",
                u64::from(sb.blocks_per_group),
                u64::from(geo.blocks_per_group),
            ),
            (
                "superblock.group_count",
                u64::from(sb.group_count),
                u64::from(geo.group_count),
            ),
            (
                "superblock.inodes_count",
                u64::from(sb.inodes_count),
                u64::from(geo.inodes_count),
            ),
            (
                "superblock.inode_size",
                u64::from(sb.inode_size),
                u64::from(geo.inode_size),
            ),
            (
                "superblock.desc_size",
                u64::from(sb.desc_size),
                u64::from(DESC_SIZE),
            ),
            (
                "superblock.first_ino",
                u64::from(sb.first_ino),
                u64::from(FIRST_INO),
            ),
            (
                "superblock.fp_size",
                u64::from(sb.fp_size),
                u64::from(fp_algo.size()),
            ),
            (
                "superblock.fp_entry_size",
                u64::from(sb.fp_entry_size),
                u64::from(geo.fp_entry_size),
            ),
            (
                "superblock.fp_entries_per_block",
                u64::from(sb.fp_entries_per_block),
                u64::from(geo.fp_entries_per_block),
            ),
            (
                "superblock.fp_blocks_per_group",
                u64::from(sb.fp_blocks_per_group),
                u64::from(geo.fp_blocks_per_group),
            ),
            (
                "superblock.gdt_blocks",
                u64::from(sb.gdt_blocks),
                u64::from(geo.gdt_blocks),
            ),
            (
                "superblock.fp_region_start",
                u64::from(sb.fp_region_start),
                if geo.fp_at_end {
                    u64::from(geo.groups_end)
                } else {
                    0
                },
            ),
        ];
        for (what, found, expected) in checks {
            if found != expected {
                return Err(FormatError::Inconsistent {
                    what,
                    found,
                    expected,
                });
            }
        }
        if sb.free_blocks > u64::from(geo.blocks_count) {
            return Err(FormatError::BadField {
                field: "superblock.free_blocks",
                value: sb.free_blocks,
            });
        }
        if sb.prealloc_blocks > u64::from(geo.blocks_count) {
            return Err(FormatError::BadField {
                field: "superblock.prealloc_blocks",
                value: sb.prealloc_blocks,
            });
        }
        if sb.free_inodes > geo.inodes_count {
            return Err(FormatError::BadField {
                field: "superblock.free_inodes",
                value: u64::from(sb.free_inodes),
            });
        }
        if sb.r_blocks_count > geo.blocks_count / 2 {
            return Err(FormatError::BadField {
                field: "superblock.r_blocks_count",
                value: u64::from(sb.r_blocks_count),
            });
        }
        if sb.orphan_head != 0 && !geo.valid_ino(sb.orphan_head) {
            return Err(FormatError::BadField {
                field: "superblock.orphan_head",
                value: u64::from(sb.orphan_head),
            });
        }
        if sb.has_compat(COMPAT_HAS_JOURNAL) {
            geo.check_journal(sb.journal_start, sb.journal_blocks)?;
        } else if sb.journal_start != 0 || sb.journal_blocks != 0 {
            return Err(FormatError::Inconsistent {
                what: "superblock.journal_blocks without has_journal",
                found: u64::from(sb.journal_blocks),
                expected: 0,
            });
        }
        if sb.has_incompat(INCOMPAT_RECOVER) && !sb.has_compat(COMPAT_HAS_JOURNAL) {
            return Err(FormatError::BadField {
                field: "superblock.feature_incompat (recover without journal)",
                value: u64::from(sb.feature_incompat),
            });
        }
        Ok(geo)
    }

    /// Checks that a journal extent lies inside one group's data region.
    pub fn check_journal(&self, start: u32, blocks: u32) -> Result<()> {
        if blocks < super::jbd2::MIN_JOURNAL_BLOCKS {
            return Err(FormatError::BadField {
                field: "superblock.journal_blocks",
                value: u64::from(blocks),
            });
        }
        let g = self.group_of_block(start)?;
        let l = self.group(g)?;
        let end = add(u64::from(start), u64::from(blocks));
        if start < l.data_start || end > u64::from(l.end) {
            return Err(FormatError::BadField {
                field: "superblock.journal_start",
                value: u64::from(start),
            });
        }
        Ok(())
    }

    /// Whether `g` carries a superblock and descriptor-table copy.
    pub fn group_has_super(&self, g: u32) -> bool {
        !self.sparse_super || sparse_group_has_super(g)
    }

    /// First block of group `g` (no range check).
    fn group_first(&self, g: u32) -> u64 {
        add(
            u64::from(self.first_data_block),
            mul(u64::from(g), u64::from(self.blocks_per_group)),
        )
    }

    /// The layout of group `g`.
    pub fn group(&self, g: u32) -> Result<GroupLayout> {
        if g >= self.group_count {
            return Err(FormatError::OutOfRange {
                what: "group",
                value: u64::from(g),
            });
        }
        let first = self.group_first(g);
        let end = add(first, u64::from(self.blocks_per_group)).min(u64::from(self.groups_end));
        let has_super = self.group_has_super(g);
        let mut cur = first;
        let (super_block, gdt_start) = if has_super {
            let s = cur;
            cur = add(cur, add(1, u64::from(self.gdt_blocks)));
            (Some(to_u32(s, "block")?), Some(to_u32(add(s, 1), "block")?))
        } else {
            (None, None)
        };
        let block_bitmap = cur;
        let inode_bitmap = add(cur, 1);
        let inode_table = add(cur, 2);
        cur = add(cur, add(2, u64::from(self.itable_blocks)));
        let fp_store = if self.fp_at_end {
            add(
                u64::from(self.groups_end),
                mul(u64::from(g), u64::from(self.fp_blocks_per_group)),
            )
        } else {
            let s = cur;
            cur = add(cur, u64::from(self.fp_blocks_per_group));
            s
        };
        Ok(GroupLayout {
            group: g,
            first: to_u32(first, "block")?,
            end: to_u32(end, "block")?,
            has_super,
            super_block,
            gdt_start,
            block_bitmap: to_u32(block_bitmap, "block")?,
            inode_bitmap: to_u32(inode_bitmap, "block")?,
            inode_table: to_u32(inode_table, "block")?,
            fp_store: to_u32(fp_store, "block")?,
            data_start: to_u32(cur, "block")?,
        })
    }

    /// The group holding block `b`.
    pub fn group_of_block(&self, b: u32) -> Result<u32> {
        if b < self.first_data_block || b >= self.groups_end {
            return Err(FormatError::OutOfRange {
                what: "block",
                value: u64::from(b),
            });
        }
        Ok(div32(
            b.saturating_sub(self.first_data_block),
            self.blocks_per_group,
        ))
    }

    /// Index of block `b` within its group (its bit in the block bitmap and
    /// its entry in the group's fingerprint store).
    pub fn block_index_in_group(&self, b: u32) -> Result<u32> {
        self.group_of_block(b)?;
        Ok(rem32(
            b.saturating_sub(self.first_data_block),
            self.blocks_per_group,
        ))
    }

    /// Whether `b` is a block number a file may point to: inside a group.
    /// (Whether it is a data block rather than metadata needs the group.)
    pub fn valid_block(&self, b: u32) -> bool {
        b >= self.first_data_block && b < self.groups_end && b != 0
    }

    /// Whether `b` lies in the data region of its group.
    pub fn is_data_block(&self, b: u32) -> bool {
        match self.group_of_block(b).and_then(|g| self.group(g)) {
            Ok(l) => b >= l.data_start && b < l.end,
            Err(_) => false,
        }
    }

    /// Where the fingerprint-store entry of block `b` lives:
    /// (store block number, byte offset of the entry in that block).
    pub fn fp_entry_location(&self, b: u32) -> Result<(u32, usize)> {
        let g = self.group_of_block(b)?;
        let i = rem32(
            b.saturating_sub(self.first_data_block),
            self.blocks_per_group,
        );
        let l = self.group(g)?;
        let blk = add(
            u64::from(l.fp_store),
            u64::from(div32(i, self.fp_entries_per_block)),
        );
        let off = mul(
            u64::from(rem32(i, self.fp_entries_per_block)),
            u64::from(self.fp_entry_size),
        ) as usize;
        Ok((to_u32(blk, "block")?, off))
    }

    /// The block covered by entry `e` of store block `j` of group `g`.
    pub fn fp_entry_block(&self, g: u32, j: u32, e: u32) -> Result<Option<u32>> {
        self.fp_entry_block_in(&self.group(g)?, j, e)
    }

    /// [`fp_entry_block`](Self::fp_entry_block) for a group whose layout
    /// the caller holds (no re-derivation per entry).
    pub fn fp_entry_block_in(&self, l: &GroupLayout, j: u32, e: u32) -> Result<Option<u32>> {
        if j >= self.fp_blocks_per_group || e >= self.fp_entries_per_block {
            return Err(FormatError::OutOfRange {
                what: "fingerprint entry",
                value: u64::from(e),
            });
        }
        let idx = add(
            mul(u64::from(j), u64::from(self.fp_entries_per_block)),
            u64::from(e),
        );
        let b = add(u64::from(l.first), idx);
        if idx >= u64::from(self.blocks_per_group) || b >= u64::from(l.end) {
            return Ok(None);
        }
        Ok(Some(to_u32(b, "block")?))
    }

    /// Where the fingerprint filter points: store blocks grouped into
    /// slots (see [`FpSlots`]).
    pub fn fp_slots(&self) -> FpSlots {
        let per_block = self.fp_entries_per_block.max(1);
        let span = div32(
            FP_SLOT_ENTRIES.saturating_add(per_block.saturating_sub(1)),
            per_block,
        )
        .clamp(1, self.fp_blocks_per_group.max(1));
        let per_group = to_u32(
            div_ceil(u64::from(self.fp_blocks_per_group), u64::from(span)),
            "slot",
        )
        .unwrap_or(u32::MAX)
        .max(1);
        FpSlots {
            first_data_block: self.first_data_block,
            groups_end: self.groups_end,
            blocks_per_group: self.blocks_per_group,
            entries_per_block: per_block,
            store_blocks: self.fp_blocks_per_group,
            span,
            per_group,
            groups: self.group_count,
        }
    }

    /// Whether `ino` is an inode number of this volume.
    pub fn valid_ino(&self, ino: u32) -> bool {
        ino >= 1 && ino <= self.inodes_count
    }

    /// Group of inode `ino`.
    pub fn group_of_ino(&self, ino: u32) -> Result<u32> {
        if !self.valid_ino(ino) {
            return Err(FormatError::OutOfRange {
                what: "inode",
                value: u64::from(ino),
            });
        }
        Ok(div32(ino.saturating_sub(1), self.inodes_per_group))
    }

    /// Where inode `ino` lives: (block number, byte offset in the block).
    pub fn inode_location(&self, ino: u32) -> Result<(u32, usize)> {
        let g = self.group_of_ino(ino)?;
        let idx = rem32(ino.saturating_sub(1), self.inodes_per_group);
        let l = self.group(g)?;
        let blk = add(
            u64::from(l.inode_table),
            u64::from(div32(idx, self.inodes_per_block)),
        );
        let off = mul(
            u64::from(rem32(idx, self.inodes_per_block)),
            u64::from(self.inode_size),
        ) as usize;
        Ok((to_u32(blk, "block")?, off))
    }

    /// Where the primary descriptor of group `g` lives: (block, offset).
    pub fn desc_location(&self, g: u32) -> Result<(u32, usize)> {
        if g >= self.group_count {
            return Err(FormatError::OutOfRange {
                what: "group",
                value: u64::from(g),
            });
        }
        let blk = add(
            add(u64::from(self.first_data_block), 1),
            u64::from(div32(g, self.desc_per_block)),
        );
        let off = mul(
            u64::from(rem32(g, self.desc_per_block)),
            u64::from(DESC_SIZE),
        ) as usize;
        Ok((to_u32(blk, "block")?, off))
    }

    /// Byte offset of block `b` on the device.
    pub fn block_offset(&self, b: u32) -> u64 {
        mul(u64::from(b), u64::from(self.block_size))
    }

    /// Number of block pointers in an indirect block.
    pub fn ptrs_per_block(&self) -> u32 {
        self.block_size / 4
    }

    /// Largest file size in bytes: what the block map addresses down to
    /// the triple-indirect tree, or with `huge_file` also the
    /// quadruple-indirect tree, then capped at 2^32 blocks (ext4's limit;
    /// file block numbers stay below 2^32).
    pub fn max_file_size(&self) -> u64 {
        use super::inode::{tree_base, tree_span};
        let p = self.ptrs_per_block();
        let depth = if self.huge_file { 4 } else { 3 };
        let blocks = add(tree_base(p, depth), tree_span(p, depth)).min(1 << 32);
        mul(blocks, u64::from(self.block_size))
    }

    /// The superblock mkfs writes for this geometry: counts for a fresh
    /// volume are filled in by the caller.
    pub fn superblock_template(&self) -> Superblock {
        Superblock {
            version_major: VERSION_MAJOR,
            version_minor: VERSION_MINOR,
            log_block_size: self.log_block_size,
            blocks_count: u64::from(self.blocks_count),
            first_data_block: self.first_data_block,
            blocks_per_group: self.blocks_per_group,
            inodes_per_group: self.inodes_per_group,
            group_count: self.group_count,
            inodes_count: self.inodes_count,
            inode_size: self.inode_size as u16,
            desc_size: DESC_SIZE as u16,
            first_ino: FIRST_INO,
            feature_ro_compat: RO_COMPAT_UNINIT_BG
                | if self.sparse_super {
                    RO_COMPAT_SPARSE_SUPER
                } else {
                    0
                }
                | if self.huge_file {
                    RO_COMPAT_HUGE_FILE
                } else {
                    0
                },
            feature_incompat: if self.fp_at_end {
                INCOMPAT_FP_AT_END
            } else {
                0
            },
            state: STATE_VALID,
            errors: ERRORS_RO,
            fp_algo: self.fp_algo.code(),
            fp_size: self.fp_algo.size(),
            fp_entry_size: self.fp_entry_size as u16,
            fp_entries_per_block: self.fp_entries_per_block,
            fp_blocks_per_group: self.fp_blocks_per_group,
            fp_region_start: if self.fp_at_end { self.groups_end } else { 0 },
            gdt_blocks: self.gdt_blocks,
            ..Superblock::default()
        }
    }

    /// Root inode number (constant, here for discoverability).
    pub const fn root_ino(&self) -> u32 {
        ROOT_INO
    }
}
