//! fsck.livedfs (installed from the `fsck-livedfs` binary): e2fsck's
//! command line over the checker in the `fsck` library.
//!
//! Options are parsed by hand, e2fsck-style: single letters that combine
//! (`-fn`, `-fy`), `-C fd`, `-b block` and `-E extended` with the value
//! attached or separate. A usage error exits 16, as e2fsck.
//! fsck.livedfs(8) lists every option the help lists (a test checks it).

use std::process::ExitCode;
use std::sync::atomic::Ordering;

use fsck::ctx::{Mode, Options, CANCEL};
use fsck::exit;

const HELP: &str = "\
Usage: fsck.livedfs [-n | -p | -a | -y] [-f] [-c] [-v] [-t] [-C fd]
                    [-b superblock] [-E journal_only|scrub] device

Check and repair a livedfs file system (e2fsck's interface).

Options:
  -n             open the device read-only and answer \"no\" to every question
                 (no journal replay)
  -p, -a         preen: repair only what is safe without asking; anything
                 else stops with \"UNEXPECTED INCONSISTENCY\" (exit 4)
  -y             answer \"yes\" to every question
  -f             check even if the file system seems clean (metadata only:
                 data blocks are not read)
  -c             scrub: also read every data block in use and verify its
                 fingerprint (as -E scrub; implies -f)
  -v             verbose
  -t             print the time the journal replay and each pass took
  -C fd          progress to file descriptor fd (0: a progress bar)
  -b superblock  use the backup superblock at this block
  -E journal_only
                 replay the journal if it needs recovery, and do nothing else
  -E scrub       as -c: a full check that also reads every data block in use
                 and verifies its fingerprint
  -V             print the version and exit
  -h, --help     print this help and exit

Exit status (OR-ed): 0 no errors, 1 errors corrected, 2 corrected and
reboot advised, 4 errors left uncorrected, 8 operational error, 16 usage
error, 32 cancelled.
";

enum Parsed {
    Run(Options),
    Exit(i32),
}

fn usage(msg: &str) -> Parsed {
    eprintln!("fsck.livedfs: {msg}");
    eprint!("{HELP}");
    Parsed::Exit(exit::USAGE)
}

fn parse(args: Vec<String>) -> Parsed {
    let mut mode: Option<Mode> = None;
    let mut force = false;
    let mut verbose = false;
    let mut progress = None;
    let mut superblock = None;
    let mut journal_only = false;
    let mut timing = false;
    let mut scrub = false;
    let mut device = None;
    let mut it = args.into_iter().skip(1).peekable();
    while let Some(a) = it.next() {
        if a == "--help" || a == "-h" {
            print!("{HELP}");
            return Parsed::Exit(exit::OK);
        }
        if a == "--version" {
            println!("fsck.livedfs {}", env!("CARGO_PKG_VERSION"));
            return Parsed::Exit(exit::OK);
        }
        if !a.starts_with('-') || a == "-" {
            if device.is_some() {
                return usage(&format!("unexpected argument '{a}'"));
            }
            device = Some(a);
            continue;
        }
        let letters: Vec<char> = a[1..].chars().collect();
        let mut k = 0;
        while k < letters.len() {
            let c = letters[k];
            k += 1;
            let set_mode = |m: Mode, cur: &mut Option<Mode>| -> Result<(), String> {
                match cur {
                    Some(o) if *o != m => Err("only one of -n, -p/-a, -y may be given".into()),
                    _ => {
                        *cur = Some(m);
                        Ok(())
                    }
                }
            };
            let r = match c {
                'n' => set_mode(Mode::No, &mut mode),
                'y' => set_mode(Mode::Yes, &mut mode),
                'p' | 'a' => set_mode(Mode::Preen, &mut mode),
                'f' => {
                    force = true;
                    Ok(())
                }
                'c' => {
                    // e2fsck's "read the blocks" (badblocks there): here
                    // every data block in use is read and its fingerprint
                    // verified, a scrub. Given twice, as e2fsck -cc, the
                    // same (the read is never destructive here).
                    scrub = true;
                    Ok(())
                }
                'v' => {
                    verbose = true;
                    Ok(())
                }
                'V' => {
                    println!("fsck.livedfs {}", env!("CARGO_PKG_VERSION"));
                    return Parsed::Exit(exit::OK);
                }
                't' => {
                    // e2fsck's timing statistics: the time of each pass.
                    timing = true;
                    Ok(())
                }
                'C' | 'b' | 'E' => {
                    let rest: String = letters[k..].iter().collect();
                    k = letters.len();
                    let val = if rest.is_empty() {
                        match it.next() {
                            Some(v) => v,
                            None => return usage(&format!("-{c} needs a value")),
                        }
                    } else {
                        rest
                    };
                    if c == 'E' {
                        // e2fsck's extended options; journal_only, and
                        // scrub of our own (the others tune e2fsck).
                        val.split(',').try_for_each(|e| match e {
                            "journal_only" => {
                                journal_only = true;
                                Ok(())
                            }
                            "scrub" => {
                                scrub = true;
                                Ok(())
                            }
                            other => Err(format!("unknown extended option: {other}")),
                        })
                    } else if c == 'C' {
                        match val.parse::<i32>() {
                            Ok(fd) if fd >= 0 => {
                                progress = Some(fd);
                                Ok(())
                            }
                            _ => Err(format!("bad file descriptor for -C: {val}")),
                        }
                    } else {
                        match val.parse::<u64>() {
                            Ok(b) if b > 0 => {
                                superblock = Some(b);
                                Ok(())
                            }
                            _ => Err(format!("bad superblock number for -b: {val}")),
                        }
                    }
                }
                other => Err(format!("unknown option -{other}")),
            };
            if let Err(e) = r {
                return usage(&e);
            }
        }
    }
    let Some(device) = device else {
        return usage("no device given");
    };
    if journal_only && scrub {
        return usage("-E journal_only checks nothing: it does not go with -c or -E scrub");
    }
    let mut o = Options::new(device, mode.unwrap_or(Mode::Ask));
    o.force = force;
    o.verbose = verbose;
    o.progress_fd = progress;
    o.superblock = superblock;
    o.journal_only = journal_only;
    o.timing = timing;
    o.scrub = scrub;
    Parsed::Run(o)
}

extern "C" fn on_signal(_sig: libc::c_int) {
    CANCEL.store(true, Ordering::Relaxed);
}

fn main() -> ExitCode {
    let opts = match parse(std::env::args().collect()) {
        Parsed::Run(o) => o,
        Parsed::Exit(c) => return ExitCode::from(c as u8),
    };
    if opts.mode == Mode::Ask {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
            eprintln!("fsck.livedfs: need terminal for interactive repairs (use -n, -p or -y)");
            return ExitCode::from(exit::ERROR as u8);
        }
    }
    // SAFETY: the handler only stores to an atomic (async-signal-safe);
    // the function pointer has the C ABI signal(2) expects.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let code = fsck::check(&opts, Box::new(std::io::stdout()));
    ExitCode::from(code as u8)
}
