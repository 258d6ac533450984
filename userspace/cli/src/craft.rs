//! `livedfs debug craft DEVICE KIND`: writes one deliberate inconsistency
//! into an unmounted volume, for tests of how the kernel module and
//! fsck.livedfs treat hostile volumes (as e2fsprogs' debugfs is used to
//! make test images for e2fsck).
//!
//! Every structure written is encoded by the format crate with its
//! checksum right, and every count that would otherwise disagree with the
//! change (a descriptor's `fp_used`, free inode counts, bitmap checksums)
//! is updated with it: the volume then holds exactly the one
//! inconsistency its kind names, and nothing a checksum would catch first.
//!
//! This is the one part of `livedfs` that writes to a volume. It refuses a
//! mounted volume and one whose journal needs recovery (a replay would
//! overwrite what it writes).

use crate::util::{hex, mounted_at};
use crate::volume::{Crc, Fe};
use anyhow::{bail, ensure, Context, Result};
use clap::ValueEnum;
use livedfs_format::bitmap;
use livedfs_format::csum::volume_seed;
use livedfs_format::fpstore;
use livedfs_format::group::{
    bitmap_checksum, GroupDesc, BG_BLOCK_UNINIT, BG_FP_UNINIT, BG_INODE_UNINIT,
};
use livedfs_format::inode::{Inode, Timestamp, S_IFREG};
use livedfs_format::superblock::{INCOMPAT_RECOVER, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE};
use livedfs_format::{Geometry, Superblock, DESC_SIZE, FIRST_INO, INODE_SIZE, ROOT_INO};
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The inconsistencies `craft` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A fingerprint-store entry in use (refcount 1) for a metadata block
    /// of its group or of the journal (default: group 0's block bitmap).
    StoreEntryOnMetadata,
    /// A store entry in use for a data block that is free in the block
    /// bitmap (default: the last free block of group 0).
    StoreEntryOnFree,
    /// A store entry in use in a group whose block bitmap was never
    /// written (BLOCK_UNINIT: no block allocated; default: the last block
    /// of the first such group).
    StoreEntryUninitGroup,
    /// A directory whose size claims far more blocks than it maps
    /// (default: the root directory, size 2^40).
    DirSizeHuge,
    /// An orphan list with a loop: orphan_head -> A -> B -> A (two new
    /// inodes, unlinked while open).
    OrphanLoop,
    /// A long, valid orphan list (default 20000 new inodes, unlinked while
    /// open), to time its loading at mount.
    OrphanLong,
    /// An error recorded in the journal superblock (`s_errno`, default
    /// -EUCLEAN) as the kernel records one when it aborts the journal,
    /// with the volume's own state left clean: the error a crash right
    /// after it leaves behind.
    JournalErrno,
    /// Not an inconsistency: a new regular file `unwritten` in directory
    /// `--ino` (default the root) whose first `--count` (default 4, at
    /// most 12) file blocks are `UNWRITTEN` pointers (preallocated by
    /// fallocate, not yet written), `--size` bytes long (default 0, as
    /// `fallocate --keep-size` leaves a new file), with the volume's
    /// INCOMPAT_UNWRITTEN set: a volume the kernel and fsck must accept.
    UnwrittenFile,
    /// The same file on a volume without INCOMPAT_UNWRITTEN: markers a
    /// module that does not know them would take for block numbers.
    UnwrittenNoFeature,
    /// Not an inconsistency: a new regular file `stored` in the root of
    /// `--count` blocks, laid out in groups never used, each data block
    /// with a fingerprint of its own (synthetic, refcount 1) and its data
    /// never written (zeros on the medium): a volume with that much in its
    /// fingerprint stores in seconds, to time mounts, filter builds and
    /// loads at sizes no test could write. `fsck -f` finds it consistent
    /// (it checks metadata); a scrub would report every block.
    StoredFile,
    /// The saved fingerprint filter (kept at the last clean unmount) with
    /// one chain that does not decode (a bit of its high part flipped, so
    /// it counts one entry more or less than its header says) in a data
    /// block whose checksum is made right again: what a hostile image
    /// would hold. The next mount's check of every chain must refuse it
    /// and build the filter instead. The first chain of the first data
    /// block with base entries is chosen.
    SavedFilterBadChain,
}

/// What the kinds accept besides the device.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The block whose store entry is set (store-entry-* kinds).
    pub block: Option<u32>,
    /// The fingerprint written into that entry (hex; default a fixed
    /// pattern naming the block).
    pub fingerprint: Option<Vec<u8>>,
    /// The directory (dir-size-huge; default the root, 2).
    pub ino: Option<u32>,
    /// The size given to it (dir-size-huge; default 2^40).
    pub size: Option<u64>,
    /// Orphans chained (orphan-long; default 20000).
    pub count: Option<u32>,
    /// The errno recorded (journal-errno; default -117, EUCLEAN).
    pub errno: Option<i32>,
}

/// Default size `dir-size-huge` gives the directory: 2^40 bytes, 2^28
/// blocks of 4 KiB (within the largest file, so `Inode::validate` accepts
/// it: only the claim against the block map is wrong).
pub const HUGE_DIR_SIZE: u64 = 1 << 40;
/// Default length of the `orphan-long` list.
pub const LONG_ORPHANS: u32 = 20_000;

/// What was written, for the report.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Crafted {
    pub kind: Kind,
    /// One sentence: the inconsistency made.
    pub summary: String,
    /// The block whose store entry was set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<u32>,
    /// The group touched (store-entry-* kinds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<u32>,
    /// The fingerprint written (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The directory whose size was changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ino: Option<u32>,
    /// Its size before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The orphan list from its head, as written (orphan-long: its first
    /// and last inodes and its length).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub orphans: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orphan_count: Option<u32>,
    /// The saved filter's chain made invalid (saved-filter-bad-chain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<u64>,
}

impl Crafted {
    fn new(kind: Kind, summary: String) -> Self {
        Self {
            kind,
            summary,
            block: None,
            group: None,
            fingerprint: None,
            ino: None,
            old_size: None,
            size: None,
            orphans: Vec::new(),
            orphan_count: None,
            chain: None,
        }
    }
}

/// A volume opened for writing: superblock, geometry, checksum seed.
pub struct Image {
    file: File,
    pub sb: Superblock,
    pub geo: Geometry,
    pub seed: u32,
}

impl Image {
    /// Opens `path` read-write. The superblock must verify and the
    /// journal must be clean; the volume must not be mounted.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(m) = mounted_at(path) {
            bail!("{} is mounted on {m}: unmount it first", path.display());
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {} for writing", path.display()))?;
        let mut buf = vec![0u8; SUPERBLOCK_SIZE];
        file.read_exact_at(&mut buf, SUPERBLOCK_OFFSET)
            .with_context(|| format!("cannot read the superblock of {}", path.display()))?;
        let sb = Superblock::decode(&buf, &Crc)
            .fe()
            .with_context(|| format!("{}: not a sound livedfs superblock", path.display()))?;
        let geo = Geometry::from_superblock(&sb).fe()?;
        if sb.has_incompat(INCOMPAT_RECOVER) {
            bail!(
                "{}: the journal needs recovery (mount it once, or run fsck.livedfs); \
                 a replay would overwrite what craft writes",
                path.display()
            );
        }
        let seed = volume_seed(&Crc, &sb.uuid);
        Ok(Self {
            file,
            sb,
            geo,
            seed,
        })
    }

    pub fn read_block(&self, b: u32) -> Result<Vec<u8>> {
        ensure!(b < self.geo.blocks_count, "block {b} is past the volume");
        let mut buf = vec![0u8; self.geo.block_size as usize];
        self.file
            .read_exact_at(&mut buf, self.geo.block_offset(b))
            .with_context(|| format!("cannot read block {b}"))?;
        Ok(buf)
    }

    pub fn write_block(&self, b: u32, data: &[u8]) -> Result<()> {
        ensure!(b < self.geo.blocks_count, "block {b} is past the volume");
        ensure!(data.len() == self.geo.block_size as usize, "short block");
        self.file
            .write_all_at(data, self.geo.block_offset(b))
            .with_context(|| format!("cannot write block {b}"))
    }

    /// The primary descriptor of group `g` (its checksum must verify).
    pub fn desc(&self, g: u32) -> Result<GroupDesc> {
        let (blk, off) = self.geo.desc_location(g).fe()?;
        let buf = self.read_block(blk)?;
        let d = GroupDesc::decode(&buf[off..off + DESC_SIZE as usize], g, self.seed, &Crc)
            .fe()
            .with_context(|| format!("group {g} descriptor"))?;
        d.validate(&self.geo, g)
            .fe()
            .with_context(|| format!("group {g} descriptor"))?;
        Ok(d)
    }

    /// Writes the primary descriptor of group `g` with its checksum.
    pub fn put_desc(&self, g: u32, d: &GroupDesc) -> Result<()> {
        let (blk, off) = self.geo.desc_location(g).fe()?;
        let mut buf = self.read_block(blk)?;
        d.encode(&mut buf[off..off + DESC_SIZE as usize], g, self.seed, &Crc)
            .fe()?;
        self.write_block(blk, &buf)
    }

    /// Inode `ino` (its checksum must verify).
    pub fn inode(&self, ino: u32) -> Result<Inode> {
        let (blk, off) = self.geo.inode_location(ino).fe()?;
        let buf = self.read_block(blk)?;
        Inode::decode(&buf[off..off + INODE_SIZE as usize], ino, self.seed, &Crc)
            .fe()
            .with_context(|| format!("inode {ino}"))
    }

    /// Writes inode `ino` with its checksum.
    pub fn put_inode(&self, ino: u32, i: &Inode) -> Result<()> {
        let (blk, off) = self.geo.inode_location(ino).fe()?;
        let mut buf = self.read_block(blk)?;
        i.encode(
            &mut buf[off..off + INODE_SIZE as usize],
            ino,
            self.seed,
            &Crc,
        )
        .fe()?;
        self.write_block(blk, &buf)
    }

    /// Writes the primary superblock with its checksum.
    pub fn put_super(&self) -> Result<()> {
        let mut buf = vec![0u8; SUPERBLOCK_SIZE];
        self.sb.encode(&mut buf, &Crc).fe()?;
        self.file
            .write_all_at(&buf, SUPERBLOCK_OFFSET)
            .context("cannot write the superblock")
    }

    /// The block bitmap of group `g` as it stands (implied by the layout
    /// while the group is BLOCK_UNINIT).
    fn block_in_use(&self, g: u32, d: &GroupDesc, b: u32) -> Result<bool> {
        let l = self.geo.group(g).fe()?;
        if d.flags & BG_BLOCK_UNINIT != 0 {
            return Ok(b < l.data_start);
        }
        let map = self.read_block(l.block_bitmap)?;
        ensure!(
            bitmap_checksum(&map, g, self.seed, &Crc) == d.block_bitmap_csum,
            "group {g} block bitmap fails its checksum"
        );
        Ok(bitmap::test(&map, (b - l.first) as usize))
    }

    /// Sets the store entry of block `b` to `fp` with refcount 1 and
    /// counts it in the group's `fp_used`, formatting the store first if
    /// it was never written (as the kernel does on first use).
    fn set_store_entry(&self, b: u32, fp: &[u8]) -> Result<u32> {
        let g = self.geo.group_of_block(b).fe()?;
        let l = self.geo.group(g).fe()?;
        let mut d = self.desc(g)?;
        if d.flags & BG_FP_UNINIT != 0 {
            let mut blk = vec![0u8; self.geo.block_size as usize];
            for j in 0..self.geo.fp_blocks_per_group {
                fpstore::init_block(&mut blk, g, j, self.seed, &Crc).fe()?;
                self.write_block(l.fp_store + j, &blk)?;
            }
            d.flags &= !BG_FP_UNINIT;
        }
        let (sblk, off) = self.geo.fp_entry_location(b).fe()?;
        let j = sblk - l.fp_store;
        let mut blk = self.read_block(sblk)?;
        fpstore::verify_block(&self.geo, &blk, g, j, self.seed, &Crc)
            .fe()
            .with_context(|| format!("group {g} store block {j}"))?;
        let fs = usize::from(self.geo.fp_algo.size());
        let old = fpstore::read_entry(&blk, off, fs).fe()?;
        ensure!(
            old.refcount == 0,
            "block {b} already has a store entry in use (refcount {})",
            old.refcount
        );
        fpstore::write_entry(&mut blk, off, fp, 1).fe()?;
        fpstore::set_checksum(&mut blk, g, j, self.seed, &Crc).fe()?;
        self.write_block(sblk, &blk)?;
        d.fp_used += 1;
        self.put_desc(g, &d)?;
        Ok(g)
    }

    /// Allocates `n` new inodes as the kernel's allocator would (group by
    /// group, each at its table's high-water mark, an uninitialised inode
    /// bitmap initialised first) and writes each as a regular file
    /// unlinked while open: links 0, no blocks, dtime 0, on the orphan
    /// list through `next(i)`, the successor of the i-th. Returns their
    /// numbers in order.
    fn new_orphans(&mut self, n: u32, next: impl Fn(&[u32], usize) -> u32) -> Result<Vec<u32>> {
        let ipg = self.geo.inodes_per_group;
        let mut inos = Vec::with_capacity(n as usize);
        let mut touched: Vec<(u32, GroupDesc, Vec<u8>)> = Vec::new();
        for g in 0..self.geo.group_count {
            if inos.len() == n as usize {
                break;
            }
            let l = self.geo.group(g).fe()?;
            let mut d = self.desc(g)?;
            let mut map = if d.flags & BG_INODE_UNINIT != 0 {
                // As the kernel's first use: zeros, padding bits set.
                let mut m = vec![0u8; self.geo.block_size as usize];
                let bits = m.len() * 8;
                bitmap::set_range(&mut m, ipg as usize, bits);
                d.flags &= !BG_INODE_UNINIT;
                d.itable_unused = ipg;
                m
            } else {
                let m = self.read_block(l.inode_bitmap)?;
                ensure!(
                    bitmap_checksum(&m[..ipg as usize / 8], g, self.seed, &Crc)
                        == d.inode_bitmap_csum,
                    "group {g} inode bitmap fails its checksum"
                );
                m
            };
            let mut idx = ipg - d.itable_unused;
            if g == 0 {
                idx = idx.max(FIRST_INO);
            }
            let start = inos.len();
            while idx < ipg && inos.len() < n as usize {
                if !bitmap::set(&mut map, idx as usize) {
                    inos.push(g * ipg + idx + 1);
                    d.free_inodes = d
                        .free_inodes
                        .checked_sub(1)
                        .context("free inode count below the bitmap's")?;
                    d.itable_unused = ipg - idx - 1;
                }
                idx += 1;
            }
            if inos.len() > start {
                d.inode_bitmap_csum = bitmap_checksum(&map[..ipg as usize / 8], g, self.seed, &Crc);
                touched.push((g, d, map));
            }
        }
        ensure!(
            inos.len() == n as usize,
            "only {} inodes free past the tables' high-water marks; {n} needed (mkfs with -N)",
            inos.len()
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
            .max(self.sb.mkfs_time);
        let t = Timestamp { sec: now, nsec: 0 };
        // The inodes, a table block at a time.
        let mut cur: Option<(u32, Vec<u8>)> = None;
        for k in 0..inos.len() {
            let ino = inos[k];
            let (blk, off) = self.geo.inode_location(ino).fe()?;
            if cur.as_ref().is_none_or(|(b, _)| *b != blk) {
                if let Some((b, data)) = cur.take() {
                    self.write_block(b, &data)?;
                }
                cur = Some((blk, self.read_block(blk)?));
            }
            let i = Inode {
                mode: S_IFREG | 0o644,
                links_count: 0,
                atime: t,
                mtime: t,
                ctime: t,
                crtime: t,
                generation: ino.wrapping_mul(0x9E37_79B9),
                next_orphan: next(&inos, k),
                ..Inode::default()
            };
            if let Some((_, data)) = cur.as_mut() {
                i.encode(
                    &mut data[off..off + INODE_SIZE as usize],
                    ino,
                    self.seed,
                    &Crc,
                )
                .fe()?;
            }
        }
        if let Some((b, data)) = cur {
            self.write_block(b, &data)?;
        }
        // Then the bitmaps and descriptors that count them.
        for (g, d, map) in &touched {
            let l = self.geo.group(*g).fe()?;
            self.write_block(l.inode_bitmap, map)?;
            self.put_desc(*g, d)?;
        }
        self.sb.free_inodes = self.sb.free_inodes.saturating_sub(n);
        Ok(inos)
    }
}

/// The fingerprint written by default: recognisable ("crafted" pattern
/// 0xC4 0xAF 0x7E, then the block number) and not the hash of anything.
pub fn default_fingerprint(len: usize, b: u32) -> Vec<u8> {
    let mut fp = vec![0x5Au8; len];
    fp[..3].copy_from_slice(&[0xC4, 0xAF, 0x7E]);
    fp[3..7].copy_from_slice(&b.to_le_bytes());
    fp
}

/// Bytes given in hex on the command line (a fingerprint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

/// Parses a fingerprint given in hex.
pub fn parse_hex(s: &str) -> Result<HexBytes> {
    ensure!(
        s.len().is_multiple_of(2) && s.is_ascii(),
        "not an even number of hex digits"
    );
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).context("not hex"))
        .collect::<Result<Vec<u8>>>()
        .map(HexBytes)
}

/// Makes `kind` on the volume at `path`.
pub fn craft(path: &Path, kind: Kind, o: &Options) -> Result<Crafted> {
    let mut img = Image::open(path)?;
    craft_image(&mut img, kind, o)
}

/// Makes `kind` on an opened volume.
pub fn craft_image(img: &mut Image, kind: Kind, o: &Options) -> Result<Crafted> {
    match kind {
        Kind::StoreEntryOnMetadata | Kind::StoreEntryOnFree | Kind::StoreEntryUninitGroup => {
            store_entry(img, kind, o)
        }
        Kind::DirSizeHuge => dir_size(img, o),
        Kind::OrphanLoop => orphan_loop(img),
        Kind::OrphanLong => orphan_long(img, o.count.unwrap_or(LONG_ORPHANS)),
        Kind::JournalErrno => journal_errno(img, o.errno.unwrap_or(-117)),
        Kind::UnwrittenFile | Kind::UnwrittenNoFeature => unwritten_file(img, kind, o),
        Kind::StoredFile => stored_file(img, o),
        Kind::SavedFilterBadChain => saved_filter_bad_chain(img),
    }
}

/// What block `b` of group `l` is, in words (its fixed metadata).
fn metadata_words(l: &livedfs_format::GroupLayout, geo: &Geometry, b: u32) -> &'static str {
    if Some(b) == l.super_block {
        "superblock copy"
    } else if l
        .gdt_start
        .is_some_and(|s| b >= s && b < s + geo.gdt_blocks)
    {
        "descriptor table"
    } else if b == l.block_bitmap {
        "block bitmap"
    } else if b == l.inode_bitmap {
        "inode bitmap"
    } else if b >= l.inode_table && b < l.inode_table + geo.itable_blocks {
        "inode table"
    } else if b >= l.fp_store && b < l.fp_store + geo.fp_blocks_per_group {
        "fingerprint store"
    } else {
        "boot block"
    }
}

fn store_entry(img: &mut Image, kind: Kind, o: &Options) -> Result<Crafted> {
    let geo = img.geo;
    let b = match (kind, o.block) {
        (_, Some(b)) => b,
        (Kind::StoreEntryOnMetadata, None) => geo.group(0).fe()?.block_bitmap,
        (Kind::StoreEntryOnFree, None) => {
            let l = geo.group(0).fe()?;
            let d = img.desc(0)?;
            let mut found = None;
            for b in (l.data_start..l.end).rev() {
                if !img.block_in_use(0, &d, b)? {
                    found = Some(b);
                    break;
                }
            }
            found.context("group 0 has no free block")?
        }
        (_, None) => {
            let mut found = None;
            for g in 0..geo.group_count {
                if img.desc(g)?.flags & BG_BLOCK_UNINIT != 0 {
                    found = Some(geo.group(g).fe()?.end - 1);
                    break;
                }
            }
            found.context(
                "no group has an uninitialised block bitmap (BLOCK_UNINIT): \
                 use a volume of more groups, e.g. mkfs -b 1024",
            )?
        }
    };
    ensure!(
        geo.valid_block(b),
        "block {b} is not in a group (blocks {}..{})",
        geo.first_data_block,
        geo.groups_end
    );
    let g = geo.group_of_block(b).fe()?;
    let l = geo.group(g).fe()?;
    let d = img.desc(g)?;
    let what = match kind {
        Kind::StoreEntryOnMetadata => {
            let js = img.sb.journal_start;
            if js != 0 && b >= js && b - js < img.sb.journal_blocks {
                // In the data region and in use, but metadata all the same.
                format!("block {} of the journal", b - js)
            } else {
                ensure!(
                    b < l.data_start,
                    "block {b} is in group {g}'s data region ({}..{}) and not in the journal: not metadata",
                    l.data_start,
                    l.end - 1
                );
                format!("the {} of group {g}", metadata_words(&l, &geo, b))
            }
        }
        Kind::StoreEntryOnFree => {
            ensure!(
                geo.is_data_block(b),
                "block {b} is not in a group's data region"
            );
            ensure!(
                d.flags & BG_BLOCK_UNINIT == 0,
                "group {g} is BLOCK_UNINIT: that is the store-entry-uninit-group kind"
            );
            ensure!(
                !img.block_in_use(g, &d, b)?,
                "block {b} is in use in group {g}'s bitmap"
            );
            format!("a free data block of group {g}")
        }
        _ => {
            ensure!(
                geo.is_data_block(b),
                "block {b} is not in a group's data region"
            );
            ensure!(
                d.flags & BG_BLOCK_UNINIT != 0,
                "group {g} has its block bitmap written (not BLOCK_UNINIT)"
            );
            format!("a block of group {g}, whose block bitmap was never written")
        }
    };
    let fs = usize::from(geo.fp_algo.size());
    let fp = match &o.fingerprint {
        Some(f) => {
            ensure!(
                f.len() == fs,
                "a {} fingerprint has {fs} bytes, not {}",
                geo.fp_algo.name(),
                f.len()
            );
            ensure!(
                f.iter().any(|&x| x != 0),
                "an all-zero fingerprint is not allowed"
            );
            f.clone()
        }
        None => default_fingerprint(fs, b),
    };
    img.set_store_entry(b, &fp)?;
    let mut c = Crafted::new(
        kind,
        format!(
            "store entry of block {b} ({what}) in use: refcount 1, group {g} fp_used counts it"
        ),
    );
    c.block = Some(b);
    c.group = Some(g);
    c.fingerprint = Some(hex(&fp));
    Ok(c)
}

fn dir_size(img: &mut Image, o: &Options) -> Result<Crafted> {
    let ino = o.ino.unwrap_or(ROOT_INO);
    let size = o.size.unwrap_or(HUGE_DIR_SIZE);
    let mut i = img.inode(ino)?;
    ensure!(
        i.in_use() && i.is_dir(),
        "inode {ino} is not a directory in use"
    );
    let old = i.size;
    i.size = size;
    i.validate(&img.geo).fe().with_context(|| {
        format!("size {size} fails the inode's own validation (a multiple of the block size, at most the largest file)")
    })?;
    img.put_inode(ino, &i)?;
    let bs = u64::from(img.geo.block_size);
    let mut c = Crafted::new(
        Kind::DirSizeHuge,
        format!(
            "directory {ino}: size {old} -> {size} ({} blocks claimed, block count {} unchanged)",
            size / bs,
            i.blocks
        ),
    );
    c.ino = Some(ino);
    c.old_size = Some(old);
    c.size = Some(size);
    Ok(c)
}

/// Default number of unwritten blocks of `unwritten-file`.
pub const UNWRITTEN_BLOCKS: u32 = 4;

fn unwritten_file(img: &mut Image, kind: Kind, o: &Options) -> Result<Crafted> {
    use livedfs_format::inode::{N_DIRECT, UNWRITTEN};
    use livedfs_format::superblock::INCOMPAT_UNWRITTEN;
    let name = b"unwritten";
    let count = o.count.unwrap_or(UNWRITTEN_BLOCKS);
    ensure!(
        (1..=N_DIRECT as u32).contains(&count),
        "--count: 1 to {N_DIRECT} (direct pointers only)"
    );
    let size = o.size.unwrap_or(0);
    ensure!(
        size <= img.geo.max_file_size(),
        "--size: past the largest file"
    );
    let dir = o.ino.unwrap_or(ROOT_INO);
    let (ino, mut i) = new_file_in(img, dir, name)?;
    i.size = size;
    for p in &mut i.block[..count as usize] {
        *p = UNWRITTEN;
    }
    img.put_inode(ino, &i)?;
    let feature = kind == Kind::UnwrittenFile;
    if feature {
        img.sb.feature_incompat |= INCOMPAT_UNWRITTEN;
    } else {
        img.sb.feature_incompat &= !INCOMPAT_UNWRITTEN;
    }
    img.put_super()?;
    let mut c = Crafted::new(
        kind,
        format!(
            "regular file 'unwritten' (inode {ino}, {size} bytes) in directory {dir} with file blocks 0-{} unwritten, on a volume {} the unwritten feature",
            count - 1,
            if feature { "with" } else { "without" }
        ),
    );
    c.ino = Some(ino);
    c.size = Some(size);
    Ok(c)
}

/// A synthetic fingerprint for block `b`: every byte from a SplitMix64
/// stream seeded by the block number, so fingerprints are distinct and
/// spread over the filter like real hashes (not the hash of anything).
pub fn synthetic_fingerprint(len: usize, b: u32) -> Vec<u8> {
    let mut x = u64::from(b) ^ 0x6C69_7665_6466_7321;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn stored_file(img: &mut Image, o: &Options) -> Result<Crafted> {
    use livedfs_format::inode::{block_path, N_DIRECT};
    use std::collections::HashMap;
    let n = o.count.context("--count: the number of data blocks")?;
    ensure!(n > 0, "--count must be at least 1");
    let geo = img.geo;
    let ppb = geo.ptrs_per_block();
    let bs = u64::from(geo.block_size);
    ensure!(
        u64::from(n) * bs <= geo.max_file_size(),
        "--count: past the largest file"
    );
    // Groups never used (no block allocated past their metadata, store
    // never formatted), in order: the file takes their data regions.
    let mut free_groups = Vec::new();
    let mut room = 0u64;
    for g in 0..geo.group_count {
        if room >= u64::from(n) + u64::from(n) / u64::from(ppb.max(2) - 1) + 8 {
            break;
        }
        let d = img.desc(g)?;
        let l = geo.group(g).fe()?;
        let data = l.blocks() - l.overhead();
        if d.flags & BG_FP_UNINIT != 0 && d.free_blocks == data && data > 0 {
            free_groups.push((g, d, l));
            room += u64::from(data);
        }
    }
    // Blocks handed out in order: data and indirect blocks alike.
    let mut next = free_groups.iter().flat_map(|(_, _, l)| l.data_start..l.end);
    // The map is made in memory first: nothing is written unless every
    // block finds its place.
    let mut roots = [0u32; livedfs_format::inode::N_BLOCKS];
    let mut indirect: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut mapped = 0u64;
    for fb in 0..u64::from(n) {
        let path = block_path(ppb, fb).context("file block past the map")?;
        let root = path.offsets[0] as usize;
        // Walk down, creating the indirect blocks on the way.
        let mut parent: Option<u32> = None;
        for level in 0..path.depth {
            let slot = match parent {
                None => roots[root],
                Some(p) => indirect[&p][path.offsets[level] as usize],
            };
            let blk = if slot != 0 {
                slot
            } else {
                let nb = next
                    .next()
                    .context("not enough never-used groups for --count blocks")?;
                indirect.insert(nb, vec![0u32; ppb as usize]);
                mapped += 1;
                match parent {
                    None => roots[root] = nb,
                    Some(p) => {
                        indirect.get_mut(&p).expect("parent")[path.offsets[level] as usize] = nb
                    }
                }
                nb
            };
            parent = Some(blk);
        }
        let db = next
            .next()
            .context("not enough never-used groups for --count blocks")?;
        match parent {
            None => {
                ensure!(root < N_DIRECT, "direct slot out of range");
                roots[root] = db
            }
            Some(p) => {
                indirect.get_mut(&p).expect("parent")[path.offsets[path.depth] as usize] = db
            }
        }
        mapped += 1;
    }
    drop(next);
    let (ino, mut inode) = new_file_in(img, ROOT_INO, b"stored")?;
    inode.block = roots;
    // The indirect blocks.
    for (&b, ptrs) in &indirect {
        let mut blk = vec![0u8; bs as usize];
        for (k, p) in ptrs.iter().enumerate() {
            blk[k * 4..k * 4 + 4].copy_from_slice(&p.to_le_bytes());
        }
        img.write_block(b, &blk)?;
    }
    // Each group: its bitmap, its whole store, its descriptor. The
    // blocks were handed out in order: the first `mapped` of the groups'
    // data regions, each an indirect block or a data block.
    let fs = usize::from(geo.fp_algo.size());
    let mut used_total = 0u64;
    let mut groups_used = 0u32;
    for (g, d, l) in &free_groups {
        let left = mapped - used_total;
        let take = u64::from(l.end - l.data_start).min(left) as u32;
        if take == 0 {
            break;
        }
        let taken: Vec<u32> = (l.data_start..l.data_start + take).collect();
        let mut map = vec![0u8; bs as usize];
        bitmap::set_range(&mut map, 0, l.overhead() as usize);
        bitmap::set_range(&mut map, l.blocks() as usize, geo.blocks_per_group as usize);
        for &b in &taken {
            bitmap::set(&mut map, (b - l.first) as usize);
        }
        let mut store: Vec<Vec<u8>> = (0..geo.fp_blocks_per_group)
            .map(|j| {
                let mut blk = vec![0u8; bs as usize];
                fpstore::init_block(&mut blk, *g, j, img.seed, &Crc).fe()?;
                Ok(blk)
            })
            .collect::<Result<_>>()?;
        let mut fp_used = 0u32;
        for &b in taken.iter().filter(|b| !indirect.contains_key(b)) {
            let (sblk, off) = geo.fp_entry_location(b).fe()?;
            let j = (sblk - l.fp_store) as usize;
            fpstore::write_entry(&mut store[j], off, &synthetic_fingerprint(fs, b), 1).fe()?;
            fp_used += 1;
        }
        for (j, blk) in store.iter_mut().enumerate() {
            fpstore::set_checksum(blk, *g, j as u32, img.seed, &Crc).fe()?;
            img.write_block(l.fp_store + j as u32, blk)?;
        }
        img.write_block(l.block_bitmap, &map)?;
        let mut d = *d;
        d.flags &= !(BG_BLOCK_UNINIT | BG_FP_UNINIT);
        d.block_bitmap_csum = bitmap_checksum(&map, *g, img.seed, &Crc);
        d.free_blocks -= taken.len() as u32;
        d.fp_used = fp_used;
        img.put_desc(*g, &d)?;
        used_total += taken.len() as u64;
        groups_used += 1;
    }
    ensure!(
        used_total == mapped,
        "allocated {used_total} blocks, mapped {mapped}"
    );
    inode.size = u64::from(n) * bs;
    inode.blocks = mapped;
    img.put_inode(ino, &inode)?;
    img.sb.free_blocks = img.sb.free_blocks.saturating_sub(mapped);
    img.put_super()?;
    let mut c = Crafted::new(
        Kind::StoredFile,
        format!(
            "regular file 'stored' (inode {ino}) of {n} data blocks and {} indirect blocks in {} never-used groups, each data block with its own synthetic fingerprint, refcount 1 (data not written)",
            indirect.len(),
            groups_used
        ),
    );
    c.ino = Some(ino);
    c.size = Some(inode.size);
    Ok(c)
}

/// A new regular file `name` in directory `dir` (an entry in one of its
/// direct blocks), size 0, no blocks: its inode number and inode, already
/// written; the caller fills and writes it again.
fn new_file_in(img: &mut Image, dir: u32, name: &[u8]) -> Result<(u32, Inode)> {
    use livedfs_format::dirent;
    use livedfs_format::inode::N_DIRECT;
    let di = img.inode(dir)?;
    ensure!(
        di.in_use() && di.is_dir(),
        "inode {dir} is not a directory in use"
    );
    // A directory block with room for the entry (direct blocks only).
    let bs = u64::from(img.geo.block_size);
    let nblocks = (di.size / bs).min(N_DIRECT as u64) as usize;
    let mut place = None;
    for &b in &di.block[..nblocks] {
        if b == 0 || !img.geo.is_data_block(b) {
            continue;
        }
        let data = img.read_block(b)?;
        dirent::verify_block(&data, dir, di.generation, img.seed, &Crc)
            .fe()
            .with_context(|| format!("directory {dir} block {b}"))?;
        ensure!(
            !dirent::entries(&data)
                .flatten()
                .any(|e| e.ino != 0 && e.name == name),
            "directory {dir} already has an entry '{}'",
            String::from_utf8_lossy(name)
        );
        if place.is_none() {
            if let Some(at) = dirent::find_room(&data, name.len()).fe()? {
                place = Some((b, data, at));
            }
        }
    }
    let Some((b, mut data, at)) = place else {
        bail!("directory {dir} has no room for one more entry in its direct blocks");
    };
    let ino = img.new_orphans(1, |_, _| 0)?[0];
    let mut i = img.inode(ino)?;
    i.links_count = 1;
    img.put_inode(ino, &i)?;
    dirent::insert_at(&mut data, at, ino, name, dirent::FT_REG).fe()?;
    dirent::set_checksum(&mut data, dir, di.generation, img.seed, &Crc).fe()?;
    img.write_block(b, &data)?;
    Ok((ino, i))
}

fn orphan_loop(img: &mut Image) -> Result<Crafted> {
    ensure!(img.sb.orphan_head == 0, "the orphan list is not empty");
    // A -> B -> A.
    let inos = img.new_orphans(2, |v, k| v[(k + 1) % 2])?;
    img.sb.orphan_head = inos[0];
    img.put_super()?;
    let (a, b) = (inos[0], inos[1]);
    let mut c = Crafted::new(
        Kind::OrphanLoop,
        format!(
            "orphan list with a loop: orphan_head -> {a} -> {b} -> {a} (both unlinked while open)"
        ),
    );
    c.orphans = vec![a, b, a];
    Ok(c)
}

fn orphan_long(img: &mut Image, n: u32) -> Result<Crafted> {
    ensure!(img.sb.orphan_head == 0, "the orphan list is not empty");
    ensure!(n > 0, "count must be at least 1");
    let inos = img.new_orphans(n, |v, k| v.get(k + 1).copied().unwrap_or(0))?;
    img.sb.orphan_head = inos[0];
    img.put_super()?;
    let mut c = Crafted::new(
        Kind::OrphanLong,
        format!(
            "orphan list of {n} inodes (unlinked while open): {} -> ... -> {}",
            inos[0],
            inos[inos.len() - 1]
        ),
    );
    c.orphans = vec![inos[0], inos[inos.len() - 1]];
    c.orphan_count = Some(n);
    Ok(c)
}

fn journal_errno(img: &mut Image, errno: i32) -> Result<Crafted> {
    use livedfs_format::jbd2;
    ensure!(errno != 0, "--errno: 0 records nothing");
    let js = img.sb.journal_start;
    ensure!(
        js != 0 && img.sb.journal_blocks != 0,
        "the volume has no journal"
    );
    let mut jb = img.read_block(js)?;
    livedfs_format::codec::put_be32(&mut jb, jbd2::off::ERRNO, errno as u32).fe()?;
    if jbd2::superblock_has_csum(&jb).fe()? {
        let c = jbd2::superblock_checksum(&jb, &Crc).fe()?;
        livedfs_format::codec::put_be32(&mut jb, jbd2::off::CHECKSUM, c).fe()?;
    }
    img.write_block(js, &jb)?;
    let mut c = Crafted::new(
        Kind::JournalErrno,
        format!("errno {errno} recorded in the journal superblock (block {js}); the volume's state left as it was"),
    );
    c.block = Some(js);
    Ok(c)
}

fn saved_filter_bad_chain(img: &mut Image) -> Result<Crafted> {
    use livedfs_format::savedfilter::{self, SavedHeader};
    let sb = &img.sb;
    ensure!(
        sb.has_saved_filter(),
        "the volume has no saved filter (mount and unmount it cleanly first)"
    );
    ensure!(
        sb.saved_filter_gen == savedfilter::generation(sb.mount_count, sb.write_time),
        "the saved filter is stale: the next mount ignores it anyway"
    );
    let start = sb.saved_filter_start;
    let head = img.read_block(start)?;
    let h = SavedHeader::decode(&head, img.seed, &Crc).fe()?;
    ensure!(h.data_blocks > 0, "the saved filter holds no chain");
    let first = savedfilter::run(&head, 0).fe()?;
    let b = first.start;
    let mut buf = img.read_block(b)?;
    let payload_len = savedfilter::open_data_block(&buf, 1, h.generation, img.seed, &Crc)
        .fe()?
        .len();
    // The payload: each chain as its length (u32, little-endian) and its
    // bytes; a chain's bytes begin with its base entry count (u32), and
    // its high part (one bit per base entry, at least) at byte 9.
    let (mut at, mut chain) = (0usize, 0u64);
    let target = loop {
        let Some(len) = buf.get(at..at + 4) else {
            bail!("no chain with base entries in the saved filter's first data block");
        };
        let len = u32::from_le_bytes(len.try_into()?) as usize;
        let body = at + 4;
        if body + len > payload_len {
            bail!("no chain with base entries in the saved filter's first data block");
        }
        let m = buf
            .get(body..body + 4)
            .map(|x| u32::from_le_bytes(x.try_into().unwrap_or_default()))
            .unwrap_or(0);
        if len > 9 && m > 0 {
            break body + 9;
        }
        at = body + len;
        chain += 1;
    };
    buf[target] ^= 1;
    savedfilter::seal_data_block(&mut buf, 1, h.generation, img.seed, &Crc).fe()?;
    img.write_block(b, &buf)?;
    let mut c = Crafted::new(
        Kind::SavedFilterBadChain,
        format!(
            "chain {chain} of the saved filter made invalid (one bit of its high part flipped in block {b}, its checksum made right)"
        ),
    );
    c.block = Some(b);
    c.chain = Some(chain);
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints() {
        let fp = default_fingerprint(32, 0x0102_0304);
        assert_eq!(&fp[..7], &[0xC4, 0xAF, 0x7E, 4, 3, 2, 1]);
        assert!(fp[7..].iter().all(|&x| x == 0x5A));
        assert_eq!(default_fingerprint(16, 2).len(), 16);
        assert_eq!(parse_hex("00ff10").unwrap().0, vec![0, 255, 16]);
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
        assert!(parse_hex("é").is_err());
    }

    #[test]
    fn kinds_have_their_documented_names() {
        let names: Vec<String> = Kind::value_variants()
            .iter()
            .map(|k| k.to_possible_value().unwrap().get_name().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "store-entry-on-metadata",
                "store-entry-on-free",
                "store-entry-uninit-group",
                "dir-size-huge",
                "orphan-loop",
                "orphan-long",
                "journal-errno",
                "unwritten-file",
                "unwritten-no-feature",
                "stored-file",
                "saved-filter-bad-chain"
            ]
        );
    }
}
