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
//! see `FpParams::with_merge`). Times are per operation, in CPU time of
//! the benchmark thread (and wall time, for reference); up to L = 24 the
//! paper's layout (a sorted array per chain) is timed on the same
//! fingerprints, as a reference for the ratios.

#[path = "../tests/fpfilter_support/mod.rs"]
mod fpfilter_support;

use fpfilter_support::*;
use livedfs_format::fpfilter::*;
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

struct Mem {
    exact: f64,
    kmalloc: f64,
    delta: u64,
    tombs: u64,
    max_chain: u32,
}

fn memory(f: &VecFilter) -> Mem {
    let p = f.params();
    let table = (p.chain_count() * std::mem::size_of::<Chain<VecBytes>>()) as u64;
    let (mut km, mut delta, mut tombs, mut max_chain) = (table, 0u64, 0u64, 0u32);
    for i in 0..p.chain_count() {
        let c = f.chain(i).unwrap();
        km += kmalloc_size(c.memory_bytes()) as u64;
        let (_, d, t) = c.parts();
        delta += u64::from(d);
        tombs += u64::from(t);
        max_chain = max_chain.max(c.len());
    }
    let e = f.entries().max(1) as f64;
    Mem {
        exact: f.memory_bytes() as f64 / e,
        kmalloc: km as f64 / e,
        delta,
        tombs,
        max_chain,
    }
}

fn print_mem(what: &str, f: &VecFilter) {
    let m = memory(f);
    println!(
        "  {what:<34} {:>10} entries  {:.3} B/entry  (kmalloc'd chains: {:.3} B/entry)  delta {} tombstones {} longest chain {}",
        f.entries(),
        m.exact,
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

fn run(log2: u32, r: u32, merge: Option<(u32, u32)>) {
    let n = 1u64 << log2;
    let mut p = FpParams::with_false_candidate_bits(n, r).unwrap();
    if let Some((min, shift)) = merge {
        p = p.with_merge(min, shift).unwrap();
    }
    println!(
        "R = {r}: B = 2^{log2} blocks, n = {} index bits ({} chains), k = {} bucket bits, {} block bits; \
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
        f.insert(&random_fp(b), b as u32).unwrap();
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
            found += u64::from(c == b as u32);
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
        f.remove(&random_fp(b), b as u32).unwrap();
    }
    println!("  remove (half)                      {}", ns(t, n / 2));
    print_mem("after removing half", &f);
    for b in (0..n).step_by(4096) {
        assert_eq!(f.contains(&random_fp(b), b as u32), b % 2 == 1);
    }

    // Re-insert them: a steady state of updates on a full filter.
    let t = start();
    for b in (0..n).step_by(2) {
        f.insert(&random_fp(b), b as u32).unwrap();
    }
    println!("  insert (refill the half)           {}", ns(t, n / 2));
    print_mem("after refilling", &f);
    drop(f);
    if log2 <= 24 {
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
