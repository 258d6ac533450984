//! Command line: mke2fs-style options, parsed and checked into [`Options`].
//!
//! Everything the user typed is validated here, before the device is
//! touched, so a bad option never leaves a half-written volume. Each
//! message names the option, what was wrong and what is accepted.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::{ArgAction, Parser};
use livedfs_format::superblock::LABEL_LEN;
use livedfs_format::FingerprintAlgo;
use uuid::Uuid;

/// The name the tool goes by in messages, whatever argv[0] says.
pub const PROG: &str = "mkfs.livedfs";

/// Smallest and largest `-i` accepted (as mke2fs).
pub const MIN_INODE_RATIO: u64 = 1024;
pub const MAX_INODE_RATIO: u64 = 64 * 1024 * 1024;
/// Default bytes per inode.
pub const DEFAULT_INODE_RATIO: u64 = 16384;
/// Default reserved-blocks percentage.
pub const DEFAULT_RESERVED_PCT: f64 = 5.0;

/// Usage types (`-T`), as /etc/mke2fs.conf defines them: each sets the
/// bytes per inode. `largefile` and `largefile4` suit an image store: a
/// few big files, so inode tables take 1/64 or 1/256 of what the default
/// gives them (0.02 % or 0.006 % of the disk instead of 1.6 %). Unlike
/// mke2fs, mkfs.livedfs never picks one by the volume's size: without
/// `-T` the ratio is `default`'s.
pub const USAGE_TYPES: [(&str, u64); 8] = [
    ("default", DEFAULT_INODE_RATIO),
    ("floppy", 8192),
    ("small", 4096),
    ("news", 4096),
    ("big", 32768),
    ("huge", 65536),
    ("largefile", 1 << 20),
    ("largefile4", 4 << 20),
];

#[derive(Parser, Debug)]
#[command(
    name = PROG,
    version,
    disable_version_flag = true,
    about = "Create a livedfs file system (inline block-level deduplication)",
    override_usage = "mkfs.livedfs [options] device [blocks-count]",
    after_help = "blocks-count is in file-system blocks, or a size with a suffix: \
                  s (512-byte sectors), k, m, g, t (KiB .. TiB).\n\
                  See Documentation/mkfs.md for every option and its default."
)]
struct Args {
    /// Block size in bytes: 1024, 2048 or 4096 (default 4096)
    #[arg(short = 'b', value_name = "block-size", value_parser = parse_block_size)]
    block_size: Option<u32>,

    /// Volume label, at most 32 bytes
    #[arg(short = 'L', value_name = "label", value_parser = parse_label)]
    label: Option<Label>,

    /// Volume UUID: a UUID, `random` (default), `time` or `clear`
    #[arg(short = 'U', value_name = "uuid", value_parser = parse_uuid_arg)]
    uuid: Option<UuidArg>,

    /// Number of inodes (overrides -i)
    #[arg(short = 'N', value_name = "number-of-inodes", value_parser = parse_inode_count)]
    inodes: Option<u64>,

    /// Bytes per inode (default 16384; overrides -T)
    #[arg(short = 'i', value_name = "bytes-per-inode", value_parser = parse_inode_ratio)]
    bytes_per_inode: Option<u64>,

    /// Usage type, as mke2fs.conf's: default, floppy, small, news, big, huge,
    /// largefile (1 MiB per inode), largefile4 (4 MiB per inode)
    #[arg(short = 'T', value_name = "usage-type", value_parser = parse_usage_type)]
    usage_type: Option<u64>,

    /// Errors behaviour: continue, remount-ro (default) or panic
    #[arg(short = 'e', value_name = "errors-behavior", value_parser = parse_errors)]
    errors: Option<u16>,

    /// Reserved-blocks percentage, 0 to 50 (default 5)
    #[arg(short = 'm', value_name = "percentage", allow_hyphen_values = true,
          value_parser = parse_reserved)]
    reserved: Option<f64>,

    /// Journal options: size=<MiB>
    #[arg(short = 'J', value_name = "journal-options")]
    journal: Vec<String>,

    /// Create a journal (the default; for mke2fs compatibility)
    #[arg(short = 'j')]
    add_journal: bool,

    /// Features: [^]has_journal, [^]sparse_super, [^]spatial_locality, [^]xattr, [^]huge_file, sha256, md5
    #[arg(short = 'O', value_name = "feature[,...]")]
    features: Vec<String>,

    /// Extended options: root_owner[=uid:gid], discard, nodiscard
    #[arg(short = 'E', value_name = "extended-option[,...]")]
    extended: Vec<String>,

    /// Show what would be done; write nothing
    #[arg(short = 'n')]
    dry_run: bool,

    /// Force: do not ask before overwriting a file system; format a device that looks in use
    #[arg(short = 'F', action = ArgAction::Count)]
    force: u8,

    /// Quiet: print nothing but errors
    #[arg(short = 'q')]
    quiet: bool,

    /// Print the version and exit
    #[arg(short = 'V', long = "version", action = ArgAction::Version)]
    version: Option<bool>,

    /// Device or image file
    #[arg(value_name = "device")]
    device: Option<PathBuf>,

    /// Size: blocks, or bytes with a suffix (s, k, m, g, t)
    #[arg(value_name = "blocks-count", allow_hyphen_values = true)]
    blocks_count: Option<String>,
}

/// How the number of inodes is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InodeSpec {
    /// At least this many inodes (-N).
    Count(u64),
    /// One inode per this many bytes (-i).
    Ratio(u64),
}

/// How the journal is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalSpec {
    /// No journal (`-O ^has_journal`).
    None,
    /// mke2fs's default size, capped to one group.
    Default,
    /// `-J size=<MiB>`.
    SizeMib(u64),
}

/// The size given after the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeSpec {
    /// File-system blocks.
    Blocks(u64),
    /// Bytes (given with a suffix).
    Bytes(u64),
}

impl SizeSpec {
    /// The size in blocks of `block_size` bytes.
    pub fn blocks(self, block_size: u32) -> u64 {
        match self {
            Self::Blocks(b) => b,
            Self::Bytes(n) => n / u64::from(block_size),
        }
    }
}

/// Everything the user asked for, checked.
#[derive(Debug, Clone)]
pub struct Options {
    pub device: PathBuf,
    pub size: Option<SizeSpec>,
    pub block_size: u32,
    pub label: [u8; LABEL_LEN],
    pub uuid: [u8; 16],
    pub inodes: InodeSpec,
    pub reserved_pct: f64,
    pub journal: JournalSpec,
    pub sparse_super: bool,
    pub fp_at_end: bool,
    /// Extended attributes and POSIX ACLs (`-O [^]xattr`, on by default).
    pub xattr: bool,
    /// Files up to 2^32 blocks through a quadruple-indirect block
    /// (`-O [^]huge_file`, on by default).
    pub huge_file: bool,
    pub fp_algo: FingerprintAlgo,
    pub root_uid: u32,
    pub root_gid: u32,
    pub discard: bool,
    /// The superblock's `errors` (`-e`).
    pub errors: u16,
    pub dry_run: bool,
    pub force: bool,
    pub quiet: bool,
}

impl Options {
    /// Defaults for `device`, as used by tests and by the parser.
    pub fn defaults(device: PathBuf) -> Self {
        Self {
            device,
            size: None,
            block_size: 4096,
            label: [0; LABEL_LEN],
            uuid: *Uuid::new_v4().as_bytes(),
            inodes: InodeSpec::Ratio(DEFAULT_INODE_RATIO),
            reserved_pct: DEFAULT_RESERVED_PCT,
            journal: JournalSpec::Default,
            sparse_super: true,
            fp_at_end: false,
            xattr: true,
            huge_file: true,
            fp_algo: FingerprintAlgo::Sha256,
            root_uid: 0,
            root_gid: 0,
            discard: false,
            errors: livedfs_format::superblock::ERRORS_RO,
            dry_run: false,
            force: false,
            quiet: false,
        }
    }
}

/// What `parse` found: options to run with, or text to print and an exit code.
pub enum Parsed {
    Run(Box<Options>),
    Exit {
        text: String,
        code: i32,
        to_stderr: bool,
    },
}

/// Parses the command line.
pub fn parse<I, T>(args: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Parsed::Exit {
                    text: e.render().to_string(),
                    code: 0,
                    to_stderr: false,
                },
                _ => {
                    let msg = e.render().to_string();
                    let msg = msg.strip_prefix("error: ").unwrap_or(&msg).trim_end();
                    Parsed::Exit {
                        text: format!("{PROG}: {msg}\n"),
                        code: 1,
                        to_stderr: true,
                    }
                }
            };
        }
    };
    match finish(args) {
        Ok(o) => Parsed::Run(Box::new(o)),
        Err(e) => Parsed::Exit {
            text: format!("{PROG}: {e:#}\nTry '{PROG} --help' for more information.\n"),
            code: 1,
            to_stderr: true,
        },
    }
}

fn finish(a: Args) -> Result<Options> {
    let device = a.device.ok_or_else(|| {
        anyhow!("no device given: usage is '{PROG} [options] device [blocks-count]'")
    })?;
    let mut o = Options::defaults(device);
    if let Some(b) = a.block_size {
        o.block_size = b;
    }
    if let Some(s) = &a.blocks_count {
        o.size = Some(parse_size(s)?);
    }
    if let Some(l) = a.label {
        o.label = l.0;
    }
    if let Some(u) = a.uuid {
        o.uuid = u.0;
    }
    o.inodes = match (a.inodes, a.bytes_per_inode, a.usage_type) {
        (Some(n), _, _) => InodeSpec::Count(n),
        (None, Some(r), _) => InodeSpec::Ratio(r),
        (None, None, Some(r)) => InodeSpec::Ratio(r),
        (None, None, None) => InodeSpec::Ratio(DEFAULT_INODE_RATIO),
    };
    if let Some(e) = a.errors {
        o.errors = e;
    }
    if let Some(m) = a.reserved {
        o.reserved_pct = m;
    }
    // Features.
    let mut has_journal: Option<bool> = None;
    for list in &a.features {
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (on, name) = match item.strip_prefix('^') {
                Some(n) => (false, n),
                None => (true, item),
            };
            match name {
                "has_journal" => has_journal = Some(on),
                "sparse_super" => o.sparse_super = on,
                "spatial_locality" => o.fp_at_end = !on,
                "xattr" => o.xattr = on,
                "huge_file" => o.huge_file = on,
                "sha256" | "md5" => {
                    if !on {
                        bail!(
                            "-O {item}: a fingerprint algorithm cannot be turned off; \
                             choose one with -O sha256 (default) or -O md5"
                        );
                    }
                    o.fp_algo = FingerprintAlgo::from_name(name)
                        .ok_or_else(|| anyhow!("-O {item}: unknown fingerprint algorithm"))?;
                }
                _ => bail!(
                    "-O {item}: unknown feature '{name}'; livedfs knows has_journal, \
                     sparse_super, spatial_locality, xattr, huge_file (prefix ^ to turn one off) and \
                     the fingerprint algorithms sha256, md5"
                ),
            }
        }
    }
    // Journal.
    let mut journal_mib: Option<u64> = None;
    for list in &a.journal {
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item.split_once('=') {
                Some(("size", v)) => {
                    let n: u64 = v.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        anyhow!("-J {item}: the journal size is a whole number of MiB, e.g. -J size=128")
                    })?;
                    journal_mib = Some(n);
                }
                _ => bail!(
                    "-J {item}: unknown journal option; livedfs supports only size=<MiB> \
                     (the journal always lives inside the volume)"
                ),
            }
        }
    }
    if a.add_journal && has_journal == Some(false) {
        bail!("-j asks for a journal but -O ^has_journal turns it off: drop one of them");
    }
    o.journal = match (has_journal, journal_mib) {
        (Some(false), Some(_)) => {
            bail!("-J size= asks for a journal but -O ^has_journal turns it off: drop one of them")
        }
        (Some(false), None) => JournalSpec::None,
        (_, Some(m)) => JournalSpec::SizeMib(m),
        (_, None) => JournalSpec::Default,
    };
    // Extended options.
    for list in &a.extended {
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, val) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (item, None),
            };
            match (key, val) {
                ("discard", None) => o.discard = true,
                ("nodiscard", None) => o.discard = false,
                ("root_owner", None) => {
                    o.root_uid = nix::unistd::getuid().as_raw();
                    o.root_gid = nix::unistd::getgid().as_raw();
                }
                ("root_owner", Some(v)) => {
                    let (u, g) = v
                        .split_once(':')
                        .and_then(|(u, g)| Some((u.parse::<u32>().ok()?, g.parse::<u32>().ok()?)))
                        .ok_or_else(|| {
                            anyhow!(
                                "-E {item}: root_owner takes numeric uid:gid, e.g. -E root_owner=1000:1000"
                            )
                        })?;
                    o.root_uid = u;
                    o.root_gid = g;
                }
                _ => bail!(
                    "-E {item}: unknown extended option; livedfs knows root_owner[=uid:gid], \
                     discard and nodiscard"
                ),
            }
        }
    }
    o.dry_run = a.dry_run;
    o.force = a.force > 0;
    o.quiet = a.quiet;
    Ok(o)
}

/// Parses a number with an optional binary suffix (k, m, g, t; s for
/// 512-byte sectors). Returns (value, had_suffix).
fn parse_suffixed(s: &str) -> Option<(u64, bool)> {
    let s = s.trim();
    let (digits, mult) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        None => (s, None),
        Some((i, _)) => {
            let suffix = s.get(i..)?.to_ascii_lowercase();
            let m: u64 = match suffix.as_str() {
                "s" => 512,
                "k" | "kib" => 1 << 10,
                "m" | "mib" => 1 << 20,
                "g" | "gib" => 1 << 30,
                "t" | "tib" => 1 << 40,
                _ => return None,
            };
            (s.get(..i)?, Some(m))
        }
    };
    if digits.is_empty() {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    match mult {
        None => Some((n, false)),
        Some(m) => Some((n.checked_mul(m)?, true)),
    }
}

/// Parses the blocks-count argument.
pub fn parse_size(s: &str) -> Result<SizeSpec> {
    match parse_suffixed(s) {
        Some((0, _)) | None => bail!(
            "invalid blocks-count '{s}': give a number of blocks, or a size with a suffix \
             such as 512m, 20g or 1t"
        ),
        Some((n, false)) => Ok(SizeSpec::Blocks(n)),
        Some((n, true)) => Ok(SizeSpec::Bytes(n)),
    }
}

fn parse_block_size(s: &str) -> std::result::Result<u32, String> {
    match parse_suffixed(s) {
        Some((n @ (1024 | 2048 | 4096), _)) => Ok(n as u32),
        _ => Err("the block size must be 1024, 2048 or 4096".into()),
    }
}

#[derive(Debug, Clone)]
struct Label([u8; LABEL_LEN]);

fn parse_label(s: &str) -> std::result::Result<Label, String> {
    let b = s.as_bytes();
    if b.len() > LABEL_LEN {
        return Err(format!(
            "the label is {} bytes long; at most {LABEL_LEN} bytes fit",
            b.len()
        ));
    }
    let mut l = [0u8; LABEL_LEN];
    l[..b.len()].copy_from_slice(b);
    Ok(Label(l))
}

#[derive(Debug, Clone)]
struct UuidArg([u8; 16]);

fn parse_uuid_arg(s: &str) -> std::result::Result<UuidArg, String> {
    let u = match s {
        "random" => Uuid::new_v4(),
        "time" => {
            let node: [u8; 6] = Uuid::new_v4().as_bytes()[..6]
                .try_into()
                .map_err(|_| "internal error".to_string())?;
            Uuid::now_v1(&node)
        }
        "clear" | "null" => Uuid::nil(),
        _ => Uuid::parse_str(s).map_err(|_| {
            "give a UUID such as 1b4e28ba-2fa1-11d2-883f-0016d3cca427, or random, time or clear"
                .to_string()
        })?,
    };
    Ok(UuidArg(*u.as_bytes()))
}

fn parse_usage_type(s: &str) -> std::result::Result<u64, String> {
    USAGE_TYPES
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, r)| *r)
        .ok_or_else(|| {
            let names: Vec<&str> = USAGE_TYPES.iter().map(|(n, _)| *n).collect();
            format!("unknown usage type; livedfs knows {}", names.join(", "))
        })
}

fn parse_errors(s: &str) -> std::result::Result<u16, String> {
    use livedfs_format::superblock::{ERRORS_CONTINUE, ERRORS_PANIC, ERRORS_RO};
    match s {
        "continue" => Ok(ERRORS_CONTINUE),
        "remount-ro" => Ok(ERRORS_RO),
        "panic" => Ok(ERRORS_PANIC),
        _ => Err("the errors behaviour is continue, remount-ro or panic".into()),
    }
}

fn parse_inode_count(s: &str) -> std::result::Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n >= 1 && n <= u64::from(u32::MAX) => Ok(n),
        _ => Err(format!(
            "the number of inodes must be a whole number from 1 to {}",
            u32::MAX
        )),
    }
}

fn parse_inode_ratio(s: &str) -> std::result::Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if (MIN_INODE_RATIO..=MAX_INODE_RATIO).contains(&n) => Ok(n),
        _ => Err(format!(
            "bytes per inode must be a whole number from {MIN_INODE_RATIO} to {MAX_INODE_RATIO}"
        )),
    }
}

fn parse_reserved(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(m) if m.is_finite() && (0.0..=50.0).contains(&m) => Ok(m),
        _ => Err("the reserved-blocks percentage must be a number from 0 to 50".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> std::result::Result<Options, String> {
        let mut v = vec![PROG];
        v.extend_from_slice(args);
        match parse(v) {
            Parsed::Run(o) => Ok(*o),
            Parsed::Exit { text, .. } => Err(text),
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100").ok(), Some(SizeSpec::Blocks(100)));
        assert_eq!(parse_size("1k").ok(), Some(SizeSpec::Bytes(1024)));
        assert_eq!(parse_size("2G").ok(), Some(SizeSpec::Bytes(2 << 30)));
        assert_eq!(parse_size("1t").ok(), Some(SizeSpec::Bytes(1 << 40)));
        assert_eq!(parse_size("8s").ok(), Some(SizeSpec::Bytes(4096)));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1x").is_err());
        assert!(parse_size("k").is_err());
        assert!(parse_size("-5").is_err());
        assert!(parse_size("99999999999999999999t").is_err());
        assert_eq!(SizeSpec::Bytes(10 << 20).blocks(4096), 2560);
    }

    #[test]
    fn defaults() {
        let o = run(&["img"]).unwrap();
        assert_eq!(o.block_size, 4096);
        assert_eq!(o.journal, JournalSpec::Default);
        assert!(o.sparse_super && !o.fp_at_end && !o.discard && o.xattr && o.huge_file);
        assert_eq!(o.fp_algo, FingerprintAlgo::Sha256);
        assert_eq!(o.inodes, InodeSpec::Ratio(16384));
        assert!(!run(&["-O", "^xattr", "img"]).unwrap().xattr);
        assert!(run(&["-O", "^xattr,xattr", "img"]).unwrap().xattr);
        assert!(!run(&["-O", "^huge_file", "img"]).unwrap().huge_file);
    }

    #[test]
    fn features_and_extended() {
        let o = run(&[
            "-O",
            "^has_journal,^spatial_locality,md5",
            "-O",
            "^sparse_super",
            "-E",
            "discard,root_owner=5:6",
            "img",
        ])
        .unwrap();
        assert_eq!(o.journal, JournalSpec::None);
        assert!(o.fp_at_end && !o.sparse_super && o.discard);
        assert_eq!(o.fp_algo, FingerprintAlgo::Md5);
        assert_eq!((o.root_uid, o.root_gid), (5, 6));
        let o = run(&["-J", "size=64", "img", "1g"]).unwrap();
        assert_eq!(o.journal, JournalSpec::SizeMib(64));
        assert_eq!(o.size, Some(SizeSpec::Bytes(1 << 30)));
    }

    #[test]
    fn errors() {
        for bad in [
            &["-b", "1000", "img"][..],
            &["-L", "123456789012345678901234567890123", "img"],
            &["-U", "nope", "img"],
            &["-N", "0", "img"],
            &["-N", "x", "img"],
            &["-i", "100", "img"],
            &["-m", "51", "img"],
            &["-m", "-1", "img"],
            &["-O", "bogus", "img"],
            &["-O", "^md5", "img"],
            &["-E", "bogus", "img"],
            &["-E", "root_owner=a:b", "img"],
            &["-J", "size=0", "img"],
            &["-T", "bigfile", "img"],
            &["-e", "ro", "img"],
            &["-J", "device=/dev/x", "img"],
            &["-O", "^has_journal", "-J", "size=8", "img"],
            &[],
            &["img", "12q"],
        ] {
            let e = run(bad).expect_err(&format!("{bad:?} should fail"));
            assert!(e.starts_with("mkfs.livedfs: "), "{bad:?}: {e}");
        }
        let o = run(&["-T", "largefile", "img"]).unwrap();
        assert_eq!(o.inodes, InodeSpec::Ratio(1 << 20));
        let o = run(&["-T", "largefile4", "-i", "65536", "img"]).unwrap();
        assert_eq!(o.inodes, InodeSpec::Ratio(65536), "-i overrides -T");
        let o = run(&["-T", "largefile", "-N", "100", "img"]).unwrap();
        assert_eq!(o.inodes, InodeSpec::Count(100), "-N overrides -T");
        assert_eq!(
            run(&["-e", "continue", "img"]).unwrap().errors,
            livedfs_format::superblock::ERRORS_CONTINUE
        );
        assert_eq!(
            run(&["img"]).unwrap().errors,
            livedfs_format::superblock::ERRORS_RO
        );
        let o = run(&["-L", "12345678901234567890123456789012", "img"]).unwrap();
        assert_eq!(&o.label, b"12345678901234567890123456789012");
    }
}
