//! The line protocol every test program speaks: one line per check,
//! `PASS: <name>`, `FAIL: <name>: <why>` or `SKIP: <name>: <why>` (a skip
//! is not a failure), and a closing summary line.

use std::io::Write;

#[derive(Debug, Default)]
pub struct Report {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
}

impl Report {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn pass(&mut self, name: &str) {
        self.pass += 1;
        emit(&format!("PASS: {name}"));
    }

    pub fn fail(&mut self, name: &str, why: &str) {
        self.fail += 1;
        emit(&format!("FAIL: {name}: {}", one_line(why)));
    }

    pub fn skip(&mut self, name: &str, why: &str) {
        self.skip += 1;
        emit(&format!("SKIP: {name}: {}", one_line(why)));
    }

    /// `PASS` if `r` is Ok, else `FAIL` with the error chain.
    pub fn check(&mut self, name: &str, r: anyhow::Result<()>) -> bool {
        match r {
            Ok(()) => {
                self.pass(name);
                true
            }
            Err(e) => {
                self.fail(name, &format!("{e:#}"));
                false
            }
        }
    }

    /// The closing line (deliberately not in any test runner's format: the
    /// VM runner counts the PASS/FAIL lines themselves).
    pub fn summary(&self, prog: &str) {
        emit(&format!(
            "{prog}: summary pass={} fail={} skip={}",
            self.pass, self.fail, self.skip
        ));
    }

    pub fn exit_code(&self) -> i32 {
        if self.fail == 0 {
            0
        } else {
            1
        }
    }
}

/// Print one line and flush it at once (lines from several processes share
/// the output; each goes out in one write).
pub fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("{line}\n").as_bytes());
    let _ = out.flush();
}

/// Multi-line text folded into one line, so one check stays one line.
pub fn one_line(s: &str) -> String {
    s.replace('\n', " | ")
}
