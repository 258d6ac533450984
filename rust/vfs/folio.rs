//! Folios of a regular file's page cache and their buffer heads, as the
//! write path (`crate::aops`) sees them: one buffer per file block, each
//! with the state bits the block layer and livedfs keep on it.
//!
//! A [`LockedFolio`] is a folio the caller holds locked (writeback,
//! write_begin, a page fault, invalidation, reclaim); while it is locked no
//! other task can change its buffers' state or, but through a DMA pin, its
//! contents. The methods here are the kernel calls, one each; what to do
//! with them is decided above.

use crate::sys;
use crate::vfs::{Inode, SuperBlock};
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::prelude::*;

/// A writeback control (the flusher's or fsync's request).
#[derive(Clone, Copy)]
pub(crate) struct Wbc(NonNull<sys::writeback_control>);

impl Wbc {
    /// # Safety
    ///
    /// `wbc` must be the live writeback control of a `writepages` call,
    /// used only during that call.
    pub(crate) unsafe fn from_raw(wbc: *mut sys::writeback_control) -> Option<Self> {
        NonNull::new(wbc).map(Self)
    }

    /// A data-integrity writeback (fsync, sync): every dirty folio must be
    /// written or the error reported.
    pub(crate) fn sync_all(&self) -> bool {
        // SAFETY: live for the call (constructor contract).
        unsafe { (*self.0.as_ptr()).sync_mode == sys::writeback_sync_modes_WB_SYNC_ALL }
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::writeback_control {
        self.0.as_ptr()
    }
}

/// A folio of one of our files, locked by the caller for `'a`.
pub(crate) struct LockedFolio<'a> {
    f: NonNull<sys::folio>,
    _locked: PhantomData<&'a ()>,
}

impl<'a> LockedFolio<'a> {
    /// # Safety
    ///
    /// `f` must be a folio of a livedfs regular file's mapping (or a slow
    /// symlink's), locked and referenced for `'a`.
    pub(crate) unsafe fn from_raw(f: *mut sys::folio) -> Option<Self> {
        NonNull::new(f).map(|f| Self { f, _locked: PhantomData })
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::folio {
        self.f.as_ptr()
    }

    /// Byte offset of the folio in its file.
    pub(crate) fn pos(&self) -> u64 {
        // SAFETY: locked folio (constructor contract).
        unsafe { sys::folio_pos(self.as_ptr()) }.max(0) as u64
    }

    /// Bytes in the folio.
    pub(crate) fn size(&self) -> u64 {
        // SAFETY: as above.
        unsafe { sys::folio_size(self.as_ptr()) as u64 }
    }

    /// Whether the folio still belongs to `inode` (truncation detaches it).
    pub(crate) fn belongs_to(&self, inode: &Inode) -> bool {
        // SAFETY: locked folio; `mapping` is stable while it is locked.
        unsafe { (*self.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.mapping == inode.mapping() }
    }

    /// The inode whose page cache holds the folio.
    pub(crate) fn inode(&self) -> Option<&'a Inode> {
        // SAFETY: a locked folio of a mapping stays attached to it, and the
        // mapping's host inode outlives its page cache.
        unsafe {
            let m = (*self.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.mapping;
            if m.is_null() {
                return None;
            }
            let host = (*m).host;
            (!host.is_null()).then(|| Inode::from_raw(host))
        }
    }

    /// Zeroes bytes `[from, to)` of the folio.
    pub(crate) fn zero_segment(&self, from: u64, to: u64) {
        let size = self.size();
        let (from, to) = (from.min(size), to.min(size));
        if from < to {
            // SAFETY: locked folio; the range lies inside it.
            unsafe { sys::folio_zero_segment(self.as_ptr(), from as usize, to as usize) };
        }
    }

    /// Whether the folio may be pinned for DMA (`pin_user_pages`): its
    /// contents can then change although it is locked and write-protected.
    pub(crate) fn maybe_dma_pinned(&self) -> bool {
        // SAFETY: locked folio; a counter read.
        unsafe { sys::folio_maybe_dma_pinned(self.as_ptr()) }
    }

    /// The folio's bytes. While it is locked no write() or page fault
    /// changes them (a folio cleaned for writeback is write-protected);
    /// only a device with a DMA pin might (`maybe_dma_pinned`).
    pub(crate) fn data(&self) -> &[u8] {
        // SAFETY: a locked folio in the kernel's direct map (no highmem on
        // x86-64), `size()` bytes long; shared reads only.
        unsafe {
            let p = sys::folio_address(self.as_ptr()).cast::<u8>();
            core::slice::from_raw_parts(p, self.size() as usize)
        }
    }

    /// The folio's bytes, to fill (a folio being read: locked and not up
    /// to date, so nobody else reads or writes them).
    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: a locked folio in the kernel's direct map (no highmem on
        // x86-64); the caller's contract says no one else touches it.
        unsafe {
            let p = sys::folio_address(self.as_ptr()).cast::<u8>();
            core::slice::from_raw_parts_mut(p, self.size() as usize)
        }
    }

    /// Marks the folio's contents valid (after reading them).
    pub(crate) fn mark_uptodate(&self) {
        // SAFETY: locked folio.
        unsafe { sys::folio_mark_uptodate(self.as_ptr()) };
    }

    /// The folio's buffers (none if it has no buffer heads).
    pub(crate) fn buffers(&self) -> Buffers<'_> {
        // SAFETY: locked folio: its private buffer list is stable.
        let head = unsafe { sys::livedfs_folio_buffers(self.as_ptr()) };
        Buffers::new(head)
    }

    /// The folio's buffers, created if it has none (`dirty`: as dirty and
    /// up-to-date ones, for a dirty folio whose buffers were dropped).
    pub(crate) fn create_buffers(&self, inode: &Inode, dirty: bool) -> Buffers<'_> {
        // SAFETY: locked folio of `inode`'s mapping; create_empty_buffers
        // attaches a buffer ring (never fails: __GFP_NOFAIL).
        let head = unsafe { sys::livedfs_folio_create_buffers(self.as_ptr(), inode.as_ptr(), dirty) };
        Buffers::new(head)
    }

    /// Keeps the folio dirty (some of its buffers could not be written
    /// now), for the writeback `wbc`.
    pub(crate) fn redirty(&self, wbc: &Wbc) {
        // SAFETY: locked folio being written back for `wbc`.
        unsafe { sys::folio_redirty_for_writepage(wbc.as_ptr(), self.as_ptr()) };
    }

    /// Marks the folio dirty.
    pub(crate) fn mark_dirty(&self) {
        // SAFETY: locked folio.
        unsafe { sys::folio_mark_dirty(self.as_ptr()) };
    }

    /// Waits until the folio may be changed (stable pages: not while it is
    /// being written).
    pub(crate) fn wait_stable(&self) {
        // SAFETY: locked folio.
        unsafe { sys::folio_wait_stable(self.as_ptr()) };
    }

    /// Records a writeback error on the file (fsync reports it once).
    pub(crate) fn set_mapping_error(&self, e: Error) {
        // SAFETY: locked folio: its mapping is live.
        unsafe { sys::mapping_set_error((*self.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.mapping, e.to_errno()) };
    }

    /// Puts the folio under writeback, submits the buffers marked by
    /// [`FolioBuffer::mark_write`] and unlocks the folio. Returns the
    /// number of writes started.
    pub(crate) fn submit_marked(self, wbc: &Wbc) -> u32 {
        // Every marked buffer is dirty, mapped to its final block and not
        // delayed (the decision made sure); the call unlocks the folio.
        // SAFETY: locked folio, not under writeback (writeback_iter waited
        // for it); `self` is consumed, so it is not used unlocked.
        unsafe { sys::livedfs_folio_submit(self.as_ptr(), wbc.as_ptr()) as u32 }
    }

    /// Unlocks the folio.
    pub(crate) fn unlock(self) {
        // SAFETY: locked by the caller's contract; consumed.
        unsafe { sys::folio_unlock(self.as_ptr()) };
    }

    /// Whether the ring's buffers all may go: none dirty, none locked (as
    /// `try_to_free_buffers` requires).
    pub(crate) fn buffers_idle(&self) -> bool {
        self.buffers().all(|(_, b)| !b.is_dirty() && !b.is_locked())
    }

    /// Frees the folio's buffer heads (reclaim): true if they are gone.
    pub(crate) fn free_buffers(&self) -> bool {
        // SAFETY: locked folio.
        unsafe { sys::try_to_free_buffers(self.as_ptr()) }
    }

    /// Drops the buffers of `[offset, offset + len)` (the generic part of
    /// `invalidate_folio`).
    pub(crate) fn invalidate_buffers(&self, offset: u64, len: u64) {
        // SAFETY: locked folio; the range is the caller's, inside it.
        unsafe { sys::block_invalidate_folio(self.as_ptr(), offset as usize, len as usize) };
    }
}

/// The buffer ring of a locked folio, in file order.
pub(crate) struct Buffers<'a> {
    head: *mut sys::buffer_head,
    next: *mut sys::buffer_head,
    offset: u64,
    _folio: PhantomData<&'a ()>,
}

impl Buffers<'_> {
    fn new(head: *mut sys::buffer_head) -> Self {
        Self { head, next: head, offset: 0, _folio: PhantomData }
    }
}

impl<'a> Iterator for Buffers<'a> {
    /// A buffer and its byte offset in the folio.
    type Item = (u64, FolioBuffer<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let bh = NonNull::new(self.next)?;
        // SAFETY: a buffer of the locked folio's ring; the ring does not
        // change while the folio is locked.
        let (size, after) = unsafe { ((*bh.as_ptr()).b_size as u64, (*bh.as_ptr()).b_this_page) };
        self.next = if after == self.head { core::ptr::null_mut() } else { after };
        let at = self.offset;
        self.offset = self.offset.saturating_add(size);
        Some((at, FolioBuffer { bh, _folio: PhantomData }))
    }
}

/// One buffer (one file block) of a locked folio.
pub(crate) struct FolioBuffer<'a> {
    bh: NonNull<sys::buffer_head>,
    _folio: PhantomData<&'a ()>,
}

impl FolioBuffer<'_> {
    fn p(&self) -> *mut sys::buffer_head {
        self.bh.as_ptr()
    }

    pub(crate) fn is_dirty(&self) -> bool {
        // SAFETY: a buffer of the locked folio (every method below too);
        // state bits are atomic.
        unsafe { sys::buffer_dirty(self.p()) != 0 }
    }
    pub(crate) fn is_mapped(&self) -> bool {
        // SAFETY: as above.
        unsafe { sys::buffer_mapped(self.p()) != 0 }
    }
    /// Delayed: a block reserved at write time, not chosen yet.
    pub(crate) fn is_delay(&self) -> bool {
        // SAFETY: as above.
        unsafe { sys::buffer_delay(self.p()) != 0 }
    }
    pub(crate) fn is_locked(&self) -> bool {
        // SAFETY: as above.
        unsafe { sys::buffer_locked(self.p()) != 0 }
    }
    pub(crate) fn set_uptodate(&self) {
        // SAFETY: as above.
        unsafe { sys::set_buffer_uptodate(self.p()) };
    }
    pub(crate) fn clear_dirty(&self) {
        // SAFETY: as above.
        unsafe { sys::clear_buffer_dirty(self.p()) };
    }
    pub(crate) fn clear_delay(&self) {
        // SAFETY: as above.
        unsafe { sys::clear_buffer_delay(self.p()) };
    }
    /// Maps the buffer to device block `block`.
    pub(crate) fn map(&self, sb: &SuperBlock, block: u64) {
        // SAFETY: as above.
        unsafe { sys::map_bh(self.p(), sb.as_ptr(), block) };
    }
    /// Marks the block as newly allocated (a stale cached copy of it in
    /// the device's cache is cleaned before the write).
    pub(crate) fn set_new(&self) {
        // SAFETY: as above.
        unsafe { sys::set_buffer_new(self.p()) };
    }
    /// The block became a hole: nothing mapped, nothing to write.
    pub(crate) fn unmap_clean(&self) {
        // SAFETY: as above.
        unsafe {
            sys::clear_buffer_mapped(self.p());
            sys::clear_buffer_new(self.p());
            sys::clear_buffer_delay(self.p());
            sys::clear_buffer_dirty(self.p());
        }
    }
    /// The buffer's bytes (in the locked folio: stable unless the folio is
    /// pinned for DMA, see [`LockedFolio::maybe_dma_pinned`]).
    pub(crate) fn data(&self) -> &[u8] {
        // SAFETY: `b_data` points to `b_size` bytes of the folio, mapped
        // in the kernel's direct map (no highmem on x86-64).
        unsafe { core::slice::from_raw_parts((*self.p()).b_data.cast::<u8>(), (*self.p()).b_size) }
    }
    /// Sets the copy-on-write reservation bit; true if it was already set.
    pub(crate) fn test_set_cow(&self) -> bool {
        // SAFETY: as above; an atomic bit operation.
        unsafe { sys::livedfs_bh_test_set_cow(self.p()) }
    }
    /// Clears the copy-on-write reservation bit; true if it was set.
    pub(crate) fn take_cow(&self) -> bool {
        // SAFETY: as above.
        unsafe { sys::livedfs_bh_test_clear_cow(self.p()) }
    }
    /// Whether the buffer holds a copy-on-write reservation.
    pub(crate) fn has_cow(&self) -> bool {
        // SAFETY: as above.
        unsafe { sys::livedfs_bh_has_cow(self.p()) }
    }
    /// Says the buffer's contents go to the block it is mapped to (see
    /// [`LockedFolio::submit_marked`]).
    pub(crate) fn mark_write(&self) {
        // SAFETY: as above.
        unsafe { sys::livedfs_bh_mark_write(self.p()) };
    }
}
