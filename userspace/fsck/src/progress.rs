//! Progress reports, as e2fsck's `-C fd`: with a descriptor other than 0,
//! one line `pass current max device` per step (what fsck(8) and boot
//! splash screens read); with 0, a progress bar on the terminal when
//! standard output is one.

use std::fs::File;
use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

/// Where progress goes.
#[derive(Default)]
pub struct Progress {
    fd: Option<File>,
    bar: Option<ProgressBar>,
    pass: u32,
    device: String,
    last: (u32, u64),
}

impl Progress {
    /// No progress.
    pub fn none() -> Self {
        Self::default()
    }

    /// Progress for `-C fd` on `device`.
    pub fn new(fd: Option<i32>, device: &str) -> Self {
        let mut p = Self {
            device: device.to_string(),
            ..Self::default()
        };
        match fd {
            Some(0) if std::io::stdout().is_terminal() => {
                let bar = ProgressBar::new(100);
                bar.set_style(
                    ProgressStyle::with_template("{prefix:>8} [{bar:40}] {percent:>3}%")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                p.bar = Some(bar);
            }
            None | Some(0) => {}
            Some(fd) => {
                // /proc/self/fd/N reopens an inherited descriptor without
                // unsafe code; a bad descriptor just means no progress.
                p.fd = std::fs::OpenOptions::new()
                    .write(true)
                    .open(format!("/proc/self/fd/{fd}"))
                    .ok();
            }
        }
        p
    }

    /// Progress of `pass`: `cur` of `max` steps done.
    pub fn update(&mut self, pass: u32, cur: u64, max: u64) {
        let pct = (cur * 100).checked_div(max).unwrap_or(100);
        if self.last == (pass, pct) && cur != max {
            return;
        }
        self.last = (pass, pct);
        if let Some(f) = self.fd.as_mut() {
            let _ = writeln!(f, "{pass} {cur} {max} {}", self.device);
        }
        if let Some(b) = &self.bar {
            if self.pass != pass {
                b.set_prefix(format!("Pass {pass}"));
                self.pass = pass;
            }
            b.set_position(pct);
        }
    }

    /// Removes the bar.
    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
