//! difftest: differential random testing of two directory trees.
//!
//! `run` applies one seeded random sequence of operations to two trees (a
//! file system under test and a reference) and requires every outcome, and
//! then the whole trees, to be identical. `manifest` and `compare-manifest`
//! compare a tree against one saved earlier (e.g. across unmount/mount).

mod ops;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use fstests::manifest::Manifest;
use fstests::report::{emit, Report};
use fstests::sys;

use ops::{Gen, Model};

/// Differences printed before the rest are only counted.
const SHOW_DIFFS: usize = 20;
/// Divergent operations one process reports before it stops.
const MAX_DIVERGENCES: usize = 10;

#[derive(Parser)]
#[command(
    name = "difftest",
    about = "Differential random file system testing: same operations on two trees, same results"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// Seed; process I uses seed SEED+I.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Operations in total, shared out among the processes.
    #[arg(long, default_value_t = 1000)]
    ops: u64,
    /// Processes, each in its own subtree pI/ of both trees.
    #[arg(long, default_value_t = 1)]
    procs: usize,
    /// Share of written 4 KiB blocks taken from a small pool of blocks
    /// (duplicates; block 0 of the pool is all zeros) instead of fresh
    /// random data.
    #[arg(long, default_value_t = 0.3, value_parser = parse_ratio)]
    dup_ratio: f64,
    /// Every N operations of each process, syncfs both trees (0: never),
    /// so later operations work on written-back data.
    #[arg(long, default_value_t = 0, value_name = "N")]
    sync_every: u64,
    /// With --sync-every: also drop the page, dentry and inode caches
    /// (writes 3 to /proc/sys/vm/drop_caches; root only), so that reads
    /// come from the disk. Meant for a test VM.
    #[arg(long, requires = "sync_every")]
    drop_caches: bool,
    /// Print every operation and its outcome.
    #[arg(long, short)]
    verbose: bool,
    /// Self-test of the checker: after operation K of process 0, corrupt
    /// tree B behind difftest's back (flip the first byte of its first
    /// non-empty regular file, or create a stray file if there is none).
    #[arg(long, hide = true, value_name = "K")]
    inject_b_fault: Option<u64>,
    /// The tree under test (an empty directory).
    a: PathBuf,
    /// The reference tree (an empty directory).
    b: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Apply the same seeded random operations to A and B; every outcome
    /// (value or errno) must match, and then the two trees.
    Run(RunArgs),
    /// Print the canonical manifest of a tree (everything `run` compares).
    Manifest { dir: PathBuf },
    /// Compare a tree with a manifest saved by `manifest`.
    CompareManifest { file: PathBuf, dir: PathBuf },
    /// One process of `run` (internal).
    #[command(hide = true)]
    Worker {
        #[arg(long)]
        index: usize,
        #[arg(long)]
        proc_ops: u64,
        #[command(flatten)]
        run: RunArgs,
    },
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be between 0.0 and 1.0".into())
    }
}

fn main() {
    let cli = Cli::parse();
    let mut rep = Report::new();
    let prog = match &cli.cmd {
        Cmd::Worker { .. } => None,
        _ => Some("difftest"),
    };
    let r = match cli.cmd {
        Cmd::Run(a) => run(&mut rep, &a),
        Cmd::Manifest { dir } => manifest(&dir),
        Cmd::CompareManifest { file, dir } => compare_manifest(&mut rep, &file, &dir),
        Cmd::Worker {
            index,
            proc_ops,
            run,
        } => worker(&mut rep, index, proc_ops, &run),
    };
    if let Err(e) = r {
        rep.fail("difftest", &format!("{e:#}"));
    }
    if let Some(p) = prog {
        if rep.pass + rep.fail + rep.skip > 0 {
            rep.summary(p);
        }
    }
    std::process::exit(rep.exit_code());
}

fn is_empty_dir(d: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(d)
        .with_context(|| format!("{} is not a readable directory", d.display()))?
        .next()
        .is_none())
}

fn run(rep: &mut Report, a: &RunArgs) -> Result<()> {
    if a.procs == 0 {
        bail!("--procs must be at least 1");
    }
    for d in [&a.a, &a.b] {
        if !is_empty_dir(d)? {
            bail!("{} is not empty", d.display());
        }
    }
    let t = Instant::now();
    let exe = std::env::current_exe().context("own executable")?;
    let mut children = Vec::new();
    for i in 0..a.procs {
        for root in [&a.a, &a.b] {
            let d = ops::subtree(root, i);
            sys::mkdir(&d, 0o755).map_err(|e| anyhow::anyhow!("mkdir {}: {e}", d.display()))?;
        }
        let n = a.ops / a.procs as u64 + u64::from((i as u64) < a.ops % a.procs as u64);
        let mut cmd = Command::new(&exe);
        cmd.arg("worker")
            .args(["--index", &i.to_string(), "--proc-ops", &n.to_string()])
            .args([
                "--seed",
                &a.seed.to_string(),
                "--dup-ratio",
                &a.dup_ratio.to_string(),
            ]);
        if a.verbose {
            cmd.arg("--verbose");
        }
        if a.sync_every > 0 {
            cmd.args(["--sync-every", &a.sync_every.to_string()]);
        }
        if a.drop_caches {
            cmd.arg("--drop-caches");
        }
        if let Some(k) = a.inject_b_fault {
            cmd.args(["--inject-b-fault", &k.to_string()]);
        }
        cmd.arg(&a.a).arg(&a.b);
        children.push((i, cmd.spawn().context("start a worker process")?));
    }
    for (i, mut c) in children {
        let st = c.wait().context("wait for a worker")?;
        match st.code() {
            Some(0) => rep.pass += 1,
            Some(1) => rep.fail += 1,
            _ => rep.fail(
                &format!("process p{i}"),
                &format!("worker ended abnormally: {st}"),
            ),
        }
    }
    emit(&format!(
        "info: {} operations by {} processes in {:.1} s",
        a.ops,
        a.procs,
        t.elapsed().as_secs_f64()
    ));
    let t = Instant::now();
    let ma = Manifest::of_tree(&a.a)?;
    let mb = Manifest::of_tree(&a.b)?;
    report_diff(rep, "trees A and B are identical", &ma, &mb, "A", "B");
    emit(&format!(
        "info: compared {} entries in {:.1} s",
        ma.entries.len(),
        t.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn report_diff(rep: &mut Report, name: &str, a: &Manifest, b: &Manifest, an: &str, bn: &str) {
    let d = a.diff(b, an, bn);
    if d.is_empty() {
        rep.pass(&format!("{name} ({} entries)", a.entries.len()));
        return;
    }
    for line in d.iter().take(SHOW_DIFFS) {
        emit(&format!("  diff: {line}"));
    }
    if d.len() > SHOW_DIFFS {
        emit(&format!("  diff: ... and {} more", d.len() - SHOW_DIFFS));
    }
    rep.fail(
        name,
        &format!("{} differences, the first: {}", d.len(), d[0]),
    );
}

fn manifest(dir: &Path) -> Result<()> {
    let m = Manifest::of_tree(dir)?;
    use std::io::Write;
    std::io::stdout()
        .lock()
        .write_all(m.to_text().as_bytes())
        .context("write the manifest")?;
    Ok(())
}

fn compare_manifest(rep: &mut Report, file: &Path, dir: &Path) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
    let saved = Manifest::parse(&text).with_context(|| format!("parse {}", file.display()))?;
    let now = Manifest::of_tree(dir)?;
    let name = format!("{} matches the manifest {}", dir.display(), file.display());
    report_diff(rep, &name, &saved, &now, "manifest", "tree");
    Ok(())
}

fn worker(rep: &mut Report, index: usize, nops: u64, a: &RunArgs) -> Result<()> {
    sys::umask(0);
    let seed = a.seed.wrapping_add(index as u64);
    let ra = ops::subtree(&a.a, index);
    let rb = ops::subtree(&a.b, index);
    let mut g = Gen::new(seed, a.seed, a.dup_ratio);
    let mut model = Model::default();
    let mut diverged = 0usize;
    let mut ok = 0u64;
    let mut errs: std::collections::BTreeMap<String, u64> = Default::default();
    let name =
        format!("p{index} (seed {seed}): {nops} operations with the same outcome on A and B");
    let mut done = 0;
    for k in 0..nops {
        if a.sync_every > 0 && k > 0 && k % a.sync_every == 0 {
            sync_trees(&ra, &rb, a.drop_caches)?;
        }
        if k % 50 == 0 {
            model = Model::scan(&ra);
        }
        let op = g.next(&model);
        let oa = ops::exec(&op, &ra);
        let ob = ops::exec(&op, &rb);
        done += 1;
        if a.verbose {
            emit(&format!("op {k} of p{index}: {op}: {oa}"));
        }
        if oa != ob {
            diverged += 1;
            rep.fail(
                &format!("op {k} of p{index} (seed {seed})"),
                &format!("{op}: A: {oa}, B: {ob}"),
            );
            if diverged >= MAX_DIVERGENCES {
                emit(&format!(
                    "info: p{index}: stopping after {diverged} divergent operations"
                ));
                break;
            }
        }
        if index == 0 && a.inject_b_fault == Some(k) {
            inject_fault(&rb, &model)?;
        }
        if oa.starts_with("ok") {
            ok += 1;
            model.apply(&op, &ra);
        } else if oa.starts_with("err ") {
            *errs
                .entry(oa.trim_start_matches("err ").to_string())
                .or_default() += 1;
        }
    }
    let e: Vec<String> = errs.iter().map(|(k, v)| format!("{k} {v}")).collect();
    emit(&format!(
        "info: p{index}: {done} ops, {ok} succeeded; errors: {}",
        e.join(", ")
    ));
    if diverged == 0 {
        rep.pass(&name);
    } else {
        rep.fail(&name, &format!("{diverged} operations diverged"));
    }
    Ok(())
}

/// syncfs both trees, and drop the caches if asked.
fn sync_trees(ra: &Path, rb: &Path, drop_caches: bool) -> Result<()> {
    for r in [ra, rb] {
        let fd = sys::open(r, libc::O_RDONLY | libc::O_DIRECTORY, 0)
            .map_err(|e| anyhow::anyhow!("open {}: {e}", r.display()))?;
        sys::syncfs(&fd).map_err(|e| anyhow::anyhow!("syncfs {}: {e}", r.display()))?;
    }
    if drop_caches {
        std::fs::write("/proc/sys/vm/drop_caches", b"3")
            .context("write /proc/sys/vm/drop_caches")?;
    }
    Ok(())
}

/// Corrupt tree B (see `--inject-b-fault`).
fn inject_fault(rb: &Path, model: &Model) -> Result<()> {
    for (p, k) in &model.entries {
        if *k != ops::Kind::File {
            continue;
        }
        let path = rb.join(p);
        let Ok(fd) = sys::open(&path, libc::O_RDWR | libc::O_NOFOLLOW | libc::O_NONBLOCK, 0) else {
            continue;
        };
        let mut b = [0u8; 1];
        if sys::pread(&fd, &mut b, 0) == Ok(1) {
            b[0] ^= 0xff;
            sys::pwrite(&fd, &b, 0).map_err(|e| anyhow::anyhow!("inject: {e}"))?;
            emit(&format!("info: injected a fault: flipped byte 0 of B/{p}"));
            return Ok(());
        }
    }
    let path = rb.join("injected-stray-file");
    sys::open(&path, libc::O_WRONLY | libc::O_CREAT, 0o644)
        .map_err(|e| anyhow::anyhow!("inject: {e}"))?;
    emit("info: injected a fault: created B/injected-stray-file");
    Ok(())
}
