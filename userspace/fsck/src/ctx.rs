//! The checker's state: options, the open device, the superblock and
//! descriptors, what pass 1 learned about inodes and blocks, and the one
//! function, [`Fsck::fix`], through which every problem is reported and
//! every repair decided.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use livedfs_format::group::GroupDesc;
use livedfs_format::inode::Inode;
use livedfs_format::superblock::Superblock;
use livedfs_format::{Geometry, DESC_SIZE};

use crate::crc::Crc;
use crate::device::Device;
use crate::problem::{PCtx, Question, P};
use crate::progress::Progress;

/// Set by SIGINT/SIGTERM: stop at the next safe point (exit 32).
pub static CANCEL: AtomicBool = AtomicBool::new(false);

/// How problems are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `-n`: open read-only, answer no.
    No,
    /// `-y`: answer yes.
    Yes,
    /// `-p`/`-a`: fix only what is safe, else stop.
    Preen,
    /// Ask on the terminal.
    Ask,
}

/// The command-line options.
#[derive(Debug, Clone)]
pub struct Options {
    pub device: std::path::PathBuf,
    pub mode: Mode,
    pub force: bool,
    /// `-C fd`: progress to this descriptor (0: a bar on the terminal).
    pub progress_fd: Option<i32>,
    /// `-b N`: use the superblock at block N.
    pub superblock: Option<u64>,
    pub verbose: bool,
    /// `-E journal_only` (e2fsck's): replay the journal if it needs
    /// recovery, and nothing else.
    pub journal_only: bool,
    /// `-t` (e2fsck's): print the time each pass took.
    pub timing: bool,
    /// `-E scrub` or `-c`: read every data block in use and verify its
    /// fingerprint (implies a full check, as `-f`).
    pub scrub: bool,
}

impl Options {
    pub fn new(device: impl Into<std::path::PathBuf>, mode: Mode) -> Self {
        Self {
            device: device.into(),
            mode,
            force: false,
            progress_fd: None,
            superblock: None,
            verbose: false,
            journal_only: false,
            timing: false,
            scrub: false,
        }
    }
}

/// Why a check stopped early.
#[derive(Debug)]
pub enum Abort {
    /// Preen met a problem it may not fix.
    PreenHalt,
    /// Cancelled by a signal.
    Cancelled,
    /// An operational error (I/O, no memory, not livedfs...).
    Op(String),
}

impl From<std::io::Error> for Abort {
    fn from(e: std::io::Error) -> Self {
        Abort::Op(format!("I/O error: {e}"))
    }
}

pub type R<T> = Result<T, Abort>;

/// A fixed-size bit set.
#[derive(Debug, Clone, Default)]
pub struct BitVec {
    words: Vec<u64>,
    len: u64,
}

impl BitVec {
    pub fn new(len: u64) -> Self {
        Self {
            words: vec![0; len.div_ceil(64) as usize],
            len,
        }
    }
    pub fn get(&self, i: u64) -> bool {
        i < self.len && self.words[(i / 64) as usize] & (1 << (i % 64)) != 0
    }
    pub fn set(&mut self, i: u64) {
        if i < self.len {
            self.words[(i / 64) as usize] |= 1 << (i % 64);
        }
    }
    pub fn clear(&mut self, i: u64) {
        if i < self.len {
            self.words[(i / 64) as usize] &= !(1 << (i % 64));
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Whether any bit in `lo..hi` is set.
    pub fn any_in(&self, lo: u64, hi: u64) -> bool {
        let hi = hi.min(self.len);
        let mut i = lo;
        while i < hi {
            if i % 64 == 0 && i + 64 <= hi {
                if self.words[(i / 64) as usize] != 0 {
                    return true;
                }
                i += 64;
            } else {
                if self.get(i) {
                    return true;
                }
                i += 1;
            }
        }
        false
    }
}

/// Who claims blocks: file-system metadata owned by inodes (indirect,
/// directory and symlink blocks) and regular-file data pointers.
#[derive(Debug, Default)]
pub struct Claims {
    /// Claimed by an inode as metadata.
    pub meta: BitVec,
    /// Claimed by at least one regular-file data pointer.
    pub data: BitVec,
    /// Pointer counts of data blocks claimed more than once.
    pub multi: HashMap<u32, u64>,
    /// Blocks with conflicting claims (resolved by pass 1b).
    pub dup: HashSet<u32>,
}

impl Claims {
    /// Regular-file pointers to `b`.
    pub fn data_count(&self, b: u32) -> u64 {
        if !self.data.get(u64::from(b)) {
            return 0;
        }
        self.multi.get(&b).copied().unwrap_or(1)
    }
    pub fn add_data(&mut self, b: u32) {
        if self.data.get(u64::from(b)) {
            *self.multi.entry(b).or_insert(1) += 1;
        } else {
            self.data.set(u64::from(b));
        }
    }
    pub fn remove_data(&mut self, b: u32) {
        match self.multi.get_mut(&b) {
            Some(c) if *c > 2 => *c -= 1,
            Some(_) => {
                self.multi.remove(&b);
            }
            None => self.data.clear(u64::from(b)),
        }
    }
}

/// What pass 1 keeps of an in-use inode.
#[derive(Debug, Clone, Default)]
pub struct InodeRec {
    pub mode: u16,
    pub links: u32,
    /// Directory entries naming it (pass 2).
    pub refs: u32,
    pub generation: u32,
    pub size: u64,
    /// Directories: the '..' entry (pass 2), 0 if none.
    pub dotdot: u32,
    /// Directories: the directory whose entry named it first (pass 2).
    pub parent: u32,
    /// On the orphan list (links 0 allowed).
    pub orphan: bool,
    /// Has data blocks or a non-zero size.
    pub nonempty: bool,
    /// `blocks` as on disk, and as counted by pass 1.
    pub disk_blocks: u64,
    pub counted_blocks: u64,
    /// Last mapped file block, if any.
    pub last_fb: Option<u64>,
}

impl InodeRec {
    pub fn is_dir(&self) -> bool {
        self.mode & livedfs_format::inode::S_IFMT == livedfs_format::inode::S_IFDIR
    }
}

/// Counts for the summary line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub regular: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub special: u64,
    pub data_blocks: u64,
    pub shared_blocks: u64,
    pub pointers: u64,
    pub verified: u64,
    /// Sum of the live inodes' `prealloc` (preallocated space).
    pub prealloc: u64,
    /// Valid `UNWRITTEN` pointers (preallocated, unwritten file blocks).
    pub unwritten: u64,
}

/// The checker.
pub struct Fsck {
    pub dev: Device,
    pub opts: Options,
    pub out: Box<dyn Write>,
    pub sb: Superblock,
    pub geo: Geometry,
    pub seed: u32,
    pub descs: Vec<GroupDesc>,
    pub desc_dirty: HashSet<u32>,
    pub sb_dirty: bool,
    /// Problems reported (notes excluded), fixed, left.
    pub found: u32,
    pub fixed: u32,
    pub unfixed: u32,
    pub claims: Claims,
    pub inodes: HashMap<u32, InodeRec>,
    /// Directories: their blocks in file order (0 for a hole).
    pub dir_blocks: HashMap<u32, Vec<u32>>,
    /// Journal extent [start, end).
    pub journal: Option<(u32, u32)>,
    pub stats: Stats,
    pub progress: Progress,
    pub now: i64,
    /// Pass 6 reads every data block in use and verifies its
    /// fingerprint: a scrub (`-E scrub`, `-c`), or a volume that went down
    /// while mounted without a journal ([`Fsck::unclean_nojournal`]).
    /// Otherwise the check reads metadata only.
    pub verify_all: bool,
    /// The volume was mounted read-write without a journal and not
    /// cleanly unmounted: `STATE_VALID` clear, as the kernel leaves it
    /// while mounted `nojournal` (and without `STATE_ERROR`, unless the
    /// volume has no journal at all), and no journal to recover (a
    /// journal that needs recovery refuses a `nojournal` mount, so it
    /// shows the last mount used it). Store updates are then written at
    /// once and data at writeback, so a crash can leave entries whose
    /// data never reached the disk: every fingerprint is verified, and a
    /// wrong one is an expected result of the crash, recomputed by preen.
    pub unclean_nojournal: bool,
    /// The volume was in use when last written (a journal to recover, or
    /// `STATE_VALID` clear): the superblock's summary counters that the
    /// kernel keeps in memory and writes with the superblock (free counts,
    /// preallocated blocks) may lag the structures they sum, which the
    /// next mount recounts, so a difference is fixed without a word, as
    /// e2fsck treats its lazy counters.
    pub counters_lazy: bool,
    /// Extended-attribute blocks met by pass 1.
    pub xattr: crate::xattr::Blocks,
}

impl Fsck {
    /// The device name as messages show it.
    pub fn name(&self) -> String {
        self.opts.device.display().to_string()
    }

    /// Whether writes are allowed.
    pub fn rw(&self) -> bool {
        !self.dev.read_only
    }

    /// Prints a line.
    pub fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }

    /// Reports problem `p` and decides whether to repair it.
    pub fn fix(&mut self, p: P, c: PCtx) -> R<bool> {
        if CANCEL.load(Ordering::Relaxed) {
            return Err(Abort::Cancelled);
        }
        let d = p.def();
        let msg = c.expand(d.msg);
        if d.question == Question::Note {
            self.say(&msg);
            return Ok(false);
        }
        if d.silent {
            // Lazy counters: fixed without a word when writing, ignored
            // with -n (as e2fsck does for its lazy counters).
            return Ok(self.rw());
        }
        self.found += 1;
        let q = d.question.word();
        match self.opts.mode {
            Mode::No => {
                self.say(&format!("{msg}.  {q}? no"));
                self.unfixed += 1;
                Ok(false)
            }
            Mode::Yes => {
                self.say(&format!("{msg}.  {q}? yes"));
                self.fixed += 1;
                Ok(true)
            }
            Mode::Preen => {
                let dev = self.name();
                if d.preen_ok {
                    self.say(&format!("{dev}: {msg}.  {}", d.question.preen_done()));
                    self.fixed += 1;
                    Ok(true)
                } else {
                    self.say(&format!(
                        "{dev}: {msg}.\n\n{dev}: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.\n\t(i.e., without -a or -p options)"
                    ));
                    self.unfixed += 1;
                    Err(Abort::PreenHalt)
                }
            }
            Mode::Ask => {
                let _ = write!(self.out, "{msg}.  {q}<y>? ");
                let _ = self.out.flush();
                let mut line = String::new();
                let stdin = std::io::stdin();
                if !stdin.is_terminal() || stdin.lock().read_line(&mut line).is_err() {
                    return Err(Abort::Op("need terminal for interactive repairs".into()));
                }
                let yes = !line.trim_start().starts_with(['n', 'N']);
                self.say(if yes { "yes" } else { "no" });
                if yes {
                    self.fixed += 1;
                } else {
                    self.unfixed += 1;
                }
                Ok(yes)
            }
        }
    }

    /// Stops if a signal asked to.
    pub fn check_cancel(&self) -> R<()> {
        if CANCEL.load(Ordering::Relaxed) {
            return Err(Abort::Cancelled);
        }
        Ok(())
    }

    pub fn read_block(&self, b: u32) -> R<Vec<u8>> {
        Ok(self.dev.read_block(u64::from(b))?)
    }

    /// Writes block `b`. Before the first write, a saved fingerprint
    /// filter the superblock points to is forgotten (on disk): it lies in
    /// free space a repair may use, and describes the volume before it.
    pub fn write_block(&mut self, b: u32, data: &[u8]) -> R<()> {
        if self.rw() && self.sb.has_saved_filter() {
            self.sb.clear_saved_filter();
            self.write_super()?;
        }
        Ok(self.dev.write_block(u64::from(b), data)?)
    }

    /// Whether `b` is inside the journal extent.
    pub fn in_journal(&self, b: u32) -> bool {
        self.journal.is_some_and(|(s, e)| b >= s && b < e)
    }

    /// Whether `b` is fixed metadata (outside every data region, or the
    /// journal): never a file's block.
    pub fn is_fixed_meta(&self, b: u32) -> bool {
        !self.geo.is_data_block(b) || self.in_journal(b)
    }

    /// Reads inode `ino`'s raw 256 bytes.
    pub fn read_inode_raw(&self, ino: u32) -> R<Vec<u8>> {
        let (blk, off) = self
            .geo
            .inode_location(ino)
            .map_err(|e| Abort::Op(format!("inode {ino}: {e}")))?;
        let b = self.read_block(blk)?;
        Ok(b[off..off + self.geo.inode_size as usize].to_vec())
    }

    /// Writes inode `ino` (with its checksum).
    pub fn write_inode(&mut self, ino: u32, i: &Inode) -> R<()> {
        if !self.rw() {
            return Ok(());
        }
        let (blk, off) = self
            .geo
            .inode_location(ino)
            .map_err(|e| Abort::Op(format!("inode {ino}: {e}")))?;
        let mut b = self.read_block(blk)?;
        i.encode(
            &mut b[off..off + self.geo.inode_size as usize],
            ino,
            self.seed,
            &Crc,
        )
        .map_err(|e| Abort::Op(format!("encoding inode {ino}: {e}")))?;
        self.write_block(blk, &b)
    }

    /// Writes the superblock (primary) if changed.
    pub fn write_super(&mut self) -> R<()> {
        if !self.rw() {
            return Ok(());
        }
        let mut buf = vec![0u8; livedfs_format::superblock::SUPERBLOCK_SIZE];
        self.sb
            .encode(&mut buf, &Crc)
            .map_err(|e| Abort::Op(format!("encoding the superblock: {e}")))?;
        self.dev
            .write_at(livedfs_format::superblock::SUPERBLOCK_OFFSET, &buf)?;
        self.sb_dirty = false;
        Ok(())
    }

    /// Writes the changed descriptors to the primary table.
    pub fn write_descs(&mut self) -> R<()> {
        if !self.rw() || self.desc_dirty.is_empty() {
            self.desc_dirty.clear();
            return Ok(());
        }
        let mut groups: Vec<u32> = self.desc_dirty.drain().collect();
        groups.sort_unstable();
        let mut cur: Option<(u32, Vec<u8>)> = None;
        for g in groups {
            let (blk, off) = self
                .geo
                .desc_location(g)
                .map_err(|e| Abort::Op(format!("group {g}: {e}")))?;
            if cur.as_ref().map(|c| c.0) != Some(blk) {
                if let Some((b, data)) = cur.take() {
                    self.write_block(b, &data)?;
                }
                cur = Some((blk, self.read_block(blk)?));
            }
            if let Some((_, data)) = cur.as_mut() {
                self.descs[g as usize]
                    .encode(&mut data[off..off + DESC_SIZE as usize], g, self.seed, &Crc)
                    .map_err(|e| Abort::Op(format!("encoding descriptor {g}: {e}")))?;
            }
        }
        if let Some((b, data)) = cur.take() {
            self.write_block(b, &data)?;
        }
        Ok(())
    }

    /// Finds a free block for a repair (not claimed, not fixed metadata),
    /// preferring group `near`'s and groups whose store is formatted; it
    /// is claimed as metadata (`data` false) or as a data block.
    pub fn alloc_block(&mut self, near: u32, data: bool) -> Option<u32> {
        let n = self.geo.group_count;
        for pass in 0..2 {
            for step in 0..n {
                let g = (near + step) % n;
                let d = self.descs[g as usize];
                if pass == 0 && d.flags & livedfs_format::group::BG_FP_UNINIT != 0 && data {
                    continue;
                }
                let Ok(l) = self.geo.group(g) else { continue };
                for b in l.data_start..l.end {
                    if !self.claims.meta.get(u64::from(b))
                        && !self.claims.data.get(u64::from(b))
                        && !self.in_journal(b)
                    {
                        if data {
                            self.claims.add_data(b);
                        } else {
                            self.claims.meta.set(u64::from(b));
                        }
                        return Some(b);
                    }
                }
            }
        }
        None
    }

    /// Marks descriptor `g` as changed.
    pub fn desc_changed(&mut self, g: u32) {
        self.desc_dirty.insert(g);
    }
}
