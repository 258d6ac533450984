//! The groups' allocation state in memory (descriptors, the blocks freed
//! by uncommitted transactions, which bitmaps were checked), split over a
//! fixed set of hashed locks as ext4's `blockgroup_lock` splits its
//! descriptors: group `g` belongs to shard `g % shards`. Allocating or
//! freeing a block, and counting a fingerprint entry, lock only the
//! group's shard, so writers in different groups do not wait for each
//! other and no lock covers the volume. Volume-wide totals are atomics in
//! `SbInfo`; the few readers that need every group (directory placement,
//! statistics) lock the shards one after another, never two at once.
//!
//! Each shard also has a `prepare` lock that serialises the first touch of
//! its groups' fingerprint stores (formatting, prefetch, see
//! `fpstore::prepare_group`): that I/O holds neither the shard's state lock
//! nor anything volume-wide.

use crate::format::group::GroupDesc;
use crate::super_::BusyGroup;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::Mutex;

/// Shards at most (ext4: up to 128 for many CPUs). Fewer on a volume
/// with fewer groups.
pub(crate) const MAX_SHARDS: u32 = 64;

/// The state of the groups `g` with `g % stride == index`.
pub(crate) struct ShardState {
    index: u32,
    stride: u32,
    /// Descriptor of group `index + i * stride` at `i`.
    descs: KVVec<GroupDesc>,
    /// Freed but not yet committed, per group (see journal.rs).
    pub(crate) busy: kernel::rbtree::RBTree<u32, BusyGroup>,
    /// Per group: bit 0 = block bitmap checksum verified, bit 1 = inode
    /// bitmap verified (once per mount, then kept current by us).
    checked: KVVec<u8>,
}

impl ShardState {
    /// Where group `g` is kept here; EINVAL for a group of another shard
    /// (a guard used for the wrong group: a bug, never silently wrong data).
    fn slot(&self, g: u32) -> Result<usize> {
        if self.stride == 0 || g % self.stride != self.index {
            pr_err!("livedfs: BUG: group {} looked up in allocation shard {}\n", g, self.index);
            return Err(EINVAL);
        }
        Ok((g / self.stride) as usize)
    }

    /// Group `g`'s descriptor.
    pub(crate) fn desc(&self, g: u32) -> Result<&GroupDesc> {
        let i = self.slot(g)?;
        self.descs.get(i).ok_or(EINVAL)
    }

    /// Group `g`'s descriptor, to change (the caller writes it out).
    pub(crate) fn desc_mut(&mut self, g: u32) -> Result<&mut GroupDesc> {
        let i = self.slot(g)?;
        self.descs.get_mut(i).ok_or(EINVAL)
    }

    fn checked_bits(&self, g: u32) -> u8 {
        self.slot(g).ok().and_then(|i| self.checked.get(i).copied()).unwrap_or(0)
    }

    fn set_checked_bits(&mut self, g: u32, bits: u8) {
        if let Some(c) = self.slot(g).ok().and_then(|i| self.checked.get_mut(i)) {
            *c |= bits;
        }
    }

    pub(crate) fn bitmap_checked(&self, g: u32) -> bool {
        self.checked_bits(g) & 1 != 0
    }
    pub(crate) fn set_bitmap_checked(&mut self, g: u32) {
        self.set_checked_bits(g, 1);
    }
    pub(crate) fn ibitmap_checked(&self, g: u32) -> bool {
        self.checked_bits(g) & 2 != 0
    }
    pub(crate) fn set_ibitmap_checked(&mut self, g: u32) {
        self.set_checked_bits(g, 2);
    }

    /// The groups of this shard with their descriptors, ascending.
    fn iter(&self) -> impl Iterator<Item = (u32, &GroupDesc)> {
        let (index, stride) = (self.index, self.stride);
        self.descs
            .iter()
            .enumerate()
            .map(move |(i, d)| ((i as u32).saturating_mul(stride).saturating_add(index), d))
    }
}

/// A locked shard.
pub(crate) type ShardGuard<'a> = Guard<'a, ShardState, MutexBackend>;

#[pin_data]
struct Shard {
    #[pin]
    state: Mutex<ShardState>,
    #[pin]
    prepare: Mutex<()>,
}

/// Every group's allocation state.
pub(crate) struct Groups {
    shards: KVec<Pin<KBox<Shard>>>,
}

impl Groups {
    /// Takes the descriptors read at mount (`descs[g]` is group `g`'s).
    pub(crate) fn new(descs: KVVec<GroupDesc>) -> Result<Self> {
        let count = u32::try_from(descs.len()).map_err(|_| EINVAL)?;
        let stride = count.clamp(1, MAX_SHARDS);
        let mut shards = KVec::with_capacity(stride as usize, GFP_KERNEL)?;
        for index in 0..stride {
            let mut part = ShardState {
                index,
                stride,
                descs: KVVec::new(),
                busy: kernel::rbtree::RBTree::new(),
                checked: KVVec::new(),
            };
            for d in descs.iter().skip(index as usize).step_by(stride as usize) {
                part.descs.push(*d, GFP_KERNEL)?;
                part.checked.push(0, GFP_KERNEL)?;
            }
            let s = KBox::pin_init(
                pin_init!(Shard {
                    state <- new_mutex!(part),
                    prepare <- new_mutex!(()),
                }),
                GFP_KERNEL,
            )?;
            shards.push(s, GFP_KERNEL)?;
        }
        Ok(Self { shards })
    }

    fn shard(&self, g: u32) -> Result<&Shard> {
        let n = self.shards.len();
        if n == 0 {
            return Err(EINVAL);
        }
        self.shards.get(g as usize % n).map(|s| &**s).ok_or(EINVAL)
    }

    /// Locks group `g`'s shard: the guard gives `g`'s state (and that of
    /// the other groups of the shard). Never held across a second shard.
    pub(crate) fn lock(&self, g: u32) -> Result<ShardGuard<'_>> {
        Ok(self.shard(g)?.state.lock())
    }

    /// Serialises the first touch of group `g`'s store with that of the
    /// other groups of its shard.
    pub(crate) fn lock_prepare(&self, g: u32) -> Result<Guard<'_, (), MutexBackend>> {
        Ok(self.shard(g)?.prepare.lock())
    }

    /// A copy of group `g`'s descriptor.
    pub(crate) fn desc(&self, g: u32) -> Result<GroupDesc> {
        self.lock(g)?.desc(g).copied()
    }

    /// Calls `f` on every group's descriptor, one shard locked at a time
    /// (the groups of a shard are seen together, not in group order).
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32, &GroupDesc)) {
        for s in self.shards.iter() {
            let st = s.state.lock();
            for (g, d) in st.iter() {
                f(g, d);
            }
        }
    }

    /// The sum of `f` over every descriptor.
    pub(crate) fn sum(&self, f: impl Fn(&GroupDesc) -> u64) -> u64 {
        let mut total = 0u64;
        self.for_each(|_, d| total = total.saturating_add(f(d)));
        total
    }

    /// Calls `f` on each shard's state, locked, one at a time.
    pub(crate) fn for_each_shard(&self, mut f: impl FnMut(&mut ShardState)) {
        for s in self.shards.iter() {
            let mut st = s.state.lock();
            f(&mut st);
        }
    }
}
