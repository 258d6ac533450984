//! A canonical manifest of a directory tree: one line per entry (the root
//! itself excluded) with everything two trees are compared on.
//!
//! ```text
//! # livedfs-fstests manifest v1
//! p0/a type=dir mode=0755 uid=0 gid=0 nlink=3 mtime=-
//! p0/a/f type=reg mode=0644 uid=0 gid=0 nlink=2 size=12288 sha256z=<hex> links=p0/a/f mtime=123456789.000000042
//! p0/l type=lnk mode=0777 uid=0 gid=0 nlink=1 size=3 target=a/f mtime=-
//! p0/c type=chr mode=0600 uid=0 gid=0 nlink=1 rdev=1:3 mtime=-
//! ```
//!
//! Paths and symlink targets escape every byte outside `!`..`~`, and `%`
//! and `=`, as `%XX`. `sha256z` is [`crate::content::hash_file`]. `links`
//! (regular files and other non-directories with more than one link) names
//! the first path, in manifest order, of the same inode, so the sharing of
//! inodes is compared, not inode numbers. `mtime` is compared only where it
//! was set explicitly: a modification time before [`EXPLICIT_MTIME_BEFORE`]
//! (2001-09-09) can only come from utimes, and is written out exactly;
//! later ones are `-`. Directory sizes are file-system specific and left
//! out; directory link counts are kept.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::content;
use crate::sys;

/// Modification times before this (in seconds since the epoch) count as
/// set explicitly.
pub const EXPLICIT_MTIME_BEFORE: i64 = 1_000_000_000;

pub const HEADER: &str = "# livedfs-fstests manifest v1";

/// Entries by escaped relative path; each a list of (field, value).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub entries: BTreeMap<String, Vec<(String, String)>>,
}

pub fn escape(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        if (0x21..=0x7e).contains(&c) && c != b'%' && c != b'=' {
            s.push(c as char);
        } else {
            let _ = write!(s, "%{c:02X}");
        }
    }
    s
}

fn type_name(mode: u32) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "reg",
        libc::S_IFDIR => "dir",
        libc::S_IFLNK => "lnk",
        libc::S_IFCHR => "chr",
        libc::S_IFBLK => "blk",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "sock",
        _ => "unknown",
    }
}

impl Manifest {
    /// Walk `root` (not following symlinks) and describe every entry below it.
    pub fn of_tree(root: &Path) -> Result<Manifest> {
        let mut raw: Vec<(Vec<u8>, sys::Stat)> = Vec::new();
        walk(root, &mut Vec::new(), &mut raw)?;
        // Inode sharing: the first path (in manifest order) of each inode.
        let mut first: BTreeMap<(u64, u64), String> = BTreeMap::new();
        let mut escaped: Vec<String> = raw.iter().map(|(p, _)| escape(p)).collect();
        let mut order: Vec<usize> = (0..raw.len()).collect();
        order.sort_by(|&a, &b| escaped[a].cmp(&escaped[b]));
        for &i in &order {
            let st = &raw[i].1;
            first
                .entry((st.st_dev, st.st_ino))
                .or_insert_with(|| escaped[i].clone());
        }
        let mut m = Manifest::default();
        for (i, (rel, st)) in raw.iter().enumerate() {
            let path = root.join(OsStr::from_bytes(rel));
            let mut f: Vec<(String, String)> = Vec::new();
            let mut put = |k: &str, v: String| f.push((k.to_string(), v));
            let kind = type_name(st.st_mode);
            put("type", kind.into());
            put("mode", format!("{:04o}", st.st_mode & 0o7777));
            put("uid", st.st_uid.to_string());
            put("gid", st.st_gid.to_string());
            put("nlink", st.st_nlink.to_string());
            match kind {
                "reg" => {
                    put("size", st.st_size.to_string());
                    let fd = sys::open(
                        &path,
                        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
                        0,
                    )
                    .with_context(|| format!("open {}", path.display()))?;
                    let sha = content::hash_file(&fd, st.st_size as u64)
                        .with_context(|| format!("read {}", path.display()))?;
                    put("sha256z", sha);
                }
                "lnk" => {
                    put("size", st.st_size.to_string());
                    let t = sys::readlink(&path)
                        .with_context(|| format!("readlink {}", path.display()))?;
                    put("target", escape(&t));
                }
                "chr" | "blk" => {
                    put(
                        "rdev",
                        format!("{}:{}", sys::major(st.st_rdev), sys::minor(st.st_rdev)),
                    );
                }
                _ => {}
            }
            if kind != "dir" && st.st_nlink > 1 {
                put("links", first[&(st.st_dev, st.st_ino)].clone());
            }
            let mtime = if st.st_mtime < EXPLICIT_MTIME_BEFORE {
                format!("{}.{:09}", st.st_mtime, st.st_mtime_nsec)
            } else {
                "-".to_string()
            };
            put("mtime", mtime);
            m.entries.insert(std::mem::take(&mut escaped[i]), f);
        }
        Ok(m)
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        s.push_str(HEADER);
        s.push('\n');
        for (p, fields) in &self.entries {
            s.push_str(p);
            for (k, v) in fields {
                let _ = write!(s, " {k}={v}");
            }
            s.push('\n');
        }
        s
    }

    pub fn parse(text: &str) -> Result<Manifest> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            bail!("not a manifest: the first line is not {HEADER:?}");
        }
        let mut m = Manifest::default();
        for (n, line) in lines.enumerate() {
            let mut toks = line.split(' ');
            let path = toks.next().unwrap_or_default().to_string();
            if path.is_empty() {
                bail!("manifest line {}: no path", n + 2);
            }
            let mut fields = Vec::new();
            for t in toks {
                let (k, v) = t
                    .split_once('=')
                    .with_context(|| format!("manifest line {}: bad field {t:?}", n + 2))?;
                fields.push((k.to_string(), v.to_string()));
            }
            if m.entries.insert(path.clone(), fields).is_some() {
                bail!("manifest line {}: {path} listed twice", n + 2);
            }
        }
        Ok(m)
    }

    /// Every difference between `self` (called `a`) and `other` (`b`), one
    /// line each, in path order.
    pub fn diff(&self, other: &Manifest, a: &str, b: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut ia = self.entries.iter().peekable();
        let mut ib = other.entries.iter().peekable();
        loop {
            match (ia.peek(), ib.peek()) {
                (None, None) => break,
                (Some((pa, fa)), Some((pb, _))) if pa < pb => {
                    out.push(format!("{pa}: only in {a} ({})", brief(fa)));
                    ia.next();
                }
                (Some((pa, fa)), None) => {
                    out.push(format!("{pa}: only in {a} ({})", brief(fa)));
                    ia.next();
                }
                (Some((pa, _)), Some((pb, fb))) if pb < pa => {
                    out.push(format!("{pb}: only in {b} ({})", brief(fb)));
                    ib.next();
                }
                (None, Some((pb, fb))) => {
                    out.push(format!("{pb}: only in {b} ({})", brief(fb)));
                    ib.next();
                }
                (Some((p, fa)), Some((_, fb))) => {
                    let ma: BTreeMap<&str, &str> =
                        fa.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    let mb: BTreeMap<&str, &str> =
                        fb.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    let keys: std::collections::BTreeSet<&str> =
                        ma.keys().chain(mb.keys()).copied().collect();
                    // Fields in the manifest's own order first.
                    let mut ordered: Vec<&str> = fa.iter().map(|(k, _)| k.as_str()).collect();
                    ordered.extend(keys.iter().filter(|k| !ma.contains_key(*k)));
                    for k in ordered {
                        let va = ma.get(k).copied().unwrap_or("(none)");
                        let vb = mb.get(k).copied().unwrap_or("(none)");
                        if va != vb {
                            out.push(format!("{p}: {k} differs: {a} {k}={va}, {b} {k}={vb}"));
                        }
                    }
                    ia.next();
                    ib.next();
                }
            }
        }
        out
    }
}

fn brief(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .filter(|(k, _)| k == "type" || k == "size")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn walk(root: &Path, rel: &mut Vec<u8>, out: &mut Vec<(Vec<u8>, sys::Stat)>) -> Result<()> {
    let dir = root.join(OsStr::from_bytes(rel));
    let mut names: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .with_context(|| format!("read directory {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name().as_bytes().to_vec()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("read directory {}", dir.display()))?;
    names.sort();
    for name in names {
        let len = rel.len();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(&name);
        let p = root.join(OsStr::from_bytes(rel));
        let st = sys::lstat(&p).with_context(|| format!("lstat {}", p.display()))?;
        out.push((rel.clone(), st));
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            walk(root, rel, out)?;
        }
        rel.truncate(len);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(escape(b"a/b c=%\n\xff"), "a/b%20c%3D%25%0A%FF");
    }

    #[test]
    fn round_trip_and_diff() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir(r.join("d")).unwrap();
        std::fs::write(r.join("d/f"), b"hello").unwrap();
        std::fs::hard_link(r.join("d/f"), r.join("g")).unwrap();
        std::os::unix::fs::symlink("d/f", r.join("l")).unwrap();
        let m = Manifest::of_tree(r).unwrap();
        let text = m.to_text();
        assert_eq!(Manifest::parse(&text).unwrap(), m);
        assert!(text.contains("\nd/f type=reg "));
        assert!(text.contains(" links=d/f "));
        assert!(text.contains(" target=d/f "));
        assert!(m.diff(&m, "A", "B").is_empty());
        std::fs::write(r.join("d/f"), b"hellO").unwrap();
        let m2 = Manifest::of_tree(r).unwrap();
        let d = m.diff(&m2, "A", "B");
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("d/f: sha256z differs"), "{d:?}");
        assert!(d[1].starts_with("g: sha256z differs"), "{d:?}");
    }
}
