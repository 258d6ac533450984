//! Installation as an administrator meets it: `make install` puts the
//! module, the tools and the man pages where they belong (checked under a
//! DESTDIR), a kernel without Rust support gets one clear paragraph, the
//! DKMS source tree is complete and its dkms.conf valid, and util-linux's
//! `mkfs -t livedfs` and `fsck -t livedfs` find the tools through PATH.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn workspace_version() -> String {
    let t = std::fs::read_to_string(root().join("userspace/Cargo.toml")).unwrap();
    t.lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .map(|v| v.trim_end_matches('"').to_string())
        .unwrap()
}

fn make(args: &[&str]) -> Output {
    Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(root())
        .args(args)
        .output()
        .expect("run make")
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn make_install_layout_under_destdir() {
    if !have("make") {
        eprintln!("skipped: no make");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let ko = d.path().join("livedfs.ko");
    std::fs::write(&ko, b"not really a module").unwrap();
    mkfs_bin(); // builds it next to livedfs if needed
    let tools = livedfs_bin().parent().unwrap().to_path_buf();
    for (prefix, sbin) in [("/usr", "sbin"), ("/usr/local", "usr/local/sbin")] {
        let dest = d.path().join(format!("root{}", prefix.replace('/', "_")));
        let o = make(&[
            "install-files",
            &format!("DESTDIR={}", dest.display()),
            &format!("PREFIX={prefix}"),
            "KDIR=/nonexistent",
            "KREL=6.12.117-test",
            &format!("MODULE_KO={}", ko.display()),
            &format!("TOOLS_DIR={}", tools.display()),
        ]);
        assert!(o.status.success(), "make install-files: {}", text(&o));
        assert!(
            text(&o).contains("not running depmod"),
            "depmod must be skipped with DESTDIR: {}",
            text(&o)
        );
        let m = dest.join("lib/modules/6.12.117-test/extra/livedfs.ko");
        assert_eq!(std::fs::read(&m).unwrap(), b"not really a module");
        let man = dest.join(prefix.trim_start_matches('/')).join("share/man");
        for p in [
            "man8/mkfs.livedfs.8",
            "man8/fsck.livedfs.8",
            "man8/livedfs.8",
            "man5/livedfs.5",
        ] {
            assert!(man.join(p).is_file(), "{} missing", man.join(p).display());
        }
        let bin = dest.join(sbin);
        for t in ["mkfs.livedfs", "livedfs"] {
            let o = Command::new(bin.join(t)).arg("--version").output().unwrap();
            assert!(o.status.success(), "{t} --version");
        }
        let fsck_built = tools.join("fsck-livedfs").exists();
        assert_eq!(bin.join("fsck.livedfs").exists(), fsck_built);
        // uninstall removes it all again.
        let o = make(&[
            "uninstall",
            &format!("DESTDIR={}", dest.display()),
            &format!("PREFIX={prefix}"),
            "KDIR=/nonexistent",
            "KREL=6.12.117-test",
        ]);
        assert!(o.status.success(), "make uninstall: {}", text(&o));
        assert!(!m.exists() && !bin.join("livedfs").exists());
        assert!(!man.join("man5/livedfs.5").exists());
    }
    // Nothing built: a clear error, not a copy of nothing.
    let o = make(&[
        "install-module-files",
        &format!("DESTDIR={}", d.path().join("x").display()),
        "KREL=1",
        "MODULE_KO=/nonexistent/livedfs.ko",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("is missing: run make first"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_kernel_without_rust_gets_one_clear_paragraph() {
    if !have("make") {
        eprintln!("skipped: no make");
        return;
    }
    // A distribution kernel's build tree: headers, a .config without Rust.
    let d = tempfile::tempdir().unwrap();
    let k = d.path();
    std::fs::create_dir_all(k.join("include/config")).unwrap();
    std::fs::write(k.join("include/config/kernel.release"), "6.1.0-42-amd64\n").unwrap();
    std::fs::write(
        k.join("Makefile"),
        "all:\n\t@echo the kernel build must not run\n",
    )
    .unwrap();
    std::fs::write(
        k.join(".config"),
        "CONFIG_MODULES=y\n# CONFIG_RUST is not set\nCONFIG_MODVERSIONS=y\n",
    )
    .unwrap();
    let o = make(&["module", &format!("KDIR={}", k.display())]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("livedfs needs a kernel built with CONFIG_RUST=y"),
        "{t}"
    );
    assert!(t.contains("6.1.0-42-amd64"), "{t}");
    assert!(t.contains("scripts/build-kernel.sh"), "{t}");
    assert!(!t.contains("must not run"), "{t}");
    assert!(t.lines().count() <= 12, "more than a paragraph:\n{t}");
    // No build tree at all.
    let o = make(&["module", "KDIR=/nonexistent/build"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("is not a kernel build tree"),
        "{}",
        text(&o)
    );
    // A Rust kernel built by another rustc: named, before any compiler runs.
    std::fs::write(
        k.join(".config"),
        "CONFIG_RUST=y\nCONFIG_RUSTC_VERSION_TEXT=\"rustc 0.0.1 (fake)\"\n",
    )
    .unwrap();
    let o = make(&[
        "module",
        &format!("KDIR={}", k.display()),
        "RUSTC=/bin/true",
    ]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("was built with rustc 0.0.1 (fake)"), "{t}");
    assert!(!t.contains("must not run"), "{t}");
}

#[test]
fn dkms_source_tree_and_conf() {
    if !have("make") || !have("bash") {
        eprintln!("skipped: no make or bash");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let ver = workspace_version();
    let o = make(&["dkms-install", &format!("DESTDIR={}", d.path().display())]);
    assert!(o.status.success(), "make dkms-install: {}", text(&o));
    assert!(
        text(&o).contains(&format!("dkms add livedfs/{ver}")),
        "{}",
        text(&o)
    );
    let src = d.path().join(format!("usr/src/livedfs-{ver}"));
    // Everything the module build reads: the Makefile, Kbuild, the
    // module's sources and the format crate it compiles in by path.
    let mut need: Vec<String> = vec!["Makefile".into(), "Kbuild".into(), "dkms.conf".into()];
    if have("git") {
        let o = Command::new("git")
            .arg("-C")
            .arg(root())
            .args(["ls-files", "rust", "userspace/format/src"])
            .output()
            .unwrap();
        need.extend(String::from_utf8_lossy(&o.stdout).lines().map(String::from));
    }
    need.extend(
        [
            "rust/livedfs.rs",
            "rust/helpers.c",
            "rust/bindings_helper.h",
            "rust/bindgen_allowlist",
            "userspace/format/src/lib.rs",
        ]
        .map(String::from),
    );
    for f in &need {
        assert!(src.join(f).is_file(), "{f} missing from the DKMS tree");
    }
    assert!(
        !src.join("generated").exists(),
        "build output copied into the DKMS tree"
    );
    // dkms.conf is shell (dkms sources it): valid syntax, the right values.
    let conf = src.join("dkms.conf");
    let o = Command::new("bash").arg("-n").arg(&conf).output().unwrap();
    assert!(o.status.success(), "bash -n dkms.conf: {}", text(&o));
    let script = format!(
        "kernel_source_dir=/lib/modules/6.12.1/build; . '{}'; \
         printf '%s\\n' \"$PACKAGE_NAME\" \"$PACKAGE_VERSION\" \"${{BUILT_MODULE_NAME[0]}}\" \
         \"${{DEST_MODULE_LOCATION[0]}}\" \"${{MAKE[0]}}\" \"$BUILD_EXCLUSIVE_CONFIG\" \"$AUTOINSTALL\"",
        conf.display()
    );
    let o = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let v: Vec<&str> = out.lines().collect();
    assert_eq!(v[0], "livedfs");
    assert_eq!(v[1], ver);
    assert_eq!(v[2], "livedfs");
    assert_eq!(v[3], "/extra");
    assert_eq!(
        v[4],
        "make module KDIR=/lib/modules/6.12.1/build LLVM=-16 RUSTC=/usr/bin/rustc"
    );
    assert_eq!(v[5], "CONFIG_RUST");
    assert_eq!(v[6], "yes");
    // The repository's copy names the same version.
    let repo_conf = std::fs::read_to_string(root().join("dkms.conf")).unwrap();
    assert!(
        repo_conf.contains(&format!("PACKAGE_VERSION=\"{ver}\"")),
        "dkms.conf's PACKAGE_VERSION is not the workspace version {ver}"
    );
}

/// A bin directory with `mkfs.livedfs` and `fsck.livedfs` (the real
/// fsck-livedfs when built, else a stub that records its arguments), and
/// the PATH that puts it first.
fn tool_path(d: &Path) -> (PathBuf, String, bool) {
    let bindir = d.join("bin");
    std::fs::create_dir_all(&bindir).unwrap();
    std::os::unix::fs::symlink(mkfs_bin(), bindir.join("mkfs.livedfs")).unwrap();
    let real = livedfs_bin().parent().unwrap().join("fsck-livedfs");
    let have_real = real.exists();
    if have_real {
        std::os::unix::fs::symlink(&real, bindir.join("fsck.livedfs")).unwrap();
    } else {
        let stub = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" > '{}'\nexit 4\n",
            d.join("fsck-args").display()
        );
        std::fs::write(bindir.join("fsck.livedfs"), stub).unwrap();
        Command::new("chmod")
            .arg("+x")
            .arg(bindir.join("fsck.livedfs"))
            .status()
            .unwrap();
    }
    let path = format!(
        "{}:{}",
        bindir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (bindir, path, have_real)
}

#[test]
fn util_linux_mkfs_and_fsck_find_the_tools() {
    if !Path::new("/sbin/mkfs").exists() && !have("mkfs") || !have("fsck") {
        eprintln!("skipped: util-linux mkfs/fsck not installed");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (_bindir, path, real_fsck) = tool_path(d.path());
    let img = d.path().join("img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(128 << 20)
        .unwrap();
    let o = Command::new("mkfs")
        .args(["-t", "livedfs", "-F", "-q", "-L", "via-mkfs"])
        .arg(&img)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(o.status.success(), "mkfs -t livedfs: {}", text(&o));
    let j = json(&["info", img.to_str().unwrap()]);
    assert_eq!(j["superblock"]["label"], "via-mkfs");

    let o = Command::new("fsck")
        .args(["-t", "livedfs", "-n"])
        .arg(&img)
        .env("PATH", &path)
        .output()
        .unwrap();
    if real_fsck {
        assert_eq!(o.status.code(), Some(0), "fsck -t livedfs -n: {}", text(&o));
    } else {
        // util-linux fsck ran fsck.livedfs with the options and the image,
        // and passed its exit status through.
        let args = std::fs::read_to_string(d.path().join("fsck-args"))
            .expect("fsck -t livedfs did not run fsck.livedfs");
        assert_eq!(args.trim(), format!("-n {}", img.display()));
        assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    }
}
