//! Fingerprints through the kernel crypto API (`sha256` or `md5` shash,
//! hardware accelerated where the CPU offers it).

use crate::format::fpstore::{Fingerprint, FP_MAX};
use crate::sys;
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
    /// online CPU at once (`livedfs_hash_many`); `None` for a block whose
    /// digest failed (the caller hashes it again and sees the error).
    /// The blocks must not change until this returns.
    pub(crate) fn digest_many(&self, blocks: &[&[u8]]) -> Result<KVec<Option<Fingerprint>>> {
        let n = blocks.len();
        let mut res = KVec::with_capacity(n, GFP_KERNEL)?;
        let Some(first) = blocks.first() else {
            return Ok(res);
        };
        let len = first.len();
        if blocks.iter().any(|b| b.len() != len) {
            return Err(EINVAL);
        }
        let mut ptrs: KVec<*const u8> = KVec::with_capacity(n, GFP_KERNEL)?;
        for b in blocks {
            ptrs.push(b.as_ptr(), GFP_KERNEL)?;
        }
        let mut out = KVec::from_elem(0u8, n.checked_mul(FP_MAX).ok_or(EINVAL)?, GFP_KERNEL)?;
        let mut errs = KVec::from_elem(0i32, n, GFP_KERNEL)?;
        // `out` has FP_MAX bytes per block (>= the digest size checked in
        // `new`), `errs` one slot per block; the call returns only when
        // every share is hashed, so all outlive the workers' use.
        // SAFETY: valid transform; `n` pointers to unchanging readable
        // blocks of `len` bytes; output buffers sized as above.
        unsafe {
            sys::livedfs_hash_many(
                self.tfm.as_ptr(),
                ptrs.as_ptr(),
                len as u32,
                out.as_mut_ptr(),
                FP_MAX as u32,
                errs.as_mut_ptr(),
                n as u32,
            )
        };
        for (i, &err) in errs.iter().enumerate() {
            let at = i.saturating_mul(FP_MAX);
            let digest = out.get(at..at.saturating_add(self.len));
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
