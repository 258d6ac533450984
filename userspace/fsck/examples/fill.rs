//! Fills a fresh livedfs volume on the host, without the kernel, for
//! measuring fsck.livedfs on a volume holding real data (what
//! `scripts/bench-fsck.sh --filled` does; the kernel module is needed to
//! write files through a mount, and it runs only in the test VM).
//!
//!     fill IMAGE FILE...
//!
//! Each FILE (a regular file, typically a VM image) is stored in the root
//! directory of IMAGE, which mkfs.livedfs has just made, the way the
//! kernel stores written data: every block is fingerprinted; an all-zero
//! block is a hole; a block whose fingerprint is already stored is shared
//! (its refcount raised); any other block gets the next free data block,
//! its store entry (fingerprint, refcount 1) and its bitmap bit. The block
//! map uses direct, indirect, double and triple indirect blocks as the
//! kernel's. Then bitmaps, stores, descriptors (counts, checksums,
//! `UNINIT` flags cleared) and the superblock's counters are written.
//! `fsck.livedfs -fn -E scrub IMAGE` is clean afterwards.
//!
//!     fill --journal N IMAGE [FILE...]
//!
//! then also (or, without files, only) leaves the journal as a power cut right after N logged blocks
//! were committed leaves it: N zero blocks, logged for N free blocks of
//! the last group in transactions of up to 250 blocks (jbd2 with
//! checksums v3, the features the kernel sets at mount), the journal marked for
//! recovery and the superblock `needs_recovery` (still valid, as the
//! kernel keeps a volume mounted with a journal). The replay writes zeros
//! to free blocks: it costs what replaying N blocks costs and changes no
//! structure, so the check after it finds the volume as filled.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;

use fsck::crc::Crc;
use fsck::pass6::fingerprint;
use livedfs_format::csum::volume_seed;
use livedfs_format::group::{
    bitmap_checksum, GroupDesc, BG_BLOCK_UNINIT, BG_FP_UNINIT, BG_INODE_UNINIT,
};
use livedfs_format::inode::{block_path, Inode, Timestamp, S_IFREG};
use livedfs_format::superblock::Superblock;
use livedfs_format::{bitmap, dirent, fpstore, Geometry, DESC_SIZE, ROOT_INO};

type Res<T> = Result<T, String>;

fn err<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// One group's allocation state, loaded when first used.
struct Group {
    bmap: Vec<u8>,
    store: Vec<u8>,
}

struct Vol {
    f: File,
    sb: Superblock,
    geo: Geometry,
    seed: u32,
    descs: Vec<GroupDesc>,
    groups: HashMap<u32, Group>,
    /// Allocation cursor: (group, index in group).
    cur: (u32, u32),
    journal: (u32, u32),
    dedup: HashMap<Vec<u8>, u32>,
    now: i64,
    /// Counts for the report.
    unique: u64,
    shared: u64,
    holes: u64,
}

impl Vol {
    fn bs(&self) -> usize {
        self.geo.block_size as usize
    }

    fn read(&self, b: u32) -> Res<Vec<u8>> {
        let mut d = vec![0u8; self.bs()];
        self.f
            .read_exact_at(&mut d, u64::from(b) * self.bs() as u64)
            .map_err(err("read"))?;
        Ok(d)
    }

    fn write(&self, b: u32, d: &[u8]) -> Res<()> {
        self.f
            .write_all_at(d, u64::from(b) * self.bs() as u64)
            .map_err(err("write"))
    }

    fn open(path: &str) -> Res<Vol> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(err(path))?;
        let mut b = vec![0u8; 1024];
        f.read_exact_at(&mut b, 1024).map_err(err("superblock"))?;
        let sb = Superblock::decode(&b, &Crc).map_err(err("superblock"))?;
        let geo = Geometry::from_superblock(&sb).map_err(err("geometry"))?;
        let seed = volume_seed(&Crc, &sb.uuid);
        let journal = (sb.journal_start, sb.journal_start + sb.journal_blocks);
        let mut v = Vol {
            f,
            sb,
            geo,
            seed,
            descs: Vec::new(),
            groups: HashMap::new(),
            cur: (0, 0),
            journal,
            dedup: HashMap::new(),
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            unique: 0,
            shared: 0,
            holes: 0,
        };
        for g in 0..v.geo.group_count {
            let (blk, off) = v.geo.desc_location(g).map_err(err("descriptor"))?;
            let d = v.read(blk)?;
            let desc = GroupDesc::decode(&d[off..off + DESC_SIZE as usize], g, v.seed, &Crc)
                .map_err(err("descriptor"))?;
            v.descs.push(desc);
        }
        Ok(v)
    }

    /// Group `g`'s state, read (or made, for a never-written group).
    fn group(&mut self, g: u32) -> Res<&mut Group> {
        if !self.groups.contains_key(&g) {
            let l = self.geo.group(g).map_err(err("group"))?;
            let bs = self.bs();
            let d = self.descs[g as usize];
            let bmap = if d.flags & BG_BLOCK_UNINIT != 0 {
                let mut m = vec![0u8; bs];
                bitmap::set_range(&mut m, 0, l.overhead() as usize);
                bitmap::set_range(&mut m, l.blocks() as usize, bs * 8);
                m
            } else {
                self.read(l.block_bitmap)?
            };
            let n = self.geo.fp_blocks_per_group;
            let mut store = vec![0u8; bs * n as usize];
            if d.flags & BG_FP_UNINIT != 0 {
                for j in 0..n as usize {
                    fpstore::init_block(
                        &mut store[j * bs..(j + 1) * bs],
                        g,
                        j as u32,
                        self.seed,
                        &Crc,
                    )
                    .map_err(err("store"))?;
                }
            } else {
                self.f
                    .read_exact_at(&mut store, u64::from(l.fp_store) * bs as u64)
                    .map_err(err("store"))?;
            }
            self.groups.insert(g, Group { bmap, store });
        }
        Ok(self.groups.get_mut(&g).expect("just inserted"))
    }

    /// The next free block (data or metadata), marked in use.
    fn alloc(&mut self) -> Res<u32> {
        loop {
            let (g, i) = self.cur;
            if g >= self.geo.group_count {
                return Err("the volume is full".into());
            }
            let l = self.geo.group(g).map_err(err("group"))?;
            let journal = self.journal;
            let grp = self.group(g)?;
            let mut found = None;
            let mut k = i.max(l.overhead());
            while k < l.blocks() {
                let b = l.first + k;
                let in_journal = b >= journal.0 && b < journal.1;
                if !in_journal && !bitmap::test(&grp.bmap, k as usize) {
                    bitmap::set(&mut grp.bmap, k as usize);
                    found = Some(b);
                    break;
                }
                k += 1;
            }
            match found {
                Some(b) => {
                    self.cur = (g, k + 1);
                    self.descs[g as usize].free_blocks -= 1;
                    return Ok(b);
                }
                None => self.cur = (g + 1, 0),
            }
        }
    }

    /// Stores one data block; returns its block number (0: a hole).
    fn data_block(&mut self, data: &[u8], pending: &mut Vec<(u32, Vec<u8>)>) -> Res<u32> {
        if data.iter().all(|&x| x == 0) {
            self.holes += 1;
            return Ok(0);
        }
        let fp = fingerprint(self.geo.fp_algo, data);
        let fs = usize::from(self.geo.fp_algo.size());
        if let Some(&b) = self.dedup.get(&fp) {
            let (sblk, off, g, l) = self.entry(b)?;
            let at = (sblk - l) as usize * self.bs() + off;
            let grp = self.group(g)?;
            let e = fpstore::read_entry(&grp.store, at, fs).map_err(err("entry"))?;
            fpstore::write_refcount(&mut grp.store, at, fs, e.refcount + 1)
                .map_err(err("entry"))?;
            self.shared += 1;
            return Ok(b);
        }
        let b = self.alloc()?;
        let (sblk, off, g, l) = self.entry(b)?;
        let at = (sblk - l) as usize * self.bs() + off;
        let grp = self.group(g)?;
        fpstore::write_entry(&mut grp.store, at, &fp, 1).map_err(err("entry"))?;
        self.descs[g as usize].fp_used += 1;
        self.dedup.insert(fp, b);
        pending.push((b, data.to_vec()));
        self.unique += 1;
        Ok(b)
    }

    /// Block `b`'s store entry: (store block, offset, group, group's
    /// first store block).
    fn entry(&self, b: u32) -> Res<(u32, usize, u32, u32)> {
        let (sblk, off) = self.geo.fp_entry_location(b).map_err(err("entry"))?;
        let g = self.geo.group_of_block(b).map_err(err("entry"))?;
        let l = self.geo.group(g).map_err(err("group"))?;
        Ok((sblk, off, g, l.fp_store))
    }

    /// Writes queued data blocks, a run of consecutive blocks at a time.
    fn write_pending(&self, pending: &mut Vec<(u32, Vec<u8>)>) -> Res<()> {
        pending.sort_by_key(|p| p.0);
        let mut k = 0;
        while k < pending.len() {
            let mut run = pending[k].1.clone();
            let first = pending[k].0;
            let mut n = 1;
            while k + n < pending.len() && pending[k + n].0 == first + n as u32 {
                run.extend_from_slice(&pending[k + n].1);
                n += 1;
            }
            self.write(first, &run)?;
            k += n;
        }
        pending.clear();
        Ok(())
    }

    /// Maps `blocks` (file order, 0 = hole) into `i`; returns the blocks
    /// mapped (data and indirect).
    fn map(&mut self, i: &mut Inode, blocks: &[u32]) -> Res<u64> {
        let p = self.geo.ptrs_per_block();
        let mut n = 0u64;
        // Indirect blocks by their path prefix (depth of the prefix and
        // the offsets leading to them).
        let mut ind: HashMap<(usize, [u32; 4]), u32> = HashMap::new();
        let mut bufs: HashMap<u32, Vec<u8>> = HashMap::new();
        for (fb, &b) in blocks.iter().enumerate() {
            if b == 0 {
                continue;
            }
            n += 1;
            let path = block_path(p, fb as u64).ok_or("file too large")?;
            let o = path.offsets;
            if path.depth == 0 {
                i.block[o[0] as usize] = b;
                continue;
            }
            let mut parent: Option<u32> = None;
            for level in 0..path.depth {
                let mut key = [0u32; 4];
                key[..=level].copy_from_slice(&o[..=level]);
                let blk = match ind.get(&(level, key)) {
                    Some(&x) => x,
                    None => {
                        let x = self.alloc()?;
                        n += 1;
                        bufs.insert(x, vec![0u8; self.bs()]);
                        ind.insert((level, key), x);
                        match parent {
                            None => i.block[o[0] as usize] = x,
                            Some(pp) => {
                                let at = o[level] as usize * 4;
                                bufs.get_mut(&pp).expect("parent")[at..at + 4]
                                    .copy_from_slice(&x.to_le_bytes());
                            }
                        }
                        x
                    }
                };
                parent = Some(blk);
            }
            let at = o[path.depth] as usize * 4;
            bufs.get_mut(&parent.expect("indirect")).expect("buffer")[at..at + 4]
                .copy_from_slice(&b.to_le_bytes());
        }
        for (b, d) in bufs {
            self.write(b, &d)?;
        }
        Ok(n)
    }

    fn inode_rw(&self, ino: u32) -> Res<(u32, usize, Vec<u8>)> {
        let (b, off) = self.geo.inode_location(ino).map_err(err("inode"))?;
        Ok((b, off, self.read(b)?))
    }

    fn write_inode(&self, ino: u32, i: &Inode) -> Res<()> {
        let (b, off, mut d) = self.inode_rw(ino)?;
        let isz = self.geo.inode_size as usize;
        i.encode(&mut d[off..off + isz], ino, self.seed, &Crc)
            .map_err(err("inode"))?;
        self.write(b, &d)
    }

    fn read_inode(&self, ino: u32) -> Res<Inode> {
        let (_, off, d) = self.inode_rw(ino)?;
        let isz = self.geo.inode_size as usize;
        Inode::decode(&d[off..off + isz], ino, self.seed, &Crc).map_err(err("inode"))
    }

    /// A new inode number in group 0.
    fn alloc_ino(&mut self) -> Res<u32> {
        let l = self.geo.group(0).map_err(err("group"))?;
        let d = &mut self.descs[0];
        if d.flags & BG_INODE_UNINIT != 0 {
            return Err("group 0's inode table is not initialised".into());
        }
        let mut imap = self.read(l.inode_bitmap)?;
        let ipg = self.geo.inodes_per_group as usize;
        let i = bitmap::find_zero(&imap, 11, ipg).ok_or("no free inode in group 0")?;
        bitmap::set(&mut imap, i);
        let d = &mut self.descs[0];
        d.free_inodes -= 1;
        let used = self.geo.inodes_per_group - d.itable_unused;
        if i as u32 >= used {
            d.itable_unused = self.geo.inodes_per_group - i as u32 - 1;
        }
        d.inode_bitmap_csum = bitmap_checksum(&imap[..ipg / 8], 0, self.seed, &Crc);
        self.write(l.inode_bitmap, &imap)?;
        Ok(i as u32 + 1)
    }

    /// Adds `name` to the root directory (its existing blocks).
    fn add_entry(&mut self, name: &str, ino: u32) -> Res<()> {
        let root = self.read_inode(ROOT_INO)?;
        let n = root.size / self.bs() as u64;
        for fb in 0..n.min(12) {
            let b = root.block[fb as usize];
            let mut d = self.read(b)?;
            if let Some(at) = dirent::find_room(&d, name.len()).map_err(err("directory"))? {
                dirent::insert_at(&mut d, at, ino, name.as_bytes(), dirent::FT_REG)
                    .map_err(err("directory"))?;
                dirent::set_checksum(&mut d, ROOT_INO, root.generation, self.seed, &Crc)
                    .map_err(err("directory"))?;
                return self.write(b, &d);
            }
        }
        Err("no room in the root directory".into())
    }

    /// Stores file `path` as `name` in the root directory.
    fn store_file(&mut self, path: &str, name: &str) -> Res<()> {
        let mut src = File::open(path).map_err(err(path))?;
        let size = src.metadata().map_err(err(path))?.len();
        let bs = self.bs();
        let chunk = 256 * bs;
        let mut buf = vec![0u8; chunk];
        let mut blocks: Vec<u32> = Vec::with_capacity(size.div_ceil(bs as u64) as usize);
        let mut pending = Vec::new();
        let mut done = 0u64;
        while done < size {
            let want = chunk.min((size - done) as usize);
            src.read_exact(&mut buf[..want]).map_err(err(path))?;
            for c in buf[..want].chunks(bs) {
                let mut full = c.to_vec();
                full.resize(bs, 0);
                let b = self.data_block(&full, &mut pending)?;
                blocks.push(b);
            }
            if pending.len() >= 4096 {
                self.write_pending(&mut pending)?;
            }
            done += want as u64;
        }
        self.write_pending(&mut pending)?;
        let ino = self.alloc_ino()?;
        let t = Timestamp {
            sec: self.now,
            nsec: 0,
        };
        let mut i = Inode {
            mode: S_IFREG | 0o644,
            links_count: 1,
            size,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
            generation: ino.wrapping_mul(2_654_435_761),
            ..Inode::default()
        };
        i.blocks = self.map(&mut i, &blocks)?;
        self.write_inode(ino, &i)?;
        self.add_entry(name, ino)
    }

    /// Bitmaps, stores, descriptors and superblock counters.
    fn flush(&mut self) -> Res<()> {
        let bs = self.bs();
        let mut gs: Vec<u32> = self.groups.keys().copied().collect();
        gs.sort_unstable();
        for g in gs {
            let l = self.geo.group(g).map_err(err("group"))?;
            let seed = self.seed;
            let grp = self.groups.get_mut(&g).expect("loaded");
            for j in 0..self.geo.fp_blocks_per_group as usize {
                fpstore::set_checksum(
                    &mut grp.store[j * bs..(j + 1) * bs],
                    g,
                    j as u32,
                    seed,
                    &Crc,
                )
                .map_err(err("store"))?;
            }
            let csum = bitmap_checksum(&grp.bmap, g, seed, &Crc);
            let (bmap, store) = (grp.bmap.clone(), grp.store.clone());
            self.write(l.block_bitmap, &bmap)?;
            self.f
                .write_all_at(&store, u64::from(l.fp_store) * bs as u64)
                .map_err(err("store"))?;
            let d = &mut self.descs[g as usize];
            d.block_bitmap_csum = csum;
            d.flags &= !(BG_BLOCK_UNINIT | BG_FP_UNINIT);
        }
        for g in 0..self.geo.group_count {
            let (blk, off) = self.geo.desc_location(g).map_err(err("descriptor"))?;
            let mut d = self.read(blk)?;
            self.descs[g as usize]
                .encode(&mut d[off..off + DESC_SIZE as usize], g, self.seed, &Crc)
                .map_err(err("descriptor"))?;
            self.write(blk, &d)?;
        }
        self.sb.free_blocks = self.descs.iter().map(|d| u64::from(d.free_blocks)).sum();
        self.sb.free_inodes = self.descs.iter().map(|d| d.free_inodes).sum();
        let mut b = vec![0u8; 1024];
        self.sb.encode(&mut b, &Crc).map_err(err("superblock"))?;
        self.f.write_all_at(&b, 1024).map_err(err("superblock"))?;
        self.f.sync_all().map_err(err("sync"))
    }
}

/// jbd2's checksum (crc32c, kernel convention), as fsck's.
fn jcrc(seed: u32, d: &[u8]) -> u32 {
    fsck::crc::jbd2_crc(seed, d)
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Vol {
    /// Logs `n` zero blocks for free blocks of the last group, committed,
    /// and marks the journal and the volume for recovery.
    fn log_power_cut(&mut self, n: u32) -> Res<()> {
        let bs = self.bs();
        let start = self.sb.journal_start;
        if self.sb.journal_blocks == 0 {
            return Err("the volume has no journal".into());
        }
        let mut jsb = self.read(start)?;
        if be32(&jsb, 0) != 0xC03B_3998 {
            return Err("no jbd2 superblock".into());
        }
        let mut incompat = be32(&jsb, 0x28);
        if incompat == 0 {
            // As mkfs leaves it: the kernel sets its features at the
            // first mount (checksums v3 with crc32c, revoke).
            incompat = 0x10 | 0x1;
            jsb[0x28..0x2C].copy_from_slice(&incompat.to_be_bytes());
            jsb[0x50] = 4;
        }
        if incompat & 0x10 == 0 || incompat & !(0x1 | 0x2 | 0x10) != 0 {
            return Err(format!(
                "journal features {incompat:#x}: only checksum v3 is written here"
            ));
        }
        let first = be32(&jsb, 0x14);
        let last = be32(&jsb, 0x10);
        let seq0 = be32(&jsb, 0x18);
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&jsb[0x30..0x40]);
        let seed = jcrc(!0, &uuid);
        // n free blocks of the last group.
        let g = self.geo.group_count - 1;
        let l = self.geo.group(g).map_err(err("group"))?;
        let journal = self.journal;
        let grp = self.group(g)?;
        let targets: Vec<u32> = (l.overhead()..l.blocks())
            .filter(|&k| !bitmap::test(&grp.bmap, k as usize))
            .map(|k| l.first + k)
            .filter(|&b| !(b >= journal.0 && b < journal.1))
            .take(n as usize)
            .collect();
        if targets.len() < n as usize {
            return Err("not enough free blocks in the last group".into());
        }
        let need = n + n.div_ceil(250) * 2;
        if need >= last - first {
            return Err(format!("{n} blocks do not fit the journal"));
        }
        let zero = vec![0u8; bs];
        let mut pos = first;
        let mut seq = seq0;
        let header = |ty: u32, seq: u32| {
            let mut b = vec![0u8; bs];
            b[0..4].copy_from_slice(&0xC03B_3998u32.to_be_bytes());
            b[4..8].copy_from_slice(&ty.to_be_bytes());
            b[8..12].copy_from_slice(&seq.to_be_bytes());
            b
        };
        for chunk in targets.chunks(250) {
            let mut d = header(1, seq);
            let mut p = 12;
            let tag_csum = jcrc(jcrc(seed, &seq.to_be_bytes()), &zero);
            for (k, &t) in chunk.iter().enumerate() {
                let mut flags = 0u32;
                if k > 0 {
                    flags |= 2; // same UUID
                }
                if k == chunk.len() - 1 {
                    flags |= 8; // last tag
                }
                d[p..p + 4].copy_from_slice(&t.to_be_bytes());
                d[p + 4..p + 8].copy_from_slice(&flags.to_be_bytes());
                d[p + 8..p + 12].fill(0);
                d[p + 12..p + 16].copy_from_slice(&tag_csum.to_be_bytes());
                p += 16;
                if k == 0 {
                    d[p..p + 16].copy_from_slice(&uuid);
                    p += 16;
                }
            }
            let c = jcrc(seed, &d);
            d[bs - 4..].copy_from_slice(&c.to_be_bytes());
            let mut log = d;
            for _ in chunk {
                log.extend_from_slice(&zero);
            }
            let mut c = header(2, seq);
            c[48..56].copy_from_slice(&(self.now as u64).to_be_bytes());
            let x = jcrc(seed, &c);
            c[16..20].copy_from_slice(&x.to_be_bytes());
            log.extend_from_slice(&c);
            self.write(pos, &log)?;
            pos += (log.len() / bs) as u32;
            seq = seq.wrapping_add(1);
        }
        // The log ends at a block that is no valid descriptor.
        self.write(pos, &zero)?;
        jsb[0x1C..0x20].copy_from_slice(&first.to_be_bytes());
        jsb[0xFC..0x100].fill(0);
        let c = jcrc(!0, &jsb[..1024]);
        jsb[0xFC..0x100].copy_from_slice(&c.to_be_bytes());
        self.write(start, &jsb)?;
        self.sb.feature_incompat |= livedfs_format::superblock::INCOMPAT_RECOVER;
        let mut b = vec![0u8; 1024];
        self.sb.encode(&mut b, &Crc).map_err(err("superblock"))?;
        self.f.write_all_at(&b, 1024).map_err(err("superblock"))?;
        self.f.sync_all().map_err(err("sync"))
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut journal = 0u32;
    if args.first().map(String::as_str) == Some("--journal") {
        journal = match args.get(1).and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => {
                eprintln!("fill: --journal takes a number of blocks");
                std::process::exit(16);
            }
        };
        args.drain(..2);
    }
    if args.len() < 2 - usize::from(journal > 0) {
        eprintln!("usage: fill [--journal N] IMAGE FILE...");
        std::process::exit(16);
    }
    let run = || -> Res<()> {
        let mut v = Vol::open(&args[0])?;
        for p in &args[1..] {
            let name = std::path::Path::new(p)
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or(format!("{p}: no file name"))?
                .to_string();
            v.store_file(p, &name)?;
        }
        if args.len() > 1 {
            v.flush()?;
        }
        if journal > 0 {
            v.log_power_cut(journal)?;
        }
        println!(
            "{}: {} files, {} blocks stored, {} shared, {} holes, {journal} blocks in the journal to replay",
            args[0],
            args.len() - 1,
            v.unique,
            v.shared,
            v.holes
        );
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("fill: {e}");
        std::process::exit(8);
    }
}
