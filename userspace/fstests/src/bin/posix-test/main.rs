//! posix-test: every operation a POSIX file system must support, with
//! exact expected results and errno values, as a table of named checks.
//! Each check runs in its own fresh subdirectory of DIR and prints one
//! `PASS:`/`FAIL:`/`SKIP:` line.

mod attr;
mod io;
mod ns;
mod util;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;

use fstests::report::{emit, Report};
use fstests::sys;

use util::{Check, Ctx, Verdict};

type CheckFn = fn(&Ctx) -> Check;

/// The checks, in the order they run.
const CHECKS: &[(&str, CheckFn)] = &[
    // open(2) and its flags
    ("open-creat-excl", io::open_creat_excl),
    ("open-errors", io::open_errors),
    ("open-nofollow-eloop", io::open_nofollow),
    ("open-trunc", io::open_trunc),
    ("open-append", io::open_append),
    ("open-rdonly-wronly-ebadf", io::open_ebadf),
    ("open-umask", io::open_umask),
    ("o-direct", io::o_direct),
    // data
    ("rw-odd-offsets", io::rw_odd_offsets),
    ("rw-sequential-cursor", io::rw_sequential),
    ("read-past-eof", io::read_past_eof),
    ("sparse-file", io::sparse_file),
    ("block-map-boundaries", io::block_map_boundaries),
    ("lseek-set-cur-end", io::lseek_basic),
    ("seek-data-hole-dirty", io::seek_data_hole_dirty),
    ("seek-data-hole-synced", io::seek_data_hole_synced),
    ("seek-data-hole-edge-cases", io::seek_data_hole_edges),
    ("truncate-grow-shrink", io::truncate_grow_shrink),
    ("truncate-errors", io::truncate_errors),
    ("fallocate-punch-hole", io::punch_hole),
    ("fallocate-mode-0", io::fallocate_mode0),
    ("fallocate-keep-size", io::fallocate_keep_size),
    ("mmap-shared", io::mmap_shared),
    ("mmap-hole-and-private", io::mmap_hole_private),
    ("fsync-fdatasync-syncfs", io::fsyncs),
    ("copy-sendfile-splice-copy-file-range", io::copies),
    ("append-two-fds", io::append_two_fds),
    ("append-concurrent-threads", io::append_threads),
    ("unlinked-open-file", io::unlinked_open),
    ("statfs-free-blocks", io::statfs_blocks),
    // names and directories
    ("mkdir", ns::mkdir_check),
    ("rmdir", ns::rmdir_check),
    ("rmdir-open-directory", ns::rmdir_open),
    ("unlink", ns::unlink_check),
    ("link-hard-links", ns::link_check),
    ("symlink-lengths", ns::symlink_lengths),
    ("symlink-errors", ns::symlink_errors),
    ("mknod-devices", ns::mknod_devices),
    ("mknod-fifo-socket-regular", ns::mknod_others),
    ("rename-file-over-file", ns::rename_file_over_file),
    ("rename-same-inode-and-self", ns::rename_same_inode),
    ("rename-errors", ns::rename_errors),
    ("rename-dir-over-empty-dir", ns::rename_dir_over_empty),
    ("rename-dir-across-parents", ns::rename_dir_across),
    ("rename-noreplace", ns::rename_noreplace),
    ("rename-exchange-file-dir", ns::rename_exchange),
    ("names-255-and-256", ns::name_lengths),
    ("names-arbitrary-bytes", ns::name_bytes),
    ("readdir-exact", ns::readdir_exact),
    ("readdir-churn-stable", ns::readdir_churn),
    ("readdir-seek-offsets", ns::readdir_seek),
    ("large-directory", ns::large_dir),
    // attributes
    ("stat-types", attr::stat_types),
    ("stat-dir-nlink", attr::dir_nlink),
    ("stat-blocks-sparse-dense", attr::stat_blocks),
    ("chmod-fchmod", attr::chmod_check),
    ("chown-lchown-fchown", attr::chown_check),
    ("setgid-directory", attr::setgid_dir),
    ("utimensat-nanoseconds", attr::utimens_exact),
    ("utimensat-now-omit", attr::utimens_now_omit),
    ("timestamps-implicit-updates", attr::implicit_times),
];

#[derive(Parser)]
#[command(
    name = "posix-test",
    about = "POSIX conformance checks with exact results and errno values"
)]
struct Cli {
    /// Run only the checks whose name contains one of these (repeatable).
    #[arg(long)]
    only: Vec<String>,
    /// List the checks and exit.
    #[arg(long)]
    list: bool,
    /// Entries in the large-directory check.
    #[arg(long, default_value_t = 5000)]
    large_dir: usize,
    /// Keep each check's directory instead of removing it.
    #[arg(long)]
    keep: bool,
    /// A fresh, empty directory on the file system under test.
    #[arg(required_unless_present = "list")]
    dir: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    if cli.list {
        for (name, _) in CHECKS {
            println!("{name}");
        }
        return;
    }
    let Some(top) = cli.dir else { return };
    let mut rep = Report::new();
    sys::umask(0);
    match std::fs::read_dir(&top) {
        Ok(mut it) => {
            if it.next().is_some() {
                rep.fail("posix-test", &format!("{} is not empty", top.display()));
                rep.summary("posix-test");
                std::process::exit(1);
            }
        }
        Err(e) => {
            rep.fail("posix-test", &format!("{}: {e}", top.display()));
            rep.summary("posix-test");
            std::process::exit(1);
        }
    }
    let t0 = Instant::now();
    let root_user = sys::geteuid() == 0;
    for (name, f) in CHECKS {
        if !cli.only.is_empty() && !cli.only.iter().any(|o| name.contains(o.as_str())) {
            continue;
        }
        let dir = top.join(name);
        if let Err(e) = sys::mkdir(&dir, 0o755) {
            rep.fail(name, &format!("mkdir {}: {e:?}", dir.display()));
            continue;
        }
        let ctx = Ctx {
            dir: dir.clone(),
            top: top.clone(),
            root_user,
            large_dir: cli.large_dir,
        };
        let t = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| f(&ctx)));
        let secs = t.elapsed().as_secs_f64();
        match r {
            Ok(Ok(Verdict::Pass)) => rep.pass(name),
            Ok(Ok(Verdict::Note(n))) => rep.pass(&format!("{name} [{n}]")),
            Ok(Ok(Verdict::Skip(why))) => rep.skip(name, &why),
            Ok(Err(e)) => rep.fail(name, &format!("{e:#}")),
            Err(_) => rep.fail(name, "the check panicked"),
        }
        if secs > 2.0 {
            emit(&format!("info: {name} took {secs:.1} s"));
        }
        if !cli.keep {
            if let Err(e) = remove_tree(&dir) {
                rep.fail(&format!("{name}: cleanup"), &format!("{e:#}"));
            }
        }
    }
    if !cli.keep {
        let r = (|| -> anyhow::Result<()> {
            let left = util::names(&top)?;
            util::eq(
                left.len(),
                0,
                "entries left in DIR after removing every check's directory",
            )?;
            let st = util::lstat(&top)?;
            util::eq(st.st_nlink, 2, "link count of the emptied DIR")
        })();
        rep.check("cleanup-everything-removed", r);
    }
    emit(&format!(
        "info: posix-test took {:.1} s",
        t0.elapsed().as_secs_f64()
    ));
    rep.summary("posix-test");
    std::process::exit(rep.exit_code());
}

/// Remove a tree, making directories writable first (a check may leave a
/// directory without write permission).
fn remove_tree(p: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let st = sys::lstat(p).map_err(|e| anyhow::anyhow!("lstat {}: {e:?}", p.display()))?;
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let _ = sys::chmod(p, 0o755);
        for e in std::fs::read_dir(p).with_context(|| format!("read {}", p.display()))? {
            let e = e.with_context(|| format!("read {}", p.display()))?;
            remove_tree(&e.path())?;
        }
        sys::rmdir(p).map_err(|e| anyhow::anyhow!("rmdir {}: {e:?}", p.display()))
    } else {
        sys::unlink(p).map_err(|e| anyhow::anyhow!("unlink {}: {e:?}", p.display()))
    }
}
