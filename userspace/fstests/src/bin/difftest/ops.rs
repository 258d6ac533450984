//! The random operations of difftest: generation from a seeded generator
//! and a model of the tree, and execution on one tree with an exact
//! outcome (the value, or the errno).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use fstests::content::{self, random_bytes};
use fstests::sys::{self, Errno, Time, RENAME_EXCHANGE, RENAME_NOREPLACE};

pub const BLOCK: usize = 4096;

/// Short names collide often, so operations meet existing entries.
const NAMES: &[&str] = &["a", "b", "c", "d", "e", "f", "g", "h"];

#[derive(Clone, Debug)]
pub enum Op {
    Create {
        path: String,
        flags: i32,
        mode: u32,
    },
    Write {
        path: String,
        create: bool,
        append: bool,
        off: u64,
        data: Vec<u8>,
    },
    Read {
        path: String,
        off: u64,
        len: usize,
    },
    Truncate {
        path: String,
        size: u64,
    },
    Punch {
        path: String,
        off: u64,
        len: u64,
    },
    Mkdir {
        path: String,
        mode: u32,
    },
    Rmdir {
        path: String,
    },
    Unlink {
        path: String,
    },
    Link {
        src: String,
        dst: String,
    },
    Symlink {
        target: Vec<u8>,
        path: String,
    },
    Rename {
        src: String,
        dst: String,
        flags: u32,
    },
    Chmod {
        path: String,
        mode: u32,
    },
    Utimes {
        path: String,
        atime: Time,
        mtime: Time,
        nofollow: bool,
    },
    Mkfifo {
        path: String,
        mode: u32,
    },
    Stat {
        path: String,
    },
    Fsync {
        path: String,
    },
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |s: &str| -> String {
            if s.len() > 40 {
                format!("{}…({} bytes)", &s[..20], s.len())
            } else {
                s.to_string()
            }
        };
        match self {
            Op::Create { path, flags, mode } => {
                let mut fl = vec!["O_CREAT"];
                if flags & libc::O_EXCL != 0 {
                    fl.push("O_EXCL");
                }
                if flags & libc::O_TRUNC != 0 {
                    fl.push("O_TRUNC");
                }
                write!(f, "create {} {} {mode:04o}", short(path), fl.join("|"))
            }
            Op::Write {
                path,
                create,
                append,
                off,
                data,
            } => write!(
                f,
                "write {}{}{} off={off} len={} sha={}",
                short(path),
                if *create { " O_CREAT" } else { "" },
                if *append { " O_APPEND" } else { "" },
                data.len(),
                &content::sha256_hex(data)[..12]
            ),
            Op::Read { path, off, len } => write!(f, "read {} off={off} len={len}", short(path)),
            Op::Truncate { path, size } => write!(f, "truncate {} {size}", short(path)),
            Op::Punch { path, off, len } => {
                write!(f, "punch-hole {} off={off} len={len}", short(path))
            }
            Op::Mkdir { path, mode } => write!(f, "mkdir {} {mode:04o}", short(path)),
            Op::Rmdir { path } => write!(f, "rmdir {}", short(path)),
            Op::Unlink { path } => write!(f, "unlink {}", short(path)),
            Op::Link { src, dst } => write!(f, "link {} {}", short(src), short(dst)),
            Op::Symlink { target, path } => {
                write!(
                    f,
                    "symlink {} -> {}",
                    short(path),
                    short(&String::from_utf8_lossy(target))
                )
            }
            Op::Rename { src, dst, flags } => {
                let fl = match *flags {
                    0 => "",
                    RENAME_NOREPLACE => " RENAME_NOREPLACE",
                    RENAME_EXCHANGE => " RENAME_EXCHANGE",
                    _ => " ?",
                };
                write!(f, "rename {} {}{fl}", short(src), short(dst))
            }
            Op::Chmod { path, mode } => write!(f, "chmod {} {mode:04o}", short(path)),
            Op::Utimes {
                path,
                atime,
                mtime,
                nofollow,
            } => write!(
                f,
                "utimensat {} atime={atime:?} mtime={mtime:?}{}",
                short(path),
                if *nofollow {
                    " AT_SYMLINK_NOFOLLOW"
                } else {
                    ""
                }
            ),
            Op::Mkfifo { path, mode } => write!(f, "mknod {} S_IFIFO|{mode:04o}", short(path)),
            Op::Stat { path } => write!(f, "lstat {}", short(path)),
            Op::Fsync { path } => write!(f, "fsync {}", short(path)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
}

/// What the generator believes the tree holds (relative paths). It only
/// steers the choice of paths; outcomes come from the file systems.
#[derive(Default)]
pub struct Model {
    pub entries: BTreeMap<String, Kind>,
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

fn under(p: &str, root: &str) -> bool {
    p == root || (p.len() > root.len() && p.starts_with(root) && p.as_bytes()[root.len()] == b'/')
}

impl Model {
    /// Rebuild from a real tree (sorted, so deterministic).
    pub fn scan(root: &Path) -> Model {
        let mut m = Model::default();
        fn rec(root: &Path, rel: &str, m: &mut Model) {
            let dir = if rel.is_empty() {
                root.to_path_buf()
            } else {
                root.join(rel)
            };
            let Ok(rd) = std::fs::read_dir(&dir) else {
                return;
            };
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .collect();
            names.sort();
            for n in names {
                let p = join(rel, &n);
                let Ok(st) = sys::lstat(&root.join(&p)) else {
                    continue;
                };
                let k = match st.st_mode & libc::S_IFMT {
                    libc::S_IFDIR => Kind::Dir,
                    libc::S_IFLNK => Kind::Symlink,
                    libc::S_IFIFO => Kind::Fifo,
                    _ => Kind::File,
                };
                m.entries.insert(p.clone(), k);
                if k == Kind::Dir {
                    rec(root, &p, m);
                }
            }
        }
        rec(root, "", &mut m);
        m
    }

    fn pick(&self, rng: &mut ChaCha8Rng, filter: impl Fn(Kind) -> bool) -> Option<String> {
        let v: Vec<&String> = self
            .entries
            .iter()
            .filter(|(_, k)| filter(**k))
            .map(|(p, _)| p)
            .collect();
        if v.is_empty() {
            None
        } else {
            Some(v[rng.random_range(0..v.len())].clone())
        }
    }

    fn remove_tree(&mut self, root: &str) {
        self.entries.retain(|p, _| !under(p, root));
    }

    fn take_tree(&mut self, root: &str) -> Vec<(String, Kind)> {
        let moved: Vec<(String, Kind)> = self
            .entries
            .iter()
            .filter(|(p, _)| under(p, root))
            .map(|(p, k)| (p[root.len()..].to_string(), *k))
            .collect();
        self.remove_tree(root);
        moved
    }

    fn put_tree(&mut self, root: &str, items: Vec<(String, Kind)>) {
        for (suffix, k) in items {
            self.entries.insert(format!("{root}{suffix}"), k);
        }
    }

    /// Apply the effect of an operation that succeeded on the reference
    /// tree `a` (whose relative root is `base`).
    pub fn apply(&mut self, op: &Op, a: &Path) {
        match op {
            Op::Create { path, .. }
            | Op::Write {
                path, create: true, ..
            } => {
                self.entries.entry(path.clone()).or_insert(Kind::File);
            }
            Op::Mkdir { path, .. } => {
                self.entries.insert(path.clone(), Kind::Dir);
            }
            Op::Mkfifo { path, .. } => {
                self.entries.insert(path.clone(), Kind::Fifo);
            }
            Op::Symlink { path, .. } => {
                self.entries.insert(path.clone(), Kind::Symlink);
            }
            Op::Rmdir { path } | Op::Unlink { path } => self.remove_tree(path),
            Op::Link { src, dst } => {
                let k = self.entries.get(src).copied().unwrap_or(Kind::File);
                self.entries.insert(dst.clone(), k);
            }
            Op::Rename { src, dst, flags } => {
                if src == dst {
                    return;
                }
                if *flags == RENAME_EXCHANGE {
                    let s = self.take_tree(src);
                    let d = self.take_tree(dst);
                    self.put_tree(dst, s);
                    self.put_tree(src, d);
                } else if sys::lstat(&a.join(src)).is_ok() {
                    // Renaming one hard link onto another of the same inode
                    // does nothing.
                } else {
                    let s = self.take_tree(src);
                    self.remove_tree(dst);
                    self.put_tree(dst, s);
                }
            }
            _ => {}
        }
    }
}

/// Seeded generator of operations for one process.
pub struct Gen {
    pub rng: ChaCha8Rng,
    pool: Vec<Vec<u8>>,
    dup_ratio: f64,
}

impl Gen {
    /// `seed` drives this process's choices; `pool_seed` the pool of
    /// duplicate blocks, shared by all processes (block 0 is all zeros).
    pub fn new(seed: u64, pool_seed: u64, dup_ratio: f64) -> Gen {
        let mut prng = content::rng(pool_seed, 1 << 32);
        let mut pool = vec![vec![0u8; BLOCK]];
        for _ in 1..16 {
            pool.push(random_bytes(&mut prng, BLOCK));
        }
        Gen {
            rng: content::rng(seed, 0),
            pool,
            dup_ratio,
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    fn name(&mut self) -> String {
        let r = self.rng.random_range(0..100);
        if r < 97 {
            NAMES[self.rng.random_range(0..NAMES.len())].to_string()
        } else {
            // Long names, up to and (rarely) past NAME_MAX.
            let len = [100, 200, 254, 255, 255, 256][self.rng.random_range(0..6)];
            let c = NAMES[self.rng.random_range(0..NAMES.len())];
            format!("{}{c}", "L".repeat(len - 1))
        }
    }

    /// A path that usually does not exist yet: an existing directory (or,
    /// rarely, a file or a missing directory) plus a name.
    fn new_path(&mut self, m: &Model) -> String {
        let r = self.rng.random_range(0..100);
        let parent = if r < 8 {
            m.pick(&mut self.rng, |k| k != Kind::Dir)
                .unwrap_or_default()
        } else if r < 14 {
            "zz".to_string()
        } else if self.chance(0.25) {
            String::new()
        } else {
            m.pick(&mut self.rng, |k| k == Kind::Dir)
                .unwrap_or_default()
        };
        let name = self.name();
        join(&parent, &name)
    }

    fn existing_or_new(
        &mut self,
        m: &Model,
        want: impl Fn(Kind) -> bool + Copy,
        p_want: f64,
        p_any: f64,
    ) -> String {
        let r: f64 = self.rng.random();
        if r < p_want {
            if let Some(p) = m.pick(&mut self.rng, want) {
                return p;
            }
        } else if r < p_want + p_any {
            if let Some(p) = m.pick(&mut self.rng, |_| true) {
                return p;
            }
        }
        self.new_path(m)
    }

    fn block(&mut self) -> Vec<u8> {
        if self.chance(self.dup_ratio) {
            let i = self.rng.random_range(0..self.pool.len());
            self.pool[i].clone()
        } else {
            random_bytes(&mut self.rng, BLOCK)
        }
    }

    fn data(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + BLOCK);
        while v.len() < len {
            let b = self.block();
            v.extend_from_slice(&b);
        }
        v.truncate(len);
        v
    }

    fn mode(&mut self, base: u32) -> u32 {
        let extra = if self.chance(0.15) {
            self.rng.random_range(0..8u32) << 9
        } else {
            0
        };
        extra | base | (self.rng.random_range(0..0o100u32) & 0o077)
    }

    fn time(&mut self) -> Time {
        match self.rng.random_range(0..20) {
            0 => Time::Omit,
            1 => Time::Now,
            _ => Time::At(
                self.rng.random_range(100_000_000..900_000_000),
                self.rng.random_range(0..1_000_000_000),
            ),
        }
    }

    fn symlink_target(&mut self) -> Vec<u8> {
        if self.chance(0.1) {
            // A long target (slow symlink): many components, still relative
            // and without "..", so it never leaves the link's directory.
            let len = self.rng.random_range(60..1500);
            let mut t = String::new();
            while t.len() < len {
                t.push_str(&"x".repeat(self.rng.random_range(1..60)));
                t.push('/');
            }
            t.push_str(NAMES[self.rng.random_range(0..NAMES.len())]);
            t.into_bytes()
        } else {
            let n = self.rng.random_range(1..=3);
            let parts: Vec<&str> = (0..n)
                .map(|_| NAMES[self.rng.random_range(0..NAMES.len())])
                .collect();
            parts.join("/").into_bytes()
        }
    }

    pub fn next(&mut self, m: &Model) -> Op {
        let n = m.entries.len();
        // Keep the tree between a few dozen and a few hundred entries.
        let grow = if n > 250 { 0.3 } else { 1.0 };
        let shrink = if n < 30 { 0.3 } else { 1.0 };
        let weights: [(u32, f64); 16] = [
            (0, 10.0 * grow),  // create
            (1, 18.0),         // write
            (2, 5.0),          // read
            (3, 5.0),          // truncate
            (4, 4.0),          // punch
            (5, 4.0 * grow),   // mkdir
            (6, 6.0 * shrink), // rmdir
            (7, 7.0 * shrink), // unlink
            (8, 4.0 * grow),   // link
            (9, 4.0 * grow),   // symlink
            (10, 9.0),         // rename
            (11, 4.0),         // chmod
            (12, 4.0),         // utimes
            (13, 2.0 * grow),  // mkfifo
            (14, 4.0),         // stat
            (15, 1.0),         // fsync
        ];
        let total: f64 = weights.iter().map(|w| w.1).sum();
        let mut x = self.rng.random::<f64>() * total;
        let mut kind = 0;
        for (k, w) in weights {
            if x < w {
                kind = k;
                break;
            }
            x -= w;
        }
        let is_file = |k: Kind| k == Kind::File;
        let is_dir = |k: Kind| k == Kind::Dir;
        let not_dir = |k: Kind| k != Kind::Dir;
        match kind {
            0 => {
                let path = self.existing_or_new(m, is_file, 0.3, 0.1);
                let mut flags = libc::O_CREAT;
                if self.chance(0.3) {
                    flags |= libc::O_EXCL;
                }
                if self.chance(0.3) {
                    flags |= libc::O_TRUNC;
                }
                Op::Create {
                    path,
                    flags,
                    mode: self.mode(0o600),
                }
            }
            1 => {
                let path = self.existing_or_new(m, is_file, 0.8, 0.1);
                let create = self.chance(0.3);
                let append = self.chance(0.08);
                let r = self.rng.random_range(0..100);
                let (off, len) = if r < 60 {
                    (
                        self.rng.random_range(0..64u64) * BLOCK as u64,
                        self.rng.random_range(1..=8) * BLOCK,
                    )
                } else if r < 78 {
                    (
                        self.rng.random_range(0..512u64) * BLOCK as u64,
                        self.rng.random_range(1..=4) * BLOCK,
                    )
                } else if r < 96 {
                    (
                        self.rng.random_range(0..(1u64 << 20)),
                        self.rng.random_range(1..20000),
                    )
                } else {
                    // Far out: past the 4 GiB and triple-indirect boundaries.
                    (
                        self.rng.random_range(0..(5u64 << 18)) * BLOCK as u64,
                        self.rng.random_range(1..=2) * BLOCK,
                    )
                };
                let data = self.data(len);
                Op::Write {
                    path,
                    create,
                    append,
                    off,
                    data,
                }
            }
            2 => {
                let path = self.existing_or_new(m, is_file, 0.85, 0.1);
                let off = if self.chance(0.5) {
                    0
                } else {
                    self.rng.random_range(0..(1u64 << 21))
                };
                Op::Read {
                    path,
                    off,
                    len: self.rng.random_range(1..(256 << 10)),
                }
            }
            3 => {
                let path = self.existing_or_new(m, is_file, 0.85, 0.1);
                let r = self.rng.random_range(0..100);
                let size = if r < 10 {
                    0
                } else if r < 60 {
                    self.rng.random_range(0..(256u64 << 10))
                } else if r < 95 {
                    self.rng.random_range(0..(2u64 << 20))
                } else {
                    self.rng.random_range(0..(6u64 << 30))
                };
                Op::Truncate { path, size }
            }
            4 => {
                let path = self.existing_or_new(m, is_file, 0.9, 0.05);
                let (off, len) = if self.chance(0.6) {
                    (
                        self.rng.random_range(0..64u64) * BLOCK as u64,
                        self.rng.random_range(1..=16u64) * BLOCK as u64,
                    )
                } else {
                    (
                        self.rng.random_range(0..(1u64 << 20)),
                        self.rng.random_range(1..100_000),
                    )
                };
                Op::Punch { path, off, len }
            }
            5 => Op::Mkdir {
                path: self.existing_or_new(m, |_| true, 0.0, 0.1),
                mode: self.mode(0o700),
            },
            6 => Op::Rmdir {
                path: self.existing_or_new(m, is_dir, 0.75, 0.15),
            },
            7 => Op::Unlink {
                path: self.existing_or_new(m, not_dir, 0.75, 0.15),
            },
            8 => {
                let src = self.existing_or_new(m, not_dir, 0.85, 0.1);
                let dst = self.existing_or_new(m, |_| true, 0.0, 0.1);
                Op::Link { src, dst }
            }
            9 => {
                let target = self.symlink_target();
                Op::Symlink {
                    target,
                    path: self.existing_or_new(m, |_| true, 0.0, 0.1),
                }
            }
            10 => {
                let src = self.existing_or_new(m, |_| true, 0.0, 0.92);
                let dst = if self.chance(0.4) {
                    if self.chance(0.5) {
                        let k = m.entries.get(&src).copied();
                        self.existing_or_new(m, |x| Some(x) == k, 0.9, 0.0)
                    } else {
                        self.existing_or_new(m, |_| true, 0.0, 0.9)
                    }
                } else {
                    self.new_path(m)
                };
                let r = self.rng.random_range(0..10);
                let flags = match r {
                    0 => RENAME_NOREPLACE,
                    1 => RENAME_EXCHANGE,
                    _ => 0,
                };
                Op::Rename { src, dst, flags }
            }
            11 => {
                let path = self.existing_or_new(m, |_| true, 0.0, 0.9);
                Op::Chmod {
                    path,
                    mode: self.mode(0o700),
                }
            }
            12 => {
                let path = self.existing_or_new(m, |_| true, 0.0, 0.9);
                let (atime, mtime) = (self.time(), self.time());
                Op::Utimes {
                    path,
                    atime,
                    mtime,
                    nofollow: self.chance(0.3),
                }
            }
            13 => Op::Mkfifo {
                path: self.existing_or_new(m, |_| true, 0.0, 0.1),
                mode: self.mode(0o600),
            },
            14 => Op::Stat {
                path: self.existing_or_new(m, |_| true, 0.0, 0.9),
            },
            _ => Op::Fsync {
                path: self.existing_or_new(m, |_| true, 0.0, 0.9),
            },
        }
    }
}

fn err(e: Errno) -> String {
    format!("err {e:?}")
}

fn p(root: &Path, rel: &str) -> PathBuf {
    root.join(rel)
}

/// Run `op` on the tree at `root`; the outcome is a string that must be the
/// same on both trees.
pub fn exec(op: &Op, root: &Path) -> String {
    match run(op, root) {
        Ok(s) => s,
        Err(e) => err(e),
    }
}

const NB: i32 = libc::O_NONBLOCK; // never block on a FIFO

fn run(op: &Op, root: &Path) -> Result<String, Errno> {
    match op {
        Op::Create { path, flags, mode } => {
            let fd = sys::open(&p(root, path), flags | libc::O_WRONLY | NB, *mode)?;
            let st = sys::fstat(&fd)?;
            Ok(format!("ok size={}", st.st_size))
        }
        Op::Write {
            path,
            create,
            append,
            off,
            data,
        } => {
            let mut fl = libc::O_WRONLY | NB;
            if *create {
                fl |= libc::O_CREAT;
            }
            if *append {
                fl |= libc::O_APPEND;
            }
            let fd = sys::open(&p(root, path), fl, 0o644)?;
            let n = if *append {
                sys::write(&fd, data)?
            } else {
                sys::pwrite(&fd, data, *off)?
            };
            let st = sys::fstat(&fd)?;
            Ok(format!("ok n={n} size={}", st.st_size))
        }
        Op::Read { path, off, len } => {
            let fd = sys::open(&p(root, path), libc::O_RDONLY | NB, 0)?;
            let mut buf = vec![0u8; *len];
            let n = sys::pread_full(&fd, &mut buf, *off)?;
            Ok(format!(
                "ok n={n} sha={}",
                &content::sha256_hex(&buf[..n])[..16]
            ))
        }
        Op::Truncate { path, size } => {
            sys::truncate(&p(root, path), *size as i64)?;
            Ok("ok".into())
        }
        Op::Punch { path, off, len } => {
            let fd = sys::open(&p(root, path), libc::O_WRONLY | NB, 0)?;
            let st = sys::fstat(&fd)?;
            let size = st.st_size as u64;
            if st.st_mode & libc::S_IFMT != libc::S_IFREG || size == 0 {
                return Ok(format!("skipped size={size}"));
            }
            // Punch inside the file: a punch wholly past EOF changes nothing
            // but may or may not touch mtime, depending on the file system.
            let off = off % size;
            sys::fallocate(
                &fd,
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                off as i64,
                *len as i64,
            )?;
            let st2 = sys::fstat(&fd)?;
            Ok(format!("ok off={off} size={}", st2.st_size))
        }
        Op::Mkdir { path, mode } => sys::mkdir(&p(root, path), *mode).map(|_| "ok".into()),
        Op::Rmdir { path } => sys::rmdir(&p(root, path)).map(|_| "ok".into()),
        Op::Unlink { path } => sys::unlink(&p(root, path)).map(|_| "ok".into()),
        Op::Link { src, dst } => {
            sys::link(&p(root, src), &p(root, dst))?;
            let st = sys::lstat(&p(root, dst))?;
            Ok(format!("ok nlink={}", st.st_nlink))
        }
        Op::Symlink { target, path } => {
            sys::symlink(target, &p(root, path))?;
            let t = sys::readlink(&p(root, path))?;
            Ok(if &t == target {
                "ok".into()
            } else {
                format!("ok readlink={}", String::from_utf8_lossy(&t))
            })
        }
        Op::Rename { src, dst, flags } => {
            sys::rename2(&p(root, src), &p(root, dst), *flags)?;
            Ok("ok".into())
        }
        Op::Chmod { path, mode } => sys::chmod(&p(root, path), *mode).map(|_| "ok".into()),
        Op::Utimes {
            path,
            atime,
            mtime,
            nofollow,
        } => {
            let fl = if *nofollow {
                libc::AT_SYMLINK_NOFOLLOW
            } else {
                0
            };
            sys::utimensat(&p(root, path), Some((*atime, *mtime)), fl).map(|_| "ok".into())
        }
        Op::Mkfifo { path, mode } => {
            sys::mknod(&p(root, path), libc::S_IFIFO | mode, 0).map(|_| "ok".into())
        }
        Op::Stat { path } => {
            let st = sys::lstat(&p(root, path))?;
            let size = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                -1
            } else {
                st.st_size
            };
            Ok(format!(
                "ok mode={:o} nlink={} size={size} uid={} gid={}",
                st.st_mode, st.st_nlink, st.st_uid, st.st_gid
            ))
        }
        Op::Fsync { path } => {
            let fd = sys::open(&p(root, path), libc::O_RDONLY | NB, 0)?;
            sys::fsync(&fd)?;
            Ok("ok".into())
        }
    }
}

/// The directory of process `i` under a root.
pub fn subtree(root: &Path, i: usize) -> PathBuf {
    root.join(OsStr::from_bytes(format!("p{i}").as_bytes()))
}
