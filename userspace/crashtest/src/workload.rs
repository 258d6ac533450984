//! The deterministic workload: a seeded sequence of scenarios, each a few
//! operations, generated against the model (so the checker regenerates the
//! very same operations, data included, from the seed alone).
//!
//! Scenarios (VM-image storage with heavy duplication):
//! - a new VM image: sequential writes of 64 KiB segments drawn from a
//!   shared pool ("the same OS in every image"), zeros, repeats and fresh
//!   data, then fsync or fdatasync (or nothing);
//! - a partially overwritten copy of an existing image;
//! - overwrites inside a file (copy-on-write of shared blocks), aligned or
//!   not, with duplicate or fresh data;
//! - atomic replace: write `name.tmp`, fsync it, rename it over `name`
//!   (then maybe fsync the directory);
//! - a burst of small files, each fsync'd;
//! - a reflink copy (FICLONE), sometimes modified afterwards;
//! - truncation (shrink, extend, to zero), hole punching, moves, deletes,
//!   syncfs.

use crate::model::{Ino, Model, Op};
use crate::rng::Rng;
use std::collections::VecDeque;

/// Segment size of VM images.
pub const SEG: usize = 64 * 1024;
/// Segments in the shared pool.
const POOL: usize = 24;
/// Directories of the workload.
pub const DIRS: [&str; 3] = ["img", "small", "misc"];

/// Size of the workload.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Seed of everything.
    pub seed: u64,
    /// Number of scenarios.
    pub scenarios: usize,
    /// Keep the live files below this many bytes (deleting old ones).
    pub max_live: u64,
    /// Largest VM image, in MiB.
    pub max_image_mib: u64,
}

impl Params {
    /// Defaults for `seed`.
    pub fn new(seed: u64) -> Self {
        Params {
            seed,
            scenarios: 60,
            max_live: 24 << 20,
            max_image_mib: 6,
        }
    }
}

/// The workload: an iterator of operations.
pub struct Workload {
    rng: Rng,
    params: Params,
    pool: Vec<Vec<u8>>,
    /// The model, with the history of every operation generated so far.
    pub model: Model,
    queue: VecDeque<Op>,
    scenarios: usize,
    names: u64,
    started: bool,
    finished: bool,
}

impl Workload {
    /// The workload of `params`.
    pub fn new(params: Params) -> Self {
        let mut rng = Rng::new(params.seed);
        let pool = (0..POOL)
            .map(|_| {
                let mut v = vec![0u8; SEG];
                rng.fill(&mut v);
                v
            })
            .collect();
        Workload {
            rng,
            params,
            pool,
            model: Model::new(),
            queue: VecDeque::new(),
            scenarios: 0,
            names: 0,
            started: false,
            finished: false,
        }
    }

    fn push(&mut self, op: Op) {
        self.model.apply(&op);
        self.queue.push_back(op);
    }

    fn fresh(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill(&mut v);
        v
    }

    fn name(&mut self, dir: &str, stem: &str) -> String {
        self.names += 1;
        format!("{dir}/{stem}{}", self.names)
    }

    /// Files in `dir` (any directory when None), sorted by name.
    fn files(&self, dir: Option<&str>) -> Vec<(String, Ino)> {
        self.model
            .names
            .iter()
            .filter(|(p, _)| dir.is_none_or(|d| crate::model::parent(p) == d))
            .filter(|(p, _)| !p.ends_with(".tmp"))
            .map(|(p, &i)| (p.clone(), i))
            .collect()
    }

    fn pick(&mut self, dir: Option<&str>, min_size: u64) -> Option<(String, Ino)> {
        let f: Vec<(String, Ino)> = self
            .files(dir)
            .into_iter()
            .filter(|(_, i)| self.model.size(*i) >= min_size)
            .collect();
        if f.is_empty() {
            return None;
        }
        let k = self.rng.below(f.len() as u64) as usize;
        Some(f[k].clone())
    }

    /// Writes `content` to a new file at `path` in chunks of 64 KiB to
    /// 1 MiB, as a copy tool would.
    fn write_new(&mut self, path: &str, content: &[u8]) -> Ino {
        let ino = self.model.new_ino();
        self.push(Op::Create {
            path: path.to_string(),
            ino,
        });
        let mut off = 0usize;
        while off < content.len() {
            let chunk = SEG * [1usize, 4, 4, 16][self.rng.below(4) as usize];
            let end = (off + chunk).min(content.len());
            self.push(Op::Write {
                path: path.to_string(),
                ino,
                off: off as u64,
                data: content[off..end].to_vec(),
            });
            off = end;
        }
        ino
    }

    fn maybe_sync(&mut self, path: &str, ino: Ino, fsync: u64, fdatasync: u64) {
        let r = self.rng.below(100);
        if r < fsync {
            self.push(Op::Fsync {
                path: path.to_string(),
                ino,
            });
        } else if r < fsync + fdatasync {
            self.push(Op::Fdatasync {
                path: path.to_string(),
                ino,
            });
        }
    }

    fn image_content(&mut self) -> Vec<u8> {
        let segs = self.rng.range(8, self.params.max_image_mib * 16) as usize;
        let mut c = Vec::with_capacity(segs * SEG);
        for s in 0..segs {
            let r = self.rng.below(100);
            if r < 35 {
                let k = self.rng.below(POOL as u64) as usize;
                c.extend_from_slice(&self.pool[k]);
            } else if r < 55 {
                c.resize(c.len() + SEG, 0);
            } else if r < 65 && s > 0 {
                let k = self.rng.below(s as u64) as usize;
                let seg = c[k * SEG..(k + 1) * SEG].to_vec();
                c.extend_from_slice(&seg);
            } else {
                let f = self.fresh(SEG);
                c.extend_from_slice(&f);
            }
        }
        if self.rng.chance(30) {
            let tail = self.rng.range(1, 4095) as usize;
            let f = self.fresh(tail);
            c.extend_from_slice(&f);
        }
        c
    }

    /// Data for an overwrite of `len` bytes: fresh, a duplicate of some
    /// file's bytes, a pool segment's, or zeros.
    fn patch(&mut self, len: usize) -> Vec<u8> {
        let r = self.rng.below(100);
        if r < 40 {
            return self.fresh(len);
        }
        if r < 70 {
            if let Some((_, i)) = self.pick(None, len as u64) {
                let c = &self.model.content[&i];
                let max = c.len() - len;
                let at = (self.rng.below(max as u64 / 4096 + 1) * 4096).min(max as u64) as usize;
                return c[at..at + len].to_vec();
            }
        }
        if r < 90 {
            let k = self.rng.below(POOL as u64) as usize;
            return self.pool[k].iter().copied().cycle().take(len).collect();
        }
        vec![0; len]
    }

    fn scenario(&mut self) {
        // Stay within the space budget: delete files, oldest names first.
        if self.model.live_bytes() > self.params.max_live {
            while self.model.live_bytes() > self.params.max_live * 6 / 10 {
                let Some((p, i)) = self.pick(None, 0) else {
                    break;
                };
                self.push(Op::Unlink { path: p, ino: i });
            }
            if self.rng.chance(50) {
                self.push(Op::Syncfs);
            }
        }
        let r = self.rng.below(100);
        match r {
            0..=17 => {
                let p = self.name("img", "vm");
                let c = self.image_content();
                let i = self.write_new(&p, &c);
                self.maybe_sync(&p, i, 60, 15);
            }
            18..=29 => {
                let Some((_, src)) = self.pick(Some("img"), 1) else {
                    return;
                };
                let mut c = self.model.content[&src].clone();
                for _ in 0..self.rng.range(1, 4) {
                    let len = self.rng.range(1, 256 * 1024).min(c.len() as u64) as usize;
                    let mut at = self.rng.below((c.len() - len) as u64 + 1) as usize;
                    if self.rng.chance(50) {
                        at -= at % 4096;
                    }
                    let d = self.patch(len);
                    c[at..at + len].copy_from_slice(&d);
                }
                let p = self.name("img", "copy");
                let i = self.write_new(&p, &c);
                self.maybe_sync(&p, i, 70, 10);
            }
            30..=41 => {
                let Some((p, i)) = self.pick(None, 0) else {
                    return;
                };
                for _ in 0..self.rng.range(1, 6) {
                    let size = self.model.size(i);
                    let mut len = self.rng.range(1, 128 * 1024) as usize;
                    let mut off = self.rng.below(size + 8192);
                    if self.rng.chance(60) {
                        off -= off % 4096;
                        len = len.div_ceil(4096) * 4096;
                    }
                    let data = self.patch(len);
                    self.push(Op::Write {
                        path: p.clone(),
                        ino: i,
                        off,
                        data,
                    });
                }
                self.maybe_sync(&p, i, 50, 20);
            }
            42..=53 => {
                let Some((p, old)) = self.pick(None, 0) else {
                    return;
                };
                let mut c = self.model.content[&old].clone();
                if c.is_empty() || self.rng.chance(20) {
                    let n = self.rng.range(1, 200_000) as usize;
                    c = self.fresh(n);
                } else {
                    let len = self.rng.range(1, 64 * 1024).min(c.len() as u64) as usize;
                    let at = self.rng.below((c.len() - len) as u64 + 1) as usize;
                    let d = self.patch(len);
                    c[at..at + len].copy_from_slice(&d);
                }
                let tmp = format!("{p}.tmp");
                let ino = self.write_new(&tmp, &c);
                self.push(Op::Fsync {
                    path: tmp.clone(),
                    ino,
                });
                self.push(Op::Rename {
                    from: tmp,
                    to: p.clone(),
                    ino,
                    replaced: Some(old),
                });
                let r = self.rng.below(100);
                if r < 40 {
                    self.push(Op::FsyncDir {
                        path: crate::model::parent(&p).to_string(),
                    });
                } else if r < 60 {
                    self.push(Op::Fsync { path: p, ino });
                }
            }
            54..=67 => {
                let mut prev: Vec<Vec<u8>> = Vec::new();
                for _ in 0..self.rng.range(3, 10) {
                    let len = self.rng.range(1, 20_000) as usize;
                    let c = match self.rng.below(10) {
                        0..=3 if !prev.is_empty() => {
                            prev[self.rng.below(prev.len() as u64) as usize].clone()
                        }
                        4..=5 => {
                            let k = self.rng.below(POOL as u64) as usize;
                            self.pool[k][..len].to_vec()
                        }
                        _ => self.fresh(len),
                    };
                    let p = self.name("small", "f");
                    let i = self.write_new(&p, &c);
                    prev.push(c);
                    self.maybe_sync(&p, i, 80, 10);
                }
                if self.rng.chance(30) {
                    self.push(Op::FsyncDir {
                        path: "small".into(),
                    });
                }
            }
            68..=75 => {
                let Some((src, si)) = self.pick(None, 1) else {
                    return;
                };
                let dir = if self.rng.chance(50) { "img" } else { "misc" };
                let dst = self.name(dir, "clone");
                let di = self.model.new_ino();
                self.push(Op::Clone {
                    src,
                    dst: dst.clone(),
                    src_ino: si,
                    dst_ino: di,
                });
                if self.rng.chance(50) {
                    for _ in 0..self.rng.range(1, 3) {
                        let size = self.model.size(di);
                        let off = self.rng.below(size) / 4096 * 4096;
                        let n = 4096 * self.rng.range(1, 8) as usize;
                        let data = self.patch(n);
                        self.push(Op::Write {
                            path: dst.clone(),
                            ino: di,
                            off,
                            data,
                        });
                    }
                }
                self.maybe_sync(&dst, di, 60, 0);
            }
            76..=83 => {
                let Some((p, i)) = self.pick(None, 0) else {
                    return;
                };
                let size = self.model.size(i);
                let r = self.rng.below(100);
                let new = if r < 50 {
                    let s = self.rng.below(size + 1);
                    if self.rng.chance(50) {
                        s / 4096 * 4096
                    } else {
                        s
                    }
                } else if r < 80 {
                    size + self.rng.range(1, 1 << 20)
                } else {
                    0
                };
                self.push(Op::Truncate {
                    path: p.clone(),
                    ino: i,
                    size: new,
                });
                self.maybe_sync(&p, i, 40, 20);
            }
            84..=87 => {
                let Some((p, i)) = self.pick(None, 8192) else {
                    return;
                };
                let blocks = self.model.size(i) / 4096;
                let first = self.rng.below(blocks);
                let n = self.rng.range(1, (blocks - first).min(64));
                self.push(Op::PunchHole {
                    path: p.clone(),
                    ino: i,
                    off: first * 4096,
                    len: n * 4096,
                });
                self.maybe_sync(&p, i, 50, 0);
            }
            88..=91 => {
                let Some((p, i)) = self.pick(None, 0) else {
                    return;
                };
                let dir = DIRS[self.rng.below(3) as usize];
                let to = self.name(dir, "moved");
                self.push(Op::Rename {
                    from: p,
                    to: to.clone(),
                    ino: i,
                    replaced: None,
                });
                self.maybe_sync(&to, i, 50, 0);
            }
            92..=93 => {
                // An orphan: unlinked while open, written and fsync'd, a
                // syncfs while it is held (so it is on the orphan list on
                // disk), then closed.
                let Some((p, i)) = self.pick(None, 1) else {
                    return;
                };
                self.push(Op::UnlinkHold { path: p, ino: i });
                for _ in 0..self.rng.range(1, 2) {
                    let n = self.rng.range(1, 256 * 1024) as usize;
                    let data = self.patch(n);
                    self.push(Op::HeldWrite { ino: i, data });
                }
                self.push(Op::Syncfs);
                let n = self.rng.range(1, 64 * 1024) as usize;
                let data = self.fresh(n);
                self.push(Op::HeldWrite { ino: i, data });
                self.push(Op::HeldClose { ino: i });
            }
            94..=96 => {
                let Some((p, i)) = self.pick(None, 0) else {
                    return;
                };
                let d = crate::model::parent(&p).to_string();
                self.push(Op::Unlink { path: p, ino: i });
                let r = self.rng.below(100);
                if r < 30 {
                    self.push(Op::FsyncDir { path: d });
                } else if r < 50 {
                    self.push(Op::Syncfs);
                }
            }
            _ => self.push(Op::Syncfs),
        }
    }
}

impl Iterator for Workload {
    type Item = Op;

    fn next(&mut self) -> Option<Op> {
        loop {
            if let Some(op) = self.queue.pop_front() {
                return Some(op);
            }
            if self.finished {
                return None;
            }
            if !self.started {
                self.started = true;
                for d in DIRS {
                    self.push(Op::Mkdir { path: d.into() });
                }
                self.push(Op::Syncfs);
            } else if self.scenarios < self.params.scenarios {
                self.scenarios += 1;
                self.scenario();
            } else {
                self.finished = true;
                self.push(Op::Syncfs);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic() {
        let a: Vec<Op> = Workload::new(Params::new(5)).collect();
        let b: Vec<Op> = Workload::new(Params::new(5)).collect();
        assert_eq!(a, b);
        let c: Vec<Op> = Workload::new(Params::new(6)).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn covers_every_kind_and_stays_in_budget() {
        let mut kinds = std::collections::BTreeSet::new();
        for seed in 0..4 {
            let mut w = Workload::new(Params::new(seed));
            let mut peak = 0;
            for op in w.by_ref() {
                let s = format!("{op:?}");
                kinds.insert(s.split([' ', '{']).next().unwrap_or("").to_string());
            }
            peak = peak.max(w.model.live_bytes());
            assert!(peak <= Params::new(seed).max_live + (8 << 20));
            assert!(matches!(
                w.model.hist.syncs.last(),
                Some((_, crate::model::SyncKind::Fs))
            ));
        }
        for k in [
            "Mkdir",
            "Create",
            "Write",
            "Truncate",
            "PunchHole",
            "Fsync",
            "Fdatasync",
            "FsyncDir",
            "Syncfs",
            "Rename",
            "Unlink",
            "Clone",
            "UnlinkHold",
            "HeldWrite",
            "HeldClose",
        ] {
            assert!(kinds.contains(k), "no {k} in {kinds:?}");
        }
    }
}
