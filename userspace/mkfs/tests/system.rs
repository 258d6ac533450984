//! mkfs and the rest of the system: mounted and busy devices are refused,
//! block devices are formatted, and `mkfs -t livedfs` finds the tool.
//!
//! The tests that need loop devices and mounts run only as root with
//! losetup and mount available, and undo what they set up even when they
//! fail; otherwise they say why they were skipped.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn sh(cmd: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(cmd).args(args).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

fn can_loop() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for loop devices");
        return false;
    }
    if sh("losetup", &["--version"]).is_none() || !Path::new("/dev/loop-control").exists() {
        eprintln!("skipped: no losetup or /dev/loop-control");
        return false;
    }
    true
}

/// A loop device, detached on drop.
struct Loop(String);

impl Loop {
    fn attach(file: &Path) -> Option<Self> {
        sh("losetup", &["-f", "--show", file.to_str()?]).map(Loop)
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// A mount, unmounted on drop.
struct Mounted(PathBuf);

impl Mounted {
    fn mount(src: &str, dir: &Path, extra: &[&str]) -> Option<Self> {
        fs::create_dir_all(dir).ok()?;
        let mut args: Vec<&str> = extra.to_vec();
        args.push(src);
        args.push(dir.to_str()?);
        sh("mount", &args).map(|_| Mounted(dir.to_owned()))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn sparse(path: &Path, bytes: u64) {
    let f = fs::File::create(path).unwrap();
    f.set_len(bytes).unwrap();
}

fn ext4(path: &Path) -> bool {
    sparse(path, 32 << 20);
    sh("mkfs.ext4", &["-q", "-F", path.to_str().unwrap()]).is_some()
}

#[test]
fn refuses_a_mounted_image_and_device() {
    if !can_loop() {
        return;
    }
    let d = tmpdir();
    let img = d.path().join("ext4.img");
    if !ext4(&img) {
        eprintln!("skipped: mkfs.ext4 failed");
        return;
    }
    {
        // Mounted through an automatic loop device: refused, even with -F.
        let Some(_m) = Mounted::mount(
            img.to_str().unwrap(),
            &d.path().join("mnt"),
            &["-o", "loop"],
        ) else {
            eprintln!("skipped: cannot loop-mount here");
            return;
        };
        for f in [&["-F"][..], &["-F", "-F"]] {
            let mut args = f.to_vec();
            args.push(img.to_str().unwrap());
            fails(&mkfs(&args), &["is mounted on", "unmount it first"]);
        }
    }
    {
        // The loop device itself, mounted: refused.
        let lo = Loop::attach(&img).expect("losetup");
        let Some(_m) = Mounted::mount(&lo.0, &d.path().join("mnt2"), &[]) else {
            eprintln!("skipped: cannot mount a loop device here");
            return;
        };
        fails(
            &mkfs(&["-F", &lo.0]),
            &["is mounted on", "unmount it first"],
        );
        fails(&mkfs(&["-F", img.to_str().unwrap()]), &["is mounted on"]);
    }
    // Mounting changes the image itself, so check what matters: it is
    // still a sound ext4 file system, with no livedfs superblock.
    let head = fs::read(&img).unwrap();
    assert_eq!(&head[1080..1082], &[0x53, 0xEF]);
    assert_ne!(&head[1024..1031], b"LIVEDFS");
    if let Some(e2fsck) = ["/usr/sbin/e2fsck", "/sbin/e2fsck"]
        .iter()
        .find(|p| Path::new(p).exists())
    {
        let st = Command::new(e2fsck)
            .args(["-fn", img.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "e2fsck: {}",
            String::from_utf8_lossy(&st.stdout)
        );
    }
}

#[test]
fn a_file_attached_to_a_loop_device_needs_force() {
    if !can_loop() {
        return;
    }
    let d = tmpdir();
    let img = d.path().join("img");
    sparse(&img, 64 << 20);
    let lo = Loop::attach(&img).expect("losetup");
    fails(
        &mkfs(&["-q", img.to_str().unwrap()]),
        &["attached to", &lo.0, "-F"],
    );
    ok(&mkfs(&["-q", "-F", img.to_str().unwrap()]));
    drop(lo);
    check_image(&img, &Expect::default());
}

#[test]
fn formats_a_block_device() {
    if !can_loop() {
        return;
    }
    let d = tmpdir();
    let img = d.path().join("backing");
    sparse(&img, 96 << 20);
    let lo = Loop::attach(&img).expect("losetup");
    let dev = lo.0.as_str();
    // A size beyond the device is refused.
    fails(
        &mkfs(&["-q", dev, "97m"]),
        &["has only", "blocks", "smaller blocks-count"],
    );
    // The whole device, and with a size that uses part of it.
    ok(&mkfs(&["-q", dev]));
    let _ = sh("blockdev", &["--flushbufs", dev]);
    let ch = check_image(
        &img,
        &Expect {
            journal: Some(true),
            ..Expect::default()
        },
    );
    assert_eq!(ch.sb.blocks_count, (96 << 20) / 4096);
    // Now it holds livedfs: asked (refused without a terminal), then -F.
    fails(
        &mkfs(&["-q", dev]),
        &["contains a livedfs file system", "-F"],
    );
    ok(&mkfs(&[
        "-q", "-F", "-E", "discard", "-b", "1024", dev, "50000",
    ]));
    let _ = sh("blockdev", &["--flushbufs", dev]);
    let ch = check_image(
        &img,
        &Expect {
            block_size: Some(1024),
            ..Expect::default()
        },
    );
    assert_eq!(ch.sb.blocks_count, 50000);
    // -n on a device reads its size and writes nothing.
    let before = fs::read(&img).unwrap();
    let o = mkfs(&["-n", "-O", "^spatial_locality", dev]);
    ok(&o);
    assert!(stdout(&o).contains("24576 4k blocks"), "{}", stdout(&o));
    assert!(fs::read(&img).unwrap() == before);
}

#[test]
fn mkfs_t_livedfs_finds_the_tool_on_path() {
    if sh("mkfs", &["-V"]).is_none() {
        eprintln!("skipped: no util-linux mkfs");
        return;
    }
    let d = tmpdir();
    // Installed as mkfs.livedfs (cargo cannot name a binary with a dot).
    let bindir = d.path().join("bin");
    fs::create_dir(&bindir).unwrap();
    std::os::unix::fs::symlink(bin(), bindir.join("mkfs.livedfs")).unwrap();
    let path = format!(
        "{}:{}",
        bindir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let img = d.path().join("img");
    sparse(&img, 128 << 20);
    let o = Command::new("mkfs")
        .args(["-t", "livedfs", "-F", "-q", img.to_str().unwrap()])
        .env("PATH", &path)
        .output()
        .unwrap();
    ok(&o);
    check_image(&img, &Expect::default());
    // Options after the type pass through.
    let o = Command::new("mkfs")
        .args([
            "-t",
            "livedfs",
            "-F",
            "-q",
            "-L",
            "through-mkfs",
            "-O",
            "md5",
            img.to_str().unwrap(),
        ])
        .env("PATH", &path)
        .output()
        .unwrap();
    ok(&o);
    let ch = check_image(
        &img,
        &Expect {
            fp_algo: Some(2),
            ..Expect::default()
        },
    );
    assert_eq!(ch.sb.label_str(), "through-mkfs");
}

#[test]
fn asks_before_overwriting_on_a_terminal() {
    // util-linux script(1) gives mkfs a terminal; the answer comes on it.
    if sh("script", &["-V"]).is_none() {
        eprintln!("skipped: no script(1) to provide a terminal");
        return;
    }
    let d = tmpdir();
    let img = d.path().join("img");
    ok(&mkfs(&["-q", img.to_str().unwrap(), "64m"]));
    let before = fs::read(&img).unwrap();
    let on_tty = |answer: &str| {
        let cmd = format!("'{}' -L again '{}'", bin().display(), img.display());
        let mut c = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin
            .take()
            .unwrap()
            .write_all(answer.as_bytes())
            .unwrap();
        let o = c.wait_with_output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (code, out) = on_tty("n\n");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("contains a livedfs file system") && out.contains("Proceed anyway? (y,N)"),
        "{out}"
    );
    assert!(out.contains("nothing was written"), "{out}");
    assert!(fs::read(&img).unwrap() == before);
    let (code, out) = on_tty("y\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Writing superblocks"), "{out}");
    assert_eq!(
        check_image(&img, &Expect::default()).sb.label_str(),
        "again"
    );
}
