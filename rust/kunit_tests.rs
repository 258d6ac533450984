//! KUnit tests run inside the kernel at insmod: the shared format crate
//! with the kernel's own crc32c, so the very code that validates volumes
//! is tested where it runs.

use crate::format::{self, csum, dirent, filter, fpstore, geometry, group, inode, superblock};
use crate::sys;
use crate::vfs::crc::KernelCrc;
use crate::vfs::kunit::{case, run, suite, SuitePtr, TestResult};
use format::Crc32c;

fn check(cond: bool, msg: &'static str) -> TestResult {
    if cond {
        Ok(())
    } else {
        Err(msg)
    }
}

fn crc32c_matches_castagnoli() -> TestResult {
    // The standard check value of CRC-32C over "123456789", with the
    // usual pre/post inversion around the kernel's raw continuation.
    let c = !KernelCrc.crc32c(!0, b"123456789");
    check(c == 0xE306_9283, "crc32c(\"123456789\") != 0xE3069283")
}

fn params(bs: u32, blocks: u64, at_end: bool) -> geometry::GeometryParams {
    geometry::GeometryParams {
        block_size: bs,
        device_blocks: blocks,
        inodes_per_group: bs * 8 / 4,
        fp_algo: format::FingerprintAlgo::Sha256,
        fp_at_end: at_end,
        sparse_super: true,
        huge_file: true,
    }
}

fn geometry_of_one_tebibyte() -> TestResult {
    let g = format::Geometry::new(&params(4096, 1 << 28, false)).map_err(|_| "1 TiB geometry refused")?;
    check(g.group_count == 8192, "1 TiB: group count")?;
    check(g.fp_entries_per_block == 113, "sha256 entries per 4 KiB block")?;
    check(g.fp_blocks_per_group == 290, "fingerprint store blocks per group")?;
    let l = g.group(8191).map_err(|_| "last group")?;
    check(l.end == g.blocks_count && l.data_start < l.end, "last group layout")?;
    // The filter's slots: 3 store blocks (339 entries) each, 97 per
    // group, 794624 in all (20 bits where a block number takes 28).
    let s = g.fp_slots();
    check(s.span() == 3 && s.per_group() == 97 && s.count() == 794_624, "1 TiB: filter slots")?;
    check(s.slot_of(32768 + 339) == Some(98), "slot of a block")?;
    check(s.store_blocks(96) == Some((0, 288, 2)), "last slot of a group: 2 store blocks")
}

fn geometry_refuses_bad_sizes() -> TestResult {
    check(format::Geometry::new(&params(4096, 10, false)).is_err(), "10 blocks accepted")?;
    check(format::Geometry::new(&params(512, 1 << 20, false)).is_err(), "512-byte blocks accepted")?;
    check(
        format::Geometry::new(&params(4096, (1u64 << 32) + 5, false)).is_err(),
        "more than 2^32 blocks accepted",
    )
}

fn superblock_round_trip() -> TestResult {
    let g = format::Geometry::new(&params(4096, 1 << 20, true)).map_err(|_| "geometry")?;
    let mut sb = g.superblock_template();
    sb.uuid = [7; 16];
    let mut buf = [0u8; superblock::SUPERBLOCK_SIZE];
    sb.encode(&mut buf, &KernelCrc).map_err(|_| "encode")?;
    let back = superblock::Superblock::decode(&buf, &KernelCrc).map_err(|_| "decode")?;
    check(back == sb, "decoded superblock differs")?;
    let g2 = format::Geometry::from_superblock(&back).map_err(|_| "from_superblock")?;
    check(g2 == g, "re-derived geometry differs")?;
    buf[100] ^= 1;
    check(superblock::Superblock::decode(&buf, &KernelCrc).is_err(), "flipped bit not detected")
}

fn group_descriptor_round_trip() -> TestResult {
    let g = format::Geometry::new(&params(4096, 1 << 20, false)).map_err(|_| "geometry")?;
    let l = g.group(3).map_err(|_| "group 3")?;
    let d = group::GroupDesc::fresh(&g, &l);
    let seed = csum::volume_seed(&KernelCrc, &[1; 16]);
    let mut buf = [0u8; 64];
    d.encode(&mut buf, 3, seed, &KernelCrc).map_err(|_| "encode")?;
    let back = group::GroupDesc::decode(&buf, 3, seed, &KernelCrc).map_err(|_| "decode")?;
    check(back == d, "decoded descriptor differs")?;
    back.validate(&g, 3).map_err(|_| "validate")?;
    check(group::GroupDesc::decode(&buf, 4, seed, &KernelCrc).is_err(), "descriptor accepted as another group's")
}

fn directory_block_round_trip() -> TestResult {
    let mut b = [0u8; 1024];
    dirent::init_first_block(&mut b, 2, 2).map_err(|_| "init")?;
    let at = dirent::find_room(&b, 10).map_err(|_| "find_room")?.ok_or("no room")?;
    let off = dirent::insert_at(&mut b, at, 11, b"lost+found", dirent::FT_DIR).map_err(|_| "insert")?;
    dirent::set_checksum(&mut b, 2, 0, 5, &KernelCrc).map_err(|_| "checksum")?;
    dirent::verify_block(&b, 2, 0, 5, &KernelCrc).map_err(|_| "verify")?;
    let mut names = 0u32;
    for e in dirent::entries(&b) {
        let e = e.map_err(|_| "entry")?;
        if e.ino != 0 {
            names = names.saturating_add(1);
        }
        if e.name == b"lost+found" {
            check(e.offset == off && e.ino == 11, "inserted entry")?;
        }
    }
    check(names == 3, "expected '.', '..' and lost+found")?;
    check(dirent::verify_block(&b, 3, 0, 5, &KernelCrc).is_err(), "block accepted for another directory")
}

fn random_bytes_never_break_decoders() -> TestResult {
    // A cheap xorshift stream: decoders must return errors, never panic.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = [0u8; 1024];
    for _ in 0..200 {
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let _ = superblock::Superblock::decode(&buf, &KernelCrc);
        if let Ok(sb) = superblock::Superblock::decode_fields(&buf) {
            let _ = format::Geometry::from_superblock(&sb);
        }
        let _ = group::GroupDesc::decode_fields(&buf);
        let _ = inode::Inode::decode_fields(&buf);
        for e in dirent::entries(&buf) {
            if e.is_err() {
                break;
            }
        }
        let _ = dirent::find_room(&buf, 20);
    }
    Ok(())
}

fn filter_parameters_match_the_paper() -> TestResult {
    let p = filter::FilterParams::for_blocks(1 << 28);
    check(p.index_bits == 19 && p.bucket_bits == 24, "n = 19, k = 24 for 2^28 blocks")?;
    let fp = fpstore::Fingerprint::from_slice(&[0xAB, 0xCD, 0xEF, 0x12, 0x34, 0x56]).map_err(|_| "fp")?;
    check(p.index_key(&fp) == 0x55E6F, "index key is the first 19 bits")?;
    check(p.bucket_key(&fp) == 0x78_91A2, "bucket key is the next 24 bits")
}

fn block_map_paths() -> TestResult {
    let p = 1024;
    let d = inode::block_path(p, 11).ok_or("direct")?;
    check(d.depth == 0 && d.offsets[0] == 11, "block 11 is direct")?;
    let i = inode::block_path(p, 12).ok_or("indirect")?;
    check(i.depth == 1 && i.offsets[0] == 12 && i.offsets[1] == 0, "block 12 is indirect[0]")?;
    let t = inode::block_path(p, 12 + 1024 + 1024 * 1024).ok_or("triple")?;
    check(t.depth == 3 && t.offsets[1..] == [0, 0, 0, 0], "first triple-indirect block")?;
    let q = inode::block_path(p, 12 + 1024 + (1 << 20) + (1 << 30)).ok_or("quadruple")?;
    check(q.depth == 4 && q.offsets == [15, 0, 0, 0, 0], "first quadruple-indirect block")?;
    // ext4's last block, 2^32 - 1: 2^32 - 1 - (12 + p + p^2 + p^3) into the tree.
    let m = (1u64 << 32) - 1 - (12 + 1024 + (1 << 20) + (1 << 30));
    let l = inode::block_path(p, (1 << 32) - 1).ok_or("last block")?;
    let want = [15, (m >> 30) as u32, ((m >> 20) & 1023) as u32, ((m >> 10) & 1023) as u32, (m & 1023) as u32];
    check(l.depth == 4 && l.offsets == want, "block 2^32 - 1")?;
    check(inode::block_path(p, 12 + 1024 + (1 << 20) + (1 << 30) + (1 << 40)).is_none(), "past the map")?;
    check(inode::block_path(0, 5).is_none(), "zero pointers per block")
}

/// A deterministic pseudo-random fingerprint (xorshift64*).
fn test_fp(seed: u64) -> Result<fpstore::Fingerprint, &'static str> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut b = [0u8; 32];
    for c in b.chunks_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        c.copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_be_bytes());
    }
    fpstore::Fingerprint::from_slice(&b).map_err(|_| "fingerprint")
}

fn filter_size_classes() -> TestResult {
    use crate::vfs::fpmem::{capacity_for, LARGE, SMALL};
    check(capacity_for(129) == Some(136), "129 -> 136")?;
    check(capacity_for(256) == Some(256), "256 -> 256")?;
    check(capacity_for(257) == Some(272), "257 -> 272")?;
    check(capacity_for(2600) == Some(2688), "2600 -> 2688")?;
    check(capacity_for(LARGE) == Some(LARGE), "64 KiB class")?;
    check(capacity_for(LARGE + 1) == Some(LARGE + 4096), "vmalloc pages")?;
    let mut n = 1usize;
    while n < 300_000 {
        let c = capacity_for(n).ok_or("no class")?;
        check(c >= n, "class smaller than the request")?;
        if n > SMALL {
            check(c - n <= n / 16 + 8, "class wastes more than 1/16")?;
        }
        n += 1 + n / 97;
    }
    Ok(())
}

fn filter_kernel_bytes() -> TestResult {
    use crate::format::fpfilter::Bytes;
    use crate::vfs::fpmem::KernelBytes;
    use kernel::prelude::{KVec, GFP_KERNEL};
    let mut b = KernelBytes::new();
    check(b.is_empty() && b.heap_bytes() == 0, "new buffer holds memory")?;
    for &n in &[5usize, 100, 129, 3000, 2990, 70_000, 40, 0, 17] {
        let old = b.len();
        let keep = old.min(n);
        let before: KVec<u8> = {
            let mut v = KVec::new();
            for &x in b.as_slice().get(..keep).ok_or("slice")? {
                v.push(x, GFP_KERNEL).map_err(|_| "alloc")?;
            }
            v
        };
        b.try_resize(n).map_err(|_| "resize failed")?;
        check(b.len() == n && b.as_slice().len() == n, "length")?;
        check(b.heap_bytes() >= n, "heap_bytes < len")?;
        check(b.as_slice().get(..keep) == Some(&before[..]), "kept bytes changed")?;
        check(b.as_slice().get(keep..).ok_or("tail")?.iter().all(|&x| x == 0), "grown bytes not zero")?;
        for (i, x) in b.as_mut_slice().iter_mut().enumerate() {
            *x = (i as u8) ^ 0x5A;
        }
    }
    Ok(())
}

fn filter_matches_model() -> TestResult {
    use crate::format::fpfilter::FpParams;
    // A 64 GiB volume's slots (49664), narrow keys (n = 6, k = 10) so
    // that many fingerprints share a bucket: candidates must still hold
    // the slot of every block stored under it. Block i is the first of
    // slot i (slot i's store blocks start at entry `first * 113`).
    let geo = format::Geometry::new(&params(4096, 1 << 24, false)).map_err(|_| "geometry")?;
    let slots = geo.fp_slots();
    let block_of = |slot: u32| -> Result<u32, &'static str> {
        let (g, first, _) = slots.store_blocks(slot).ok_or("slot")?;
        g.checked_mul(geo.blocks_per_group)
            .and_then(|x| x.checked_add(first.checked_mul(geo.fp_entries_per_block)?))
            .ok_or("block of a slot")
    };
    let p = FpParams::new(slots.count(), 6, 10).map_err(|_| "params")?;
    let f = crate::fpfilter::Filter::with_params(p, slots).map_err(|_| "filter")?;
    const N: u64 = 6000;
    for i in 0..N {
        f.insert(&test_fp(i)?, block_of(i as u32)?).map_err(|_| "insert")?;
    }
    check(f.entries() == N, "entries after inserts")?;
    for i in (0..N).step_by(2) {
        f.remove(&test_fp(i)?, block_of(i as u32)?).map_err(|_| "remove")?;
    }
    check(f.entries() == N / 2, "entries after removes")?;
    check(f.validate(), "chain encoding invalid")?;
    for i in 0..N {
        let fp = test_fp(i)?;
        let g = f.lock(&fp).map_err(|_| "lock")?;
        let c = g.candidates().map_err(|_| "candidates")?;
        check(c.iter().any(|&x| u64::from(x) == i) == (i % 2 == 1), "candidates disagree with the model")?;
    }
    // Two blocks of one slot under one fingerprint (a saturated block's
    // successor, say): two entries, one candidate; removing one keeps it.
    let fp = test_fp(N + 2)?;
    let b0 = block_of(7)?;
    f.insert(&fp, b0).map_err(|_| "insert")?;
    let b1 = b0.checked_add(1).ok_or("block")?;
    f.insert(&fp, b1).map_err(|_| "insert")?;
    check(f.entries() == N / 2 + 2, "a slot's second entry was not counted")?;
    let cands = f.lock(&fp).map_err(|_| "lock")?.candidates().map_err(|_| "candidates")?;
    check(cands.len() == 1 && cands.first() == Some(&7), "one candidate slot")?;
    f.remove(&fp, b0).map_err(|_| "remove")?;
    let cands = f.lock(&fp).map_err(|_| "lock")?.candidates().map_err(|_| "candidates")?;
    check(cands.first() == Some(&7), "the slot's other entry was lost")?;
    f.remove(&fp, b1).map_err(|_| "remove")?;
    check(f.lock(&fp).map_err(|_| "lock")?.candidates().map_err(|_| "candidates")?.is_empty(), "entry left")?;
    // Through the guard, as dedup does.
    let fp = test_fp(N + 1)?;
    let last = geo.groups_end.checked_sub(1).ok_or("no groups")?;
    let last_slot = slots.slot_of(last).ok_or("slot of the last block")?;
    let mut g = f.lock(&fp).map_err(|_| "lock")?;
    g.insert(last).map_err(|_| "guard insert")?;
    check(g.candidates().map_err(|_| "candidates")?.iter().any(|&x| x == last_slot), "guard insert lost")?;
    drop(g);
    f.compact();
    check(f.validate(), "invalid after compact")?;
    check(f.alloc_failures() == 0, "allocation failures")?;
    check(f.memory_bytes() > 0, "memory not reported")
}

fn filter_full_coverage_memory_and_false_candidates() -> TestResult {
    // A 2^16-block volume (4 KiB, SHA-256) at full coverage, the mount's
    // parameters: the memory per block (size-class rounding and tables
    // included; the host's filter_bench predicts 3.25 B) and the
    // false-candidate rate (2^-15 per lookup: ~2 in 65536).
    const B: u64 = 1 << 16;
    let geo = format::Geometry::new(&params(4096, B, false)).map_err(|_| "geometry")?;
    let f = crate::fpfilter::Filter::new(&geo).map_err(|_| "filter")?;
    for i in 0..B {
        f.insert(&test_fp(i)?, i.checked_rem(u64::from(geo.groups_end)).ok_or("no groups")? as u32).map_err(|_| "insert")?;
    }
    f.compact();
    let bytes = f.memory_bytes();
    let mut false_cands = 0u64;
    for i in B..2 * B {
        let g = f.lock(&test_fp(i)?).map_err(|_| "lock")?;
        false_cands = false_cands.saturating_add(g.candidates().map_err(|_| "candidates")?.len() as u64);
    }
    let p = f.params();
    kernel::pr_info!(
        "livedfs kunit: filter n = {}, k = {}: {} entries, {} bytes ({}.{:03} B/entry), {} false candidates in {} lookups\n",
        p.index_bits(),
        p.bucket_bits(),
        f.entries(),
        bytes,
        bytes / B,
        (bytes % B).saturating_mul(1000) / B,
        false_cands,
        B
    );
    check(f.entries() == B, "entries")?;
    check(f.validate(), "chain encoding invalid")?;
    // Memory is what the allocator hands out; a debug kernel's
    // (SLUB_DEBUG_ON, KASAN) pads every object, so the bound is the
    // production kernel's.
    if !cfg!(CONFIG_SLUB_DEBUG_ON) && !cfg!(CONFIG_KASAN) {
        check(bytes <= B * 7 / 2, "more than 3.5 bytes per block")?;
    }
    check(false_cands <= 16, "false-candidate rate far above 2^-15")
}

/// The tests, in the order KUnit runs them.
/// The digests of a batch hashed on every CPU (`Hasher::digest_many`, the
/// writeback path) equal those hashed one by one, for batch sizes that
/// split into shares unevenly, down to none and one.
fn parallel_digests_match_one_by_one() -> TestResult {
    use kernel::prelude::*;
    let h = crate::vfs::crypto::Hasher::new(b"sha256\0").map_err(|_| "sha256 transform")?;
    let mut data = KVec::new();
    for i in 0..151_552usize {
        data.push((i.wrapping_mul(7) ^ i.wrapping_shr(12)) as u8, GFP_KERNEL).map_err(|_| "memory")?;
    }
    for n in [0usize, 1, 2, 3, 5, 16, 37] {
        let mut blocks: KVec<&[u8]> = KVec::new();
        for b in 0..n {
            let at = b.saturating_mul(4096);
            blocks.push(data.get(at..at.saturating_add(4096)).ok_or("slice")?, GFP_KERNEL).map_err(|_| "memory")?;
        }
        let many = h.digest_many(&blocks).map_err(|_| "digest_many failed")?;
        check(many.len() == n, "one digest per block")?;
        for (b, d) in blocks.iter().zip(many.iter()) {
            let one = h.digest(b).map_err(|_| "digest failed")?;
            check(d.as_ref() == Some(&one), "a batch digest differs from the single one")?;
        }
    }
    let two: [&[u8]; 2] = [data.get(..4096).ok_or("slice")?, data.get(..512).ok_or("slice")?];
    check(h.digest_many(&two).is_err(), "blocks of different lengths accepted")
}

pub(crate) static TESTS: [(&[u8], fn() -> TestResult); 15] = [
    (b"crc32c_matches_castagnoli\0", crc32c_matches_castagnoli),
    (b"geometry_of_one_tebibyte\0", geometry_of_one_tebibyte),
    (b"geometry_refuses_bad_sizes\0", geometry_refuses_bad_sizes),
    (b"superblock_round_trip\0", superblock_round_trip),
    (b"group_descriptor_round_trip\0", group_descriptor_round_trip),
    (b"directory_block_round_trip\0", directory_block_round_trip),
    (b"random_bytes_never_break_decoders\0", random_bytes_never_break_decoders),
    (b"filter_parameters_match_the_paper\0", filter_parameters_match_the_paper),
    (b"block_map_paths\0", block_map_paths),
    (b"filter_size_classes\0", filter_size_classes),
    (b"filter_kernel_bytes\0", filter_kernel_bytes),
    (b"filter_matches_model\0", filter_matches_model),
    (b"filter_full_coverage_memory_and_false_candidates\0", filter_full_coverage_memory_and_false_candidates),
    (b"truncate_steps_fit_their_handles\0", truncate_steps_fit_their_handles),
    (b"parallel_digests_match_one_by_one\0", parallel_digests_match_one_by_one),
];

/// A truncation step, charged its worst case, never asks a handle for
/// more credits than the journal allows (jbd2 would run out mid-step, and
/// `Journal::start` refuses such a request), for every journal size mkfs
/// can make, and always makes progress.
fn truncate_steps_fit_their_handles() -> TestResult {
    use crate::journal::{step_credits_for, CREDITS_RELEASE_DATA, CREDITS_RELEASE_META, CREDITS_TRUNCATE_FIXED};
    // mkfs's smallest journal is 1024 blocks: a quarter is the largest
    // transaction, half of that the largest handle.
    for journal_blocks in [1024u32, 2048, 4096, 8192, 32768, 262_144] {
        let max = journal_blocks / 4 / 2;
        let step = step_credits_for(Some(max));
        check(step + CREDITS_TRUNCATE_FIXED <= max, "a step asks for more credits than a handle holds")?;
        check(step >= CREDITS_RELEASE_DATA + CREDITS_RELEASE_META, "a step cannot release a block and its indirect block")?;
        // Revokes: each freed indirect block costs at least its meta credits.
        check(step / CREDITS_RELEASE_META <= crate::journal::REVOKES_TRUNCATE, "more revokes than reserved")?;
    }
    // Every fixed request fits a handle of the smallest journal.
    for c in [
        crate::journal::CREDITS_WRITE,
        crate::journal::CREDITS_NAMEI,
        crate::journal::CREDITS_RENAME,
        crate::journal::CREDITS_INODE,
        crate::journal::CREDITS_SUPER,
        crate::journal::CREDITS_REMAP,
    ] {
        check(c <= crate::journal::MIN_JOURNAL_HANDLE_CREDITS, "a credit constant exceeds the smallest journal's handle")?;
    }
    // A 4 KiB page of 1 KiB blocks: its decisions fit the smallest
    // journal's handle (credits_for_folio caps the request there).
    check(
        1 + 4 * crate::journal::CREDITS_WRITE_EXTRA_BLOCK <= crate::journal::MIN_JOURNAL_HANDLE_CREDITS,
        "a page of 1 KiB blocks needs more credits than the smallest handle holds",
    )?;
    check(crate::journal::CREDITS_WRITE_EXTRA_BLOCK < crate::journal::CREDITS_WRITE, "a block's worst case above its request")?;
    // A data block scattered in another group dirties its store block,
    // that group's bitmap and descriptor block, and its indirect block.
    check(CREDITS_RELEASE_DATA >= 4 && CREDITS_RELEASE_META >= 3, "release costs below their worst case")
}

static mut CASES: [sys::kunit_case; 16] = [
    case(TESTS[0].0, run::<0>),
    case(TESTS[1].0, run::<1>),
    case(TESTS[2].0, run::<2>),
    case(TESTS[3].0, run::<3>),
    case(TESTS[4].0, run::<4>),
    case(TESTS[5].0, run::<5>),
    case(TESTS[6].0, run::<6>),
    case(TESTS[7].0, run::<7>),
    case(TESTS[8].0, run::<8>),
    case(TESTS[9].0, run::<9>),
    case(TESTS[10].0, run::<10>),
    case(TESTS[11].0, run::<11>),
    case(TESTS[12].0, run::<12>),
    case(TESTS[13].0, run::<13>),
    case(TESTS[14].0, run::<14>),
    // SAFETY: the all-zero case terminates the array, as KUnit expects.
    unsafe { core::mem::zeroed() },
];

static mut SUITE: sys::kunit_suite = suite(b"livedfs_format", core::ptr::addr_of_mut!(CASES).cast());

#[used(compiler)]
#[link_section = ".kunit_test_suites"]
static SUITE_PTR: SuitePtr = SuitePtr(core::ptr::addr_of_mut!(SUITE));
