//! The workload's operations and an in-memory model of the file system
//! they build, with the history the checker needs: every binding of every
//! path, every version of every file (as block hashes), and every sync.

use crate::hash::{block_hash, BlockHash, BLOCK};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// A file of the model (an inode: it keeps its number across renames).
pub type Ino = u32;

/// One operation of the workload. Paths are relative to the mount point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// mkdir.
    Mkdir { path: String },
    /// Create a new empty file (O_CREAT|O_EXCL).
    Create { path: String, ino: Ino },
    /// pwrite `data` at `off`.
    Write {
        path: String,
        ino: Ino,
        off: u64,
        data: Vec<u8>,
    },
    /// ftruncate.
    Truncate { path: String, ino: Ino, size: u64 },
    /// fallocate(PUNCH_HOLE | KEEP_SIZE).
    PunchHole {
        path: String,
        ino: Ino,
        off: u64,
        len: u64,
    },
    /// fsync of a file.
    Fsync { path: String, ino: Ino },
    /// fdatasync of a file.
    Fdatasync { path: String, ino: Ino },
    /// fsync of a directory.
    FsyncDir { path: String },
    /// syncfs.
    Syncfs,
    /// rename(2), possibly over an existing file (`replaced`).
    Rename {
        from: String,
        to: String,
        ino: Ino,
        replaced: Option<Ino>,
    },
    /// unlink.
    Unlink { path: String, ino: Ino },
    /// Open `path`, unlink it and keep it open: an orphan whose blocks the
    /// file system must reclaim at the next mount after a crash.
    UnlinkHold { path: String, ino: Ino },
    /// Write `data` at the end of a held orphan and fsync it.
    HeldWrite { ino: Ino, data: Vec<u8> },
    /// Close a held orphan (the file system frees it).
    HeldClose { ino: Ino },
    /// Create `dst` and FICLONE `src` into it (a reflink copy).
    Clone {
        src: String,
        dst: String,
        src_ino: Ino,
        dst_ino: Ino,
    },
}

/// What a sync operation makes durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncKind {
    /// fsync of a file: its data, its size and the namespace operations
    /// that involved it (its creation, its renames).
    File(Ino),
    /// fdatasync of a file: its data and size.
    Data(Ino),
    /// fsync of a directory: its entries.
    Dir(String),
    /// syncfs: everything.
    Fs,
}

impl Op {
    /// The sync kind of a sync operation.
    pub fn sync_kind(&self) -> Option<SyncKind> {
        match self {
            Op::Fsync { ino, .. } => Some(SyncKind::File(*ino)),
            Op::Fdatasync { ino, .. } => Some(SyncKind::Data(*ino)),
            Op::FsyncDir { path } => Some(SyncKind::Dir(path.clone())),
            Op::Syncfs => Some(SyncKind::Fs),
            _ => None,
        }
    }

    /// A short description (no data).
    pub fn describe(&self) -> String {
        match self {
            Op::Write {
                path, off, data, ..
            } => format!("write {path} {}+{}", off, data.len()),
            Op::HeldWrite { ino, data } => format!("write orphan #{ino} +{}", data.len()),
            other => format!("{other:?}"),
        }
    }
}

/// A binding of a path: from operation `op` on, the path names `ino`
/// (or nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The operation.
    pub op: usize,
    /// The file named, if any.
    pub ino: Option<Ino>,
    /// The files whose fsync makes this binding durable (the file
    /// created, moved or linked by the operation).
    pub involved: Vec<Ino>,
}

/// A version of a file's contents, from operation `op` on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The operation that produced it.
    pub op: usize,
    /// Size in bytes.
    pub size: u64,
    /// Hash of each 4 KiB block (the last zero-padded).
    pub blocks: Arc<Vec<BlockHash>>,
}

/// Everything the workload did, as the checker needs it.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Operations so far.
    pub ops: usize,
    /// Every path that ever named a file, with its bindings in order.
    pub bindings: BTreeMap<String, Vec<Binding>>,
    /// Every version of every file, in order.
    pub versions: HashMap<Ino, Vec<Version>>,
    /// The sync operations in order: (operation, kind). The workload's
    /// progress record counts the completed ones.
    pub syncs: Vec<(usize, SyncKind)>,
    /// Directories and the operation that made them.
    pub dirs: BTreeMap<String, usize>,
}

/// The model file system.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// Current names.
    pub names: BTreeMap<String, Ino>,
    /// Current contents of live files.
    pub content: HashMap<Ino, Vec<u8>>,
    /// Current block hashes of live files.
    blocks: HashMap<Ino, Vec<BlockHash>>,
    /// Current directories.
    pub dirs: BTreeSet<String>,
    /// The history.
    pub hist: History,
    next_ino: Ino,
}

/// Parent directory of a relative path ("" for the root).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

impl Model {
    /// An empty model.
    pub fn new() -> Self {
        Model {
            next_ino: 1,
            ..Model::default()
        }
    }

    /// A fresh inode number.
    pub fn new_ino(&mut self) -> Ino {
        let i = self.next_ino;
        self.next_ino += 1;
        i
    }

    /// Bytes in live files.
    pub fn live_bytes(&self) -> u64 {
        self.content.values().map(|c| c.len() as u64).sum()
    }

    /// Current size of a live file.
    pub fn size(&self, ino: Ino) -> u64 {
        self.content.get(&ino).map_or(0, |c| c.len() as u64)
    }

    fn bind(&mut self, path: &str, ino: Option<Ino>, involved: Vec<Ino>) {
        let op = self.hist.ops;
        match ino {
            Some(i) => {
                self.names.insert(path.to_string(), i);
            }
            None => {
                self.names.remove(path);
            }
        }
        self.hist
            .bindings
            .entry(path.to_string())
            .or_default()
            .push(Binding { op, ino, involved });
    }

    /// Recomputes the hashes of blocks `first..=last` (clamped) of `ino`
    /// and records a version.
    fn changed(&mut self, ino: Ino, first: u64, last: u64) {
        let op = self.hist.ops;
        let c = self.content.get(&ino).map_or(&[][..], |c| &c[..]);
        let nblocks = c.len().div_ceil(BLOCK);
        let b = self.blocks.entry(ino).or_default();
        let old_len = b.len();
        b.resize(nblocks, block_hash(&[]));
        let from = (first as usize).min(old_len.saturating_sub(1));
        let upto = nblocks.min(last as usize + 1);
        for (k, h) in b.iter_mut().enumerate().take(upto).skip(from) {
            let s = k * BLOCK;
            *h = block_hash(&c[s..(s + BLOCK).min(c.len())]);
        }
        let v = Version {
            op,
            size: c.len() as u64,
            blocks: Arc::new(b.clone()),
        };
        self.hist.versions.entry(ino).or_default().push(v);
    }

    fn drop_file(&mut self, ino: Ino) {
        self.content.remove(&ino);
        self.blocks.remove(&ino);
    }

    /// The tree as the checker would find it if every operation so far
    /// had reached the disk.
    pub fn snapshot(&self) -> crate::check::Snapshot {
        let mut s = crate::check::Snapshot::default();
        for (p, i) in &self.names {
            s.files.insert(
                p.clone(),
                crate::check::FileSnap {
                    size: self.size(*i),
                    blocks: self.blocks.get(i).cloned().unwrap_or_default(),
                },
            );
        }
        s.dirs = self.dirs.clone();
        s
    }

    /// Applies `op` (valid for the current state) and records it.
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Mkdir { path } => {
                self.dirs.insert(path.clone());
                self.hist.dirs.insert(path.clone(), self.hist.ops);
            }
            Op::Create { path, ino } => {
                self.content.insert(*ino, Vec::new());
                self.bind(path, Some(*ino), vec![*ino]);
                self.changed(*ino, 0, 0);
            }
            Op::Write { ino, off, data, .. } => {
                if let Some(c) = self.content.get_mut(ino) {
                    let end = *off as usize + data.len();
                    if c.len() < end {
                        c.resize(end, 0);
                    }
                    c[*off as usize..end].copy_from_slice(data);
                }
                let last = (*off + data.len().max(1) as u64 - 1) / BLOCK as u64;
                self.changed(*ino, *off / BLOCK as u64, last);
            }
            Op::Truncate { ino, size, .. } => {
                let old = self.size(*ino);
                if let Some(c) = self.content.get_mut(ino) {
                    c.resize(*size as usize, 0);
                }
                let k = old.min(*size) / BLOCK as u64;
                self.changed(*ino, k, k);
            }
            Op::PunchHole { ino, off, len, .. } => {
                let size = self.size(*ino);
                let end = (off + len).min(size);
                if let Some(c) = self.content.get_mut(ino) {
                    if *off < end {
                        c[*off as usize..end as usize].fill(0);
                    }
                }
                let last = end.saturating_sub(1) / BLOCK as u64;
                self.changed(*ino, off / BLOCK as u64, last);
            }
            Op::Rename {
                from,
                to,
                ino,
                replaced,
            } => {
                let involved: Vec<Ino> = std::iter::once(*ino).chain(*replaced).collect();
                self.bind(from, None, involved.clone());
                self.bind(to, Some(*ino), involved);
                if let Some(r) = replaced {
                    self.drop_file(*r);
                }
            }
            Op::Unlink { path, ino } | Op::UnlinkHold { path, ino } => {
                self.bind(path, None, vec![*ino]);
                self.drop_file(*ino);
            }
            Op::HeldWrite { .. } | Op::HeldClose { .. } => {}
            Op::Clone {
                src_ino,
                dst,
                dst_ino,
                ..
            } => {
                let c = self.content.get(src_ino).cloned().unwrap_or_default();
                let n = c.len().div_ceil(BLOCK) as u64;
                self.content.insert(*dst_ino, c);
                self.bind(dst, Some(*dst_ino), vec![*dst_ino]);
                self.changed(*dst_ino, 0, n);
            }
            Op::Fsync { .. } | Op::Fdatasync { .. } | Op::FsyncDir { .. } | Op::Syncfs => {}
        }
        if let Some(k) = op.sync_kind() {
            self.hist.syncs.push((self.hist.ops, k));
        }
        self.hist.ops += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hashes;

    #[test]
    fn versions_track_contents() {
        let mut m = Model::new();
        let a = m.new_ino();
        let p = "d/a".to_string();
        m.apply(&Op::Mkdir { path: "d".into() });
        m.apply(&Op::Create {
            path: p.clone(),
            ino: a,
        });
        m.apply(&Op::Write {
            path: p.clone(),
            ino: a,
            off: 5000,
            data: vec![7; 10000],
        });
        m.apply(&Op::Truncate {
            path: p.clone(),
            ino: a,
            size: 9000,
        });
        m.apply(&Op::PunchHole {
            path: p.clone(),
            ino: a,
            off: 4096,
            len: 4096,
        });
        m.apply(&Op::Write {
            path: p.clone(),
            ino: a,
            off: 100,
            data: vec![1; 3],
        });
        m.apply(&Op::Fsync {
            path: p.clone(),
            ino: a,
        });
        let b = m.new_ino();
        m.apply(&Op::Clone {
            src: p.clone(),
            dst: "d/b".into(),
            src_ino: a,
            dst_ino: b,
        });
        m.apply(&Op::Rename {
            from: "d/b".into(),
            to: p.clone(),
            ino: b,
            replaced: Some(a),
        });
        // Every version's hashes equal the hashes of the contents.
        let mut c = vec![0u8; 15000];
        c[5000..].fill(7);
        c.truncate(9000);
        c[4096..8192].fill(0);
        c[100..103].fill(1);
        let va = &m.hist.versions[&a];
        assert_eq!(va.len(), 5);
        assert_eq!(*va.last().unwrap().blocks, hashes(&c));
        assert_eq!(va.last().unwrap().size, 9000);
        assert_eq!(*m.hist.versions[&b][0].blocks, hashes(&c));
        assert_eq!(m.names[&p], b);
        assert!(!m.names.contains_key("d/b"));
        assert_eq!(m.hist.syncs, vec![(6, SyncKind::File(a))]);
        assert_eq!(m.hist.bindings[&p].len(), 2);
        assert_eq!(m.hist.bindings["d/b"][1].ino, None);
        assert_eq!(m.content.len(), 1);
        assert_eq!(parent("d/b"), "d");
        assert_eq!(parent("x"), "");
    }
}
