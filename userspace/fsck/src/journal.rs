//! Pass 0's journal work: check the jbd2 superblock and replay committed
//! transactions, in userspace, exactly as the kernel's `fs/jbd2/recovery.c`
//! does (and e2fsprogs' `e2fsck/recovery.c`, the same code): three passes
//! over the log — scan (find the end: the last transaction with a valid
//! commit block), revoke (collect revoke records), replay (write every
//! logged block not revoked by the same or a later transaction to its home
//! block) — then mark the journal empty.
//!
//! Everything jbd2 writes is big-endian. livedfs opens its journal with
//! `jbd2_journal_init_dev`, so log block numbers (`s_first`, `s_maxlen`,
//! `s_start`) are absolute device blocks: [`JournalDev::base`] is 0. An
//! ext4 journal inode laid out contiguously uses log block numbers relative
//! to its first block: `base` is that block (the tests use this to replay
//! journals written by debugfs).

use std::collections::HashMap;

use livedfs_format::jbd2::{
    off, COMMIT_BLOCK, CSUM_TYPE_CRC32C, DESCRIPTOR_BLOCK, MAGIC, REVOKE_BLOCK, SUPERBLOCK_V1,
    SUPERBLOCK_V2,
};

use crate::crc::{crc32_be, jbd2_crc};
use crate::device::Device;

pub const FEATURE_COMPAT_CHECKSUM: u32 = 0x1;
pub const FEATURE_INCOMPAT_REVOKE: u32 = 0x1;
pub const FEATURE_INCOMPAT_64BIT: u32 = 0x2;
pub const FEATURE_INCOMPAT_ASYNC_COMMIT: u32 = 0x4;
pub const FEATURE_INCOMPAT_CSUM_V2: u32 = 0x8;
pub const FEATURE_INCOMPAT_CSUM_V3: u32 = 0x10;
pub const FEATURE_INCOMPAT_FAST_COMMIT: u32 = 0x20;
const KNOWN_INCOMPAT: u32 = FEATURE_INCOMPAT_REVOKE
    | FEATURE_INCOMPAT_64BIT
    | FEATURE_INCOMPAT_ASYNC_COMMIT
    | FEATURE_INCOMPAT_CSUM_V2
    | FEATURE_INCOMPAT_CSUM_V3;

pub const FLAG_ESCAPE: u16 = 1;
pub const FLAG_SAME_UUID: u16 = 2;
pub const FLAG_DELETED: u16 = 4;
pub const FLAG_LAST_TAG: u16 = 8;

/// `sizeof(journal_header_t)`.
const HEADER: usize = 12;
/// `sizeof(struct commit_header)`.
const COMMIT_HEADER: usize = 60;
/// Commit block checksum type of COMPAT_CHECKSUM (crc32_be).
const CRC32_CHKSUM: u8 = 1;

fn be32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}
fn be16(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2)
        .map_or(0, |s| u16::from_be_bytes([s[0], s[1]]))
}
fn be64(b: &[u8], off: usize) -> u64 {
    (u64::from(be32(b, off)) << 32) | u64::from(be32(b, off + 4))
}
fn put_be32(b: &mut [u8], off: usize, v: u32) {
    if let Some(s) = b.get_mut(off..off + 4) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// The journal superblock fields recovery uses.
#[derive(Debug, Clone)]
pub struct JSuper {
    pub blocktype: u32,
    pub blocksize: u32,
    pub maxlen: u32,
    pub first: u32,
    pub sequence: u32,
    pub start: u32,
    /// `s_errno`: the error `jbd2_journal_abort` recorded (a negative
    /// errno), 0 if none. In the v1 part of the superblock.
    pub errno: i32,
    pub feature_compat: u32,
    pub feature_incompat: u32,
    pub feature_ro_compat: u32,
    pub uuid: [u8; 16],
    pub checksum_type: u8,
    /// The superblock block as read.
    pub raw: Vec<u8>,
}

impl JSuper {
    pub fn csum_v2or3(&self) -> bool {
        self.feature_incompat & (FEATURE_INCOMPAT_CSUM_V2 | FEATURE_INCOMPAT_CSUM_V3) != 0
    }
}

/// Where the journal is and how it maps to the device.
#[derive(Debug, Clone, Copy)]
pub struct JournalDev {
    /// Device block of journal block 0 (its superblock).
    pub sb_block: u64,
    /// Added to log block numbers to get device blocks (0 for livedfs).
    pub base: u64,
    /// Blocks of the journal.
    pub blocks: u32,
    /// Expected `s_first` and `s_maxlen` (log numbering).
    pub first: u32,
    pub maxlen: u32,
    /// Blocks of the file system (replay targets must be below).
    pub fs_blocks: u64,
    /// Device blocks a replay must never write (the journal itself).
    pub protect: (u64, u64),
}

impl JournalDev {
    /// The journal of a livedfs volume: `blocks` blocks at `start`.
    pub fn livedfs(start: u32, blocks: u32, fs_blocks: u64) -> Self {
        Self {
            sb_block: u64::from(start),
            base: 0,
            blocks,
            first: start.saturating_add(1),
            maxlen: start.saturating_add(blocks),
            fs_blocks,
            protect: (u64::from(start), u64::from(start) + u64::from(blocks)),
        }
    }
}

/// Reads and checks the journal superblock; the error says what is wrong.
pub fn read_super(dev: &Device, jd: &JournalDev) -> Result<JSuper, String> {
    let raw = dev
        .read_block(jd.sb_block)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if be32(&raw, 0) != MAGIC {
        return Err("bad magic".into());
    }
    let blocktype = be32(&raw, 4);
    if blocktype != SUPERBLOCK_V1 && blocktype != SUPERBLOCK_V2 {
        return Err(format!("unknown superblock type {blocktype}"));
    }
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&raw[0x30..0x40]);
    let v2 = blocktype == SUPERBLOCK_V2;
    let s = JSuper {
        blocktype,
        blocksize: be32(&raw, 0xC),
        maxlen: be32(&raw, 0x10),
        first: be32(&raw, 0x14),
        sequence: be32(&raw, 0x18),
        start: be32(&raw, 0x1C),
        errno: be32(&raw, off::ERRNO) as i32,
        feature_compat: if v2 { be32(&raw, 0x24) } else { 0 },
        feature_incompat: if v2 { be32(&raw, 0x28) } else { 0 },
        feature_ro_compat: if v2 { be32(&raw, 0x2C) } else { 0 },
        uuid,
        checksum_type: raw[0x50],
        raw,
    };
    if s.blocksize != dev.block_size() {
        return Err(format!(
            "block size {} is not the volume's {}",
            s.blocksize,
            dev.block_size()
        ));
    }
    if s.maxlen != jd.maxlen {
        return Err(format!("maxlen {} should be {}", s.maxlen, jd.maxlen));
    }
    if s.first != jd.first {
        return Err(format!("first {} should be {}", s.first, jd.first));
    }
    if s.start != 0 && (s.start < s.first || s.start >= s.maxlen) {
        return Err(format!("log start {} outside the log", s.start));
    }
    Ok(s)
}

/// Checks the superblock's features and checksum: `Err` names what this
/// replayer (and the kernel) can't handle.
pub fn check_features(s: &JSuper) -> Result<(), String> {
    if s.feature_ro_compat != 0 {
        return Err(format!(
            "read-only-compatible features {:#x}",
            s.feature_ro_compat
        ));
    }
    let unknown = s.feature_incompat & !KNOWN_INCOMPAT;
    if unknown != 0 {
        return Err(format!("incompatible features {unknown:#x}"));
    }
    let v2 = s.feature_incompat & FEATURE_INCOMPAT_CSUM_V2 != 0;
    let v3 = s.feature_incompat & FEATURE_INCOMPAT_CSUM_V3 != 0;
    if v2 && v3 {
        return Err("checksum v2 and v3 together".into());
    }
    if (v2 || v3) && s.feature_compat & FEATURE_COMPAT_CHECKSUM != 0 {
        return Err("checksum v1 and v2/v3 together".into());
    }
    if v2 || v3 {
        if s.checksum_type != CSUM_TYPE_CRC32C {
            return Err(format!("checksum type {}", s.checksum_type));
        }
        let mut b = s.raw[..1024].to_vec();
        let stored = be32(&b, 0xFC);
        put_be32(&mut b, 0xFC, 0);
        let computed = jbd2_crc(!0, &b);
        if stored != computed {
            return Err(format!(
                "superblock checksum {stored:#010x}, computed {computed:#010x}"
            ));
        }
    }
    Ok(())
}

/// What a replay did.
#[derive(Debug, Default, Clone)]
pub struct ReplayReport {
    pub start_transaction: u32,
    /// First transaction not replayed (the new log starts after it).
    pub end_transaction: u32,
    pub replayed: u64,
    /// The home blocks written, each once (at most the journal's length),
    /// with what they held before the replay (if asked for: see
    /// [`replay_keeping`]).
    pub targets: Vec<(u64, Vec<u8>)>,
    pub revoked: u64,
    pub revoke_hits: u64,
    /// Blocks tags named outside the volume or inside the journal.
    pub bad_targets: Vec<u64>,
    /// Problems met (checksum failures, unreadable blocks); the replay
    /// still did what it could, as the kernel's.
    pub errors: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Scan,
    Revoke,
    Replay,
}

/// Log blocks read at once.
const LOG_RUN: u32 = 256;
/// Replayed blocks held before they are written (bounds the memory: 64 MiB
/// at 4 KiB blocks).
const PENDING_MAX: usize = 16384;

struct Rec<'a> {
    dev: &'a mut Device,
    jd: JournalDev,
    first: u32,
    last: u32,
    seq0: u32,
    start: u32,
    tag_bytes: usize,
    csum23: bool,
    csum3: bool,
    is64: bool,
    async_commit: bool,
    csum_v1: bool,
    seed: u32,
    bs: usize,
    revoke: HashMap<u64, u32>,
    written: std::collections::HashSet<u64>,
    /// A run of log blocks read ahead: (first log block, its bytes).
    cache: std::cell::RefCell<(u32, Vec<u8>)>,
    /// Which replay targets to keep the old content of.
    keep_old: &'a dyn Fn(u64) -> bool,
    /// Replayed blocks not written yet, by target: a later transaction's
    /// copy replaces an earlier one, and they are written in runs of
    /// consecutive blocks (one write each) rather than one by one.
    pending: std::collections::BTreeMap<u64, Vec<u8>>,
    info: ReplayReport,
    end_set: bool,
    head_block: u32,
}

/// Takes `n` blocks from the scan budget.
fn advance(n: u64, budget: &mut u64) -> Result<(), String> {
    if *budget < n {
        return Err("the log is longer than the journal".into());
    }
    *budget -= n;
    Ok(())
}

fn tid_gt(x: u32, y: u32) -> bool {
    (x.wrapping_sub(y) as i32) > 0
}
fn tid_geq(x: u32, y: u32) -> bool {
    (x.wrapping_sub(y) as i32) >= 0
}

impl Rec<'_> {
    /// Writes the pending replayed blocks, sorted, a run of consecutive
    /// blocks at a time.
    fn flush_pending(&mut self) -> Result<(), String> {
        let pending = std::mem::take(&mut self.pending);
        let mut run: Vec<u8> = Vec::new();
        let mut run_start = 0u64;
        let mut next = None;
        for (b, data) in pending {
            if next != Some(b) {
                if !run.is_empty() {
                    self.write_run(run_start, &run)?;
                    run.clear();
                }
                run_start = b;
            }
            run.extend_from_slice(&data);
            next = Some(b + 1);
        }
        if !run.is_empty() {
            self.write_run(run_start, &run)?;
        }
        Ok(())
    }

    fn write_run(&mut self, start: u64, run: &[u8]) -> Result<(), String> {
        let off = start
            .checked_mul(self.bs as u64)
            .ok_or_else(|| format!("writing block {start}: past the end of the device"))?;
        self.dev.write_at(off, run).map_err(|e| {
            format!(
                "writing blocks {start}..{}: {e}",
                start + (run.len() / self.bs) as u64
            )
        })
    }

    fn wrap(&self, b: u32) -> u32 {
        if b >= self.last {
            b - (self.last - self.first)
        } else {
            b
        }
    }

    fn jread(&self, b: u32) -> Result<Vec<u8>, String> {
        if b >= self.jd.maxlen {
            return Err(format!("log block {b} past the end of the journal"));
        }
        // The log is read in order (three times): read it in runs of
        // LOG_RUN blocks. Replay never writes inside the journal, so the
        // run stays current.
        let mut c = self.cache.borrow_mut();
        let have = (c.1.len() / self.bs) as u32;
        if b < c.0 || b >= c.0 + have {
            let n = LOG_RUN.min(self.jd.maxlen - b);
            let d = self
                .dev
                .read_blocks(u64::from(b) + self.jd.base, n)
                .map_err(|e| format!("reading log block {b}: {e}"))?;
            *c = (b, d);
        }
        let at = (b - c.0) as usize * self.bs;
        Ok(c.1[at..at + self.bs].to_vec())
    }

    fn count_tags(&self, b: &[u8]) -> usize {
        let mut size = self.bs;
        if self.csum23 {
            size -= 4;
        }
        let mut p = HEADER;
        let mut nr = 0;
        while p + self.tag_bytes <= size {
            let flags = be16(b, p + 6);
            nr += 1;
            p += self.tag_bytes;
            if flags & FLAG_SAME_UUID == 0 {
                p += 16;
            }
            if flags & FLAG_LAST_TAG != 0 {
                break;
            }
        }
        nr
    }

    fn block_csum_ok(&self, b: &[u8]) -> bool {
        if !self.csum23 {
            return true;
        }
        let mut c = b.to_vec();
        let at = self.bs - 4;
        let stored = be32(&c, at);
        put_be32(&mut c, at, 0);
        stored == jbd2_crc(self.seed, &c)
    }

    fn commit_csum_ok(&self, b: &[u8]) -> bool {
        if !self.csum23 {
            return true;
        }
        let mut c = b.to_vec();
        let stored = be32(&c, 16);
        put_be32(&mut c, 16, 0);
        stored == jbd2_crc(self.seed, &c)
    }

    fn commit_csum_partial_ok(&self, b: &[u8]) -> bool {
        let mut c = vec![0u8; self.bs];
        c[..COMMIT_HEADER].copy_from_slice(&b[..COMMIT_HEADER]);
        let stored = be32(&c, 16);
        put_be32(&mut c, 16, 0);
        stored == jbd2_crc(self.seed, &c)
    }

    fn tag_csum_ok(&self, tag: &[u8], data: &[u8], seq: u32) -> bool {
        if !self.csum23 {
            return true;
        }
        let c = jbd2_crc(self.seed, &seq.to_be_bytes());
        let c = jbd2_crc(c, data);
        if self.csum3 {
            be32(tag, 12) == c
        } else {
            u32::from(be16(tag, 4)) == c & 0xFFFF
        }
    }

    fn tag_block(&self, tag: &[u8]) -> u64 {
        let mut b = u64::from(be32(tag, 0));
        if self.is64 {
            b |= u64::from(be32(tag, 8)) << 32;
        }
        b
    }

    fn test_revoke(&self, b: u64, seq: u32) -> bool {
        match self.revoke.get(&b) {
            None => false,
            Some(&r) => !tid_gt(seq, r),
        }
    }

    fn scan_revoke(&mut self, b: &[u8], seq: u32) -> Result<(), String> {
        let rcount = be32(b, 12) as usize;
        let csum = if self.csum23 { 4 } else { 0 };
        if rcount > self.bs - csum {
            return Err(format!("revoke block byte count {rcount} too large"));
        }
        let rlen = if self.is64 { 8 } else { 4 };
        let mut off = 16;
        while off + rlen <= rcount {
            let blk = if rlen == 4 {
                u64::from(be32(b, off))
            } else {
                be64(b, off)
            };
            off += rlen;
            let e = self.revoke.entry(blk).or_insert(seq);
            if tid_gt(seq, *e) {
                *e = seq;
            }
            self.info.revoked += 1;
        }
        Ok(())
    }

    /// One pass, as `do_one_pass`.
    fn pass(&mut self, pass: Pass) -> Result<(), String> {
        let mut next_commit = self.seq0;
        let mut next_block = self.start;
        let mut head_block = next_block;
        let mut crc32_sum: u32 = !0;
        let mut need_check_commit_time = false;
        let mut last_commit_time: u64 = 0;
        let mut success: Result<(), String> = Ok(());
        let mut block_error = false;
        if pass == Pass::Scan {
            self.info.start_transaction = next_commit;
        }
        // A valid log never spans more blocks than the journal has: a
        // bound that stops a crafted ring of blocks from looping forever.
        let mut budget = u64::from(self.last - self.first) + 2;
        'log: loop {
            if pass != Pass::Scan && tid_geq(next_commit, self.info.end_transaction) {
                break;
            }
            advance(1, &mut budget)?;
            let bh = self.jread(next_block)?;
            next_block = self.wrap(next_block + 1);
            if be32(&bh, 0) != MAGIC {
                break;
            }
            let blocktype = be32(&bh, 4);
            let sequence = be32(&bh, 8);
            if sequence != next_commit {
                break;
            }
            match blocktype {
                DESCRIPTOR_BLOCK => {
                    let descr_csum = if self.csum23 { 4 } else { 0 };
                    if descr_csum > 0 && !self.block_csum_ok(&bh) {
                        if pass != Pass::Scan {
                            return Err(format!(
                                "invalid checksum of descriptor block {} (transaction {next_commit})",
                                next_block
                            ));
                        }
                        need_check_commit_time = true;
                    }
                    if pass != Pass::Replay {
                        let n = self.count_tags(&bh) as u32;
                        if pass == Pass::Scan
                            && self.csum_v1
                            && !need_check_commit_time
                            && !self.end_set
                        {
                            crc32_sum = crc32_be(crc32_sum, &bh);
                            for _ in 0..n {
                                let io = next_block;
                                next_block = self.wrap(next_block + 1);
                                match self.jread(io) {
                                    Ok(o) => crc32_sum = crc32_be(crc32_sum, &o),
                                    Err(_) => break 'log,
                                }
                            }
                            advance(u64::from(n), &mut budget)?;
                            continue;
                        }
                        advance(u64::from(n), &mut budget)?;
                        next_block = self.wrap(next_block + n);
                        continue;
                    }
                    // Replay the tagged blocks.
                    let mut p = HEADER;
                    while p + self.tag_bytes <= self.bs - descr_csum {
                        let tag = bh[p..p + self.tag_bytes].to_vec();
                        let flags = be16(&tag, 6);
                        let io = next_block;
                        next_block = self.wrap(next_block + 1);
                        advance(1, &mut budget)?;
                        match self.jread(io) {
                            Err(e) => success = Err(e),
                            Ok(mut data) => {
                                let target = self.tag_block(&tag);
                                if self.test_revoke(target, next_commit) {
                                    self.info.revoke_hits += 1;
                                } else if !self.tag_csum_ok(&tag, &data, sequence) {
                                    success = Err(format!(
                                        "invalid checksum recovering data block {target} in log block {io}"
                                    ));
                                    block_error = true;
                                } else if target >= self.jd.fs_blocks
                                    || (target >= self.jd.protect.0 && target < self.jd.protect.1)
                                {
                                    self.info.bad_targets.push(target);
                                } else {
                                    if flags & FLAG_ESCAPE != 0 {
                                        put_be32(&mut data, 0, MAGIC);
                                    }
                                    if self.written.insert(target) {
                                        let old = if (self.keep_old)(target) {
                                            self.dev.read_block(target).map_err(|e| {
                                                format!("reading block {target}: {e}")
                                            })?
                                        } else {
                                            Vec::new()
                                        };
                                        self.info.targets.push((target, old));
                                    }
                                    self.pending.insert(target, data);
                                    if self.pending.len() >= PENDING_MAX {
                                        self.flush_pending()?;
                                    }
                                    self.info.replayed += 1;
                                }
                            }
                        }
                        p += self.tag_bytes;
                        if flags & FLAG_SAME_UUID == 0 {
                            p += 16;
                        }
                        if flags & FLAG_LAST_TAG != 0 {
                            break;
                        }
                    }
                    continue;
                }
                COMMIT_BLOCK => {
                    let commit_time = be64(&bh, 48);
                    if need_check_commit_time {
                        if commit_time >= last_commit_time {
                            return Err(format!(
                                "invalid checksum found in transaction {next_commit}"
                            ));
                        }
                        // Stale block of an older log: the end.
                        break;
                    }
                    let mut chksum_error = false;
                    if pass == Pass::Scan && self.csum_v1 {
                        let found = be32(&bh, 16);
                        if self.end_set {
                            break;
                        }
                        let ty = bh[12];
                        let size = bh[13];
                        let ok = (crc32_sum == found && ty == CRC32_CHKSUM && size == 4)
                            || (ty == 0 && size == 0 && found == 0);
                        if !ok {
                            chksum_error = true;
                        }
                        crc32_sum = !0;
                    }
                    let mut skip_to_ok = false;
                    if !chksum_error && pass == Pass::Scan && !self.commit_csum_ok(&bh) {
                        if self.commit_csum_partial_ok(&bh) {
                            skip_to_ok = true;
                        } else {
                            chksum_error = true;
                        }
                    }
                    if chksum_error && !skip_to_ok {
                        if commit_time < last_commit_time {
                            break; // stale: end with success
                        }
                        self.info.end_transaction = next_commit;
                        self.end_set = true;
                        self.head_block = head_block;
                        if !self.async_commit {
                            break;
                        }
                    }
                    if pass == Pass::Scan {
                        last_commit_time = commit_time;
                        head_block = next_block;
                    }
                    next_commit = next_commit.wrapping_add(1);
                    continue;
                }
                REVOKE_BLOCK => {
                    if pass == Pass::Scan && !self.block_csum_ok(&bh) {
                        need_check_commit_time = true;
                    }
                    if pass != Pass::Revoke {
                        continue;
                    }
                    self.scan_revoke(&bh, next_commit)?;
                    continue;
                }
                _ => break,
            }
        }
        if pass == Pass::Scan {
            if !self.end_set {
                self.info.end_transaction = next_commit;
                self.end_set = true;
            }
            if self.head_block == 0 {
                self.head_block = head_block;
            }
        } else if self.info.end_transaction != next_commit {
            success = Err(format!(
                "recovery pass ended at transaction {next_commit}, expected {}",
                self.info.end_transaction
            ));
        }
        if block_error && success.is_ok() {
            success = Err("data block checksum errors".into());
        }
        success
    }
}

/// Replays the journal described by `s` (which needs recovery:
/// `s.start != 0`) and marks it empty. Errors met on the way are in the
/// report; `Err` means nothing sensible could be done (and nothing was
/// marked).
pub fn replay(dev: &mut Device, jd: &JournalDev, s: &JSuper) -> Result<ReplayReport, String> {
    replay_keeping(dev, jd, s, &|_| false)
}

/// [`replay`], keeping in the report what each home block `keep_old`
/// selects held before the replay (for the others, an empty vector).
pub fn replay_keeping(
    dev: &mut Device,
    jd: &JournalDev,
    s: &JSuper,
    keep_old: &dyn Fn(u64) -> bool,
) -> Result<ReplayReport, String> {
    let bs = dev.block_size() as usize;
    let incompat = s.feature_incompat;
    let csum3 = incompat & FEATURE_INCOMPAT_CSUM_V3 != 0;
    let csum2 = incompat & FEATURE_INCOMPAT_CSUM_V2 != 0;
    let is64 = incompat & FEATURE_INCOMPAT_64BIT != 0;
    let tag_bytes = if csum3 {
        16
    } else {
        let sz = 12 + if csum2 { 2 } else { 0 };
        if is64 {
            sz
        } else {
            sz - 4
        }
    };
    let mut r = Rec {
        dev,
        jd: *jd,
        first: s.first,
        last: s.maxlen,
        seq0: s.sequence,
        start: s.start,
        tag_bytes,
        csum23: csum2 || csum3,
        csum3,
        is64,
        async_commit: incompat & FEATURE_INCOMPAT_ASYNC_COMMIT != 0,
        csum_v1: s.feature_compat & FEATURE_COMPAT_CHECKSUM != 0,
        seed: jbd2_crc(!0, &s.uuid),
        bs,
        revoke: HashMap::new(),
        written: std::collections::HashSet::new(),
        cache: std::cell::RefCell::new((0, Vec::new())),
        keep_old,
        pending: std::collections::BTreeMap::new(),
        info: ReplayReport::default(),
        end_set: false,
        head_block: 0,
    };
    if r.first >= r.last {
        return Err("empty log".into());
    }
    r.pass(Pass::Scan)?;
    let mut errors = Vec::new();
    if let Err(e) = r.pass(Pass::Revoke) {
        errors.push(e);
    } else if let Err(e) = r.pass(Pass::Replay) {
        errors.push(e);
    }
    // What was replayed is written even after an error (as the kernel's
    // replay, whose writes precede the error).
    if let Err(e) = r.flush_pending() {
        errors.push(e);
    }
    let mut info = r.info;
    info.errors = errors;
    // The replayed blocks must be on stable storage before the journal
    // says it is empty (as the kernel's sync_blockdev after recovery):
    // a crash in between then replays again.
    dev.sync()
        .map_err(|e| format!("flushing the replayed blocks: {e}"))?;
    // The log restarts at the next transaction id (invalidating every
    // commit block still in the log), empty.
    let new_seq = info.end_transaction.wrapping_add(1);
    mark_clean(dev, jd, s, new_seq)?;
    info.end_transaction = new_seq;
    Ok(info)
}

/// Sets the checksum of the journal superblock block `b` (if `s` has
/// checksums v2 or v3): crc32c seeded with ~0 over its first 1024 bytes,
/// the checksum field zeroed, as the kernel's `jbd2_superblock_csum`.
fn set_super_csum(s: &JSuper, b: &mut [u8]) {
    if s.csum_v2or3() {
        put_be32(b, off::CHECKSUM, 0);
        let c = jbd2_crc(!0, &b[..1024]);
        put_be32(b, off::CHECKSUM, c);
    }
}

/// Writes the journal superblock with `s_start` = 0 and `s_sequence` =
/// `seq` (checksum updated).
pub fn mark_clean(dev: &mut Device, jd: &JournalDev, s: &JSuper, seq: u32) -> Result<(), String> {
    let mut b = s.raw.clone();
    put_be32(&mut b, 0x18, seq);
    put_be32(&mut b, 0x1C, 0);
    set_super_csum(s, &mut b);
    dev.write_block(jd.sb_block, &b)
        .map_err(|e| format!("writing the journal superblock: {e}"))?;
    Ok(())
}

/// Writes the journal superblock `s` with `s_errno` = 0 (checksum
/// updated), everything else as read: what e2fsck does once the error
/// is recorded in the file system's superblock.
pub fn clear_errno(dev: &mut Device, jd: &JournalDev, s: &JSuper) -> Result<(), String> {
    let mut b = s.raw.clone();
    put_be32(&mut b, off::ERRNO, 0);
    set_super_csum(s, &mut b);
    dev.write_block(jd.sb_block, &b)
        .map_err(|e| format!("writing the journal superblock: {e}"))?;
    Ok(())
}

/// Makes a new, empty journal: a fresh superblock (as mkfs writes) and a
/// zeroed log, so no stale block can ever be taken for a transaction.
pub fn recreate(dev: &mut Device, start: u32, blocks: u32, uuid: &[u8; 16]) -> Result<(), String> {
    let bs = dev.block_size();
    let mut b = vec![0u8; bs as usize];
    livedfs_format::jbd2::encode_fresh_superblock(&mut b, bs, start, blocks, uuid)
        .map_err(|e| e.to_string())?;
    dev.write_block(u64::from(start), &b)
        .map_err(|e| e.to_string())?;
    let zero = vec![0u8; bs as usize];
    for i in 1..blocks {
        dev.write_block(u64::from(start) + u64::from(i), &zero)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
