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
    }
}

fn geometry_of_one_tebibyte() -> TestResult {
    let g = format::Geometry::new(&params(4096, 1 << 28, false)).map_err(|_| "1 TiB geometry refused")?;
    check(g.group_count == 8192, "1 TiB: group count")?;
    check(g.fp_entries_per_block == 113, "sha256 entries per 4 KiB block")?;
    check(g.fp_blocks_per_group == 290, "fingerprint store blocks per group")?;
    let l = g.group(8191).map_err(|_| "last group")?;
    check(l.end == g.blocks_count && l.data_start < l.end, "last group layout")
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
    check(t.depth == 3 && t.offsets[1..] == [0, 0, 0], "first triple-indirect block")?;
    check(inode::block_path(p, 12 + 1024 + (1 << 20) + (1 << 30)).is_none(), "past the map")?;
    check(inode::block_path(0, 5).is_none(), "zero pointers per block")
}

/// The tests, in the order KUnit runs them.
pub(crate) static TESTS: [(&[u8], fn() -> TestResult); 9] = [
    (b"crc32c_matches_castagnoli\0", crc32c_matches_castagnoli),
    (b"geometry_of_one_tebibyte\0", geometry_of_one_tebibyte),
    (b"geometry_refuses_bad_sizes\0", geometry_refuses_bad_sizes),
    (b"superblock_round_trip\0", superblock_round_trip),
    (b"group_descriptor_round_trip\0", group_descriptor_round_trip),
    (b"directory_block_round_trip\0", directory_block_round_trip),
    (b"random_bytes_never_break_decoders\0", random_bytes_never_break_decoders),
    (b"filter_parameters_match_the_paper\0", filter_parameters_match_the_paper),
    (b"block_map_paths\0", block_map_paths),
];

static mut CASES: [sys::kunit_case; 10] = [
    case(TESTS[0].0, run::<0>),
    case(TESTS[1].0, run::<1>),
    case(TESTS[2].0, run::<2>),
    case(TESTS[3].0, run::<3>),
    case(TESTS[4].0, run::<4>),
    case(TESTS[5].0, run::<5>),
    case(TESTS[6].0, run::<6>),
    case(TESTS[7].0, run::<7>),
    case(TESTS[8].0, run::<8>),
    // SAFETY: the all-zero case terminates the array, as KUnit expects.
    unsafe { core::mem::zeroed() },
];

static mut SUITE: sys::kunit_suite = suite(b"livedfs_format", core::ptr::addr_of_mut!(CASES).cast());

#[used(compiler)]
#[link_section = ".kunit_test_suites"]
static SUITE_PTR: SuitePtr = SuitePtr(core::ptr::addr_of_mut!(SUITE));
