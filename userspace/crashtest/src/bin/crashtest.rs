//! `crashtest`: the livedfs crash-consistency harness.
//!
//! ```text
//! crashtest workload --mnt DIR --dev DEV --seed S     # in the VM, on the logged disk
//! crashtest check --base DEV --log DEV --seed S ...   # in the VM: every crash point
//! crashtest info LOG                                  # what a write log holds
//! crashtest points --log LOG --base IMG ...           # the crash points chosen
//! crashtest replay --base IMG --log LOG --point SPEC -o OUT   # one point's image
//! crashtest verify-dir DIR --seed S --syncs N         # check a tree (tests)
//! ```

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use crashtest::check::verify;
use crashtest::exec::{device_size, Executor, ProgressWriter, PROGRESS_AREA};
use crashtest::guest::{self, Config};
use crashtest::log::{parse, Extra, Log};
use crashtest::model::{History, Op};
use crashtest::replay::{choose, image_at, Choice, Point, Prefix};
use crashtest::workload::{Params, Workload};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "crashtest",
    version,
    about = "livedfs crash-consistency harness"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct WorkloadArgs {
    /// Seed of the workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of scenarios.
    #[arg(long, default_value_t = 60)]
    scenarios: usize,
    /// Live data budget in MiB.
    #[arg(long, default_value_t = 24)]
    max_live_mib: u64,
}

impl WorkloadArgs {
    fn params(&self) -> Params {
        Params {
            seed: self.seed,
            scenarios: self.scenarios,
            max_live: self.max_live_mib << 20,
            ..Params::new(self.seed)
        }
    }
}

#[derive(Args, Clone)]
struct PointArgs {
    /// Number of crash points (in all shards).
    #[arg(long, default_value_t = 200)]
    points: usize,
    /// Seed of the choice of points.
    #[arg(long, default_value_t = 1)]
    point_seed: u64,
    /// Flush points: "all" (then torn points make up the rest of
    /// --points, and at least half of it), or a share of --points in
    /// percent ("40"), spread over the log.
    #[arg(long, default_value = "all")]
    flush_points: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the workload on a mounted volume, writing progress records to
    /// the last MiB of DEV after each completed sync.
    Workload {
        #[command(flatten)]
        w: WorkloadArgs,
        /// Mount point of the volume.
        #[arg(long)]
        mnt: PathBuf,
        /// The device (or image file) under the volume.
        #[arg(long)]
        dev: PathBuf,
        /// Plain writes and fsync for the records instead of
        /// O_DIRECT|O_DSYNC (host tests on files).
        #[arg(long)]
        no_direct: bool,
        /// Copy data when FICLONE is not supported (host tests).
        #[arg(long)]
        clone_fallback: bool,
        /// Print each operation.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Check crash points (in the test VM).
    Check {
        #[command(flatten)]
        w: WorkloadArgs,
        #[command(flatten)]
        p: PointArgs,
        /// The pristine image (device or file).
        #[arg(long)]
        base: PathBuf,
        /// The write log (device or file).
        #[arg(long)]
        log: PathBuf,
        /// Check shard I of N (points I, I+N, ...), as "I/N".
        #[arg(long, default_value = "0/1")]
        shard: String,
        /// Work directory (a tmpfs: images are rebuilt there).
        #[arg(long, default_value = "/tmp/crashtest")]
        work: PathBuf,
        /// fsck.livedfs to run on each image after unmounting (skipped
        /// with a note if missing).
        #[arg(long, default_value = "/sbin/fsck.livedfs")]
        fsck: PathBuf,
        /// Only these points (specs, comma-separated) instead of a choice.
        #[arg(long)]
        only: Option<String>,
    },
    /// Summarise a write log.
    Info {
        /// The log.
        log: PathBuf,
    },
    /// Print the crash points chosen for a log.
    Points {
        #[command(flatten)]
        p: PointArgs,
        /// The log.
        #[arg(long)]
        log: PathBuf,
        /// The pristine image (for the device size).
        #[arg(long)]
        base: PathBuf,
    },
    /// Write the image of one crash point.
    Replay {
        /// The pristine image.
        #[arg(long)]
        base: PathBuf,
        /// The log.
        #[arg(long)]
        log: PathBuf,
        /// The point (f<N> or t<N>:<i>,<j>,...).
        #[arg(long)]
        point: String,
        /// Output image.
        #[arg(short, long)]
        out: PathBuf,
    },
    /// List the workload's operations (with the sync count each sync
    /// operation completes).
    Ops {
        #[command(flatten)]
        w: WorkloadArgs,
    },
    /// Check a directory tree against the workload's history for a
    /// progress count.
    VerifyDir {
        #[command(flatten)]
        w: WorkloadArgs,
        /// The tree.
        dir: PathBuf,
        /// Syncs completed.
        #[arg(long)]
        syncs: usize,
    },
}

fn read_all(p: &Path) -> Result<Vec<u8>> {
    let mut f = File::open(p).with_context(|| format!("open {}", p.display()))?;
    let mut v = Vec::new();
    f.read_to_end(&mut v)
        .with_context(|| format!("read {}", p.display()))?;
    Ok(v)
}

fn load_log(p: &Path) -> Result<(Vec<u8>, Log)> {
    let buf = read_all(p)?;
    let log = parse(&buf, Extra::Scan).with_context(|| format!("{}", p.display()))?;
    Ok((buf, log))
}

fn history(w: &WorkloadArgs) -> History {
    let mut wl = Workload::new(w.params());
    for _ in wl.by_ref() {}
    wl.model.hist
}

fn summary(log: &Log) -> String {
    let flushes = log.entries.iter().filter(|e| e.is_flush()).count();
    let writes = log.entries.iter().filter(|e| e.changes_device()).count();
    let bytes: usize = log.entries.iter().map(|e| e.data_len).sum();
    format!(
        "{} entries ({} declared, {} past the count): {writes} writes ({} MiB), {flushes} flushes, {} FUA{}",
        log.entries.len(),
        log.declared,
        log.extra,
        bytes >> 20,
        log.entries.iter().filter(|e| e.is_fua()).count(),
        log.damage
            .as_ref()
            .map(|d| format!("; DAMAGED: {d}"))
            .unwrap_or_default()
    )
}

fn choice(p: &PointArgs, log: &Log, dev_len: u64) -> Result<Choice> {
    let flush_percent = match p.flush_points.trim_end_matches('%') {
        "all" => None,
        n => Some(n.parse::<usize>().with_context(|| {
            format!(
                "--flush-points {}: want all or a percentage",
                p.flush_points
            )
        })?),
    };
    Ok(Choice {
        count: p.points,
        seed: p.point_seed,
        flush_percent,
        progress_sector: Some(dev_len.saturating_sub(PROGRESS_AREA) / u64::from(log.sector_size)),
    })
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Workload {
            w,
            mnt,
            dev,
            no_direct,
            clone_fallback,
            verbose,
        } => run_workload(&w, &mnt, &dev, !no_direct, clone_fallback, verbose),
        Cmd::Check {
            w,
            p,
            base,
            log,
            shard,
            work,
            fsck,
            only,
        } => run_check(&w, &p, &base, &log, &shard, &work, &fsck, only.as_deref()),
        Cmd::Info { log } => {
            let (_, l) = load_log(&log)?;
            println!("{}: {}", log.display(), summary(&l));
            Ok(())
        }
        Cmd::Points { p, log, base } => {
            let (_, l) = load_log(&log)?;
            let len = device_size(&File::open(&base)?)?;
            for pt in choose(&l, &choice(&p, &l, len)?) {
                println!("{pt}");
            }
            Ok(())
        }
        Cmd::Replay {
            base,
            log,
            point,
            out,
        } => {
            let (buf, l) = load_log(&log)?;
            let pt = Point::parse(&point).with_context(|| format!("bad point spec {point}"))?;
            let img =
                image_at(&read_all(&base)?, &l, &buf, &pt).map_err(|e| anyhow::anyhow!("{e}"))?;
            write_sparse(&out, &img).with_context(|| format!("write {}", out.display()))?;
            Ok(())
        }
        Cmd::Ops { w } => {
            let mut syncs = 0;
            for (i, op) in Workload::new(w.params()).enumerate() {
                let s = if op.sync_kind().is_some() {
                    syncs += 1;
                    format!("  [sync {syncs}]")
                } else {
                    String::new()
                };
                println!("{i}: {}{s}", op.describe());
            }
            Ok(())
        }
        Cmd::VerifyDir { w, dir, syncs } => {
            let hist = history(&w);
            let s = guest::scan(&dir, &[])?;
            let r = verify(&hist, syncs, &s.snap, &["lost+found"]);
            println!(
                "{} exact present, {} exact absent, {} atomic, {} loose",
                r.exact_present, r.exact_absent, r.atomic, r.loose
            );
            for f in &r.failures {
                println!("FAIL: {f}");
            }
            if !r.failures.is_empty() {
                bail!("{} failure(s)", r.failures.len());
            }
            Ok(())
        }
    }
}

fn run_workload(
    w: &WorkloadArgs,
    mnt: &Path,
    dev: &Path,
    direct: bool,
    clone_fallback: bool,
    verbose: bool,
) -> Result<()> {
    let len = device_size(&File::open(dev).with_context(|| format!("open {}", dev.display()))?)?;
    if len < 2 * PROGRESS_AREA {
        bail!("{} is too small", dev.display());
    }
    let area = len - PROGRESS_AREA;
    let mut pw = ProgressWriter::open(dev, area, w.seed, direct)
        .with_context(|| format!("open {} for progress records", dev.display()))?;
    pw.clear()?;
    let mut ex = Executor::new(mnt);
    ex.clone_fallback = clone_fallback;
    let t0 = Instant::now();
    let (mut ops, mut syncs, mut bytes) = (0u64, 0u64, 0u64);
    for op in Workload::new(w.params()) {
        if verbose {
            eprintln!("op {ops}: {}", op.describe());
        }
        ex.run(&op)
            .with_context(|| format!("op {ops}: {}", op.describe()))?;
        ops += 1;
        if let Op::Write { data, .. } = &op {
            bytes += data.len() as u64;
        }
        if op.sync_kind().is_some() {
            syncs += 1;
            pw.record(syncs, ops)
                .with_context(|| format!("progress record {syncs}"))?;
        }
    }
    println!(
        "crashtest workload: seed {}: {ops} operations, {syncs} syncs, {} MiB written in {:.1}s",
        w.seed,
        bytes >> 20,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_check(
    w: &WorkloadArgs,
    p: &PointArgs,
    base: &Path,
    log: &Path,
    shard: &str,
    work: &Path,
    fsck: &Path,
    only: Option<&str>,
) -> Result<()> {
    let (si, sn) = shard
        .split_once('/')
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
        .filter(|&(a, b)| b > 0 && a < b)
        .with_context(|| format!("bad shard {shard}: want I/N"))?;
    let t0 = Instant::now();
    let base_img = read_all(base)?;
    let (buf, l) = load_log(log)?;
    println!("crashtest: log {}", summary(&l));
    if let Some(d) = &l.damage {
        println!("FAIL: write log readable: {d}");
    }
    let hist = history(w);
    println!(
        "crashtest: workload seed {}: {} operations, {} syncs",
        w.seed,
        hist.ops,
        hist.syncs.len()
    );
    let points: Vec<Point> = match only {
        Some(list) => {
            let mut v = Vec::new();
            for s in list.split(',').filter(|s| !s.is_empty()) {
                v.push(Point::parse(s).with_context(|| format!("bad point {s}"))?);
            }
            v.sort_by_key(|p| (p.end(), p.base));
            v
        }
        None => choose(&l, &choice(p, &l, base_img.len() as u64)?),
    };
    let total = points.len();
    let fsck = fsck.exists().then(|| fsck.to_path_buf());
    if fsck.is_none() {
        println!(
            "crashtest: NOTE: {} is missing: the offline fsck check is skipped",
            fsck_name(fsck.as_deref())
        );
    }
    std::fs::create_dir_all(work)?;
    let cfg = Config {
        work: work.to_path_buf(),
        fsck,
        ignore: vec!["lost+found", guest::COPY_NAME],
    };
    let img = work.join("point.img");
    let fimg = work.join("point-fsck.img");
    let (mut fsck_replays, mut fsck_orphans, mut fsck_followups, mut compared) =
        (0usize, 0usize, 0usize, 0usize);
    let mut prefix = Prefix::new(base_img.clone());
    let (mut passed, mut failed) = (0usize, 0usize);
    let (mut exact, mut atomic, mut loose, mut absent) = (0, 0, 0, 0);
    for (k, pt) in points.iter().enumerate() {
        if k % sn != si {
            continue;
        }
        let label = format!("crash point {}/{total} {}", k + 1, pt);
        if prefix.applied > pt.base {
            prefix = Prefix::new(base_img.clone());
        }
        if let Err(e) = prefix.advance(&l, &buf, pt.base) {
            println!("FAIL: {label}: replay: {e}");
            failed += 1;
            continue;
        }
        let ti = Instant::now();
        if let Err(e) =
            guest::write_image(&img, &prefix.img, Some(&prefix.maybe_data), pt, &l, &buf)
        {
            println!("FAIL: {label}: writing the image: {e}");
            failed += 1;
            continue;
        }
        // A second copy for fsck.livedfs's own journal replay.
        let fimg_ok = match &cfg.fsck {
            Some(_) => {
                match guest::write_image(&fimg, &prefix.img, Some(&prefix.maybe_data), pt, &l, &buf)
                {
                    Ok(()) => true,
                    Err(e) => {
                        println!("FAIL: {label}: writing the image copy: {e}");
                        failed += 1;
                        continue;
                    }
                }
            }
            None => false,
        };
        let t_img = ti.elapsed().as_secs_f64();
        let o = guest::check_point(&cfg, &img, fimg_ok.then_some(fimg.as_path()), &hist, w.seed);
        fsck_replays += usize::from(o.fsck_replayed);
        fsck_orphans += o.fsck_orphans;
        fsck_followups += o.fsck_followups;
        compared += usize::from(o.compared);
        let prog = o
            .progress
            .map(|p| format!("sync {}/{}", p.syncs, hist.syncs.len()))
            .unwrap_or_else(|| "no progress record".into());
        let r = &o.report;
        exact += r.exact_present;
        absent += r.exact_absent;
        atomic += r.atomic;
        loose += r.loose;
        if o.failures.is_empty() {
            passed += 1;
            let ph = o.phases.map(|d| d.as_secs_f64());
            println!(
                "PASS: {label} ({prog}; {} exact, {} absent, {} atomic, {} loose; {:.1}s: \
                 images {t_img:.1} fsck {:.1} kernel {:.1} fsck {:.1} compare {:.1})",
                r.exact_present,
                r.exact_absent,
                r.atomic,
                r.loose,
                o.elapsed.as_secs_f64(),
                ph[0],
                ph[1],
                ph[2],
                ph[3]
            );
        } else {
            failed += 1;
            println!("FAIL: {label} ({prog}): {}", guest::defang(&o.failures[0]));
            for f in o.failures.iter().skip(1).take(20) {
                println!("    {}", guest::defang(f));
            }
            println!("    CRASHTEST-FAILED-POINT {pt}");
        }
        for n in &o.notes {
            println!("    note: {}", guest::defang(n));
        }
    }
    println!(
        "crashtest: shard {si}/{sn}: {passed} passed, {failed} failed ({} points of {total}); \
         checked {exact} exact files, {absent} absent paths, {atomic} atomic renames/deletes, {loose} loose files; \
         fsck.livedfs replayed {fsck_replays} journals and finished {fsck_orphans} orphans \
         ({fsck_followups} bitmap/count repairs following from them) on raw images, \
         {compared} fsck-replayed trees equal to the kernel-replayed ones; {:.0}s",
        passed + failed,
        t0.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_file(&img);
    let _ = std::fs::remove_file(&fimg);
    if failed > 0 {
        bail!("{failed} crash point(s) failed");
    }
    Ok(())
}

/// Writes `img` to `path` without its zero 64 KiB chunks (a sparse file).
fn write_sparse(path: &Path, img: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let f = File::create(path)?;
    f.set_len(img.len() as u64)?;
    for (k, c) in img.chunks(64 * 1024).enumerate() {
        if c.iter().any(|&b| b != 0) {
            f.write_all_at(c, (k * 64 * 1024) as u64)?;
        }
    }
    Ok(())
}

fn fsck_name(p: Option<&Path>) -> String {
    p.map_or("fsck.livedfs".into(), |p| p.display().to_string())
}
