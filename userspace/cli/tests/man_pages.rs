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

// ---- The other direction: everything the pages and documents name exists.

/// The option names a `.TP` item of a page defines: the options on the
/// line after each `.TP` (".BR \-b ", " \-\-bytes"), with the section
/// (`.SH`) and the command (`.TP` item outside `.RS`, in COMMANDS) they
/// belong to. Returns (command or "", option) pairs.
fn page_defined_options(src: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = src.lines().collect();
    let mut out = Vec::new();
    let mut section = String::new();
    let mut depth = 0;
    let mut cmd = String::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(s) = l.strip_prefix(".SH ") {
            section = s.trim_matches('"').to_string();
            cmd.clear();
            depth = 0;
        } else if l.starts_with(".RS") {
            depth += 1;
        } else if l.starts_with(".RE") {
            depth -= 1;
        } else if *l == ".TP" {
            let Some(next) = lines.get(i + 1) else {
                continue;
            };
            let text = next
                .replace("\\-", "-")
                .replace("\\fB", " ")
                .replace("\\fR", " ")
                .replace("\\fI", " ")
                .replace("\\fP", " ")
                .replace('"', " ");
            let words: Vec<&str> = text
                .split([' ', ','])
                .filter(|w| !w.is_empty() && !w.starts_with('.'))
                .collect();
            if section == "COMMANDS" && depth == 0 {
                // ".BI du " path..."": the command is the words before
                // the first argument, as `livedfs CMD --help` takes them.
                cmd = bi_command(next).unwrap_or_default();
                continue;
            }
            for w in words {
                if w.starts_with('-')
                    && w.len() > 1
                    && !w[1..].starts_with(|c: char| c.is_ascii_digit())
                {
                    let name = w.split(['=', '[']).next().unwrap().to_string();
                    let owner = if section == "COMMANDS" {
                        cmd.clone()
                    } else {
                        String::new()
                    };
                    out.push((owner, name));
                }
            }
        }
    }
    out
}

/// The command a COMMANDS item names: `.BI du " path..."` is `du`,
/// `.BI "debug inode" " device ino"` is `debug inode`.
fn bi_command(line: &str) -> Option<String> {
    let rest = line.strip_prefix(".BI ")?.trim_start();
    let c = match rest.strip_prefix('"') {
        Some(q) => q.split('"').next()?,
        None => rest.split('"').next()?,
    };
    Some(c.trim().to_string())
}

/// Options of a help text, with `-h`/`--help` (clap lists them too).
fn help_set(help: &str) -> Vec<String> {
    let mut v = help_options(help);
    v.extend(["-h".to_string(), "--help".to_string()]);
    v
}

#[test]
fn every_option_the_pages_define_exists() {
    // livedfs(8): each command's options in its --help, the global ones in
    // the top-level --help.
    let bin = livedfs_bin();
    let src = std::fs::read_to_string(root().join("man/man8/livedfs.8")).unwrap();
    let top = help_set(&help_of(&bin, &[]));
    let defined = page_defined_options(&src);
    assert!(
        defined.iter().any(|(c, o)| c == "du" && o == "--no-device"),
        "{defined:?}"
    );
    assert!(
        defined.iter().any(|(c, o)| c == "tune" && o == "-U"),
        "{defined:?}"
    );
    for (cmd, opt) in &defined {
        let have = if cmd.is_empty() {
            top.clone()
        } else {
            let args: Vec<&str> = cmd.split_whitespace().collect();
            let mut h = help_set(&help_of(&bin, &args));
            h.extend(top.iter().cloned());
            h
        };
        assert!(
            have.contains(opt),
            "livedfs.8 documents {opt} for `livedfs {cmd}`, which does not take it"
        );
    }
    // mkfs.livedfs(8) and fsck.livedfs(8): every option they define.
    for (page, bin) in [
        ("man/man8/mkfs.livedfs.8", mkfs_bin()),
        ("man/man8/fsck.livedfs.8", fsck_bin()),
    ] {
        let src = std::fs::read_to_string(root().join(page)).unwrap();
        let o = Command::new(&bin).arg("--help").output().unwrap();
        let help =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        let mut have = help_set(&help);
        have.push("-V".into());
        let defined = page_defined_options(&src);
        assert!(defined.len() > 8, "{page}: {defined:?}");
        for (_, opt) in defined {
            assert!(
                have.contains(&opt),
                "{page} documents {opt}, which --help does not list"
            );
        }
    }
}

#[test]
fn every_command_the_pages_describe_exists() {
    let bin = livedfs_bin();
    let src = std::fs::read_to_string(root().join("man/man8/livedfs.8")).unwrap();
    // Every top-level item of COMMANDS (`.TP` then `.BI`, outside `.RS`).
    let body = src
        .split(".SH COMMANDS")
        .nth(1)
        .unwrap()
        .split(".SH ")
        .next()
        .unwrap();
    let lines: Vec<&str> = body.lines().collect();
    let mut depth = 0;
    let mut cmds = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with(".RS") {
            depth += 1;
        } else if l.starts_with(".RE") {
            depth -= 1;
        } else if *l == ".TP" && depth == 0 {
            if let Some(c) = lines.get(i + 1).and_then(|n| bi_command(n)) {
                cmds.push(c);
            }
        }
    }
    for c in [
        "stats",
        "info",
        "tune",
        "du",
        "clone",
        "dedupe",
        "debug inode",
    ] {
        assert!(cmds.iter().any(|x| x == c), "{c} not found in {cmds:?}");
    }
    for c in cmds {
        let args: Vec<&str> = c.split_whitespace().collect();
        let o = Command::new(&bin)
            .args(&args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "livedfs.8 describes `livedfs {c}`, which does not exist"
        );
    }
}

/// Words of a shell command line, without `sudo`, `$ ` and what follows a
/// pipe, redirection or `;`.
fn command_words(line: &str) -> Vec<String> {
    let line = line
        .trim()
        .trim_start_matches("$ ")
        .trim_start_matches("sudo ");
    let cut = line
        .find(['|', '>', ';', '#', '&', ')', '<'])
        .unwrap_or(line.len());
    line[..cut]
        .split_whitespace()
        .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_string())
        .collect()
}

#[test]
fn every_command_the_documents_show_exists() {
    // In the documentation's code (fenced blocks and `inline code`), every
    // `livedfs CMD ...`, `mkfs.livedfs ...` and `fsck.livedfs ...` names a
    // command and options the tools take.
    let bin = livedfs_bin();
    let mkfs_help = help_set(&help_of(&mkfs_bin(), &[]));
    let fsck_help = {
        let o = Command::new(fsck_bin()).arg("--help").output().unwrap();
        help_set(
            &(String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr)),
        )
    };
    let top_help = help_of(&bin, &[]);
    let top = help_set(&top_help);
    let mut subs = help_commands(&top_help);
    subs.push("debug".into());
    let mut helps: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("Documentation"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.push(root().join("README.md"));
    docs.sort();
    let mut seen = 0;
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        let name = doc.file_name().unwrap().to_string_lossy().into_owned();
        // Code lines: fenced blocks' lines and inline code spans.
        let mut code: Vec<String> = Vec::new();
        let mut fenced = false;
        for l in text.lines() {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            if fenced {
                code.push(l.to_string());
            } else {
                code.extend(l.split('`').skip(1).step_by(2).map(str::to_string));
            }
        }
        for c in code {
            let w = command_words(&c);
            let Some(tool) = w.first() else { continue };
            let (have, rest): (Vec<String>, &[String]) = match tool.as_str() {
                "mkfs.livedfs" => (mkfs_help.clone(), &w[1..]),
                "fsck.livedfs" => (fsck_help.clone(), &w[1..]),
                "livedfs" => {
                    // Global options, then the command (one or two words).
                    let mut i = 1;
                    while w.get(i).is_some_and(|x| x.starts_with('-')) {
                        assert!(
                            top.contains(&w[i]),
                            "{name}: `{c}`: livedfs takes no {}",
                            w[i]
                        );
                        i += 1;
                    }
                    let Some(sub) = w.get(i) else { continue };
                    if !subs.contains(sub) {
                        // Prose such as `livedfs` alone, or a placeholder.
                        assert!(
                            !sub.chars().all(|c| c.is_ascii_lowercase()) || sub == "volume",
                            "{name}: `{c}`: livedfs has no command {sub}"
                        );
                        continue;
                    }
                    let mut key = vec![sub.as_str()];
                    i += 1;
                    if sub == "debug" {
                        let Some(s2) = w.get(i) else { continue };
                        key.push(s2.as_str());
                        i += 1;
                    }
                    let k = key.join(" ");
                    let h = helps
                        .entry(k.clone())
                        .or_insert_with(|| {
                            let mut h = help_set(&help_of(&bin, &key));
                            h.extend(top.iter().cloned());
                            h
                        })
                        .clone();
                    (h, &w[i.min(w.len())..])
                }
                _ => continue,
            };
            seen += 1;
            for t in rest {
                if !t.starts_with('-')
                    || t.len() < 2
                    || t[1..].starts_with(|c: char| c.is_ascii_digit())
                {
                    continue;
                }
                let opt = t.split('=').next().unwrap().to_string();
                // e2fsck-style grouped flags (-fn, -fy).
                let ok = have.contains(&opt)
                    || (!opt.starts_with("--")
                        && opt[1..].chars().all(|ch| have.contains(&format!("-{ch}"))));
                assert!(ok, "{name}: `{c}`: {tool} takes no {opt}");
            }
        }
    }
    assert!(seen > 20, "only {seen} commands found in the documents");
}
