//! File contents: a canonical hash that does not depend on how a file
//! system stores holes, and seeded pseudo-random data.

use std::os::fd::AsRawFd;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::sys::{self, Errno, SysResult};

const BLOCK: u64 = 4096;
const CHUNK: u64 = 1 << 20;

/// SHA-256 of a file's content in a canonical, hole-independent form: the
/// file is cut into 4 KiB blocks (the last one may be short); each run of
/// all-zero blocks is hashed as `Z` + its length (u64 LE) and every other
/// block as `D` + its bytes. Two files of the same size hash equal exactly
/// when their contents are equal, and a file full of holes hashes fast:
/// regions SEEK_DATA/SEEK_HOLE report as holes are not read (holes read as
/// zeros by definition), and where those are unsupported every byte is
/// read.
pub fn hash_file(fd: &impl AsRawFd, size: u64) -> SysResult<String> {
    let mut h = Sha256::new();
    let mut zero_run: u64 = 0;
    let mut pos: u64 = 0;
    let mut use_seek = true;
    let mut buf = vec![0u8; CHUNK as usize];
    let flush = |h: &mut Sha256, run: &mut u64| {
        if *run > 0 {
            h.update(b"Z");
            h.update(run.to_le_bytes());
            *run = 0;
        }
    };
    while pos < size {
        let mut region_end = size;
        if use_seek {
            match sys::lseek(fd, pos as i64, libc::SEEK_DATA) {
                Ok(d) => {
                    let d = (d as u64).min(size);
                    let skip = (d - pos) / BLOCK;
                    zero_run += skip;
                    pos += skip * BLOCK;
                    if pos >= size {
                        break;
                    }
                    if let Ok(e) = sys::lseek(fd, pos as i64, libc::SEEK_HOLE) {
                        region_end = (e as u64).clamp(pos + 1, size);
                    }
                }
                Err(Errno::ENXIO) => {
                    // Only a hole up to EOF: all remaining blocks are zero.
                    zero_run += (size - pos).div_ceil(BLOCK);
                    break;
                }
                Err(_) => use_seek = false,
            }
        }
        // Read whole blocks from pos up to the end of the data region.
        let want = (region_end - pos).div_ceil(BLOCK) * BLOCK;
        let want = want.min(CHUNK).min(size - pos) as usize;
        let n = sys::pread_full(fd, &mut buf[..want], pos)?;
        if n != want {
            // The file shrank under us, or the file system reads short.
            return Err(Errno::EIO);
        }
        for block in buf[..n].chunks(BLOCK as usize) {
            if block.iter().all(|&b| b == 0) {
                zero_run += 1;
            } else {
                flush(&mut h, &mut zero_run);
                h.update(b"D");
                h.update(block);
            }
        }
        pos += n as u64;
    }
    flush(&mut h, &mut zero_run);
    Ok(hex(&h.finalize()))
}

/// Lower-case hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 of a byte slice, in hex.
pub fn sha256_hex(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

/// A ChaCha8 generator for `seed`, on stream `stream` (independent
/// streams for independent chunks of data).
pub fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// `n` pseudo-random bytes.
pub fn random_bytes(rng: &mut impl rand::Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::os::unix::fs::FileExt;

    fn hash_of(data: &[(u64, &[u8])], size: u64) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&p)
            .unwrap();
        for (off, d) in data {
            f.write_all_at(d, *off).unwrap();
        }
        f.set_len(size).unwrap();
        hash_file(&f, size).unwrap()
    }

    #[test]
    fn hole_independent() {
        let zeros = vec![0u8; 3 * 4096];
        // Written zeros and a hole hash the same.
        assert_eq!(
            hash_of(&[(0, b"x"), (8192, &zeros)], 20000),
            hash_of(&[(0, b"x")], 20000)
        );
        // Different contents differ; so does the position of data.
        assert_ne!(hash_of(&[(0, b"x")], 20000), hash_of(&[(0, b"y")], 20000));
        assert_ne!(
            hash_of(&[(0, b"x")], 20000),
            hash_of(&[(4096, b"x")], 20000)
        );
        assert_ne!(
            hash_of(&[(5000, b"x")], 20000),
            hash_of(&[(5001, b"x")], 20000)
        );
        // A sparse file far larger than what is read.
        let big = hash_of(&[(1 << 30, b"z"), (3 << 30, b"w")], (3 << 30) + 100);
        assert_eq!(
            big,
            hash_of(&[(1 << 30, b"z"), (3 << 30, b"w")], (3 << 30) + 100)
        );
        assert_ne!(
            big,
            hash_of(&[(1 << 30, b"z"), (3 << 30, b"v")], (3 << 30) + 100)
        );
    }

    #[test]
    fn streams_differ() {
        let a = random_bytes(&mut rng(1, 0), 64);
        assert_eq!(a, random_bytes(&mut rng(1, 0), 64));
        assert_ne!(a, random_bytes(&mut rng(1, 1), 64));
        assert_ne!(a, random_bytes(&mut rng(2, 0), 64));
    }
}
