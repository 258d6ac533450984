//! The fingerprint filter saved at a clean unmount ("fast mount").
//!
//! At a clean read-write unmount the kernel writes its in-memory filter
//! (each chain's bytes, [`crate::fpfilter::Chain::storage`]) into
//! **free** blocks: a header block and a list of runs (each within one
//! group's data region) holding the data blocks, and points the
//! superblock at the header (`saved_filter_start`, `saved_filter_blocks`,
//! `saved_filter_gen`). The blocks stay free in the bitmaps: the saved
//! filter is a hint living in free space. The next mount loads it instead
//! of reading every fingerprint store, if everything checks; a read-write
//! mount clears the pointer before it can allocate a block.
//!
//! Layout (block size `bs`, `P = bs - 4` payload bytes per data block):
//!
//! - the header ([`SavedHeader`], fields in Documentation/format.md) at
//!   `saved_filter_start`, then its run table ([`Run`], `run_count`
//!   entries in ascending block order, not overlapping), its crc32c in
//!   its last 4 bytes;
//! - data blocks 1..=`data_blocks` laid across the runs in table order:
//!   `P` payload bytes each, then a crc32c over (block index, generation,
//!   payload), so a block left by an older save at the same place does
//!   not pass;
//! - the payload: for each chain `0..chains` in order, its length (le32)
//!   then its bytes; `data_bytes` in all, the last block zero-padded.
//!
//! [`Packer`] and [`Unpacker`] stream the payload a block at a time.
//! Nothing here panics on any bytes.

use super::codec::*;
use super::csum::Crc32c;
use super::error::{FormatError, Result};

/// Magic of the header block.
pub const MAGIC: [u8; 8] = *b"LDFSFILT";
/// The header's format version.
pub const VERSION: u32 = 2;
/// Bytes at the end of every block of the run holding its checksum.
pub const BLOCK_TAIL: usize = 4;

/// Field offsets within the header block.
pub mod off {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 8;
    pub const INDEX_BITS: usize = 12;
    pub const BUCKET_BITS: usize = 16;
    pub const VALUE_BITS: usize = 20;
    pub const VALUES: usize = 24;
    pub const CHAINS: usize = 32;
    pub const ENTRIES: usize = 40;
    pub const DATA_BYTES: usize = 48;
    pub const DATA_BLOCKS: usize = 56;
    pub const GENERATION: usize = 64;
    pub const REFERENCED: usize = 72;
    pub const RUN_COUNT: usize = 80;
    /// First byte after the fields: the run table starts here (the rest
    /// of the block after it, up to the checksum, is zero).
    pub const END: usize = 88;
}

/// Field offsets within one run table entry.
pub mod run_off {
    pub const START: usize = 0;
    pub const BLOCKS: usize = 4;
    /// Bytes of an entry.
    pub const SIZE: usize = 8;
}

/// One run of data blocks of a saved filter: `blocks` blocks from
/// `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Run {
    /// First block.
    pub start: u32,
    /// Blocks (at least 1).
    pub blocks: u32,
}

impl Run {
    /// One past the last block (as u64: never overflows).
    pub fn end(&self) -> u64 {
        u64::from(self.start).saturating_add(u64::from(self.blocks))
    }

    /// Whether block `b` lies in the run.
    pub fn contains(&self, b: u32) -> bool {
        b >= self.start && u64::from(b) < self.end()
    }
}

/// Run table entries a header block of `block_size` bytes holds.
pub fn run_capacity(block_size: usize) -> u32 {
    let room = block_size
        .saturating_sub(BLOCK_TAIL)
        .saturating_sub(off::END);
    u32::try_from(room / run_off::SIZE).unwrap_or(u32::MAX)
}

/// The generation a superblock with this `mount_count` and `write_time`
/// gives its saved filter: both are what the unmount writes, so any later
/// superblock write by a mount changes it.
pub fn generation(mount_count: u32, write_time: i64) -> u64 {
    (u64::from(mount_count) << 32) | (write_time as u64 & 0xFFFF_FFFF)
}

/// Payload bytes per data block.
pub fn payload_per_block(block_size: usize) -> usize {
    block_size.saturating_sub(BLOCK_TAIL)
}

/// Data blocks holding `data_bytes` of payload (None if it does not fit a
/// u32 or the block size is too small).
pub fn data_blocks_for(data_bytes: u64, block_size: usize) -> Option<u32> {
    let p = payload_per_block(block_size) as u64;
    if p == 0 || block_size < off::END.saturating_add(BLOCK_TAIL) {
        return None;
    }
    u32::try_from(data_bytes.div_ceil(p)).ok()
}

/// The saved filter's header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SavedHeader {
    /// Index-key bits n of the filter.
    pub index_bits: u32,
    /// Bucket-key bits k.
    pub bucket_bits: u32,
    /// Bits of a stored value (a fingerprint-store slot).
    pub value_bits: u32,
    /// Stored values are below this (the volume's slot count).
    pub values: u64,
    /// Chains in the payload: `2^n`.
    pub chains: u64,
    /// Live entries in all chains.
    pub entries: u64,
    /// Payload bytes.
    pub data_bytes: u64,
    /// Data blocks after the header.
    pub data_blocks: u32,
    /// Must equal the superblock's `saved_filter_gen`.
    pub generation: u64,
    /// Sum of the stored blocks' refcounts when saved (a statistic).
    pub referenced: u64,
    /// Entries of the run table that follows the fields.
    pub run_count: u32,
}

fn body_crc(crc: &impl Crc32c, seed: u32, index: u32, generation: u64, body: &[u8]) -> u32 {
    let c = crc.crc32c(seed, &index.to_le_bytes());
    let c = crc.crc32c(c, &generation.to_le_bytes());
    crc.crc32c(c, body)
}

fn split_tail(buf: &[u8]) -> Result<(&[u8], u32)> {
    let n = buf.len();
    let body_len = n.checked_sub(BLOCK_TAIL).ok_or(FormatError::Truncated {
        what: "saved filter block",
        need: BLOCK_TAIL,
        have: n,
    })?;
    Ok((slice(buf, 0, body_len)?, get_u32(buf, body_len)?))
}

impl SavedHeader {
    /// Whether the fields fit together for a block size of `block_size`.
    pub fn check(&self, block_size: usize) -> Result<()> {
        if self.index_bits > 24 || self.bucket_bits == 0 || self.bucket_bits > 32 {
            return Err(FormatError::BadField {
                field: "saved filter.index_bits",
                value: u64::from(self.index_bits),
            });
        }
        if self.values == 0
            || self.values > 1u64 << 32
            || self.value_bits == 0
            || self.value_bits > 32
        {
            return Err(FormatError::BadField {
                field: "saved filter.values",
                value: self.values,
            });
        }
        let chains = 1u64.checked_shl(self.index_bits).unwrap_or(0);
        if self.chains != chains {
            return Err(FormatError::Inconsistent {
                what: "saved filter chains",
                found: self.chains,
                expected: chains,
            });
        }
        // Every chain has at least its 4-byte length.
        if self.data_bytes < chains.saturating_mul(4) {
            return Err(FormatError::Inconsistent {
                what: "saved filter data_bytes",
                found: self.data_bytes,
                expected: chains.saturating_mul(4),
            });
        }
        let want = data_blocks_for(self.data_bytes, block_size).ok_or(FormatError::BadField {
            field: "saved filter.data_bytes",
            value: self.data_bytes,
        })?;
        if self.data_blocks != want {
            return Err(FormatError::Inconsistent {
                what: "saved filter data_blocks",
                found: u64::from(self.data_blocks),
                expected: u64::from(want),
            });
        }
        if self.run_count == 0 || self.run_count > run_capacity(block_size) {
            return Err(FormatError::BadField {
                field: "saved filter.run_count",
                value: u64::from(self.run_count),
            });
        }
        Ok(())
    }

    /// Blocks of the saved filter: the header and the data blocks.
    pub fn total_blocks(&self) -> Option<u32> {
        self.data_blocks.checked_add(1)
    }

    /// Encodes into `buf` (one whole block) with its run table `runs`
    /// (as many as `run_count`, at most [`run_capacity`]), magic and
    /// checksum. The runs are written as given (not checked).
    pub fn encode(&self, buf: &mut [u8], runs: &[Run], seed: u32, crc: &impl Crc32c) -> Result<()> {
        need(
            buf,
            off::END.saturating_add(BLOCK_TAIL),
            "saved filter header",
        )?;
        if runs.len() != self.run_count as usize || self.run_count > run_capacity(buf.len()) {
            return Err(FormatError::BadField {
                field: "saved filter.run_count",
                value: u64::from(self.run_count),
            });
        }
        buf.fill(0);
        put_bytes(buf, off::MAGIC, &MAGIC)?;
        put_u32(buf, off::VERSION, VERSION)?;
        put_u32(buf, off::INDEX_BITS, self.index_bits)?;
        put_u32(buf, off::BUCKET_BITS, self.bucket_bits)?;
        put_u32(buf, off::VALUE_BITS, self.value_bits)?;
        put_u64(buf, off::VALUES, self.values)?;
        put_u64(buf, off::CHAINS, self.chains)?;
        put_u64(buf, off::ENTRIES, self.entries)?;
        put_u64(buf, off::DATA_BYTES, self.data_bytes)?;
        put_u32(buf, off::DATA_BLOCKS, self.data_blocks)?;
        put_u64(buf, off::GENERATION, self.generation)?;
        put_u64(buf, off::REFERENCED, self.referenced)?;
        put_u32(buf, off::RUN_COUNT, self.run_count)?;
        let mut at = off::END;
        for r in runs {
            put_u32(buf, at.saturating_add(run_off::START), r.start)?;
            put_u32(buf, at.saturating_add(run_off::BLOCKS), r.blocks)?;
            at = at.saturating_add(run_off::SIZE);
        }
        let (body, _) = split_tail(buf)?;
        let c = body_crc(crc, seed, 0, 0, body);
        let at = buf.len().saturating_sub(BLOCK_TAIL);
        put_u32(buf, at, c)
    }

    /// Decodes a header block: magic, version (another version, such as
    /// 1 whose header had no run table, is refused), checksum (seeded with
    /// the volume's seed), [`check`](Self::check), the run table (runs of
    /// at least one block, ascending and not overlapping, adding up to
    /// `data_blocks`; see [`run`]) and zero padding after it.
    pub fn decode(buf: &[u8], seed: u32, crc: &impl Crc32c) -> Result<Self> {
        need(
            buf,
            off::END.saturating_add(BLOCK_TAIL),
            "saved filter header",
        )?;
        if get_bytes::<8>(buf, off::MAGIC)? != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let version = get_u32(buf, off::VERSION)?;
        if version != VERSION {
            return Err(FormatError::BadField {
                field: "saved filter.version",
                value: u64::from(version),
            });
        }
        let (body, stored) = split_tail(buf)?;
        let computed = body_crc(crc, seed, 0, 0, body);
        if stored != computed {
            return Err(FormatError::BadChecksum {
                what: "saved filter header",
                stored,
                computed,
            });
        }
        let h = Self {
            index_bits: get_u32(buf, off::INDEX_BITS)?,
            bucket_bits: get_u32(buf, off::BUCKET_BITS)?,
            value_bits: get_u32(buf, off::VALUE_BITS)?,
            values: get_u64(buf, off::VALUES)?,
            chains: get_u64(buf, off::CHAINS)?,
            entries: get_u64(buf, off::ENTRIES)?,
            data_bytes: get_u64(buf, off::DATA_BYTES)?,
            data_blocks: get_u32(buf, off::DATA_BLOCKS)?,
            generation: get_u64(buf, off::GENERATION)?,
            referenced: get_u64(buf, off::REFERENCED)?,
            run_count: get_u32(buf, off::RUN_COUNT)?,
        };
        h.check(buf.len())?;
        let table_end = (h.run_count as usize)
            .saturating_mul(run_off::SIZE)
            .saturating_add(off::END);
        if get_u32(buf, off::RUN_COUNT.saturating_add(4))? != 0
            || body
                .get(table_end..)
                .is_some_and(|pad| pad.iter().any(|&b| b != 0))
        {
            return Err(FormatError::BadField {
                field: "saved filter.padding",
                value: 0,
            });
        }
        let mut sum = 0u64;
        let mut prev_end = 0u64;
        for i in 0..h.run_count {
            let r = run(buf, i)?;
            if r.blocks == 0 || u64::from(r.start) < prev_end || r.end() > u64::from(u32::MAX) {
                return Err(FormatError::BadField {
                    field: "saved filter.runs",
                    value: u64::from(i),
                });
            }
            prev_end = r.end();
            sum = sum.saturating_add(u64::from(r.blocks));
        }
        if sum != u64::from(h.data_blocks) {
            return Err(FormatError::Inconsistent {
                what: "saved filter run blocks",
                found: sum,
                expected: u64::from(h.data_blocks),
            });
        }
        Ok(h)
    }
}

/// Entry `i` of the run table of header block `buf` (not checked: use it
/// on a block [`SavedHeader::decode`] accepted, for `i < run_count`).
pub fn run(buf: &[u8], i: u32) -> Result<Run> {
    let at = (i as usize)
        .checked_mul(run_off::SIZE)
        .and_then(|x| x.checked_add(off::END))
        .ok_or(FormatError::BadField {
            field: "saved filter.runs",
            value: u64::from(i),
        })?;
    if at.saturating_add(run_off::SIZE) > buf.len().saturating_sub(BLOCK_TAIL) {
        return Err(FormatError::BadField {
            field: "saved filter.runs",
            value: u64::from(i),
        });
    }
    Ok(Run {
        start: get_u32(buf, at.saturating_add(run_off::START))?,
        blocks: get_u32(buf, at.saturating_add(run_off::BLOCKS))?,
    })
}

/// The device block of data block `index` (1-based) in a table `runs`,
/// if within it.
pub fn block_of(runs: &[Run], index: u32) -> Option<u32> {
    let mut i = index.checked_sub(1)?;
    for r in runs {
        if i < r.blocks {
            return r.start.checked_add(i);
        }
        i = i.checked_sub(r.blocks)?;
    }
    None
}

/// Seals data block `index` (>= 1) of a save of generation `generation`:
/// its last 4 bytes get the checksum of the rest.
pub fn seal_data_block(
    buf: &mut [u8],
    index: u32,
    generation: u64,
    seed: u32,
    crc: &impl Crc32c,
) -> Result<()> {
    let (body, _) = split_tail(buf)?;
    let c = body_crc(crc, seed, index, generation, body);
    let at = buf.len().saturating_sub(BLOCK_TAIL);
    put_u32(buf, at, c)
}

/// Checks data block `index` of a save of generation `generation`; its
/// payload.
pub fn open_data_block<'a>(
    buf: &'a [u8],
    index: u32,
    generation: u64,
    seed: u32,
    crc: &impl Crc32c,
) -> Result<&'a [u8]> {
    let (body, stored) = split_tail(buf)?;
    let computed = body_crc(crc, seed, index, generation, body);
    if stored != computed {
        return Err(FormatError::BadChecksum {
            what: "saved filter block",
            stored,
            computed,
        });
    }
    Ok(body)
}

/// Whether `blocks` blocks from `start` can hold (part of) a saved
/// filter: at least one block, all in one group's data region and outside
/// the journal. (Whether the blocks are free is for the bitmaps to say.)
pub fn check_run(
    geo: &super::Geometry,
    start: u32,
    blocks: u32,
    journal: (u32, u32),
) -> Result<()> {
    let bad = |value| FormatError::BadField {
        field: "saved filter run",
        value,
    };
    if blocks == 0 {
        return Err(bad(u64::from(start)));
    }
    let last = start
        .checked_add(blocks.saturating_sub(1))
        .ok_or(bad(u64::from(start)))?;
    let g = geo
        .group_of_block(start)
        .map_err(|_| bad(u64::from(start)))?;
    let l = geo.group(g)?;
    if start < l.data_start || last >= l.end {
        return Err(bad(u64::from(start)));
    }
    let (js, jn) = journal;
    let jend = u64::from(js).saturating_add(u64::from(jn));
    if jn != 0 && u64::from(start) < jend && u64::from(last) >= u64::from(js) {
        return Err(bad(u64::from(start)));
    }
    Ok(())
}

/// Whether the superblock's pointer can be a saved filter's: the header
/// block `start` in a group's data region outside the journal, `blocks`
/// (header and data blocks, laid across the header's runs) at least 2.
/// The runs are checked by [`check_runs`] once the header is read.
pub fn check_location(
    geo: &super::Geometry,
    start: u32,
    blocks: u32,
    journal: (u32, u32),
) -> Result<()> {
    if blocks < 2 {
        return Err(FormatError::BadField {
            field: "superblock.saved_filter_blocks",
            value: u64::from(blocks),
        });
    }
    check_run(geo, start, 1, journal).map_err(|_| FormatError::BadField {
        field: "superblock.saved_filter_start",
        value: u64::from(start),
    })
}

/// Checks the run table of a decoded header block `buf` (header `h`)
/// whose header lies at `header`: every run within one group's data
/// region and outside the journal ([`check_run`]), the header block in
/// none of them. (Order, overlap and the total were checked by
/// [`SavedHeader::decode`].)
pub fn check_runs(
    geo: &super::Geometry,
    buf: &[u8],
    h: &SavedHeader,
    header: u32,
    journal: (u32, u32),
) -> Result<()> {
    for i in 0..h.run_count {
        let r = run(buf, i)?;
        check_run(geo, r.start, r.blocks, journal)?;
        if r.contains(header) {
            return Err(FormatError::BadField {
                field: "saved filter run",
                value: u64::from(r.start),
            });
        }
    }
    Ok(())
}

/// Streams the payload into data blocks: [`put`](Self::put) the chains'
/// lengths and bytes in order, then [`finish`](Self::finish). Each full
/// block (sealed) goes to `flush(index, block)`.
#[derive(Debug)]
pub struct Packer {
    pos: usize,
    index: u32,
    generation: u64,
    seed: u32,
    written: u64,
}

impl Packer {
    /// A packer for a save of generation `generation`.
    pub fn new(generation: u64, seed: u32) -> Self {
        Self {
            pos: 0,
            index: 1,
            generation,
            seed,
            written: 0,
        }
    }

    /// Payload bytes put so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends `data`, using `block` (one whole block, kept between calls)
    /// as the block being filled.
    pub fn put<E: From<FormatError>>(
        &mut self,
        block: &mut [u8],
        mut data: &[u8],
        crc: &impl Crc32c,
        flush: &mut impl FnMut(u32, &[u8]) -> core::result::Result<(), E>,
    ) -> core::result::Result<(), E> {
        let p = payload_per_block(block.len());
        if p == 0 {
            return Err(E::from(FormatError::TooSmall { blocks: 0, need: 1 }));
        }
        while !data.is_empty() {
            let room = p.saturating_sub(self.pos);
            let n = room.min(data.len());
            let (head, rest) = data.split_at_checked(n).ok_or(FormatError::Truncated {
                what: "saved filter data",
                need: n,
                have: data.len(),
            })?;
            let end = self.pos.saturating_add(n);
            block
                .get_mut(self.pos..end)
                .ok_or(FormatError::Truncated {
                    what: "saved filter block",
                    need: end,
                    have: p,
                })?
                .copy_from_slice(head);
            self.pos = end;
            self.written = self.written.saturating_add(n as u64);
            data = rest;
            if self.pos >= p {
                self.emit(block, crc, flush)?;
            }
        }
        Ok(())
    }

    fn emit<E: From<FormatError>>(
        &mut self,
        block: &mut [u8],
        crc: &impl Crc32c,
        flush: &mut impl FnMut(u32, &[u8]) -> core::result::Result<(), E>,
    ) -> core::result::Result<(), E> {
        let p = payload_per_block(block.len());
        if let Some(pad) = block.get_mut(self.pos..p) {
            pad.fill(0);
        }
        seal_data_block(block, self.index, self.generation, self.seed, crc)?;
        flush(self.index, block)?;
        self.index = self.index.checked_add(1).ok_or(FormatError::TooLarge {
            blocks: u64::from(u32::MAX),
        })?;
        self.pos = 0;
        Ok(())
    }

    /// Emits the last, partly filled block; returns the data blocks
    /// emitted in all.
    pub fn finish<E: From<FormatError>>(
        mut self,
        block: &mut [u8],
        crc: &impl Crc32c,
        flush: &mut impl FnMut(u32, &[u8]) -> core::result::Result<(), E>,
    ) -> core::result::Result<u32, E> {
        if self.pos > 0 {
            self.emit(block, crc, flush)?;
        }
        Ok(self.index.saturating_sub(1))
    }

    /// Puts one chain: its length, then its bytes.
    pub fn put_chain<E: From<FormatError>>(
        &mut self,
        block: &mut [u8],
        bytes: &[u8],
        crc: &impl Crc32c,
        flush: &mut impl FnMut(u32, &[u8]) -> core::result::Result<(), E>,
    ) -> core::result::Result<(), E> {
        let len = u32::try_from(bytes.len()).map_err(|_| FormatError::TooLarge {
            blocks: bytes.len() as u64,
        })?;
        self.put(block, &len.to_le_bytes(), crc, flush)?;
        self.put(block, bytes, crc, flush)
    }
}

/// Where the chains read from the payload go.
pub trait ChainSink {
    /// The error the sink returns (it must carry format errors).
    type Error: From<FormatError>;
    /// Chain `chain` has `len` bytes (called once per chain, in order).
    fn begin(&mut self, chain: u64, len: u32) -> core::result::Result<(), Self::Error>;
    /// Bytes `at..at + data.len()` of chain `chain`.
    fn bytes(&mut self, chain: u64, at: u32, data: &[u8]) -> core::result::Result<(), Self::Error>;
    /// Chain `chain` is complete.
    fn end(&mut self, chain: u64) -> core::result::Result<(), Self::Error>;
}

/// Reads the payload back, a data block at a time
/// ([`feed`](Self::feed)), then [`finish`](Self::finish). Lengths are
/// bounded by what is left of `data_bytes`.
#[derive(Debug)]
pub struct Unpacker {
    chains: u64,
    left: u64,
    chain: u64,
    len_buf: [u8; 4],
    len_have: usize,
    /// Bytes of the current chain: (length, done); None while reading a
    /// length.
    cur: Option<(u32, u32)>,
}

fn corrupt(what: &'static str, found: u64, expected: u64) -> FormatError {
    FormatError::Inconsistent {
        what,
        found,
        expected,
    }
}

impl Unpacker {
    /// An unpacker for a payload described by `h`.
    pub fn new(h: &SavedHeader) -> Self {
        Self {
            chains: h.chains,
            left: h.data_bytes,
            chain: 0,
            len_buf: [0; 4],
            len_have: 0,
            cur: None,
        }
    }

    /// Consumes one data block's payload (the padding of the last one is
    /// checked to be zero).
    pub fn feed<S: ChainSink>(
        &mut self,
        mut data: &[u8],
        sink: &mut S,
    ) -> core::result::Result<(), S::Error> {
        while !data.is_empty() {
            if self.left == 0 || self.chain >= self.chains {
                // Past the payload: padding only.
                if data.iter().any(|&b| b != 0) || self.left != 0 {
                    return Err(S::Error::from(corrupt("saved filter padding", 1, 0)));
                }
                return Ok(());
            }
            let avail = (data.len() as u64).min(self.left) as usize;
            match self.cur {
                None => {
                    let want = 4usize.saturating_sub(self.len_have);
                    let n = want.min(avail);
                    let (head, rest) = data.split_at_checked(n).ok_or(FormatError::Truncated {
                        what: "saved filter payload",
                        need: n,
                        have: data.len(),
                    })?;
                    let end = self.len_have.saturating_add(n);
                    if let Some(dst) = self.len_buf.get_mut(self.len_have..end) {
                        dst.copy_from_slice(head);
                    }
                    self.len_have = end;
                    self.left = self.left.saturating_sub(n as u64);
                    data = rest;
                    if self.len_have == 4 {
                        let len = u32::from_le_bytes(self.len_buf);
                        if u64::from(len) > self.left {
                            return Err(S::Error::from(corrupt(
                                "saved filter chain length",
                                u64::from(len),
                                self.left,
                            )));
                        }
                        self.len_have = 0;
                        sink.begin(self.chain, len)?;
                        if len == 0 {
                            sink.end(self.chain)?;
                            self.chain = self.chain.saturating_add(1);
                        } else {
                            self.cur = Some((len, 0));
                        }
                    }
                }
                Some((len, done)) => {
                    let n = (len.saturating_sub(done) as usize).min(avail);
                    let (head, rest) = data.split_at_checked(n).ok_or(FormatError::Truncated {
                        what: "saved filter payload",
                        need: n,
                        have: data.len(),
                    })?;
                    sink.bytes(self.chain, done, head)?;
                    let done = done.saturating_add(n as u32);
                    self.left = self.left.saturating_sub(n as u64);
                    data = rest;
                    if done >= len {
                        sink.end(self.chain)?;
                        self.chain = self.chain.saturating_add(1);
                        self.cur = None;
                    } else {
                        self.cur = Some((len, done));
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks that every chain was read and the payload used up exactly.
    pub fn finish(&self) -> Result<()> {
        if self.chain != self.chains || self.left != 0 || self.cur.is_some() || self.len_have != 0 {
            return Err(corrupt("saved filter chains read", self.chain, self.chains));
        }
        Ok(())
    }
}
