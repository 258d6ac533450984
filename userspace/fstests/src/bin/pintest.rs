//! pintest: a file's pages changed by DMA while they are written back.
//!
//! A file on the volume under test is mapped shared, and one thread reads
//! another device with O_DIRECT *into that mapping*: the kernel pins the
//! file's pages (`pin_user_pages`) and the disk's DMA writes them, which
//! neither the page lock nor write protection stops. Meanwhile another
//! thread keeps writing the mapping back (msync). A file system that
//! fingerprints a page and then writes it can record a fingerprint for
//! bytes that never reach the disk, and every later writer of the
//! fingerprinted bytes then shares the wrong ones. So after each DMA the
//! bytes it replaced are written to a second file (`<file>.witness`) and
//! synced: on such a file system some of its blocks are shared with a
//! block that holds the DMA's bytes instead. At the end the witness file
//! is read back (caches dropped) and must hold exactly what was written;
//! the caller also checks with `fsck.livedfs -f` after unmounting.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use sha2::{Digest, Sha256};

const MIB: usize = 1 << 20;
const CHUNK: usize = 64 << 10;
/// Witness slots (64 KiB each), reused round-robin.
const SLOTS: usize = 128;

#[derive(Parser)]
#[command(
    name = "pintest",
    about = "DMA into a mapped file while it is written back"
)]
struct Cli {
    /// File to create on the volume under test (1 MiB).
    file: PathBuf,
    /// Device (or file) to read from with O_DIRECT, at least 64 MiB of
    /// non-zero data.
    source: PathBuf,
    /// Seconds to run.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

/// A shared mapping's address, handed to the threads.
#[derive(Clone, Copy)]
struct Map(usize);

fn main() -> Result<()> {
    let cli = Cli::parse();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&cli.file)
        .with_context(|| format!("create {}", cli.file.display()))?;
    // Non-zero content, so every page is stored (zero blocks are holes).
    let init: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8 + 1).collect();
    std::io::Write::write_all(&mut &file, &init)?;
    file.sync_all()?;
    let src = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(&cli.source)
        .with_context(|| format!("open {} with O_DIRECT", cli.source.display()))?;
    let src_len = src.metadata()?.len().max(
        // A block device reports 0: ask it.
        {
            let mut n: u64 = 0;
            // SAFETY: BLKGETSIZE64 writes one u64.
            let r = unsafe { libc::ioctl(src.as_raw_fd(), 0x8008_1272, &mut n) };
            if r == 0 {
                n
            } else {
                0
            }
        },
    );
    if src_len < 64 * MIB as u64 {
        bail!(
            "{} holds {} bytes, at least 64 MiB needed",
            cli.source.display(),
            src_len
        );
    }
    // SAFETY: a shared read-write mapping of the whole (1 MiB) file, unmapped
    // below after both threads stopped.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            MIB,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        bail!("mmap: {}", std::io::Error::last_os_error());
    }
    let map = Map(p as usize);
    let witness_path = cli.file.with_extension("witness");
    let witness = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&witness_path)
        .with_context(|| format!("create {}", witness_path.display()))?;
    let expected = std::sync::Mutex::new(vec![None::<[u8; 32]>; SLOTS]);
    let stop = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    let syncs = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs(cli.seconds);
    let src_fd = src.as_raw_fd();
    let result: Result<()> = std::thread::scope(|s| {
        let dma = s.spawn(|| -> Result<()> {
            let mut i: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                // Different source bytes each time, into a moving window.
                let dst = (i as usize * CHUNK) % MIB;
                let off = (i.wrapping_mul(7919) % (src_len / CHUNK as u64 - 1)) * CHUNK as u64;
                let m = map;
                // What the DMA is about to replace (what a writeback that
                // ran before it landed fingerprinted).
                // SAFETY: `dst + CHUNK` lies inside the live mapping.
                let before =
                    unsafe { std::slice::from_raw_parts((m.0 + dst) as *const u8, CHUNK) }.to_vec();
                // SAFETY: as above.
                let r = unsafe {
                    libc::pread(
                        src_fd,
                        (m.0 + dst) as *mut libc::c_void,
                        CHUNK,
                        off as libc::off_t,
                    )
                };
                if r < 0 {
                    bail!(
                        "O_DIRECT read into the mapping: {}",
                        std::io::Error::last_os_error()
                    );
                }
                reads.fetch_add(1, Ordering::Relaxed);
                // Write those bytes again elsewhere, where they would be
                // shared with a block recorded for them.
                let slot = i as usize % SLOTS;
                std::os::unix::fs::FileExt::write_all_at(&witness, &before, (slot * CHUNK) as u64)?;
                if i % 8 == 7 {
                    witness.sync_data()?;
                }
                expected.lock().map_err(|_| anyhow::anyhow!("lock"))?[slot] =
                    Some(Sha256::digest(&before).into());
                i = i.wrapping_add(1);
            }
            Ok(())
        });
        let flush = s.spawn(|| -> Result<()> {
            while !stop.load(Ordering::Relaxed) {
                let m = map;
                // SAFETY: the live mapping, whole.
                if unsafe { libc::msync(m.0 as *mut libc::c_void, MIB, libc::MS_SYNC) } != 0 {
                    bail!("msync: {}", std::io::Error::last_os_error());
                }
                syncs.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
        dma.join()
            .map_err(|_| anyhow::anyhow!("DMA thread panicked"))??;
        flush
            .join()
            .map_err(|_| anyhow::anyhow!("flush thread panicked"))??;
        Ok(())
    });
    // SAFETY: both threads are done with the mapping.
    unsafe { libc::munmap(p, MIB) };
    file.sync_all()?;
    result?;
    witness.sync_all()?;
    // Read the witness from the disk, not the page cache.
    std::fs::write("/proc/sys/vm/drop_caches", "3").context("drop caches (needs root)")?;
    let mut bad = 0usize;
    let expected = expected.into_inner().map_err(|_| anyhow::anyhow!("lock"))?;
    for (slot, want) in expected.iter().enumerate() {
        let Some(want) = want else { continue };
        let mut buf = vec![0u8; CHUNK];
        std::os::unix::fs::FileExt::read_exact_at(&witness, &mut buf, (slot * CHUNK) as u64)?;
        let got: [u8; 32] = Sha256::digest(&buf).into();
        if &got != want {
            println!(
                "pintest: witness slot {slot} (bytes {}..{}) reads back different bytes",
                slot * CHUNK,
                (slot + 1) * CHUNK
            );
            bad += 1;
        }
    }
    if bad > 0 {
        bail!("{bad} witness slots changed: blocks were shared with bytes other than their fingerprint's");
    }
    println!(
        "pintest: {} O_DIRECT reads into the mapping, {} msyncs, witness intact",
        reads.load(Ordering::Relaxed),
        syncs.load(Ordering::Relaxed)
    );
    Ok(())
}
