//! Userspace storage for the fingerprint filter (the crate itself has no
//! allocator): `Vec<u8>`-backed chains, a `Vec`-backed chain table, and a
//! storage that fails on demand for allocation-failure tests. Shared by the
//! `fpfilter*` tests and the `filter_bench` example.

#![allow(dead_code)]

use livedfs_format::fpfilter::{AllocFailed, Bytes, Chain, ChainTable, Filter};
use std::cell::Cell;

/// A chain buffer over `Vec<u8>`, sized exactly (its capacity is what it
/// reports as memory).
#[derive(Debug, Default)]
pub struct VecBytes(pub Vec<u8>);

impl Bytes for VecBytes {
    fn new() -> Self {
        Self(Vec::new())
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn as_slice(&self) -> &[u8] {
        &self.0
    }
    fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.0
    }
    fn try_resize(&mut self, new_len: usize) -> Result<(), AllocFailed> {
        let len = self.0.len();
        if new_len > len {
            self.0
                .try_reserve_exact(new_len - len)
                .map_err(|_| AllocFailed)?;
            self.0.resize(new_len, 0);
        } else {
            self.0.truncate(new_len);
            self.0.shrink_to(new_len);
        }
        Ok(())
    }
    fn heap_bytes(&self) -> usize {
        self.0.capacity()
    }
}

thread_local! {
    static FAIL_EVERY: Cell<u64> = const { Cell::new(0) };
    static RESIZES: Cell<u64> = const { Cell::new(0) };
    static INJECTED: Cell<u64> = const { Cell::new(0) };
}

/// Failures injected on this thread since the last [`fail_every`].
pub fn injected() -> u64 {
    INJECTED.with(|i| i.get())
}

/// Makes every `n`-th [`FailingBytes::try_resize`] (and [`FailingTable`]
/// creation) of this thread fail; 0: never.
pub fn fail_every(n: u64) {
    FAIL_EVERY.with(|f| f.set(n));
    RESIZES.with(|r| r.set(0));
    INJECTED.with(|i| i.set(0));
}

fn should_fail() -> bool {
    let n = FAIL_EVERY.with(|f| f.get());
    let c = RESIZES.with(|r| {
        let c = r.get() + 1;
        r.set(c);
        c
    });
    let fail = c.checked_rem(n) == Some(0);
    if fail {
        INJECTED.with(|i| i.set(i.get() + 1));
    }
    fail
}

/// [`VecBytes`] whose growth fails as set by [`fail_every`].
#[derive(Debug, Default)]
pub struct FailingBytes(pub VecBytes);

impl Bytes for FailingBytes {
    fn new() -> Self {
        Self(VecBytes::new())
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn as_slice(&self) -> &[u8] {
        self.0.as_slice()
    }
    fn as_mut_slice(&mut self) -> &mut [u8] {
        self.0.as_mut_slice()
    }
    fn try_resize(&mut self, new_len: usize) -> Result<(), AllocFailed> {
        if should_fail() {
            return Err(AllocFailed);
        }
        self.0.try_resize(new_len)
    }
    fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }
}

/// A chain table over `Vec<Chain<S>>`.
#[derive(Debug)]
pub struct VecTable<S>(pub Vec<Chain<S>>);

impl<S: Bytes> ChainTable<S> for VecTable<S> {
    fn try_new(chains: usize) -> Result<Self, AllocFailed> {
        let mut v = Vec::new();
        v.try_reserve_exact(chains).map_err(|_| AllocFailed)?;
        v.extend((0..chains).map(|_| Chain::new()));
        Ok(Self(v))
    }
    fn chains(&self) -> &[Chain<S>] {
        &self.0
    }
    fn chains_mut(&mut self) -> &mut [Chain<S>] {
        &mut self.0
    }
    fn heap_bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<Chain<S>>()
    }
}

/// A table whose creation fails as set by [`fail_every`].
#[derive(Debug)]
pub struct FailingTable(pub VecTable<FailingBytes>);

impl ChainTable<FailingBytes> for FailingTable {
    fn try_new(chains: usize) -> Result<Self, AllocFailed> {
        if should_fail() {
            return Err(AllocFailed);
        }
        VecTable::try_new(chains).map(Self)
    }
    fn chains(&self) -> &[Chain<FailingBytes>] {
        self.0.chains()
    }
    fn chains_mut(&mut self) -> &mut [Chain<FailingBytes>] {
        self.0.chains_mut()
    }
    fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }
}

/// The userspace filter.
pub type VecFilter = Filter<VecBytes, VecTable<VecBytes>>;

/// SplitMix64: deterministic pseudo-random numbers for fingerprints.
pub fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A SHA-256-like 32-byte random fingerprint, a function of `seed`.
pub fn random_fp(seed: u64) -> [u8; 32] {
    let mut fp = [0u8; 32];
    for (i, c) in fp.chunks_mut(8).enumerate() {
        c.copy_from_slice(&splitmix(seed.wrapping_mul(4).wrapping_add(i as u64)).to_le_bytes());
    }
    fp
}
