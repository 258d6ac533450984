//! Memory for the fingerprint filter's chains: [`KernelBytes`], the
//! format crate's [`Bytes`] over the kernel's allocators, with little
//! rounding waste.
//!
//! A chain is one buffer of any size from a few bytes to tens of KiB
//! (about 2.6 KiB at full coverage). kmalloc rounds to powers of two above
//! 256 bytes (a 2.6 KiB chain would hold 4 KiB: +57 %), so buffers come
//! from size classes of our own:
//! - up to [`SMALL`] bytes: kmalloc (its 8..128-byte caches waste little
//!   in absolute terms);
//! - up to [`LARGE`] bytes: 144 slab caches `livedfs_fp_<size>`, 16 per
//!   power of two (a class is at most 1/16 larger than the request: about
//!   3 % waste on average), created at module init;
//! - above: vmalloc, rounded to whole pages (under 1/16 waste).
//!
//! A buffer remembers its capacity (the class size), so growing within it
//! costs nothing, and [`Bytes::heap_bytes`] reports it: the filter's
//! memory figure counts the rounding.

use crate::format::fpfilter::{AllocFailed, Bytes};
use crate::sys;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;

/// Requests up to this size go to kmalloc.
pub(crate) const SMALL: usize = 128;
/// Requests up to this size go to the size-class caches.
pub(crate) const LARGE: usize = 65536;
/// Size classes per power of two.
const STEPS: usize = 16;
/// Octaves of classes: (128, 256], ..., (32768, 65536].
const OCTAVES: usize = 9;
/// Number of size-class caches.
const CLASSES: usize = STEPS * OCTAVES;
/// log2(SMALL).
const SMALL_LOG2: u32 = 7;
const PAGE: usize = 4096;

/// The class sizes, computed at compile time: class `o * 16 + j - 1` is
/// `2^(o+7) * (1 + j/16)`.
const SIZES: [usize; CLASSES] = {
    let mut a = [0usize; CLASSES];
    let mut i = 0;
    while i < CLASSES {
        let base = 1usize << (i / STEPS + SMALL_LOG2 as usize);
        a[i] = base + (i % STEPS + 1) * (base / STEPS);
        i += 1;
    }
    a
};

const NULL_CACHE: AtomicPtr<sys::kmem_cache> = AtomicPtr::new(core::ptr::null_mut());
static CACHES: [AtomicPtr<sys::kmem_cache>; CLASSES] = [NULL_CACHE; CLASSES];

/// The size class of a request of `n` bytes in (SMALL, LARGE]: (class
/// index, class size). Pure arithmetic, shared with the KUnit tests.
pub(crate) fn class_of(n: usize) -> Option<(usize, usize)> {
    if n <= SMALL || n > LARGE {
        return None;
    }
    let m = n.checked_sub(1)?;
    // n in (2^o, 2^(o+1)], o in 7..=15.
    let o = usize::BITS.checked_sub(1)?.checked_sub(m.leading_zeros())?;
    let base = 1usize.checked_shl(o)?;
    let step = base.checked_div(STEPS)?;
    let j = n.checked_sub(base)?.div_ceil(step); // 1..=16
    let size = base.checked_add(j.checked_mul(step)?)?;
    let idx = (o.checked_sub(SMALL_LOG2)? as usize)
        .checked_mul(STEPS)?
        .checked_add(j.checked_sub(1)?)?;
    if idx >= CLASSES {
        return None;
    }
    Some((idx, size))
}

/// The capacity a request of `n` > 0 bytes gets.
pub(crate) fn capacity_for(n: usize) -> Option<usize> {
    if n <= SMALL {
        // SAFETY: a pure function of its argument.
        return Some(unsafe { sys::kmalloc_size_roundup(n) }.max(n));
    }
    if n <= LARGE {
        return class_of(n).map(|c| c.1);
    }
    n.checked_next_multiple_of(PAGE)
}

/// Creates the size-class caches (module init). On failure, destroys
/// those created.
pub(crate) fn init() -> Result {
    for (slot, &size) in CACHES.iter().zip(SIZES.iter()) {
        let mut name = [0u8; 24];
        let mut w = Writer { buf: &mut name, at: 0 };
        let _ = core::fmt::Write::write_fmt(&mut w, format_args!("livedfs_fp_{}", size));
        // `name` keeps a NUL after what was written (24 bytes > the
        // longest name, 16).
        // SAFETY: `name` is NUL-terminated and lives across the call
        // (kmem_cache_create copies it); the size is a small constant.
        let c = unsafe { sys::livedfs_buf_cache_create(name.as_ptr().cast(), size as u32) };
        if c.is_null() {
            destroy();
            return Err(ENOMEM);
        }
        slot.store(c, Ordering::Release);
    }
    Ok(())
}

/// Destroys the size-class caches (module exit, after every filter is
/// gone: kmem_cache_destroy reports any buffer still allocated).
pub(crate) fn destroy() {
    for slot in CACHES.iter() {
        let c = slot.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !c.is_null() {
            // SAFETY: a cache created by `init`, no longer reachable, with
            // no object left (every KernelBytes frees its buffer on drop,
            // and no filter outlives the file system's registration).
            unsafe { sys::kmem_cache_destroy(c) };
        }
    }
}

struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl core::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            // Keep the last byte for the NUL.
            if self.at.saturating_add(1) >= self.buf.len() {
                return Err(core::fmt::Error);
            }
            if let Some(d) = self.buf.get_mut(self.at) {
                *d = b;
            }
            self.at = self.at.saturating_add(1);
        }
        Ok(())
    }
}

/// Allocates `cap` bytes (a value returned by [`capacity_for`]).
fn alloc(cap: usize) -> Option<*mut u8> {
    let p: *mut u8 = if cap <= SMALL {
        // SAFETY: plain kmalloc of a non-zero size.
        unsafe { sys::__kmalloc_noprof(cap, sys::GFP_KERNEL) }.cast()
    } else if cap <= LARGE {
        let (i, _) = class_of(cap)?;
        let c = CACHES.get(i)?.load(Ordering::Acquire);
        if c.is_null() {
            return None;
        }
        // SAFETY: `c` is a live cache of `cap`-byte objects (init).
        unsafe { sys::kmem_cache_alloc_noprof(c, sys::GFP_KERNEL) }.cast()
    } else {
        // SAFETY: vrealloc of NULL allocates, like vmalloc.
        unsafe { sys::vrealloc(core::ptr::null(), cap, sys::GFP_KERNEL) }.cast()
    };
    if p.is_null() {
        None
    } else {
        Some(p)
    }
}

/// Frees `p`, allocated by [`alloc`] with capacity `cap`.
///
/// # Safety
///
/// `p` came from `alloc(cap)` and is not used after.
unsafe fn free(p: *mut u8, cap: usize) {
    if cap <= SMALL {
        // SAFETY: caller's contract: a kmalloc'd pointer.
        unsafe { sys::kfree(p.cast()) };
    } else if cap <= LARGE {
        if let Some(c) = class_of(cap).and_then(|(i, _)| CACHES.get(i)) {
            // SAFETY: caller's contract: an object of this class's cache
            // (alloc found the same cache for the same capacity).
            unsafe { sys::kmem_cache_free(c.load(Ordering::Acquire), p.cast()) };
        }
    } else {
        // SAFETY: caller's contract: a vmalloc'd pointer; size 0 frees.
        let _ = unsafe { sys::vrealloc(p.cast(), 0, sys::GFP_KERNEL) };
    }
}

/// A byte buffer for one filter chain: pointer, length and capacity (the
/// allocation's real size). 16 bytes.
pub(crate) struct KernelBytes {
    ptr: *mut u8,
    len: u32,
    cap: u32,
}

// SAFETY: the buffer is owned memory with no thread affinity; shared
// access only reads it.
unsafe impl Send for KernelBytes {}
// SAFETY: as above; `&KernelBytes` gives only reads.
unsafe impl Sync for KernelBytes {}

impl Drop for KernelBytes {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: `ptr` came from `alloc(cap)` and is dropped here.
            unsafe { free(self.ptr, self.cap as usize) };
        }
    }
}

impl Bytes for KernelBytes {
    fn new() -> Self {
        Self {
            ptr: core::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }

    fn len(&self) -> usize {
        self.len as usize
    }

    fn as_slice(&self) -> &[u8] {
        if self.ptr.is_null() {
            return &[];
        }
        // SAFETY: `ptr` holds `cap` >= `len` bytes, all initialised (zeroed
        // when they became part of the buffer), owned by `self`.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len as usize) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        if self.ptr.is_null() {
            return &mut [];
        }
        // SAFETY: as in `as_slice`, and `&mut self` makes it exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len as usize) }
    }

    fn try_resize(&mut self, new_len: usize) -> core::result::Result<(), AllocFailed> {
        let len = self.len as usize;
        let cap = self.cap as usize;
        if new_len == 0 {
            if !self.ptr.is_null() {
                // SAFETY: `ptr` came from `alloc(cap)`; forgotten below.
                unsafe { free(self.ptr, cap) };
            }
            // Fields, not `*self = Self::new()`: that would drop (free)
            // the old buffer a second time.
            self.ptr = core::ptr::null_mut();
            self.len = 0;
            self.cap = 0;
            return Ok(());
        }
        let new_cap = capacity_for(new_len).ok_or(AllocFailed)?;
        let want_u32 = u32::try_from(new_cap).map_err(|_| AllocFailed)?;
        // Stay in place if the buffer fits and does not waste more than
        // its size class would.
        if !self.ptr.is_null() && new_len <= cap && new_cap >= cap {
            if new_len > len {
                // SAFETY: [len, new_len) is within the `cap`-byte buffer.
                unsafe { core::ptr::write_bytes(self.ptr.add(len), 0, new_len - len) };
            }
            self.len = new_len as u32;
            return Ok(());
        }
        let p = alloc(new_cap).ok_or(AllocFailed)?;
        let keep = len.min(new_len);
        // SAFETY: `p` holds `new_cap` >= `new_len` bytes; the old buffer
        // holds `len` >= `keep` initialised bytes; they do not overlap.
        unsafe {
            if keep > 0 {
                core::ptr::copy_nonoverlapping(self.ptr, p, keep);
            }
            core::ptr::write_bytes(p.add(keep), 0, new_len - keep);
        }
        if !self.ptr.is_null() {
            // SAFETY: `ptr` came from `alloc(cap)` and is replaced below.
            unsafe { free(self.ptr, cap) };
        }
        self.ptr = p;
        self.len = new_len as u32;
        self.cap = want_u32;
        Ok(())
    }

    fn heap_bytes(&self) -> usize {
        self.cap as usize
    }
}
