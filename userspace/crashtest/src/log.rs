//! The write log of QEMU's `blklogwrites` driver, which is the format of
//! Linux's dm-log-writes: a superblock in sector 0, then one entry per
//! request, each an entry header padded to a sector followed by the data
//! of the write (none for a flush or a discard). All fields little-endian.
//!
//! ```text
//! superblock: magic u64 = 0x6a736677736872, version u64 = 1,
//!             nr_entries u64, sectorsize u32
//! entry:      sector u64, nr_sectors u64, flags u64, data_len u64
//! ```
//!
//! `sector` and `nr_sectors` count log sectors (`sectorsize` bytes; QEMU
//! writes `offset >> log2(sectorsize)`). QEMU appends an entry once the
//! request completed on the image, so the order of the entries is the
//! order in which the guest saw its requests complete: every write the
//! guest saw complete before it issued a flush comes before that flush.
//! dm-log-writes may add MARK entries whose `data_len` bytes are a label.
//!
//! Parsing never panics and never trusts a length: a truncated or corrupt
//! log yields the entries before the damage and a note saying what is
//! wrong ([`Log::damage`]).

use std::fmt;

/// The log superblock magic ("rhswfsj" in dm-log-writes' words).
pub const MAGIC: u64 = 0x006a_7366_7773_6872;
/// The only log version.
pub const VERSION: u64 = 1;
/// The request was a cache flush (REQ_PREFLUSH).
pub const FLAG_FLUSH: u64 = 1 << 0;
/// The write had forced unit access (REQ_FUA): durable once complete.
pub const FLAG_FUA: u64 = 1 << 1;
/// A discard: no data follows.
pub const FLAG_DISCARD: u64 = 1 << 2;
/// A mark (dm-log-writes' labels): `data_len` bytes of label follow.
pub const FLAG_MARK: u64 = 1 << 3;
/// Every known flag.
pub const FLAG_MASK: u64 = FLAG_FLUSH | FLAG_FUA | FLAG_DISCARD | FLAG_MARK;

/// Size of the superblock and of an entry header.
pub const SUPER_LEN: usize = 28;
/// Size of an entry header.
pub const ENTRY_LEN: usize = 32;

/// One logged request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// First sector written (log sectors).
    pub sector: u64,
    /// Sectors written (log sectors); 0 for a flush.
    pub nr_sectors: u64,
    /// `FLAG_*` bits.
    pub flags: u64,
    /// Byte offset of the data in the log buffer (`nr_sectors` sectors;
    /// empty for flushes, discards and marks).
    pub data_start: usize,
    /// Byte length of the data in the log buffer.
    pub data_len: usize,
    /// A mark's label.
    pub mark: Option<String>,
}

impl Entry {
    /// A flush (possibly with data in dm-log-writes, where a write can
    /// carry REQ_PREFLUSH).
    pub fn is_flush(&self) -> bool {
        self.flags & FLAG_FLUSH != 0
    }
    /// A FUA write.
    pub fn is_fua(&self) -> bool {
        self.flags & FLAG_FUA != 0
    }
    /// A discard.
    pub fn is_discard(&self) -> bool {
        self.flags & FLAG_DISCARD != 0
    }
    /// A mark.
    pub fn is_mark(&self) -> bool {
        self.flags & FLAG_MARK != 0
    }
    /// Changes the device (a write with data, or a discard).
    pub fn changes_device(&self) -> bool {
        !self.is_mark() && self.nr_sectors > 0
    }
}

/// A parsed log.
#[derive(Clone, Debug, Default)]
pub struct Log {
    /// Bytes per log sector.
    pub sector_size: u32,
    /// Entries the superblock declares.
    pub declared: u64,
    /// The entries read, in log order.
    pub entries: Vec<Entry>,
    /// Why parsing stopped early, if it did (torn or corrupt log).
    pub damage: Option<String>,
    /// Entries found past the superblock's count (QEMU may update the
    /// count out of order when requests complete concurrently).
    pub extra: u64,
}

/// A log that can't be read at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogError {
    /// Shorter than a superblock.
    TooShort(usize),
    /// Not a write log.
    BadMagic(u64),
    /// A version this parser does not know.
    BadVersion(u64),
    /// A sector size that is not a power of two from 512 to 1 MiB.
    BadSectorSize(u32),
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::TooShort(n) => write!(f, "log too short for a superblock ({n} bytes)"),
            LogError::BadMagic(m) => write!(f, "not a write log (magic {m:#x})"),
            LogError::BadVersion(v) => write!(f, "unknown write-log version {v}"),
            LogError::BadSectorSize(s) => write!(f, "bad log sector size {s}"),
        }
    }
}

impl std::error::Error for LogError {}

fn le64(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

fn le32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

/// How to treat entries past the superblock's count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    /// Stop at the declared count.
    Ignore,
    /// Keep reading well-formed entries up to the end of the buffer (a
    /// fresh log file: nothing stale can follow).
    Scan,
}

/// Parses a log held in `buf`.
pub fn parse(buf: &[u8], extra: Extra) -> Result<Log, LogError> {
    if buf.len() < SUPER_LEN {
        return Err(LogError::TooShort(buf.len()));
    }
    let magic = le64(buf, 0).unwrap_or(0);
    if magic != MAGIC {
        return Err(LogError::BadMagic(magic));
    }
    let version = le64(buf, 8).unwrap_or(0);
    if version != VERSION {
        return Err(LogError::BadVersion(version));
    }
    let declared = le64(buf, 16).unwrap_or(0);
    let ss = le32(buf, 24).unwrap_or(0);
    if !ss.is_power_of_two() || !(512..=1 << 20).contains(&ss) {
        return Err(LogError::BadSectorSize(ss));
    }
    let mut log = Log {
        sector_size: ss,
        declared,
        ..Log::default()
    };
    let ss = ss as usize;
    let mut pos = ss; // entries start in sector 1
    loop {
        let n = log.entries.len() as u64;
        let past = n >= declared;
        if past && extra == Extra::Ignore {
            break;
        }
        match read_entry(buf, pos, ss) {
            Ok(Some((e, next))) => {
                log.entries.push(e);
                if past {
                    log.extra += 1;
                }
                pos = next;
            }
            Ok(None) => {
                // Clean end of the buffer.
                if !past {
                    log.damage = Some(format!(
                        "log ends after {n} of {declared} declared entries (torn log)"
                    ));
                }
                break;
            }
            Err(why) => {
                if !past {
                    log.damage = Some(format!("entry {n} at byte {pos}: {why}"));
                }
                break;
            }
        }
    }
    Ok(log)
}

/// Reads the entry at byte `pos`: `Ok(None)` at the end of the buffer (or
/// on an all-zero header, which is unwritten space), `Err` if malformed.
fn read_entry(buf: &[u8], pos: usize, ss: usize) -> Result<Option<(Entry, usize)>, String> {
    let Some(hdr) = buf.get(pos..pos.saturating_add(ENTRY_LEN)) else {
        if pos < buf.len() {
            return Err("header cut short".into());
        }
        return Ok(None);
    };
    if hdr.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let sector = le64(hdr, 0).unwrap_or(0);
    let nr_sectors = le64(hdr, 8).unwrap_or(0);
    let flags = le64(hdr, 16).unwrap_or(0);
    let data_len_field = le64(hdr, 24).unwrap_or(0);
    if flags & !FLAG_MASK != 0 {
        return Err(format!("unknown flags {flags:#x}"));
    }
    if sector.checked_add(nr_sectors).is_none() {
        return Err(format!("sector {sector} + {nr_sectors} overflows"));
    }
    let data_at = pos
        .checked_add(ss)
        .ok_or_else(|| "offset overflows".to_string())?;
    let mut e = Entry {
        sector,
        nr_sectors,
        flags,
        data_start: data_at,
        data_len: 0,
        mark: None,
    };
    let payload: u64 = if flags & FLAG_MARK != 0 {
        data_len_field
    } else if flags & FLAG_DISCARD != 0 {
        0
    } else {
        nr_sectors
            .checked_mul(ss as u64)
            .ok_or_else(|| format!("{nr_sectors} sectors overflow"))?
    };
    let payload = usize::try_from(payload).map_err(|_| "data length overflows".to_string())?;
    let end = data_at
        .checked_add(payload)
        .ok_or_else(|| "data length overflows".to_string())?;
    if end > buf.len() {
        return Err(format!(
            "data of {payload} bytes runs past the end of the log ({} bytes)",
            buf.len()
        ));
    }
    if flags & FLAG_MARK != 0 {
        let label = &buf[data_at..end];
        let label = label.split(|&b| b == 0).next().unwrap_or(&[]);
        e.mark = Some(String::from_utf8_lossy(label).into_owned());
    } else {
        e.data_len = payload;
    }
    let next = end.div_ceil(ss).checked_mul(ss).ok_or("overflow")?;
    // An entry always takes at least its header sector.
    let next = next.max(data_at);
    Ok(Some((e, next)))
}

/// Builders for logs in tests (and for anyone wanting to write one).
pub mod build {
    use super::*;

    /// A log being written, with `ss`-byte sectors.
    pub struct Builder {
        ss: usize,
        buf: Vec<u8>,
        n: u64,
    }

    impl Builder {
        /// An empty log.
        pub fn new(ss: usize) -> Self {
            Builder {
                ss,
                buf: vec![0; ss],
                n: 0,
            }
        }

        fn header(&mut self, sector: u64, nr: u64, flags: u64, data_len: u64) {
            let mut h = vec![0u8; self.ss];
            h[0..8].copy_from_slice(&sector.to_le_bytes());
            h[8..16].copy_from_slice(&nr.to_le_bytes());
            h[16..24].copy_from_slice(&flags.to_le_bytes());
            h[24..32].copy_from_slice(&data_len.to_le_bytes());
            self.buf.extend_from_slice(&h);
            self.n += 1;
        }

        /// A write of `data` (a whole number of sectors) at `sector`.
        pub fn write(&mut self, sector: u64, data: &[u8], flags: u64) -> &mut Self {
            assert_eq!(data.len() % self.ss, 0);
            self.header(sector, (data.len() / self.ss) as u64, flags, 0);
            self.buf.extend_from_slice(data);
            self
        }

        /// A flush.
        pub fn flush(&mut self) -> &mut Self {
            self.header(0, 0, FLAG_FLUSH, 0);
            self
        }

        /// A discard.
        pub fn discard(&mut self, sector: u64, nr: u64) -> &mut Self {
            self.header(sector, nr, FLAG_DISCARD, 0);
            self
        }

        /// A mark.
        pub fn mark(&mut self, label: &str) -> &mut Self {
            self.header(0, 0, FLAG_MARK, label.len() as u64);
            let mut d = label.as_bytes().to_vec();
            d.resize(label.len().div_ceil(self.ss).max(1) * self.ss, 0);
            self.buf.extend_from_slice(&d);
            self
        }

        /// The log bytes, with a superblock declaring every entry.
        pub fn finish(&self) -> Vec<u8> {
            self.finish_declaring(self.n)
        }

        /// The log bytes, with a superblock declaring `n` entries.
        pub fn finish_declaring(&self, n: u64) -> Vec<u8> {
            let mut b = self.buf.clone();
            b[0..8].copy_from_slice(&MAGIC.to_le_bytes());
            b[8..16].copy_from_slice(&VERSION.to_le_bytes());
            b[16..24].copy_from_slice(&n.to_le_bytes());
            b[24..28].copy_from_slice(&(self.ss as u32).to_le_bytes());
            b
        }
    }
}

#[cfg(test)]
mod tests {
    use super::build::Builder;
    use super::*;

    fn sample() -> Vec<u8> {
        let mut b = Builder::new(512);
        b.write(8, &[1u8; 1024], 0)
            .flush()
            .write(0, &[2u8; 512], FLAG_FUA)
            .mark("checkpoint")
            .discard(100, 16)
            .write(4, &[3u8; 4096], 0);
        b.finish()
    }

    #[test]
    fn parses_every_kind_of_entry() {
        let buf = sample();
        let log = parse(&buf, Extra::Ignore).unwrap();
        assert_eq!(log.sector_size, 512);
        assert_eq!(log.declared, 6);
        assert!(log.damage.is_none());
        let e = &log.entries;
        assert_eq!(e.len(), 6);
        assert_eq!((e[0].sector, e[0].nr_sectors, e[0].data_len), (8, 2, 1024));
        assert!(buf[e[0].data_start..e[0].data_start + 1024]
            .iter()
            .all(|&b| b == 1));
        assert!(e[1].is_flush() && e[1].data_len == 0);
        assert!(e[2].is_fua() && !e[2].is_flush());
        assert_eq!(e[3].mark.as_deref(), Some("checkpoint"));
        assert!(e[4].is_discard() && e[4].data_len == 0 && e[4].nr_sectors == 16);
        assert!(buf[e[5].data_start..e[5].data_start + 4096]
            .iter()
            .all(|&b| b == 3));
    }

    #[test]
    fn rejects_what_is_not_a_log() {
        assert_eq!(
            parse(&[0; 10], Extra::Scan).unwrap_err(),
            LogError::TooShort(10)
        );
        assert!(matches!(
            parse(&[0; 512], Extra::Scan),
            Err(LogError::BadMagic(0))
        ));
        let mut b = sample();
        b[8] = 2;
        assert_eq!(parse(&b, Extra::Scan).unwrap_err(), LogError::BadVersion(2));
        let mut b = sample();
        b[24..28].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(
            parse(&b, Extra::Scan).unwrap_err(),
            LogError::BadSectorSize(1000)
        );
    }

    #[test]
    fn torn_log_keeps_the_entries_before_the_tear() {
        let buf = sample();
        let full = parse(&buf, Extra::Ignore).unwrap();
        // Cut the log at every byte: never a panic, a prefix of the
        // entries, and damage reported when entries are missing.
        for cut in 0..buf.len() {
            match parse(&buf[..cut], Extra::Scan) {
                Err(_) => assert!(cut < SUPER_LEN),
                Ok(log) => {
                    assert!(log.entries.len() <= full.entries.len());
                    assert_eq!(log.entries[..], full.entries[..log.entries.len()]);
                    if log.entries.len() < full.entries.len() {
                        assert!(log.damage.is_some(), "cut {cut}");
                    }
                }
            }
        }
    }

    #[test]
    fn corrupt_log_never_panics() {
        let buf = sample();
        // Flip every byte in turn, and fill fields with extreme values.
        for i in 0..buf.len() {
            for v in [0u8, 0xff, buf[i] ^ 0x80] {
                let mut b = buf.clone();
                b[i] = v;
                let _ = parse(&b, Extra::Scan);
                let _ = parse(&b, Extra::Ignore);
            }
        }
        for field in 0..4 {
            for v in [u64::MAX, u64::MAX / 512, 1 << 40, 7] {
                let mut b = buf.clone();
                let off = 512 + field * 8;
                b[off..off + 8].copy_from_slice(&v.to_le_bytes());
                let log = parse(&b, Extra::Scan).unwrap();
                if field == 2 && v & !FLAG_MASK != 0 {
                    assert!(log.entries.is_empty() && log.damage.is_some());
                }
            }
        }
        // A superblock declaring more entries than fit.
        let mut b = buf.clone();
        b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        let log = parse(&b, Extra::Ignore).unwrap();
        assert_eq!(log.entries.len(), 6);
        assert!(log.damage.is_some());
    }

    #[test]
    fn entries_past_the_declared_count() {
        let mut b = Builder::new(512);
        b.write(0, &[1; 512], 0).flush().write(1, &[2; 512], 0);
        let buf = b.finish_declaring(2);
        let l = parse(&buf, Extra::Ignore).unwrap();
        assert_eq!((l.entries.len(), l.extra), (2, 0));
        let l = parse(&buf, Extra::Scan).unwrap();
        assert_eq!((l.entries.len(), l.extra), (3, 1));
        assert!(l.damage.is_none());
    }

    #[test]
    fn larger_sectors() {
        let mut b = Builder::new(4096);
        b.write(3, &[9; 8192], 0).flush();
        let l = parse(&b.finish(), Extra::Ignore).unwrap();
        assert_eq!(l.sector_size, 4096);
        assert_eq!(l.entries[0].data_len, 8192);
        assert_eq!(l.entries[0].data_start, 8192);
    }
}
