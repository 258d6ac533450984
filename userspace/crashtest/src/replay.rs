//! Crash points and the device image at each.
//!
//! A crash point is a set of logged writes that reached the disk. A disk
//! with a volatile write cache makes durable, at a crash, every write that
//! completed before the last completed flush, plus any subset of the
//! writes issued since (they may sit in the cache, in any order), plus
//! every FUA write that completed. So the points are:
//!
//! - **flush points**: just after a FLUSH entry (every earlier write
//!   applied, none of the later ones), and after a FUA write; the end of
//!   the log is one too;
//! - **torn points**: between two flushes, the crash happens after write
//!   `k` of the epoch; the writes before the epoch's flush are applied,
//!   and of the epoch's writes up to `k` a seeded random subset (always
//!   including write `k` itself, and every FUA write).
//!
//! A point is written as a spec string: `f<N>` (entries `0..N` applied),
//! `t<N>:<i>,<j>,...` (entries `0..N`, then entries i, j, ... in order).

use crate::log::{Entry, Log};
use crate::rng::Rng;
use std::fmt;

/// One crash point.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Point {
    /// Entries `0..base` are applied.
    pub base: usize,
    /// Then these entries (all `>= base`, increasing).
    pub extra: Vec<usize>,
}

impl Point {
    /// The spec string.
    pub fn spec(&self) -> String {
        if self.extra.is_empty() {
            format!("f{}", self.base)
        } else {
            let l: Vec<String> = self.extra.iter().map(|i| i.to_string()).collect();
            format!("t{}:{}", self.base, l.join(","))
        }
    }

    /// Parses a spec string.
    pub fn parse(s: &str) -> Option<Point> {
        if let Some(n) = s.strip_prefix('f') {
            return Some(Point {
                base: n.parse().ok()?,
                extra: vec![],
            });
        }
        let rest = s.strip_prefix('t')?;
        let (b, l) = rest.split_once(':')?;
        let base: usize = b.parse().ok()?;
        let mut extra = Vec::new();
        for x in l.split(',') {
            let i: usize = x.parse().ok()?;
            if i < base || extra.last().is_some_and(|&l| i <= l) {
                return None;
            }
            extra.push(i);
        }
        if extra.is_empty() {
            return None;
        }
        Some(Point { base, extra })
    }

    /// The last entry this point applies (+1): where it sits in the log.
    pub fn end(&self) -> usize {
        self.extra.last().map_or(self.base, |&l| l + 1)
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec())
    }
}

/// An epoch: the writes between two flushes.
#[derive(Clone, Debug)]
struct Epoch {
    /// Index of the entry after the flush that opens the epoch (0 for the
    /// first).
    start: usize,
    /// Indices of the entries of the epoch that change the device.
    writes: Vec<usize>,
}

fn epochs(entries: &[Entry]) -> Vec<Epoch> {
    let mut out = vec![Epoch {
        start: 0,
        writes: vec![],
    }];
    for (i, e) in entries.iter().enumerate() {
        if e.changes_device() {
            if let Some(ep) = out.last_mut() {
                ep.writes.push(i);
            }
        }
        if e.is_flush() {
            out.push(Epoch {
                start: i + 1,
                writes: vec![],
            });
        }
    }
    out
}

/// Every flush point of the log: after each flush, after each FUA write,
/// and the end; a point whose image equals the previous one's (no write
/// in between) is left out.
pub fn barrier_points(log: &Log) -> Vec<Point> {
    let mut out = Vec::new();
    let mut changed = true; // the pristine image is a state too
    for (i, e) in log.entries.iter().enumerate() {
        if e.changes_device() {
            changed = true;
        }
        if (e.is_flush() || (e.is_fua() && e.changes_device())) && changed {
            out.push(Point {
                base: i + 1,
                extra: vec![],
            });
            changed = false;
        }
    }
    if changed {
        out.push(Point {
            base: log.entries.len(),
            extra: vec![],
        });
    }
    out
}

/// Options for choosing points.
#[derive(Clone, Debug)]
pub struct Choice {
    /// How many points at least.
    pub count: usize,
    /// Seed of the random choices.
    pub seed: u64,
    /// Flush points: `None` for every one of them (then torn points make
    /// up the rest of `count`, and at least half of it), or the share of
    /// `count` in percent, spread evenly over the log.
    pub flush_percent: Option<usize>,
    /// First sector of the progress area (writes there are the
    /// workload's "sync completed" records): half the torn points crash
    /// right after such a write, where a missing flush shows.
    pub progress_sector: Option<u64>,
}

/// Chooses crash points, distinct, sorted by position.
pub fn choose(log: &Log, choice: &Choice) -> Vec<Point> {
    let mut rng = Rng::new(choice.seed ^ 0x5eed_c7a5_4000_0001);
    let barriers = barrier_points(log);
    let n_flush = match choice.flush_percent {
        None => barriers.len(),
        Some(p) => (choice.count * p.min(100) / 100).max(1).min(barriers.len()),
    };
    let mut set = std::collections::BTreeSet::new();
    // Flush points evenly spread over the log, the last always included.
    for k in 0..n_flush {
        let idx = if n_flush == 1 {
            barriers.len() - 1
        } else {
            k * (barriers.len() - 1) / (n_flush - 1)
        };
        set.insert(barriers[idx].clone());
    }
    let want = match choice.flush_percent {
        None => set.len() + choice.count.saturating_sub(set.len()).max(choice.count / 2),
        Some(_) => choice.count.max(set.len()),
    };
    // Torn points.
    let eps: Vec<Epoch> = epochs(&log.entries)
        .into_iter()
        .filter(|e| e.writes.len() >= 2)
        .collect();
    let progress: Vec<(usize, usize)> = match choice.progress_sector {
        Some(ps) => eps
            .iter()
            .enumerate()
            .flat_map(|(ei, ep)| {
                ep.writes
                    .iter()
                    .enumerate()
                    .filter(|&(_, &w)| log.entries[w].sector >= ps)
                    .map(move |(k, _)| (ei, k))
                    .collect::<Vec<_>>()
            })
            .collect(),
        None => vec![],
    };
    let mut tries = 0usize;
    while set.len() < want && !eps.is_empty() && tries < want.saturating_mul(50) {
        tries += 1;
        let (ei, k) = if !progress.is_empty() && rng.below(2) == 0 {
            progress[rng.below(progress.len() as u64) as usize]
        } else {
            let ei = rng.below(eps.len() as u64) as usize;
            let k = rng.below(eps[ei].writes.len() as u64) as usize;
            (ei, k)
        };
        let ep = &eps[ei];
        // Each earlier write of the epoch made it with probability q.
        let q = [20u64, 50, 80][rng.below(3) as usize];
        let mut extra: Vec<usize> = ep.writes[..k]
            .iter()
            .copied()
            .filter(|&w| log.entries[w].is_fua() || rng.below(100) < q)
            .collect();
        extra.push(ep.writes[k]);
        // The whole epoch is the next flush point.
        if extra.len() == ep.writes.len() {
            continue;
        }
        set.insert(Point {
            base: ep.start,
            extra,
        });
    }
    let mut v: Vec<Point> = set.into_iter().collect();
    v.sort_by_key(|p| (p.end(), p.base));
    v
}

/// Why an entry can't be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyError(pub String);

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Applies one entry to `img`. Discards zero their range (what a thinly
/// provisioned disk returns; a checker must not rely on either).
pub fn apply(img: &mut [u8], log: &Log, buf: &[u8], i: usize) -> Result<(), ApplyError> {
    let e = log
        .entries
        .get(i)
        .ok_or_else(|| ApplyError(format!("no entry {i}")))?;
    if !e.changes_device() {
        return Ok(());
    }
    let ss = u64::from(log.sector_size);
    let range = || -> Option<(usize, usize)> {
        let off = usize::try_from(e.sector.checked_mul(ss)?).ok()?;
        let len = usize::try_from(e.nr_sectors.checked_mul(ss)?).ok()?;
        let end = off.checked_add(len)?;
        (end <= img.len()).then_some((off, end))
    };
    let (off, end) = range().ok_or_else(|| {
        ApplyError(format!(
            "entry {i} writes sectors {}+{} past the end of the {}-byte device",
            e.sector,
            e.nr_sectors,
            img.len()
        ))
    })?;
    if e.is_discard() {
        img[off..end].fill(0);
        return Ok(());
    }
    let data = buf
        .get(e.data_start..e.data_start.saturating_add(e.data_len))
        .filter(|d| d.len() == end - off)
        .ok_or_else(|| ApplyError(format!("entry {i}: data missing from the log")))?;
    img[off..end].copy_from_slice(data);
    Ok(())
}

/// A device image advanced through the log in order (the common prefix of
/// the points, which come sorted).
pub struct Prefix {
    /// The image with entries `0..applied` written.
    pub img: Vec<u8>,
    /// Entries applied.
    pub applied: usize,
    /// Per [`CHUNK`] of `img`: may hold a non-zero byte (non-zero in the
    /// base image, or written by an applied entry). The others are zero,
    /// so an image file can be written without scanning them.
    pub maybe_data: Vec<bool>,
}

/// The granularity of [`Prefix::maybe_data`].
pub const CHUNK: usize = 64 * 1024;

impl Prefix {
    /// Starts from the pristine `base` image.
    pub fn new(base: Vec<u8>) -> Self {
        let maybe_data = base
            .chunks(CHUNK)
            .map(|c| c.iter().any(|&b| b != 0))
            .collect();
        Prefix {
            img: base,
            applied: 0,
            maybe_data,
        }
    }

    /// Marks the chunks entry `i` writes (after it was applied).
    fn mark(&mut self, log: &Log, i: usize) {
        let Some(e) = log.entries.get(i) else { return };
        if !e.changes_device() {
            return;
        }
        let ss = u64::from(log.sector_size);
        let off = e.sector.saturating_mul(ss);
        let end = off.saturating_add(e.nr_sectors.saturating_mul(ss));
        let (a, b) = (
            (off / CHUNK as u64) as usize,
            end.div_ceil(CHUNK as u64) as usize,
        );
        let n = self.maybe_data.len();
        for m in &mut self.maybe_data[a.min(n)..b.min(n)] {
            *m = true;
        }
    }

    /// Applies entries up to `to` (exclusive). Going back needs a new
    /// prefix (an error).
    pub fn advance(&mut self, log: &Log, buf: &[u8], to: usize) -> Result<(), ApplyError> {
        if to < self.applied {
            return Err(ApplyError(format!(
                "prefix is at entry {}, can't go back to {to}",
                self.applied
            )));
        }
        while self.applied < to {
            apply(&mut self.img, log, buf, self.applied)?;
            self.mark(log, self.applied);
            self.applied += 1;
        }
        Ok(())
    }
}

/// The image of `point` built from scratch (for tools and tests; the
/// checker uses [`Prefix`]).
pub fn image_at(base: &[u8], log: &Log, buf: &[u8], point: &Point) -> Result<Vec<u8>, ApplyError> {
    let mut p = Prefix::new(base.to_vec());
    p.advance(log, buf, point.base)?;
    let mut img = p.img;
    for &i in &point.extra {
        apply(&mut img, log, buf, i)?;
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::build::Builder;
    use crate::log::{parse, Extra, FLAG_FUA};

    fn sec(v: u8) -> Vec<u8> {
        vec![v; 512]
    }

    #[test]
    fn spec_round_trip() {
        for p in [
            Point {
                base: 7,
                extra: vec![],
            },
            Point {
                base: 3,
                extra: vec![3, 5, 9],
            },
        ] {
            assert_eq!(Point::parse(&p.spec()), Some(p.clone()));
        }
        for bad in [
            "", "f", "x1", "t3:", "t3:2", "t3:5,5", "t3:5,4", "f-1", "t1:a",
        ] {
            assert_eq!(Point::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn images_at_flush_and_torn_points() {
        let mut b = Builder::new(512);
        b.write(0, &sec(1), 0) // 0
            .write(1, &sec(2), 0) // 1
            .flush() // 2
            .write(0, &sec(3), 0) // 3
            .write(2, &sec(4), FLAG_FUA) // 4
            .write(3, &sec(5), 0) // 5
            .flush(); // 6
        let buf = b.finish();
        let log = parse(&buf, Extra::Ignore).unwrap();
        let base = vec![0u8; 4 * 512];
        let at = |p: &Point| image_at(&base, &log, &buf, p).unwrap();
        let first = |img: &[u8]| -> Vec<u8> { img.chunks(512).map(|c| c[0]).collect() };
        assert_eq!(
            barrier_points(&log),
            vec![
                Point {
                    base: 3,
                    extra: vec![]
                },
                Point {
                    base: 5,
                    extra: vec![]
                },
                Point {
                    base: 7,
                    extra: vec![]
                }
            ]
        );
        assert_eq!(
            first(&at(&Point {
                base: 0,
                extra: vec![]
            })),
            [0, 0, 0, 0]
        );
        assert_eq!(
            first(&at(&Point {
                base: 3,
                extra: vec![]
            })),
            [1, 2, 0, 0]
        );
        assert_eq!(
            first(&at(&Point {
                base: 7,
                extra: vec![]
            })),
            [3, 2, 4, 5]
        );
        // Torn: of the second epoch only write 5 made it (and FUA 4).
        assert_eq!(
            first(&at(&Point {
                base: 3,
                extra: vec![4, 5]
            })),
            [1, 2, 4, 5]
        );
        // Choosing points: distinct, sorted, torn ones keep every FUA write
        // before their crash instant and never equal a whole epoch.
        let pts = choose(
            &log,
            &Choice {
                count: 50,
                seed: 1,
                flush_percent: Some(40),
                progress_sector: None,
            },
        );
        assert!(pts.len() >= 3);
        for w in pts.windows(2) {
            assert_ne!(w[0], w[1]);
        }
        for p in &pts {
            if p.extra.contains(&5) {
                assert!(p.extra.contains(&4), "{p}");
            }
            assert_eq!(Point::parse(&p.spec()).as_ref(), Some(p));
            at(p);
        }
    }

    #[test]
    fn prefix_advances_like_image_at() {
        let mut b = Builder::new(512);
        for i in 0..20u8 {
            b.write(u64::from(i % 5), &sec(i + 1), 0);
            if i % 3 == 2 {
                b.flush();
            }
        }
        let buf = b.finish();
        let log = parse(&buf, Extra::Ignore).unwrap();
        let base = vec![0u8; 5 * 512];
        let pts = choose(
            &log,
            &Choice {
                count: 30,
                seed: 9,
                flush_percent: None,
                progress_sector: Some(4),
            },
        );
        let mut pre = Prefix::new(base.clone());
        for p in &pts {
            pre.advance(&log, &buf, p.base).unwrap_or_else(|_| {
                pre = Prefix::new(base.clone());
                pre.advance(&log, &buf, p.base).unwrap();
            });
            let mut img = pre.img.clone();
            for &i in &p.extra {
                apply(&mut img, &log, &buf, i).unwrap();
            }
            assert_eq!(img, image_at(&base, &log, &buf, p).unwrap());
        }
    }

    #[test]
    fn maybe_data_covers_every_nonzero_chunk() {
        // 6 chunks of 64 KiB; the base has data in chunk 1 only; writes
        // land in chunks 3 and 5 and across the 3/4 boundary.
        let mut b = Builder::new(512);
        let per = (CHUNK / 512) as u64;
        b.write(3 * per + 7, &sec(1), 0);
        b.flush();
        b.write(4 * per - 1, &[sec(2), sec(3)].concat(), 0);
        b.write(5 * per, &sec(4), 0);
        let buf = b.finish();
        let log = parse(&buf, Extra::Ignore).unwrap();
        let mut base = vec![0u8; 6 * CHUNK];
        base[CHUNK + 100] = 1;
        let mut pre = Prefix::new(base);
        for to in 0..=log.entries.len() {
            pre.advance(&log, &buf, to).unwrap();
            for (k, c) in pre.img.chunks(CHUNK).enumerate() {
                if c.iter().any(|&x| x != 0) {
                    assert!(pre.maybe_data[k], "chunk {k} holds data at entry {to}");
                }
            }
        }
        assert_eq!(pre.maybe_data, [false, true, false, true, true, true]);
    }

    #[test]
    fn bad_entries_are_errors_not_panics() {
        let mut b = Builder::new(512);
        b.write(10, &sec(1), 0).discard(u64::MAX / 512, 4);
        let buf = b.finish();
        let log = parse(&buf, Extra::Ignore).unwrap();
        let mut img = vec![0u8; 4 * 512];
        assert!(apply(&mut img, &log, &buf, 0).is_err());
        assert!(apply(&mut img, &log, &buf, 1).is_err());
        assert!(apply(&mut img, &log, &buf, 2).is_err());
        let mut p = Prefix::new(img);
        assert!(p.advance(&log, &buf, 2).is_err());
    }
}
