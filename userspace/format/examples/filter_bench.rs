//! Host benchmark of the compressed fingerprint filter (`fpfilter`).
//!
//! For each false-candidate setting R it fills a filter for a volume of
//! 2^L blocks at full coverage (one SHA-256-like random fingerprint per
//! block), then looks up present and absent fingerprints, then removes
//! half, and prints ns per operation, bytes per entry, and the measured
//! false-candidate rate next to the predicted one (entries / 2^(n+k)).
//!
//!   cargo run --release -p livedfs-format --example filter_bench -- [L] [R,R,...] [MIN,SHIFT]
//!
//! Defaults: L = 24, R = 15,12,10, the default merge policy (MIN,SHIFT:
//! see `FpParams::with_merge`). With `LIVEDFS_BENCH_SLOTS=sha256` (or
//! `md5`) the filter stores what the kernel stores, the fingerprint-store
//! slot of each block (`geometry::FpSlots`) of a 4 KiB-block volume of
//! 2^L blocks made with that algorithm, instead of the block number. Times are per operation, in CPU time of
//! the benchmark thread (and wall time, for reference); up to L = 24 the
//! paper's layout (a sorted array per chain) is timed on the same
//! fingerprints, as a reference for the ratios.

#[path = "../tests/fpfilter_support/mod.rs"]
mod fpfilter_support;

use fpfilter_support::*;
use livedfs_format::fpfilter::*;
use livedfs_format::geometry::{Geometry, GeometryParams};
use livedfs_format::FingerprintAlgo;
use std::hint::black_box;
use std::time::Instant;

/// kmalloc's size for a request (6.12 caches up to 8 KiB, then whole
/// power-of-two page blocks): what each chain buffer would cost if the
/// kernel allocated it with kmalloc.
fn kmalloc_size(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    for c in [
        8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192,
    ] {
        if n <= c {
            return c;
        }
    }
    n.div_ceil(4096).next_power_of_two() * 4096
}

/// What the kernel module's allocator (`rust/vfs/fpmem.rs`) gives a chain
/// buffer of `n` bytes: kmalloc up to 128 bytes, then size classes 16 per
/// power of two up to 64 KiB, then whole pages.
fn kernel_class(n: usize) -> usize {
    if n <= 128 {
        return kmalloc_size(n);
    }
    if n <= 65536 {
        let base = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
        let step = base / 16;
        return base + (n - base).div_ceil(step) * step;
    }
    n.next_multiple_of(4096)
}

/// Bytes per chain of the kernel's shard tables (`Chain<KernelBytes>`:
/// a pointer and two u32).
const KERNEL_CHAIN_BYTES: u64 = 16;

struct Mem {
    exact: f64,
    kmalloc: f64,
    kernel: f64,
    delta: u64,
    tombs: u64,
    max_chain: u32,
}

fn memory(f: &VecFilter) -> Mem {
    let p = f.params();
    let table = (p.chain_count() * std::mem::size_of::<Chain<VecBytes>>()) as u64;
    let (mut km, mut delta, mut tombs, mut max_chain) = (table, 0u64, 0u64, 0u32);
    let mut kernel = p.chain_count() as u64 * KERNEL_CHAIN_BYTES;
    for i in 0..p.chain_count() {
        let c = f.chain(i).unwrap();
        km += kmalloc_size(c.memory_bytes()) as u64;
        kernel += kernel_class(c.storage().as_slice().len()) as u64;
        let (_, d, t) = c.parts();
        delta += u64::from(d);
        tombs += u64::from(t);
        max_chain = max_chain.max(c.len());
    }
    let e = f.entries().max(1) as f64;
    Mem {
        exact: f.memory_bytes() as f64 / e,
        kmalloc: km as f64 / e,
        kernel: kernel as f64 / e,
        delta,
        tombs,
        max_chain,
    }
}

fn print_mem(what: &str, f: &VecFilter) {
    let m = memory(f);
    println!(
        "  {what:<34} {:>10} entries  {:.3} B/entry  (kernel's size classes: {:.3}, plain kmalloc: {:.3})  delta {} tombstones {} longest chain {}",
        f.entries(),
        m.exact,
        m.kernel,
        m.kmalloc,
        m.delta,
        m.tombs,
        m.max_chain
    );
}

/// This thread's CPU time in ns (/proc/thread-self/schedstat), or 0.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A timer reporting wall and CPU ns per operation (the CPU figure is the
/// one to trust on a shared machine).
struct Timer {
    wall: Instant,
    cpu: u64,
}

fn start() -> Timer {
    Timer {
        wall: Instant::now(),
        cpu: cpu_ns(),
    }
}

impl Timer {
    fn per_op(&self, ops: u64) -> (f64, f64) {
        (
            self.wall.elapsed().as_nanos() as f64 / ops as f64,
            (cpu_ns() - self.cpu) as f64 / ops as f64,
        )
    }
}

fn ns(t: Timer, ops: u64) -> String {
    let (wall, cpu) = t.per_op(ops);
    format!("{cpu:8.1} ns/op CPU ({wall:7.1} wall)")
}

/// The paper's layout, for a timing reference on the same machine: per
/// index key a sorted array of (bucket key, block) entries, searched by
/// binary search, updated in place (held as 8-byte entries here; the
/// paper packs them in 7).
fn baseline(log2: u32, p: &FpParams) {
    let n = 1u64 << log2;
    let b = p.block_bits();
    let mut chains: Vec<Vec<u64>> = (0..p.chain_count()).map(|_| Vec::new()).collect();
    let entry = |fp: &[u8], block: u64| (u64::from(p.bucket_key(fp)) << b) | block;
    let t = start();
    for blk in 0..n {
        let fp = random_fp(blk);
        let c = &mut chains[p.chain_index(&fp)];
        let e = entry(&fp, blk);
        let at = c.partition_point(|&x| x < e);
        c.insert(at, e);
    }
    let insert = ns(t, n);
    let lookups = n.min(1 << 22);
    let t = start();
    let mut found = 0u64;
    for j in 0..lookups {
        let blk = splitmix(j ^ 0x5555) % n;
        let fp = random_fp(blk);
        let c = &chains[p.chain_index(&fp)];
        let q = u64::from(p.bucket_key(&fp));
        let at = c.partition_point(|&x| x >> b < q);
        found += c[at..]
            .iter()
            .take_while(|&&x| x >> b == q)
            .filter(|&&x| x & ((1 << b) - 1) == blk)
            .count() as u64;
    }
    assert_eq!(found, lookups);
    let lookup = ns(t, lookups);
    let t = start();
    for blk in (0..n).step_by(2) {
        let fp = random_fp(blk);
        let c = &mut chains[p.chain_index(&fp)];
        let e = entry(&fp, blk);
        let at = c.partition_point(|&x| x < e);
        c.remove(at);
    }
    let remove = ns(t, n / 2);
    println!("  reference: the paper's layout (sorted array per chain) on the same fingerprints");
    println!("    insert                           {insert}");
    println!("    lookup present                   {lookup}");
    println!("    remove (half)                    {remove}");
}

/// What the filter stores for block `b`: the block number, or its slot.
struct Values(Option<(u32, livedfs_format::geometry::FpSlots)>);

impl Values {
    fn new(log2: u32) -> Self {
        let algo = match std::env::var("LIVEDFS_BENCH_SLOTS").as_deref() {
            Ok("sha256") => FingerprintAlgo::Sha256,
            Ok("md5") => FingerprintAlgo::Md5,
            _ => return Self(None),
        };
        let geo = Geometry::new(&GeometryParams {
            block_size: 4096,
            device_blocks: 1u64 << log2,
            inodes_per_group: 8192,
            fp_algo: algo,
            fp_at_end: false,
            sparse_super: true,
            huge_file: true,
        })
        .expect("geometry");
        Self(Some((geo.groups_end, geo.fp_slots())))
    }

    fn count(&self, n: u64) -> u64 {
        self.0.map_or(n, |(_, s)| s.count())
    }

    fn of(&self, b: u64) -> u32 {
        match self.0 {
            None => b as u32,
            Some((end, s)) => s.slot_of((b % u64::from(end)) as u32).expect("slot"),
        }
    }
}

fn run(log2: u32, r: u32, merge: Option<(u32, u32)>) {
    let n = 1u64 << log2;
    let vals = Values::new(log2);
    let mut p = FpParams::for_volume_with(n, vals.count(n), r).unwrap();
    if let Some((min, shift)) = merge {
        p = p.with_merge(min, shift).unwrap();
    }
    println!(
        "R = {r}: B = 2^{log2} blocks, n = {} index bits ({} chains), k = {} bucket bits, {} value bits; \
         merge after max({}, base >> {}) pending updates",
        p.index_bits(),
        p.chain_count(),
        p.bucket_bits(),
        p.block_bits(),
        p.merge_policy().0,
        p.merge_policy().1
    );
    let mut f = VecFilter::new(p).unwrap();

    let t = start();
    for b in 0..n {
        f.insert(&random_fp(b), vals.of(b)).unwrap();
    }
    println!("  insert                             {}", ns(t, n));
    print_mem("after inserts", &f);
    let t = start();
    f.compact().unwrap();
    println!("  compact (per entry)                {}", ns(t, n));
    print_mem("after compact (full coverage)", &f);

    // Present: every fingerprint finds its block.
    let lookups = n.min(1 << 22);
    let t = start();
    let mut found = 0u64;
    let mut cands = 0u64;
    for j in 0..lookups {
        let b = splitmix(j ^ 0x5555) % n;
        for c in f.candidates(&random_fp(b)) {
            cands += 1;
            found += u64::from(c == vals.of(b));
        }
    }
    let present_ns = ns(t, lookups);
    assert_eq!(found, lookups, "a present fingerprint was not found");
    println!(
        "  lookup present                     {present_ns}  ({:.5} candidates per lookup)",
        cands as f64 / lookups as f64
    );

    // Absent: every candidate is a false one.
    let absent = n.max(1 << 20);
    let t = start();
    let mut false_c = 0u64;
    for j in 0..absent {
        false_c += f.candidates(black_box(&random_fp(n + j))).count() as u64;
    }
    let absent_ns = ns(t, absent);
    let predicted = f.entries() as f64 / 2f64.powi((p.index_bits() + p.bucket_bits()) as i32);
    println!(
        "  lookup absent                      {absent_ns}  false candidates: measured {:.3e} = 2^{:.2} ({false_c} in {absent}), predicted {:.3e} = 2^{:.2}",
        false_c as f64 / absent as f64,
        (false_c.max(1) as f64 / absent as f64).log2(),
        predicted,
        predicted.log2()
    );

    // Remove half.
    let t = start();
    for b in (0..n).step_by(2) {
        f.remove(&random_fp(b), vals.of(b)).unwrap();
    }
    println!("  remove (half)                      {}", ns(t, n / 2));
    print_mem("after removing half", &f);
    for b in (0..n).step_by(4096) {
        assert_eq!(f.contains(&random_fp(b), vals.of(b)), b % 2 == 1);
    }

    // Re-insert them: a steady state of updates on a full filter.
    let t = start();
    for b in (0..n).step_by(2) {
        f.insert(&random_fp(b), vals.of(b)).unwrap();
    }
    println!("  insert (refill the half)           {}", ns(t, n / 2));
    print_mem("after refilling", &f);
    drop(f);
    if log2 <= 24 && vals.0.is_none() {
        baseline(log2, &p);
    }
    println!(
        "  paper layout for comparison: 7 B/entry (24-bit bucket key + 32-bit block); \
         information bound here ~ (b + R + 1.44) / 8 = {:.3} B/entry",
        (f64::from(p.block_bits()) + f64::from(p.index_bits() + p.bucket_bits()) - log2 as f64
            + 1.44)
            / 8.0
    );
    println!();
}

fn main() {
    let mut args = std::env::args().skip(1);
    let log2: u32 = args.next().map_or(24, |a| a.parse().expect("L"));
    let rs: Vec<u32> = args.next().map_or(vec![15, 12, 10], |a| {
        a.split(',').map(|r| r.parse().expect("R")).collect()
    });
    let merge = args.next().map(|a| {
        let (min, shift) = a.split_once(',').expect("MIN,SHIFT");
        (min.parse().expect("MIN"), shift.parse().expect("SHIFT"))
    });
    for r in rs {
        run(log2, r, merge);
    }
}
