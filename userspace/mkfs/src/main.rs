//! mkfs.livedfs: create a livedfs file system.
//!
//! Usage follows mke2fs: `mkfs.livedfs [options] device [blocks-count]`.
//! The work is split by concern: [`cli`] parses and checks the options,
//! [`device`] knows the target (size, use, signatures, zeroing), [`layout`]
//! plans the volume with the format crate's geometry, [`image`] builds
//! every block a fresh volume needs, [`report`] prints the summary. This
//! file puts them in order and writes the image: the old primary
//! superblock is invalidated first and the new one written last, after a
//! flush, so an interrupted mkfs never leaves a volume that looks valid.
//!
//! Exit status: 0 on success, 1 on any error (including bad usage).

mod cli;
mod crc;
mod device;
mod image;
mod layout;
mod report;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use cli::{Options, Parsed, PROG};
use device::{Kind, Usage};
use image::Image;
use layout::{Plan, PlanError};

fn main() -> ExitCode {
    let opts = match cli::parse(std::env::args_os()) {
        Parsed::Run(o) => o,
        Parsed::Exit {
            text,
            code,
            to_stderr,
        } => {
            if to_stderr {
                eprint!("{text}");
            } else {
                print!("{text}");
            }
            return ExitCode::from(code as u8);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("{PROG}: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn human_blocks(blocks: u64, bs: u32) -> String {
    let bytes = blocks.saturating_mul(u64::from(bs));
    if bytes >= 1 << 40 {
        format!("{:.1} TiB", bytes as f64 / (1u64 << 40) as f64)
    } else if bytes >= 1 << 30 {
        format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
    } else if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

fn plan_or_explain(o: &Options, blocks: u64) -> Result<Plan> {
    let bs = o.block_size;
    let dev = o.device.display();
    match layout::plan(o, blocks) {
        Ok(p) => Ok(p),
        Err(PlanError::TooSmall { blocks, .. }) => {
            let need = layout::min_blocks(o);
            bail!(
                "{dev} is too small: {blocks} blocks of {bs} bytes ({}); a livedfs volume with \
                 these options needs at least {need} blocks ({}); use a larger device or size",
                human_blocks(blocks, bs),
                human_blocks(need, bs)
            )
        }
        Err(PlanError::TooLarge { blocks, max }) => {
            let hint = if bs < 4096 {
                "give a smaller blocks-count, or use a larger block size (-b 4096)"
            } else {
                "give a smaller blocks-count to use only part of the device"
            };
            bail!(
                "{dev} is too large: {blocks} blocks of {bs} bytes; livedfs can address at most \
                 {max} blocks ({}) with these options; {hint}",
                human_blocks(max, bs)
            )
        }
        Err(PlanError::Other(e)) => Err(e),
    }
}

fn run(o: &Options) -> Result<()> {
    let bs = u64::from(o.block_size);
    let probe = device::probe(&o.device)?;
    let dev = o.device.display();
    if !probe.exists && o.size.is_none() {
        bail!(
            "{dev} does not exist; give a size (e.g. '{PROG} {dev} 10g') to create an image \
             file, or name an existing device"
        );
    }
    if probe.kind == Kind::Block && u64::from(probe.sector_size) > bs {
        if probe.sector_size > 4096 {
            bail!(
                "{dev} has {}-byte sectors, larger than the largest livedfs block (4096 bytes)",
                probe.sector_size
            );
        }
        bail!(
            "{dev} has {}-byte sectors; use a block size at least that large (-b {})",
            probe.sector_size,
            probe.sector_size
        );
    }
    let device_blocks = probe.size / bs;
    let blocks = match o.size {
        Some(s) => {
            let want = s.blocks(o.block_size);
            if probe.kind == Kind::Block && want > device_blocks {
                bail!(
                    "{dev} has only {device_blocks} blocks of {bs} bytes, fewer than the \
                     {want} asked for; give a smaller blocks-count or none"
                );
            }
            want
        }
        None => device_blocks,
    };
    let plan = plan_or_explain(o, blocks)?;

    if o.dry_run {
        if !o.quiet {
            print!("{}", report::summary(o, &plan));
            println!("-n given: nothing was written.");
        }
        return Ok(());
    }

    match device::usage(&probe) {
        Usage::Free => {}
        Usage::Mounted(why) => {
            bail!("{why}; livedfs will not format a mounted device: unmount it first")
        }
        Usage::Busy(why) if !o.force => bail!("{why}; use -F to format it anyway"),
        Usage::Busy(_) => {}
    }
    let target = device::open(&probe, o.force)?;
    if probe.exists && !o.force {
        let head = target.read_head(device::PROBE_BYTES)?;
        if let Some(what) = device::detect_signature(&head) {
            confirm(&format!("{dev} contains {what}"))?;
        }
    }
    // A new or short image file grows (sparsely) to the size asked for.
    let want_bytes = match o.size {
        Some(cli::SizeSpec::Bytes(n)) => n,
        Some(cli::SizeSpec::Blocks(n)) => n.saturating_mul(bs),
        None => 0,
    };
    // The host file system may not allow the whole size (ext4 stops 4 KiB
    // short of 16 TiB); the volume itself is what must fit.
    let vol_bytes = u64::from(plan.geo.blocks_count) * bs;
    if want_bytes <= vol_bytes || target.extend(want_bytes).is_err() {
        target.extend(vol_bytes)?;
    }

    let img = image::build(o, &plan)?;
    if !o.quiet {
        print!("{}", report::summary(o, &plan));
        let _ = std::io::stdout().flush();
    }
    write_image(o, &target, &plan, &img, probe.exists)?;
    if !o.quiet {
        println!("Done: {dev} holds an empty livedfs file system.");
    }
    Ok(())
}

/// Whether a progress bar may be drawn: stdout and stderr are both
/// terminals, the terminal is not `dumb`, and it is not the system console
/// (`/dev/console`: a serial line or a boot log, as in the test VM, where
/// the bar's escape sequences would land in a log). Anything else gets the
/// plain step lines only.
fn interactive() -> bool {
    let term_ok = std::env::var("TERM").is_ok_and(|t| !t.is_empty() && t != "dumb");
    let console = std::fs::read_link("/proc/self/fd/2")
        .is_ok_and(|p| p == std::path::Path::new("/dev/console"));
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal() && term_ok && !console
}

/// Asks before overwriting an existing file system; refuses when nobody
/// can answer (stdin is not a terminal).
fn confirm(what: &str) -> Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("{what}; refusing to overwrite it without -F (use -F to force)");
    }
    eprint!("{what}.\nProceed anyway? (y,N) ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    match line.trim() {
        "y" | "Y" | "yes" | "YES" | "Yes" => Ok(()),
        _ => bail!("not formatting: nothing was written"),
    }
}

/// Writes the image: wipe old signatures, zero the journal log, write the
/// group-0 and journal-group blocks and the backups, flush, then write the
/// primary superblock and descriptor table, and flush again.
fn write_image(
    o: &Options,
    t: &device::Target,
    plan: &Plan,
    img: &Image,
    existed: bool,
) -> Result<()> {
    let bs = u64::from(img.block_size);
    let vol_bytes = u64::from(plan.geo.blocks_count) * bs;
    let tty = !o.quiet && interactive();
    let steps = (img.blocks.len() + img.backup_blocks.len() + 2) as u64;
    let bar = if tty {
        let pb = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{msg:<28} [{bar:40}] {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    // Step lines as mke2fs prints them; above the bar on a terminal.
    let say = |m: &str| {
        if o.quiet {
        } else if tty {
            bar.suspend(|| println!("{m}"));
        } else {
            println!("{m}");
        }
    };

    if o.discard {
        bar.set_message("Discarding device blocks");
        let ok = t.discard(0, vol_bytes);
        say(if ok {
            "Discarding device blocks: done"
        } else {
            "Discarding device blocks: not supported, skipped"
        });
    }
    // Invalidate what was there: the old primary superblock and the
    // signatures of other file systems in the first 68 KiB.
    if existed && !(o.discard && t.kind == Kind::Regular) {
        let wipe = (device::PROBE_BYTES as u64)
            .next_multiple_of(bs)
            .min(vol_bytes);
        t.write_at(&vec![0u8; wipe as usize], 0)?;
        t.sync()?;
    }
    bar.set_message("Creating journal");
    if let Some((start, n)) = img.zero_range {
        t.zero(u64::from(start) * bs, u64::from(n) * bs)?;
        if let Some(j) = plan.journal {
            say(&format!("Creating journal ({} blocks): done", j.blocks));
        }
    }
    bar.inc(1);
    bar.set_message("Writing group tables");
    for (b, data) in &img.blocks {
        t.write_at(data, u64::from(*b) * bs)?;
        bar.inc(1);
    }
    for b in &img.backup_blocks {
        t.write_at(&img.backup, u64::from(*b) * bs)?;
        bar.inc(1);
    }
    say("Writing group tables: done");
    bar.set_message("Writing the superblock");
    t.sync()?;
    t.write_at(&img.primary, 0)?;
    t.sync()?;
    bar.inc(1);
    bar.finish_and_clear();
    say("Writing superblocks and file system accounting information: done");
    Ok(())
}
