//! The man pages (man/) cover what the tools accept: every option each
//! tool's --help lists appears in its page, every mount option the kernel
//! module parses (rust/options.rs) appears in livedfs(5), and the pages
//! render without groff warnings.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The page's text with troff escapes for dashes and fonts removed.
fn page_text(rel: &str) -> String {
    let src = std::fs::read_to_string(root().join(rel)).unwrap();
    src.replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\fP", "")
}

/// The option names (`-b`, `--json`) listed in a --help text.
fn help_options(help: &str) -> Vec<String> {
    let mut v = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        if !t.starts_with('-') {
            continue;
        }
        for tok in t.split([' ', ',']).filter(|s| !s.is_empty()) {
            if !tok.starts_with('-') {
                break;
            }
            let name = tok.split(['=', '<', '[', '.']).next().unwrap().to_string();
            if name.len() > 1 {
                v.push(name);
            }
        }
    }
    v
}

/// The subcommand names listed in a --help text's "Commands:" section.
fn help_commands(help: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut on = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            on = true;
            continue;
        }
        if on {
            if line.trim().is_empty() || !line.starts_with("  ") {
                break;
            }
            // A wrapped description continues on a more indented line.
            if line.starts_with("   ") {
                continue;
            }
            let w = line.split_whitespace().next().unwrap().to_string();
            if w != "help" {
                v.push(w);
            }
        }
    }
    v
}

fn help_of(bin: &Path, args: &[&str]) -> String {
    let o = Command::new(bin).args(args).arg("--help").output().unwrap();
    assert!(
        o.status.success(),
        "{} {args:?} --help failed",
        bin.display()
    );
    String::from_utf8(o.stdout).unwrap()
}

fn assert_all_in(page: &str, text: &str, items: &[String], what: &str) {
    assert!(!items.is_empty(), "no {what} found");
    let missing: Vec<&String> = items
        .iter()
        .filter(|o| !text.contains(o.as_str()))
        .collect();
    assert!(missing.is_empty(), "{page} lacks {what} {missing:?}");
}

#[test]
fn livedfs_8_covers_every_subcommand_and_option() {
    let text = page_text("man/man8/livedfs.8");
    let bin = livedfs_bin();
    let top = help_of(&bin, &[]);
    let cmds = help_commands(&top);
    assert_all_in("livedfs.8", &text, &cmds, "subcommands");
    assert_all_in("livedfs.8", &text, &help_options(&top), "options");
    let mut all = Vec::new();
    for c in &cmds {
        let h = help_of(&bin, &[c]);
        let subs = help_commands(&h);
        for s in &subs {
            assert!(
                text.contains(&format!("{c} {s}")),
                "livedfs.8 lacks `{c} {s}`"
            );
            all.extend(help_options(&help_of(&bin, &[c, s])));
        }
        all.extend(help_options(&h));
    }
    assert!(all.contains(&"--bytes".to_string()), "{all:?}");
    assert_all_in("livedfs.8", &text, &all, "options");
}

#[test]
fn mkfs_livedfs_8_covers_every_option_and_feature() {
    let text = page_text("man/man8/mkfs.livedfs.8");
    let help = help_of(&mkfs_bin(), &[]);
    let opts = help_options(&help);
    for o in [
        "-b",
        "-L",
        "-U",
        "-N",
        "-i",
        "-m",
        "-J",
        "-j",
        "-O",
        "-E",
        "-n",
        "-F",
        "-q",
        "-V",
        "--version",
    ] {
        assert!(
            opts.contains(&o.to_string()),
            "{o} not found in --help: {opts:?}"
        );
    }
    assert_all_in("mkfs.livedfs.8", &text, &opts, "options");
    // Features and extended options named in --help.
    for w in [
        "has_journal",
        "sparse_super",
        "spatial_locality",
        "sha256",
        "md5",
        "root_owner",
        "nodiscard",
        "discard",
        "size=",
    ] {
        assert!(
            help.contains(w),
            "--help no longer names {w}: update this test"
        );
        assert!(text.contains(w), "mkfs.livedfs.8 lacks {w}");
    }
}

#[test]
fn fsck_livedfs_8_covers_the_e2fsck_interface() {
    let text = page_text("man/man8/fsck.livedfs.8");
    // The interface issue 7 specifies, and every exit code.
    for o in ["-n", "-p", "-a", "-y", "-f", "-C"] {
        assert!(text.contains(o), "fsck.livedfs.8 lacks {o}");
    }
    for c in ["0", "1", "2", "4", "8", "16", "32"] {
        assert!(
            text.contains(&format!(".B {c}\n")),
            "fsck.livedfs.8 lacks exit code {c}"
        );
    }
    // Once fsck.livedfs is built, every option its --help lists.
    let fsck = livedfs_bin().parent().unwrap().join("fsck-livedfs");
    if fsck.exists() {
        let o = Command::new(&fsck).arg("--help").output().unwrap();
        let help =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert_all_in("fsck.livedfs.8", &text, &help_options(&help), "options");
    } else {
        eprintln!("fsck-livedfs not built: checked the documented interface only");
    }
}

#[test]
fn livedfs_5_covers_every_mount_option_the_module_parses() {
    let text = page_text("man/man5/livedfs.5");
    let src = std::fs::read_to_string(root().join("rust/options.rs")).unwrap();
    // Every `(b"name", ...)` match arm of options::parse.
    let mut names: Vec<String> = src
        .match_indices("(b\"")
        .map(|(i, _)| {
            let rest = &src[i + 3..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect();
    names.sort();
    names.dedup();
    for n in [
        "errors",
        "nojournal",
        "commit",
        "data",
        "verify",
        "noprefetch",
    ] {
        assert!(names.contains(&n.to_string()), "{n} not parsed? {names:?}");
    }
    assert_all_in("livedfs.5", &text, &names, "mount options");
    for v in [
        "errors=continue",
        "remount-ro",
        "panic",
        "commit=",
        "data=ordered",
    ] {
        assert!(text.contains(v), "livedfs.5 lacks {v}");
    }
    // Every sysfs counter the module publishes.
    let helpers = std::fs::read_to_string(root().join("rust/helpers.c")).unwrap();
    let counters: Vec<String> = helpers
        .match_indices("&livedfs_attr_")
        .map(|(i, _)| {
            let rest = &helpers[i + 14..];
            rest[..rest.find('.').unwrap()].to_string()
        })
        .collect();
    assert_all_in("livedfs.5", &text, &counters, "sysfs counters");
}

#[test]
fn pages_render_without_warnings() {
    let Ok(o) = Command::new("groff").arg("-v").output() else {
        eprintln!("skipped: groff is not installed");
        return;
    };
    assert!(o.status.success());
    for p in [
        "man/man5/livedfs.5",
        "man/man8/livedfs.8",
        "man/man8/mkfs.livedfs.8",
        "man/man8/fsck.livedfs.8",
    ] {
        let o = Command::new("groff")
            .args(["-man", "-ww", "-z", "-Tutf8"])
            .arg(root().join(p))
            .output()
            .unwrap();
        assert!(o.status.success(), "{p}: groff failed");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.trim().is_empty(), "{p}: groff warnings:\n{e}");
        let o = Command::new("groff")
            .args(["-man", "-Tutf8"])
            .arg(root().join(p))
            .output()
            .unwrap();
        // Drop grotty's overstrikes (bold "N\x08N", underline "_\x08x").
        let raw: Vec<char> = String::from_utf8_lossy(&o.stdout).chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < raw.len() {
            if raw.get(i + 1) == Some(&'\u{8}') {
                i += 2;
                continue;
            }
            out.push(raw[i]);
            i += 1;
        }
        assert!(
            out.contains("NAME") && out.contains("SEE ALSO"),
            "{p} renders without sections"
        );
    }
}
