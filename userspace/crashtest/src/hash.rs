//! 128-bit hashes of 4 KiB blocks: the checker compares files block by
//! block against every version the workload wrote, by hash. Not a
//! cryptographic hash; the data is the workload's own.

/// Block size of the comparisons (the file system's block size).
pub const BLOCK: usize = 4096;

/// A block's hash.
pub type BlockHash = u128;

/// Hash of `data` zero-padded to a whole block (`data.len() <= BLOCK`).
pub fn block_hash(data: &[u8]) -> BlockHash {
    let mut a: u64 = 0x243f_6a88_85a3_08d3;
    let mut b: u64 = 0x1319_8a2e_0370_7344;
    let mut words = data.chunks(8);
    for i in 0..BLOCK / 8 {
        let w = match words.next() {
            Some(c) if c.len() == 8 => u64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
            Some(c) => {
                let mut x = [0u8; 8];
                x[..c.len()].copy_from_slice(c);
                u64::from_le_bytes(x)
            }
            None => 0,
        };
        a = (a ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(31) ^ (i as u64);
        b = (b ^ w.rotate_left(17))
            .wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
            .rotate_left(27);
    }
    let a = fmix(a ^ b.rotate_left(7));
    let b = fmix(b ^ a);
    (u128::from(a) << 64) | u128::from(b)
}

fn fmix(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// Hash of an all-zero block.
pub fn zero_hash() -> BlockHash {
    block_hash(&[])
}

/// Hashes of the blocks of `data` (the last one zero-padded).
pub fn hashes(data: &[u8]) -> Vec<BlockHash> {
    data.chunks(BLOCK).map(block_hash).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_and_difference() {
        assert_eq!(block_hash(&[]), block_hash(&[0; BLOCK]));
        assert_eq!(
            block_hash(&[1, 2, 3]),
            block_hash(&{
                let mut b = [0u8; BLOCK];
                b[..3].copy_from_slice(&[1, 2, 3]);
                b
            })
        );
        let mut seen = std::collections::HashSet::new();
        for i in 0..BLOCK {
            let mut b = [0u8; BLOCK];
            b[i] = 1;
            assert!(seen.insert(block_hash(&b)), "collision at {i}");
            b[i] = 0x80;
            assert!(seen.insert(block_hash(&b)));
        }
        assert_eq!(hashes(&[7; BLOCK + 1]).len(), 2);
    }
}
