//! Test helpers: fresh volumes from the real mkfs binary, a small
//! image builder that adds files, directories, links and shared blocks
//! the way the kernel lays them out (using livedfs-format directly), and
//! runners for fsck.livedfs with a timeout.
#![allow(dead_code)]

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use livedfs_format::csum::volume_seed;
use livedfs_format::dirent;
use livedfs_format::fpstore;
use livedfs_format::group::{
    bitmap_checksum, GroupDesc, BG_BLOCK_UNINIT, BG_FP_UNINIT, BG_INODE_UNINIT,
};
use livedfs_format::inode::{Inode, Timestamp, S_IFDIR, S_IFLNK, S_IFREG};
use livedfs_format::superblock::Superblock;
use livedfs_format::{bitmap, Crc32c, FingerprintAlgo, Geometry, DESC_SIZE, ROOT_INO};

pub struct Crc;
impl Crc32c for Crc {
    fn crc32c(&self, crc: u32, data: &[u8]) -> u32 {
        !crc32c::crc32c_append(!crc, data)
    }
}

pub fn fsck_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fsck-livedfs"))
}

/// The mkfs binary, built if needed, next to fsck's.
pub fn mkfs_bin() -> PathBuf {
    let dir = fsck_bin().parent().unwrap().to_path_buf();
    let m = dir.join("mkfs-livedfs");
    if !m.exists() {
        let release = dir.ends_with("release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut c = Command::new(cargo);
        c.args(["build", "-q", "-p", "livedfs-mkfs"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        if release {
            c.arg("--release");
        }
        assert!(c.status().unwrap().success(), "building mkfs failed");
    }
    m
}

/// A fresh volume made by mkfs.livedfs with `args` (e.g. ["-b", "1024"]).
pub fn mkfs(img: &Path, size: &str, args: &[&str]) {
    let _ = std::fs::remove_file(img);
    let o = Command::new(mkfs_bin())
        .args(["-q", "-F"])
        .args(args)
        .arg(img)
        .arg(size)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "mkfs: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Output and exit status of one fsck run.
pub struct Run {
    pub code: i32,
    pub out: String,
}

/// Runs fsck.livedfs with `args` on `img`, killed after `secs` seconds
/// (a hang is a test failure: code -2).
pub fn fsck_t(img: &Path, args: &[&str], secs: u64) -> Run {
    let mut child = Command::new(fsck_bin())
        .args(args)
        .arg(img)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let out = std::thread::spawn({
        let mut so = child.stdout.take().unwrap();
        let mut se = child.stderr.take().unwrap();
        move || {
            use std::io::Read;
            let mut a = String::new();
            let mut b = String::new();
            let _ = so.read_to_string(&mut a);
            let _ = se.read_to_string(&mut b);
            a + &b
        }
    });
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code().unwrap_or(-1);
        }
        if t0.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            break -2;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Run {
        code,
        out: out.join().unwrap_or_default(),
    }
}

pub fn fsck(img: &Path, args: &[&str]) -> Run {
    fsck_t(img, args, 60)
}

/// Asserts -fn says clean with no problem reported.
pub fn assert_clean(img: &Path) {
    let r = fsck(img, &["-fn"]);
    assert_eq!(r.code, 0, "fsck -fn not clean:\n{}", r.out);
    for l in r.out.lines() {
        assert!(
            l.starts_with("Pass ") || l.contains(" files (") || l.starts_with("Note:"),
            "unexpected output line: {l}\n{}",
            r.out
        );
    }
}

/// -n finds `what` (exit 4), -y repairs (exit 1), -n is then clean.
pub fn assert_repairs(img: &Path, what: &str) -> String {
    assert_repairs_with(img, &[], what)
}

/// As [`assert_repairs`], each run with the options `extra` too (e.g.
/// `["-E", "scrub"]`).
pub fn assert_repairs_with(img: &Path, extra: &[&str], what: &str) -> String {
    let with = |o: &'static str| -> Vec<&str> { [&[o][..], extra].concat() };
    let n = fsck(img, &with("-fn"));
    assert_eq!(n.code, 4, "-fn {extra:?} should find {what:?}:\n{}", n.out);
    assert!(
        n.out.contains(what),
        "-fn {extra:?} output lacks {what:?}:\n{}",
        n.out
    );
    let y = fsck(img, &with("-fy"));
    assert!(y.code == 1, "-fy {extra:?} exit {}:\n{}", y.code, y.out);
    let again = fsck(img, &with("-fn"));
    assert_eq!(
        again.code, 0,
        "after -fy {extra:?}, -fn {extra:?}:\n{}\n--- -fy said:\n{}",
        again.out, y.out
    );
    y.out
}

/// The numbers of the summary line's "(N data blocks in use, N shared, N
/// pointers, N unwritten, N fingerprints verified)", by name.
fn summary_fields(out: &str) -> HashMap<String, u64> {
    let line = out
        .lines()
        .find(|l| l.contains(" fingerprints verified)"))
        .unwrap_or_else(|| panic!("no summary line:\n{out}"));
    let inner = &line[line.rfind('(').unwrap() + 1..line.len() - 1];
    inner
        .split(", ")
        .map(|w| {
            let (n, what) = w.split_once(' ').unwrap();
            (what.to_string(), n.parse().unwrap())
        })
        .collect()
}

/// The summary line's data blocks in use, shared, pointers and
/// fingerprints verified.
pub fn summary_counts(out: &str) -> [u64; 4] {
    let v = summary_fields(out);
    [
        v["data blocks in use"],
        v["shared"],
        v["pointers"],
        v["fingerprints verified"],
    ]
}

/// The summary line's count of unwritten (preallocated) block pointers.
pub fn summary_unwritten(out: &str) -> u64 {
    summary_fields(out)["unwritten"]
}

/// The "I/O read: N KiB (M data blocks hashed), W writes" line of `-t`:
/// (KiB read, blocks hashed).
pub fn io_read(out: &str) -> (u64, u64) {
    let line = out
        .lines()
        .find(|l| l.starts_with("I/O read: "))
        .unwrap_or_else(|| panic!("no I/O line:\n{out}"));
    let w: Vec<&str> = line.split([' ', '(']).collect();
    (w[2].parse().unwrap(), w[5].parse().unwrap())
}

/// A volume opened for building (group 0 allocations only, as a small
/// test volume needs).
pub struct Vol {
    pub f: std::fs::File,
    pub sb: Superblock,
    pub geo: Geometry,
    pub seed: u32,
    pub desc: GroupDesc,
    pub bmap: Vec<u8>,
    pub imap: Vec<u8>,
    pub store: Vec<u8>,
    pub dedup: HashMap<Vec<u8>, u32>,
    pub now: i64,
}

fn le32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap())
}

impl Vol {
    pub fn open(img: &Path) -> Vol {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(img)
            .unwrap();
        let mut b = vec![0u8; 1024];
        f.read_exact_at(&mut b, 1024).unwrap();
        let sb = Superblock::decode(&b, &Crc).unwrap();
        let geo = Geometry::from_superblock(&sb).unwrap();
        let seed = volume_seed(&Crc, &sb.uuid);
        let mut v = Vol {
            f,
            sb,
            geo,
            seed,
            desc: GroupDesc::default(),
            bmap: vec![],
            imap: vec![],
            store: vec![],
            dedup: HashMap::new(),
            now: 1_700_000_100,
        };
        let (blk, off) = v.geo.desc_location(0).unwrap();
        let d = v.read(blk);
        v.desc = GroupDesc::decode(&d[off..off + 64], 0, v.seed, &Crc).unwrap();
        let l = v.geo.group(0).unwrap();
        let bs = v.geo.block_size as usize;
        v.bmap = if v.desc.flags & BG_BLOCK_UNINIT != 0 {
            let mut m = vec![0u8; bs];
            bitmap::set_range(&mut m, 0, l.overhead() as usize);
            bitmap::set_range(&mut m, l.blocks() as usize, v.geo.blocks_per_group as usize);
            m
        } else {
            v.read(l.block_bitmap)
        };
        v.imap = v.read(l.inode_bitmap);
        assert_eq!(v.desc.flags & BG_INODE_UNINIT, 0);
        let n = v.geo.fp_blocks_per_group;
        if v.desc.flags & BG_FP_UNINIT != 0 {
            v.store = vec![0u8; bs * n as usize];
            for j in 0..n as usize {
                fpstore::init_block(
                    &mut v.store[j * bs..(j + 1) * bs],
                    0,
                    j as u32,
                    v.seed,
                    &Crc,
                )
                .unwrap();
            }
        } else {
            v.store = (0..n).flat_map(|j| v.read(l.fp_store + j)).collect();
        }
        v
    }

    pub fn bs(&self) -> usize {
        self.geo.block_size as usize
    }

    pub fn read(&self, b: u32) -> Vec<u8> {
        let mut d = vec![0u8; self.bs()];
        self.f
            .read_exact_at(&mut d, u64::from(b) * self.bs() as u64)
            .unwrap();
        d
    }

    pub fn write(&self, b: u32, d: &[u8]) {
        self.f
            .write_all_at(d, u64::from(b) * self.bs() as u64)
            .unwrap();
    }

    pub fn alloc(&mut self) -> u32 {
        let l = self.geo.group(0).unwrap();
        let i = bitmap::find_zero(&self.bmap, l.overhead() as usize, l.blocks() as usize)
            .expect("test volume full");
        bitmap::set(&mut self.bmap, i);
        self.desc.free_blocks -= 1;
        l.first + i as u32
    }

    pub fn alloc_ino(&mut self, dir: bool) -> u32 {
        let i = bitmap::find_zero(&self.imap, 11, self.geo.inodes_per_group as usize).unwrap();
        bitmap::set(&mut self.imap, i);
        self.desc.free_inodes -= 1;
        if dir {
            self.desc.used_dirs += 1;
        }
        let used = self.geo.inodes_per_group - self.desc.itable_unused;
        if i as u32 >= used {
            self.desc.itable_unused = self.geo.inodes_per_group - i as u32 - 1;
        }
        i as u32 + 1
    }

    fn entry_at(&self, b: u32) -> usize {
        let l = self.geo.group(0).unwrap();
        let i = (b - l.first) as usize;
        let epb = self.geo.fp_entries_per_block as usize;
        (i / epb) * self.bs() + (i % epb) * self.geo.fp_entry_size as usize
    }

    pub fn refcount(&self, b: u32) -> u32 {
        let at = self.entry_at(b) + self.geo.fp_algo.size() as usize;
        le32(&self.store[at..at + 4], 0)
    }

    pub fn set_refcount(&mut self, b: u32, r: u32) {
        let at = self.entry_at(b) + self.geo.fp_algo.size() as usize;
        self.store[at..at + 4].copy_from_slice(&r.to_le_bytes());
    }

    pub fn fp(&self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        match self.geo.fp_algo {
            FingerprintAlgo::Sha256 => sha2::Sha256::digest(data).to_vec(),
            FingerprintAlgo::Md5 => md5::Md5::digest(data).to_vec(),
        }
    }

    /// Stores one data block as the kernel would (zero: hole; duplicate:
    /// shared, refcount + 1; else a new block with refcount 1).
    pub fn data_block(&mut self, data: &[u8]) -> u32 {
        if data.iter().all(|&b| b == 0) {
            return 0;
        }
        let fp = self.fp(data);
        if let Some(&b) = self.dedup.get(&fp) {
            let r = self.refcount(b);
            self.set_refcount(b, r + 1);
            return b;
        }
        let b = self.alloc();
        self.write(b, data);
        let at = self.entry_at(b);
        fpstore::write_entry(&mut self.store, at, &fp, 1).unwrap();
        self.desc.fp_used += 1;
        self.dedup.insert(fp, b);
        b
    }

    /// Maps `blocks` (file order, 0 = hole, `UNWRITTEN` = preallocated)
    /// into `i`, allocating indirect blocks; returns the blocks mapped
    /// (data + indirect).
    pub fn map(&mut self, i: &mut Inode, blocks: &[u32]) -> u64 {
        let pairs: Vec<(u64, u32)> = blocks
            .iter()
            .enumerate()
            .map(|(fb, &b)| (fb as u64, b))
            .collect();
        self.map_at(i, &pairs)
    }

    /// Maps file block `fb` to `b` for each `(fb, b)` (in any order, so a
    /// sparse file far out costs only its own blocks), as `map` does.
    pub fn map_at(&mut self, i: &mut Inode, blocks: &[(u64, u32)]) -> u64 {
        let p = self.geo.ptrs_per_block();
        let mut n = 0u64;
        // An indirect block is known by the path prefix that reaches it.
        let mut ind: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut bufs: HashMap<u32, Vec<u8>> = HashMap::new();
        for &(fb, b) in blocks {
            if b == 0 {
                continue;
            }
            // UNWRITTEN maps no block: not counted.
            if b != livedfs_format::inode::UNWRITTEN {
                n += 1;
            }
            let path = livedfs_format::inode::block_path(p, fb).unwrap();
            let o = path.offsets;
            if path.depth == 0 {
                i.block[o[0] as usize] = b;
                continue;
            }
            let mut parent: Option<u32> = None;
            for level in 0..path.depth {
                let key = o[..=level].to_vec();
                let blk = match ind.get(&key) {
                    Some(&x) => x,
                    None => {
                        let x = self.alloc();
                        n += 1;
                        bufs.insert(x, vec![0u8; self.bs()]);
                        ind.insert(key, x);
                        match parent {
                            None => i.block[o[0] as usize] = x,
                            Some(pp) => {
                                let at = o[level] as usize * 4;
                                bufs.get_mut(&pp).unwrap()[at..at + 4]
                                    .copy_from_slice(&x.to_le_bytes());
                            }
                        }
                        x
                    }
                };
                parent = Some(blk);
            }
            let at = o[path.depth] as usize * 4;
            bufs.get_mut(&parent.unwrap()).unwrap()[at..at + 4].copy_from_slice(&b.to_le_bytes());
        }
        for (b, d) in bufs {
            self.write(b, &d);
        }
        n
    }

    pub fn ts(&self) -> Timestamp {
        Timestamp {
            sec: self.now,
            nsec: 0,
        }
    }

    pub fn read_inode(&self, ino: u32) -> Inode {
        let (b, off) = self.geo.inode_location(ino).unwrap();
        let d = self.read(b);
        Inode::decode(&d[off..off + 256], ino, self.seed, &Crc).unwrap()
    }

    pub fn write_inode(&self, ino: u32, i: &Inode) {
        let (b, off) = self.geo.inode_location(ino).unwrap();
        let mut d = self.read(b);
        i.encode(&mut d[off..off + 256], ino, self.seed, &Crc)
            .unwrap();
        self.write(b, &d);
    }

    /// The block numbers of a directory (direct blocks only).
    pub fn dir_blocks(&self, dir: u32) -> Vec<u32> {
        let i = self.read_inode(dir);
        let n = (i.size / self.bs() as u64) as usize;
        let mut v = Vec::new();
        for fb in 0..n {
            let path =
                livedfs_format::inode::block_path(self.geo.ptrs_per_block(), fb as u64).unwrap();
            let mut b = i.block[path.offsets[0] as usize];
            for lvl in 1..=path.depth {
                b = le32(&self.read(b), path.offsets[lvl] as usize);
            }
            v.push(b);
        }
        v
    }

    /// Adds an entry to directory `dir` (growing it by a direct block).
    pub fn add_entry(&mut self, dir: u32, name: &str, ino: u32, ft: u8) {
        let di = self.read_inode(dir);
        for b in self.dir_blocks(dir) {
            let mut d = self.read(b);
            if let Some(at) = dirent::find_room(&d, name.len()).unwrap() {
                dirent::insert_at(&mut d, at, ino, name.as_bytes(), ft).unwrap();
                dirent::set_checksum(&mut d, dir, di.generation, self.seed, &Crc).unwrap();
                self.write(b, &d);
                return;
            }
        }
        let mut di = di;
        let n = (di.size / self.bs() as u64) as usize;
        assert!(n < 12, "test directories use direct blocks only");
        let b = self.alloc();
        let mut d = vec![0u8; self.bs()];
        dirent::init_block(&mut d).unwrap();
        dirent::insert_at(&mut d, 0, ino, name.as_bytes(), ft).unwrap();
        dirent::set_checksum(&mut d, dir, di.generation, self.seed, &Crc).unwrap();
        self.write(b, &d);
        di.block[n] = b;
        di.size += self.bs() as u64;
        di.blocks += 1;
        self.write_inode(dir, &di);
    }

    fn bump_links(&self, ino: u32, by: i32) {
        let mut i = self.read_inode(ino);
        i.links_count = (i.links_count as i32 + by) as u32;
        self.write_inode(ino, &i);
    }

    /// A regular file with `data` (zero blocks become holes).
    pub fn file(&mut self, dir: u32, name: &str, data: &[u8]) -> u32 {
        let bs = self.bs();
        let blocks: Vec<u32> = data
            .chunks(bs)
            .map(|c| {
                let mut full = c.to_vec();
                full.resize(bs, 0);
                self.data_block(&full)
            })
            .collect();
        let pairs: Vec<(u64, u32)> = blocks
            .iter()
            .enumerate()
            .map(|(fb, &b)| (fb as u64, b))
            .collect();
        self.reg_file(dir, name, data.len() as u64, 0, &pairs)
    }

    /// A regular file of `size` bytes in `dir` mapping `(file block,
    /// block)` pairs (`UNWRITTEN` allowed), holding `prealloc` blocks of
    /// preallocated space (the caller adds them to the superblock's sum).
    pub fn reg_file(
        &mut self,
        dir: u32,
        name: &str,
        size: u64,
        prealloc: u32,
        blocks: &[(u64, u32)],
    ) -> u32 {
        let ino = self.alloc_ino(false);
        let t = self.ts();
        let mut i = Inode {
            mode: S_IFREG | 0o644,
            links_count: 1,
            size,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
            generation: ino.wrapping_mul(2654435761),
            prealloc,
            ..Inode::default()
        };
        i.blocks = self.map_at(&mut i, blocks);
        self.write_inode(ino, &i);
        self.add_entry(dir, name, ino, dirent::FT_REG);
        ino
    }

    /// A reflink copy of file `src` (shares every block).
    pub fn clone_file(&mut self, dir: u32, name: &str, src: u32) -> u32 {
        let s = self.read_inode(src);
        let bs = self.bs() as u64;
        let n = s.size.div_ceil(bs);
        let mut blocks = Vec::new();
        for fb in 0..n {
            let path = livedfs_format::inode::block_path(self.geo.ptrs_per_block(), fb).unwrap();
            let mut b = s.block[path.offsets[0] as usize];
            for lvl in 1..=path.depth {
                if b == 0 {
                    break;
                }
                b = le32(&self.read(b), path.offsets[lvl] as usize);
            }
            if b != 0 {
                let r = self.refcount(b);
                self.set_refcount(b, r + 1);
            }
            blocks.push(b);
        }
        let ino = self.alloc_ino(false);
        let mut i = s.clone();
        i.block = [0; livedfs_format::inode::N_BLOCKS];
        i.links_count = 1;
        i.generation = ino.wrapping_mul(2654435761);
        i.blocks = self.map(&mut i, &blocks);
        self.write_inode(ino, &i);
        self.add_entry(dir, name, ino, dirent::FT_REG);
        ino
    }

    pub fn mkdir(&mut self, parent: u32, name: &str) -> u32 {
        let ino = self.alloc_ino(true);
        let b = self.alloc();
        let t = self.ts();
        let gen = ino.wrapping_mul(40503);
        let mut d = vec![0u8; self.bs()];
        dirent::init_first_block(&mut d, ino, parent).unwrap();
        dirent::set_checksum(&mut d, ino, gen, self.seed, &Crc).unwrap();
        self.write(b, &d);
        let mut i = Inode {
            mode: S_IFDIR | 0o755,
            links_count: 2,
            size: self.bs() as u64,
            blocks: 1,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
            generation: gen,
            ..Inode::default()
        };
        i.block[0] = b;
        self.write_inode(ino, &i);
        self.add_entry(parent, name, ino, dirent::FT_DIR);
        self.bump_links(parent, 1);
        ino
    }

    pub fn link(&mut self, dir: u32, name: &str, ino: u32) {
        self.add_entry(dir, name, ino, dirent::FT_REG);
        self.bump_links(ino, 1);
    }

    pub fn symlink(&mut self, dir: u32, name: &str, target: &str) -> u32 {
        let ino = self.alloc_ino(false);
        let t = self.ts();
        let mut i = Inode {
            mode: S_IFLNK | 0o777,
            links_count: 1,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
            generation: ino,
            ..Inode::default()
        };
        if target.len() < 60 {
            i.set_fast_symlink(target.as_bytes()).unwrap();
        } else {
            let b = self.alloc();
            let mut d = vec![0u8; self.bs()];
            d[..target.len()].copy_from_slice(target.as_bytes());
            self.write(b, &d);
            i.block[0] = b;
            i.blocks = 1;
            i.size = target.len() as u64;
        }
        self.write_inode(ino, &i);
        self.add_entry(dir, name, ino, dirent::FT_SYMLINK);
        ino
    }

    pub fn mknod(&mut self, dir: u32, name: &str, mode: u16, major: u32, minor: u32) -> u32 {
        let ino = self.alloc_ino(false);
        let t = self.ts();
        let mut i = Inode {
            mode,
            links_count: 1,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
            generation: ino,
            ..Inode::default()
        };
        i.block[0] = major;
        i.block[1] = minor;
        self.write_inode(ino, &i);
        self.add_entry(dir, name, ino, dirent::file_type_of_mode(mode));
        ino
    }

    /// Gives inode `ino` a new attribute block holding `attrs` (index,
    /// name, value), counted in its blocks; returns the block.
    pub fn set_xattrs(&mut self, ino: u32, attrs: &[(u8, &[u8], &[u8])]) -> u32 {
        use livedfs_format::xattr;
        let b = self.alloc();
        let mut d = vec![0u8; self.bs()];
        xattr::init_block(&mut d).unwrap();
        for (i, n, v) in attrs {
            xattr::set(&mut d, *i, n, Some(v), xattr::SetMode::Any).unwrap();
        }
        xattr::seal(&mut d, 1, b, self.seed, &Crc).unwrap();
        self.write(b, &d);
        let mut i = self.read_inode(ino);
        i.xattr_block = b;
        i.blocks += 1;
        self.write_inode(ino, &i);
        b
    }

    /// Points inode `ino` at attribute block `b` too (its refcount + 1).
    pub fn share_xattrs(&mut self, ino: u32, b: u32) {
        use livedfs_format::xattr;
        let mut d = self.read(b);
        let r = xattr::refcount(&d).unwrap();
        xattr::set_refcount(&mut d, r + 1, b, self.seed, &Crc).unwrap();
        self.write(b, &d);
        let mut i = self.read_inode(ino);
        i.xattr_block = b;
        i.blocks += 1;
        self.write_inode(ino, &i);
    }

    /// Writes bitmaps, store, descriptor and superblock counters.
    pub fn flush(&mut self) {
        let l = self.geo.group(0).unwrap();
        let bs = self.bs();
        self.write(l.block_bitmap, &self.bmap.clone());
        self.write(l.inode_bitmap, &self.imap.clone());
        let n = self.geo.fp_blocks_per_group as usize;
        for j in 0..n {
            let blk = &mut self.store[j * bs..(j + 1) * bs];
            fpstore::set_checksum(blk, 0, j as u32, self.seed, &Crc).unwrap();
        }
        for j in 0..n {
            self.write(l.fp_store + j as u32, &self.store[j * bs..(j + 1) * bs]);
        }
        self.desc.flags &= !(BG_BLOCK_UNINIT | BG_FP_UNINIT);
        self.desc.block_bitmap_csum = bitmap_checksum(&self.bmap, 0, self.seed, &Crc);
        let ipg = self.geo.inodes_per_group as usize;
        self.desc.inode_bitmap_csum = bitmap_checksum(&self.imap[..ipg / 8], 0, self.seed, &Crc);
        let (blk, off) = self.geo.desc_location(0).unwrap();
        let mut d = self.read(blk);
        self.desc
            .encode(&mut d[off..off + DESC_SIZE as usize], 0, self.seed, &Crc)
            .unwrap();
        self.write(blk, &d);
        // Superblock counters: sum of the descriptors.
        let mut free_b = 0u64;
        let mut free_i = 0u32;
        let (b0, _) = self.geo.desc_location(0).unwrap();
        let table: Vec<u8> = (0..self.geo.gdt_blocks)
            .flat_map(|k| self.read(b0 + k))
            .collect();
        for g in 0..self.geo.group_count as usize {
            let gd = GroupDesc::decode_fields(&table[g * 64..g * 64 + 64]).unwrap();
            free_b += u64::from(gd.free_blocks);
            free_i += gd.free_inodes;
        }
        self.sb.free_blocks = free_b;
        self.sb.free_inodes = free_i;
        self.write_sb();
    }

    pub fn write_sb(&self) {
        let mut b = vec![0u8; 1024];
        self.sb.encode(&mut b, &Crc).unwrap();
        self.f.write_all_at(&b, 1024).unwrap();
    }

    /// Block `fb` of file `ino` (direct and single indirect).
    pub fn file_block(&self, ino: u32, fb: u64) -> u32 {
        let i = self.read_inode(ino);
        let path = livedfs_format::inode::block_path(self.geo.ptrs_per_block(), fb).unwrap();
        let mut b = i.block[path.offsets[0] as usize];
        for lvl in 1..=path.depth {
            b = le32(&self.read(b), path.offsets[lvl] as usize);
        }
        b
    }
}

/// Deterministic pseudo-random bytes.
pub fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A populated test volume: the tree every corruption test starts from.
/// Returns (root-level file inode numbers by name).
pub fn populated(img: &Path, mkfs_args: &[&str]) -> HashMap<&'static str, u32> {
    mkfs(img, "64M", mkfs_args);
    let mut v = Vol::open(img);
    let bs = v.bs();
    let mut m = HashMap::new();
    let a = bytes(1, bs * 40);
    m.insert("a", v.file(ROOT_INO, "a", &a));
    m.insert("b", v.file(ROOT_INO, "b", &a)); // all shared with a
    let mut c = a[..bs * 20].to_vec();
    c.extend(bytes(2, bs * 300)); // single and double indirect
    m.insert("c", v.file(ROOT_INO, "c", &c));
    let mut sparse = vec![0u8; bs * 30];
    sparse[bs * 29..].copy_from_slice(&bytes(3, bs));
    m.insert("sparse", v.file(ROOT_INO, "sparse", &sparse));
    let same = bytes(4, bs);
    let mut rep = Vec::new();
    for _ in 0..8 {
        rep.extend_from_slice(&same); // one block, refcount 8
    }
    m.insert("rep", v.file(ROOT_INO, "rep", &rep));
    let d = v.mkdir(ROOT_INO, "dir");
    m.insert("dir", d);
    let sub = v.mkdir(d, "sub");
    m.insert("sub", sub);
    let small = v.file(d, "small", b"hello, world\n");
    m.insert("small", small);
    v.link(sub, "hard", small);
    m.insert("clone", v.clone_file(sub, "clone", m["a"]));
    m.insert("fast", v.symlink(d, "fast", "small"));
    m.insert("slow", v.symlink(d, "slow", &"x/".repeat(100)));
    m.insert(
        "chr",
        v.mknod(d, "chr", livedfs_format::inode::S_IFCHR | 0o600, 4, 64),
    );
    m.insert(
        "fifo",
        v.mknod(d, "fifo", livedfs_format::inode::S_IFIFO | 0o600, 0, 0),
    );
    let many = v.mkdir(ROOT_INO, "many");
    m.insert("many", many);
    for k in 0..150 {
        v.file(many, &format!("entry-number-{k:04}"), &[]);
    }
    v.flush();
    m
}
