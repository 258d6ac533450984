//! Byte counts with binary suffixes: `4096`, `1M`, `4G`, `5T`, `4100M`,
//! `64KiB`, `1g`.

use anyhow::{bail, Context, Result};

pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    if num.is_empty() {
        bail!("bad size {s:?}: no number");
    }
    let n: u64 = num.parse().with_context(|| format!("bad size {s:?}"))?;
    let shift = match suffix.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        "P" | "PB" | "PIB" => 50,
        _ => bail!("bad size {s:?}: unknown suffix {suffix:?} (use K, M, G, T or P)"),
    };
    n.checked_mul(1u64 << shift)
        .with_context(|| format!("size {s:?} overflows 64 bits"))
}

/// The shortest exact spelling of a byte count (`4G`, `4100M`, `12345`).
pub fn format_size(n: u64) -> String {
    for (shift, suffix) in [(50, "P"), (40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if n != 0 && n % (1u64 << shift) == 0 {
            return format!("{}{suffix}", n >> shift);
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("1M").unwrap(), 1 << 20);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_size("4100M").unwrap(), 4100 << 20);
        assert_eq!(parse_size("5T").unwrap(), 5 << 40);
        assert_eq!(parse_size("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert!(parse_size("").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("1X").is_err());
        assert!(parse_size("100000000P").is_err());
        assert_eq!(format_size(4 << 30), "4G");
        assert_eq!(format_size(4100 << 20), "4100M");
        assert_eq!(format_size(12345), "12345");
        assert_eq!(format_size(0), "0");
    }
}
