//! What a crash image must hold, given how far the workload got.
//!
//! The workload writes a progress record after each sync operation
//! returns (in the same write stream, with O_DIRECT|O_DSYNC): a crash image
//! whose record says `n` shows that syncs `1..=n` completed, and no
//! operation after sync `n + 1` can have reached the disk (it started only
//! after record `n + 1` was durable). So with `lo` = the operation of sync
//! `n` and `hi` = the operation of sync `n + 1`:
//!
//! - a path binding (create, rename, unlink) made at operation `c` is
//!   durable if a sync in `(c, lo]` covers it: syncfs, an fsync of the
//!   directory, or an fsync of a file the operation involved (the file
//!   created or moved: its fsync commits the transaction that named it);
//! - a file's contents are durable if its last change up to `hi` was
//!   followed, by `lo`, by a syncfs, fsync or fdatasync of it;
//! - for each path, the candidate states are its last durable binding and
//!   every later binding up to `hi`. If every candidate is absent or a
//!   file with durable contents, the path must be exactly one of them
//!   (fsync'd data present and bit-exact, deleted files gone, a rename
//!   over a name leaves the complete old or the complete new file);
//! - otherwise the path is loose: if present, its size is at most the
//!   largest any of its files ever had, and every 4 KiB block equals that
//!   block in some version of a file that path ever named, or zeros.
//!
//! Anything else in the tree (a file never named, a directory never made)
//! is a failure too.

use crate::hash::{zero_hash, BlockHash};
use crate::model::{parent, Binding, History, Ino, SyncKind, Version};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A regular file found in a crash image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSnap {
    /// Size in bytes.
    pub size: u64,
    /// Block hashes.
    pub blocks: Vec<BlockHash>,
}

/// The tree found in a crash image (paths relative to the root).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Regular files.
    pub files: BTreeMap<String, FileSnap>,
    /// Directories.
    pub dirs: BTreeSet<String>,
    /// Anything else (symlinks, devices...): never made by the workload.
    pub others: Vec<String>,
}

/// What was checked at a crash point.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Paths that had to be present with exact contents.
    pub exact_present: usize,
    /// Paths that had to be absent.
    pub exact_absent: usize,
    /// Paths with more than one allowed exact state (renames over them,
    /// deletes...): atomicity checks.
    pub atomic: usize,
    /// Paths checked block by block against their history.
    pub loose: usize,
    /// Failures, one line each.
    pub failures: Vec<String>,
}

/// The operation range a progress count allows: (`lo`, `hi`).
pub fn window(hist: &History, n: usize) -> (Option<usize>, usize) {
    let lo = n
        .checked_sub(1)
        .and_then(|k| hist.syncs.get(k))
        .map(|s| s.0);
    let hi = hist.syncs.get(n).map_or(hist.ops, |s| s.0);
    (lo, hi)
}

fn syncs_in(hist: &History, after: Option<usize>, lo: Option<usize>) -> &[(usize, SyncKind)] {
    let Some(lo) = lo else { return &[] };
    let start = hist
        .syncs
        .partition_point(|s| after.is_some_and(|a| s.0 <= a));
    let end = hist.syncs.partition_point(|s| s.0 <= lo);
    hist.syncs.get(start..end.max(start)).unwrap_or(&[])
}

fn binding_durable(hist: &History, path: &str, b: &Binding, lo: Option<usize>) -> bool {
    syncs_in(hist, Some(b.op), lo).iter().any(|(_, k)| match k {
        SyncKind::Fs => true,
        SyncKind::Dir(d) => d == parent(path),
        SyncKind::File(f) => b.involved.contains(f),
        SyncKind::Data(_) => false,
    })
}

/// The version of `ino` as of operation `hi` if it is durable by `lo`.
fn durable_version(hist: &History, ino: Ino, lo: Option<usize>, hi: usize) -> Option<&Version> {
    let vs = hist.versions.get(&ino)?;
    let v = vs.iter().rev().find(|v| v.op <= hi)?;
    syncs_in(hist, Some(v.op), lo)
        .iter()
        .any(|(_, k)| match k {
            SyncKind::Fs => true,
            SyncKind::File(f) | SyncKind::Data(f) => *f == ino,
            SyncKind::Dir(_) => false,
        })
        .then_some(v)
}

/// One allowed exact state of a path.
#[derive(Clone, Debug)]
enum Exact<'a> {
    Absent,
    File(Ino, &'a Version),
}

/// Checks `snap` against the history for progress count `n`; `ignore` are
/// top-level names the file system makes itself (lost+found).
pub fn verify(hist: &History, n: usize, snap: &Snapshot, ignore: &[&str]) -> Report {
    let mut r = Report::default();
    if n > hist.syncs.len() {
        r.failures.push(format!(
            "progress record says {n} syncs completed; the workload has {}",
            hist.syncs.len()
        ));
        return r;
    }
    let (lo, hi) = window(hist, n);
    let ignored = |p: &str| {
        ignore
            .iter()
            .any(|i| p == *i || p.starts_with(&format!("{i}/")))
    };
    for (path, all) in &hist.bindings {
        let bs: Vec<&Binding> = all.iter().filter(|b| b.op <= hi).collect();
        if bs.is_empty() {
            continue;
        }
        // The last durable binding (or the initial "absent").
        let start = bs
            .iter()
            .rposition(|b| lo.is_some_and(|lo| b.op <= lo) && binding_durable(hist, path, b, lo));
        let mut cands: Vec<Option<Ino>> = Vec::new();
        match start {
            Some(s) => cands.extend(bs[s..].iter().map(|b| b.ino)),
            None => {
                cands.push(None);
                cands.extend(bs.iter().map(|b| b.ino));
            }
        }
        let mut exact: Vec<Exact> = Vec::new();
        let mut loose = false;
        for c in &cands {
            match c {
                None => exact.push(Exact::Absent),
                Some(i) => match durable_version(hist, *i, lo, hi) {
                    Some(v) => exact.push(Exact::File(*i, v)),
                    None => loose = true,
                },
            }
        }
        let found = snap.files.get(path);
        if loose {
            r.loose += 1;
            if let Some(f) = found {
                check_loose(hist, path, &bs, hi, f, &mut r);
            }
            continue;
        }
        let distinct: HashSet<String> = exact
            .iter()
            .map(|e| match e {
                Exact::Absent => "absent".to_string(),
                Exact::File(_, v) => format!("{}:{}", v.size, v.op),
            })
            .collect();
        if distinct.len() > 1 {
            r.atomic += 1;
        }
        let ok = match found {
            None => exact.iter().any(|e| matches!(e, Exact::Absent)),
            Some(f) => exact.iter().any(|e| match e {
                Exact::File(_, v) => v.size == f.size && *v.blocks == f.blocks,
                Exact::Absent => false,
            }),
        };
        match found {
            None if exact.iter().all(|e| matches!(e, Exact::Absent)) => r.exact_absent += 1,
            None => r.exact_present += 1,
            Some(_) if exact.iter().all(|e| matches!(e, Exact::Absent)) => r.exact_absent += 1,
            Some(_) => r.exact_present += 1,
        }
        if !ok {
            r.failures.push(describe_exact(path, &exact, found));
        }
    }
    for path in snap.files.keys() {
        let known = hist
            .bindings
            .get(path)
            .is_some_and(|bs| bs.iter().any(|b| b.op <= hi && b.ino.is_some()));
        if !known && !ignored(path) {
            r.failures
                .push(format!("{path}: a file the workload never made"));
        }
    }
    for d in &snap.dirs {
        let known = hist.dirs.get(d).is_some_and(|&op| op <= hi);
        if !known && !ignored(d) {
            r.failures
                .push(format!("{d}/: a directory the workload never made"));
        }
    }
    for (d, &op) in &hist.dirs {
        let durable = syncs_in(hist, Some(op), lo)
            .iter()
            .any(|(_, k)| *k == SyncKind::Fs);
        if durable && !snap.dirs.contains(d) {
            r.failures
                .push(format!("{d}/: directory lost (made durable by a syncfs)"));
        }
    }
    for o in &snap.others {
        if !ignored(o) {
            r.failures
                .push(format!("{o}: not a regular file or directory"));
        }
    }
    r
}

fn describe_exact(path: &str, exact: &[Exact], found: Option<&FileSnap>) -> String {
    let want: Vec<String> = exact
        .iter()
        .map(|e| match e {
            Exact::Absent => "absent".to_string(),
            Exact::File(i, v) => format!("file #{i} as of op {} ({} bytes)", v.op, v.size),
        })
        .collect();
    let got = match found {
        None => "absent".to_string(),
        Some(f) => {
            let mut s = format!("{} bytes", f.size);
            // Where it first differs from the closest candidate.
            for e in exact {
                if let Exact::File(_, v) = e {
                    let k = v
                        .blocks
                        .iter()
                        .zip(&f.blocks)
                        .position(|(a, b)| a != b)
                        .unwrap_or(v.blocks.len().min(f.blocks.len()));
                    s.push_str(&format!(
                        "; vs op {}: first different block {k} of {}",
                        v.op,
                        v.blocks.len().max(f.blocks.len())
                    ));
                }
            }
            s
        }
    };
    format!(
        "{path}: synced state lost: must be one of [{}], found {got}",
        want.join(" | ")
    )
}

fn check_loose(
    hist: &History,
    path: &str,
    bs: &[&Binding],
    hi: usize,
    f: &FileSnap,
    r: &mut Report,
) {
    let inos: BTreeSet<Ino> = bs.iter().filter_map(|b| b.ino).collect();
    let versions: Vec<&Version> = inos
        .iter()
        .filter_map(|i| hist.versions.get(i))
        .flat_map(|vs| vs.iter().filter(|v| v.op <= hi))
        .collect();
    let max = versions.iter().map(|v| v.size).max().unwrap_or(0);
    if f.size > max {
        r.failures.push(format!(
            "{path}: {} bytes, but its files never had more than {max}",
            f.size
        ));
        return;
    }
    let zero = zero_hash();
    let mut bad = Vec::new();
    for (k, h) in f.blocks.iter().enumerate() {
        if *h == zero {
            continue;
        }
        if !versions.iter().any(|v| v.blocks.get(k) == Some(h)) {
            bad.push(k);
        }
    }
    if !bad.is_empty() {
        r.failures.push(format!(
            "{path}: {} block(s) hold data this path's files never held (blocks {:?}{})",
            bad.len(),
            &bad[..bad.len().min(8)],
            if bad.len() > 8 { ", ..." } else { "" }
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hashes;
    use crate::model::{Model, Op};

    fn snap_of(m: &Model) -> Snapshot {
        let mut s = Snapshot::default();
        for (p, i) in &m.names {
            let c = &m.content[i];
            s.files.insert(
                p.clone(),
                FileSnap {
                    size: c.len() as u64,
                    blocks: hashes(c),
                },
            );
        }
        s.dirs = m.dirs.clone();
        s
    }

    /// Runs ops; returns the model and snapshots after each op.
    fn run(ops: &[Op]) -> (Model, Vec<Snapshot>) {
        let mut m = Model::new();
        let mut snaps = vec![snap_of(&m)];
        for op in ops {
            m.apply(op);
            snaps.push(snap_of(&m));
        }
        (m, snaps)
    }

    fn w(path: &str, ino: Ino, off: u64, v: u8, len: usize) -> Op {
        Op::Write {
            path: path.into(),
            ino,
            off,
            data: vec![v; len],
        }
    }

    fn ops_rename() -> Vec<Op> {
        vec![
            Op::Mkdir { path: "d".into() }, // 0
            Op::Create {
                path: "d/a".into(),
                ino: 1,
            }, // 1
            w("d/a", 1, 0, 1, 10000),       // 2
            Op::Fsync {
                path: "d/a".into(),
                ino: 1,
            }, // 3 sync 1
            Op::Create {
                path: "d/a.tmp".into(),
                ino: 2,
            }, // 4
            w("d/a.tmp", 2, 0, 2, 9000),    // 5
            Op::Fsync {
                path: "d/a.tmp".into(),
                ino: 2,
            }, // 6 sync 2
            Op::Rename {
                from: "d/a.tmp".into(),
                to: "d/a".into(),
                ino: 2,
                replaced: Some(1),
            }, // 7
            Op::Create {
                path: "d/b".into(),
                ino: 3,
            }, // 8
            w("d/b", 3, 0, 3, 5000),        // 9
            Op::Syncfs,                     // 10 sync 3
        ]
    }

    #[test]
    fn every_state_the_workload_passed_through_is_accepted() {
        let ops = ops_rename();
        let (m, snaps) = run(&ops);
        // The state after each op is a valid crash state for every
        // progress count it could be seen with.
        for (k, s) in snaps.iter().enumerate() {
            let done = m.hist.syncs.iter().filter(|x| x.0 < k).count();
            let r = verify(&m.hist, done, s, &[]);
            assert!(r.failures.is_empty(), "after {k} ops: {:?}", r.failures);
        }
        let r = verify(&m.hist, 3, &snaps[11], &[]);
        assert_eq!((r.exact_present, r.loose), (2, 0));
    }

    #[test]
    fn lost_fsync_data_is_caught() {
        let ops = ops_rename();
        let (m, snaps) = run(&ops);
        // Progress 1 (fsync of d/a done) but the image still has the state
        // before the write.
        let r = verify(&m.hist, 1, &snaps[2], &[]);
        assert!(
            r.failures
                .iter()
                .any(|f| f.contains("d/a: synced state lost")),
            "{:?}",
            r.failures
        );
        // File missing altogether.
        let r = verify(&m.hist, 1, &snaps[1], &[]);
        assert!(!r.failures.is_empty());
        // After syncfs (progress 3) everything is exact: a stale d/b fails.
        let r = verify(&m.hist, 3, &snaps[9], &[]);
        assert!(
            r.failures.iter().any(|f| f.starts_with("d/b")),
            "{:?}",
            r.failures
        );
    }

    #[test]
    fn rename_is_atomic() {
        let ops = ops_rename();
        let (m, snaps) = run(&ops);
        // Progress 2: the rename may or may not have happened: old or new
        // content, both complete.
        for s in [&snaps[7], &snaps[8]] {
            let r = verify(&m.hist, 2, s, &[]);
            assert!(r.failures.is_empty(), "{:?}", r.failures);
            assert!(r.atomic >= 1);
        }
        // A mix of the two is not allowed.
        let mut s = snaps[8].clone();
        let f = s.files.get_mut("d/a").unwrap();
        f.blocks[0] = hashes(&[1; 4096])[0];
        let r = verify(&m.hist, 2, &s, &[]);
        assert!(
            r.failures.iter().any(|f| f.contains("d/a")),
            "{:?}",
            r.failures
        );
        // Name missing altogether: not atomic.
        let mut s = snaps[8].clone();
        s.files.remove("d/a");
        let r = verify(&m.hist, 2, &s, &[]);
        assert!(!r.failures.is_empty());
    }

    #[test]
    fn loose_files_hold_only_what_they_held() {
        let ops = vec![
            Op::Mkdir { path: "d".into() },
            Op::Syncfs, // sync 1
            Op::Create {
                path: "d/x".into(),
                ino: 1,
            }, // 2
            w("d/x", 1, 0, 5, 8192),
            w("d/x", 1, 4096, 6, 8192),
            Op::Syncfs, // sync 2 (op 5)
        ];
        let (m, snaps) = run(&ops);
        // Progress 1: d/x is loose; a mix of versions block by block is fine.
        let mut s = snaps[5].clone();
        s.files.get_mut("d/x").unwrap().blocks[1] = hashes(&[5; 4096])[0];
        let r = verify(&m.hist, 1, &s, &[]);
        assert!(r.failures.is_empty(), "{:?}", r.failures);
        assert_eq!(r.loose, 1);
        // Zeros are fine, foreign data is not.
        s.files.get_mut("d/x").unwrap().blocks[2] = zero_hash();
        assert!(verify(&m.hist, 1, &s, &[]).failures.is_empty());
        s.files.get_mut("d/x").unwrap().blocks[0] = hashes(&[9; 4096])[0];
        let r = verify(&m.hist, 1, &s, &[]);
        assert!(r.failures[0].contains("never held"), "{:?}", r.failures);
        // Too big.
        let mut s = snaps[5].clone();
        let f = s.files.get_mut("d/x").unwrap();
        f.size = 20000;
        f.blocks.push(zero_hash());
        f.blocks.push(zero_hash());
        assert!(!verify(&m.hist, 1, &s, &[]).failures.is_empty());
        // Unknown files and directories.
        let mut s = snaps[5].clone();
        s.files.insert(
            "d/zz".into(),
            FileSnap {
                size: 0,
                blocks: vec![],
            },
        );
        s.dirs.insert("e".into());
        s.dirs.insert("lost+found".into());
        let r = verify(&m.hist, 1, &s, &["lost+found"]);
        assert_eq!(r.failures.len(), 2, "{:?}", r.failures);
        // Directory made durable by syncfs, then lost.
        let mut s = snaps[5].clone();
        s.dirs.clear();
        s.files.clear();
        let r = verify(&m.hist, 1, &s, &[]);
        assert!(r.failures.iter().any(|f| f.contains("directory lost")));
        // Progress beyond the workload.
        assert!(!verify(&m.hist, 9, &snaps[5], &[]).failures.is_empty());
    }

    #[test]
    fn fsync_of_a_moved_file_makes_its_new_name_durable() {
        let ops = vec![
            Op::Mkdir { path: "d".into() },
            Op::Syncfs,
            Op::Create {
                path: "d/x".into(),
                ino: 1,
            },
            w("d/x", 1, 0, 5, 100),
            Op::Fsync {
                path: "d/x".into(),
                ino: 1,
            }, // sync 2
            Op::Rename {
                from: "d/x".into(),
                to: "d/y".into(),
                ino: 1,
                replaced: None,
            },
            Op::Fsync {
                path: "d/y".into(),
                ino: 1,
            }, // sync 3
            Op::Fdatasync {
                path: "d/y".into(),
                ino: 1,
            }, // sync 4
        ];
        let (m, snaps) = run(&ops);
        assert!(verify(&m.hist, 3, &snaps[7], &[]).failures.is_empty());
        // Old name still there after the fsync of the moved file: lost rename.
        assert!(!verify(&m.hist, 3, &snaps[5], &[]).failures.is_empty());
        // Before sync 3 completed either name is fine.
        assert!(verify(&m.hist, 2, &snaps[5], &[]).failures.is_empty());
        assert!(verify(&m.hist, 2, &snaps[6], &[]).failures.is_empty());
    }
}
