//! Block and inode bitmaps: bit `i` (LSB first within each byte) set means
//! item `i` of the group is in use. Out-of-range indices read as "in use"
//! and are never written, so a bad index can't free or corrupt anything.

/// Whether bit `i` is set (true for `i` past the end).
pub fn test(map: &[u8], i: usize) -> bool {
    match map.get(i / 8) {
        Some(b) => b & (1u8 << (i % 8)) != 0,
        None => true,
    }
}

/// Sets bit `i`; returns its previous value (true past the end).
pub fn set(map: &mut [u8], i: usize) -> bool {
    match map.get_mut(i / 8) {
        Some(b) => {
            let m = 1u8 << (i % 8);
            let old = *b & m != 0;
            *b |= m;
            old
        }
        None => true,
    }
}

/// Clears bit `i`; returns its previous value (false past the end).
pub fn clear(map: &mut [u8], i: usize) -> bool {
    match map.get_mut(i / 8) {
        Some(b) => {
            let m = 1u8 << (i % 8);
            let old = *b & m != 0;
            *b &= !m;
            old
        }
        None => false,
    }
}

/// Bits `map` holds.
fn bits_in(map: &[u8]) -> usize {
    map.len().saturating_mul(8)
}

/// Sets bits `start..end`.
pub fn set_range(map: &mut [u8], start: usize, end: usize) {
    // Bits past the end are never written: stop at the end of the map, so
    // a wild `end` costs nothing (rather than a 2^64-step loop).
    for i in start..end.min(bits_in(map)) {
        set(map, i);
    }
}

/// First clear bit in `start..end`, if any.
pub fn find_zero(map: &[u8], start: usize, end: usize) -> Option<usize> {
    // Bits past the end of the map read as set: no zero lies there, so a
    // wild `end` is cut to the map rather than scanned bit by bit.
    let end = end.min(bits_in(map));
    let mut i = start;
    while i < end {
        // Skip whole full bytes quickly.
        if i & 7 == 0 && i.saturating_add(8) <= end {
            if let Some(&0xff) = map.get(i / 8) {
                i = i.saturating_add(8);
                continue;
            }
        }
        if !test(map, i) {
            return Some(i);
        }
        i = i.saturating_add(1);
    }
    None
}

/// First clear bit at or after `goal` in `0..end`, wrapping around.
pub fn find_zero_from(map: &[u8], goal: usize, end: usize) -> Option<usize> {
    let goal = if goal < end { goal } else { 0 };
    find_zero(map, goal, end).or_else(|| find_zero(map, 0, goal))
}

/// Number of set bits in `0..n`; bits past the end of the map count as
/// set, as [`test()`] reads them.
pub fn count_set(map: &[u8], n: usize) -> usize {
    let past = n.saturating_sub(bits_in(map));
    let n = n.min(bits_in(map));
    let full = n / 8;
    let mut c: usize = map.iter().take(full).map(|b| b.count_ones() as usize).sum();
    for i in full.saturating_mul(8)..n {
        if test(map, i) {
            c = c.saturating_add(1);
        }
    }
    c.saturating_add(past)
}
