//! Fingerprints through the kernel crypto API (`sha256` or `md5` shash,
//! hardware accelerated where the CPU offers it).

use crate::format::fpstore::{Fingerprint, FP_MAX};
use crate::sys;
use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::prelude::*;

/// An allocated hash transform; freed on drop.
pub(crate) struct Hasher {
    tfm: NonNull<sys::crypto_shash>,
    len: usize,
}

// SAFETY: a shash transform may be used concurrently by several callers
// when, as here, each digest uses its own on-stack descriptor
// (crypto_shash_tfm_digest); it is freed once, on drop.
unsafe impl Send for Hasher {}
// SAFETY: as above.
unsafe impl Sync for Hasher {}

impl Hasher {
    /// Allocates the transform named `name` (`b"sha256\0"`, `b"md5\0"`).
    pub(crate) fn new(name: &'static [u8]) -> Result<Self> {
        // SAFETY: `name` is NUL-terminated and static; the call returns a
        // transform or an ERR_PTR.
        let p = unsafe { sys::crypto_alloc_shash(name.as_ptr().cast(), 0, 0) };
        // An ERR_PTR is a negative errno in the top page of addresses.
        let as_errno = p as isize;
        if (-4095..0).contains(&as_errno) {
            return Err(Error::from_errno(as_errno as i32));
        }
        let tfm = NonNull::new(p).ok_or(ENOMEM)?;
        // SAFETY: valid transform.
        let len = unsafe { sys::crypto_shash_digestsize(tfm.as_ptr()) } as usize;
        if len == 0 || len > FP_MAX {
            // SAFETY: valid transform, freed once.
            unsafe { sys::crypto_free_shash(tfm.as_ptr()) };
            return Err(EINVAL);
        }
        Ok(Self { tfm, len })
    }

    /// The fingerprint of `data`.
    pub(crate) fn digest(&self, data: &[u8]) -> Result<Fingerprint> {
        let mut out = [0u8; FP_MAX];
        // SAFETY: valid transform; `data` readable for its length; `out`
        // has room for the digest size checked in `new`.
        let r = unsafe { sys::crypto_shash_tfm_digest(self.tfm.as_ptr(), data.as_ptr(), data.len() as u32, out.as_mut_ptr()) };
        if r != 0 {
            return Err(Error::from_errno(r));
        }
        Fingerprint::from_slice(out.get(..self.len).unwrap_or(&out)).map_err(|_| EINVAL)
    }

    /// The fingerprints of `blocks` (all of one length), hashed on every
    /// online CPU at once (`livedfs_hash_many_while`); `None` for a block
    /// whose digest failed (the caller hashes it again and sees the
    /// error). The blocks must not change until this returns.
    pub(crate) fn digest_many(&self, blocks: &[&[u8]]) -> Result<KVec<Option<Fingerprint>>> {
        let mut batch = HashBatch::new(blocks)?;
        batch.hash::<fn() -> Result>(self, None);
        batch.digests(self.len)
    }

    /// As [`Self::digest_many`], but every CPU's share is hashed on the
    /// workqueue while `then` runs in this thread (writeback decides one
    /// batch while the next is hashed); returns both results. `then` runs
    /// exactly once, whatever happens to the hashing.
    pub(crate) fn digest_many_while(
        &self,
        blocks: &[&[u8]],
        then: &mut dyn FnMut() -> Result,
    ) -> (Result<KVec<Option<Fingerprint>>>, Result) {
        let mut batch = match HashBatch::new(blocks) {
            Ok(b) => b,
            Err(e) => return (Err(e), then()),
        };
        let mut then = Then { f: Some(then), r: None };
        batch.hash(self, Some(&mut then));
        let r = match (then.r, then.f) {
            (Some(r), _) => r,
            // Not called (it always is): call it now.
            (None, Some(f)) => f(),
            (None, None) => Err(EINVAL),
        };
        (batch.digests(self.len), r)
    }
}

/// The caller's work that runs while a batch is hashed, and its result.
struct Then<F> {
    f: Option<F>,
    r: Option<Result>,
}

impl<F: FnOnce() -> Result> Then<F> {
    unsafe extern "C" fn call(ctx: *mut c_void) {
        // SAFETY: `ctx` is the `&mut Then<F>` that `HashBatch::hash` was
        // given, alive and not otherwise used until that call returns.
        let t = unsafe { &mut *ctx.cast::<Then<F>>() };
        if let Some(f) = t.f.take() {
            t.r = Some(f());
        }
    }
}

/// A batch's pointers and output buffers, owned here so that they
/// outlive the workers' use (the hashing call returns only when every
/// share is done).
struct HashBatch {
    ptrs: KVec<*const u8>,
    len: usize,
    out: KVec<u8>,
    errs: KVec<i32>,
}

impl HashBatch {
    fn new(blocks: &[&[u8]]) -> Result<Self> {
        let n = blocks.len();
        let len = blocks.first().map_or(0, |b| b.len());
        if blocks.iter().any(|b| b.len() != len) {
            return Err(EINVAL);
        }
        let mut ptrs: KVec<*const u8> = KVec::with_capacity(n, GFP_KERNEL)?;
        for b in blocks {
            ptrs.push(b.as_ptr(), GFP_KERNEL)?;
        }
        Ok(Self {
            ptrs,
            len,
            out: KVec::from_elem(0u8, n.checked_mul(FP_MAX).ok_or(EINVAL)?, GFP_KERNEL)?,
            errs: KVec::from_elem(0i32, n, GFP_KERNEL)?,
        })
    }

    /// Hashes every block (none: nothing to do but `then`); with `then`,
    /// calls it in this thread meanwhile.
    fn hash<F: FnOnce() -> Result>(&mut self, h: &Hasher, then: Option<&mut Then<F>>) {
        let (call, ctx): (Option<unsafe extern "C" fn(*mut c_void)>, *mut c_void) = match then {
            Some(t) => (Some(Then::<F>::call), (t as *mut Then<F>).cast()),
            None => (None, core::ptr::null_mut()),
        };
        let n = self.ptrs.len();
        if n == 0 {
            if let Some(c) = call {
                // SAFETY: `ctx` is the live `&mut Then<F>` that `call` expects.
                unsafe { c(ctx) };
            }
            return;
        }
        // SAFETY: valid transform; `n` pointers to unchanging readable
        // blocks of `len` bytes; `out` FP_MAX bytes and `errs` one slot
        // per block; `call(ctx)` as above. Returns when every share is done.
        unsafe {
            sys::livedfs_hash_many_while(
                h.tfm.as_ptr(),
                self.ptrs.as_ptr(),
                self.len as u32,
                self.out.as_mut_ptr(),
                FP_MAX as u32,
                self.errs.as_mut_ptr(),
                n as u32,
                call,
                ctx,
            )
        };
    }

    /// The fingerprints (digest size `len`), `None` where a digest failed.
    fn digests(&self, len: usize) -> Result<KVec<Option<Fingerprint>>> {
        let mut res = KVec::with_capacity(self.errs.len(), GFP_KERNEL)?;
        let mut rest: &[u8] = &self.out;
        for &err in self.errs.iter() {
            let digest = rest.get(..len);
            rest = rest.get(FP_MAX..).unwrap_or(&[]);
            let fp = digest.filter(|_| err == 0).and_then(|d| Fingerprint::from_slice(d).ok());
            res.push(fp, GFP_KERNEL)?;
        }
        Ok(res)
    }
}

/// Starts the workqueue that [`Hasher::digest_many`] spreads work on.
pub(crate) fn init() -> Result {
    // SAFETY: called once at module load, before any mount.
    let r = unsafe { sys::livedfs_hash_init() };
    if r != 0 {
        return Err(Error::from_errno(r));
    }
    Ok(())
}

/// Stops it, at module unload (no mount left).
pub(crate) fn exit() {
    // SAFETY: after a successful `init`, once, with no user left.
    unsafe { sys::livedfs_hash_exit() };
}

impl Drop for Hasher {
    fn drop(&mut self) {
        // SAFETY: allocated in `new`, freed once here.
        unsafe { sys::crypto_free_shash(self.tfm.as_ptr()) };
    }
}
