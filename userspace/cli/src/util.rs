//! Small helpers shared by the subcommands: units, times, UUIDs, mounts.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Bytes in binary units ("1.5 MiB"); plain bytes below 1 KiB.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The canonical 8-4-4-4-12 form of a UUID.
pub fn uuid_str(u: &[u8; 16]) -> String {
    let h = hex(u);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A time stamp in UTC, "2024-05-01 12:00:00 UTC"; 0 is "n/a" (never).
pub fn time_str(secs: i64) -> String {
    if secs == 0 {
        return "n/a".to_string();
    }
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Major and minor numbers of a `dev_t`, as glibc splits them.
pub fn dev_major(dev: u64) -> u64 {
    ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)
}

/// See [`dev_major`].
pub fn dev_minor(dev: u64) -> u64 {
    ((dev >> 12) & 0xffff_ff00) | (dev & 0xff)
}

/// Where the block device `major:minor` is mounted, from
/// /proc/self/mountinfo (field 3 is the device number, field 5 the mount
/// point).
pub fn mount_point_of_dev(major: u64, minor: u64) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let want = format!("{major}:{minor}");
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        (f.get(2) == Some(&want.as_str())).then(|| f.get(4).unwrap_or(&"?").to_string())
    })
}

/// Where the volume at `path` (a block device, or an image file attached
/// to a loop device) is mounted, if anywhere.
pub fn mounted_at(path: &Path) -> Option<String> {
    let md = std::fs::metadata(path).ok()?;
    if md.file_type().is_block_device() {
        let r = md.rdev();
        return mount_point_of_dev(dev_major(r), dev_minor(r));
    }
    // An image file: look for a loop device backed by it.
    let canon = std::fs::canonicalize(path).ok()?;
    for e in std::fs::read_dir("/sys/block").ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        let Ok(back) = std::fs::read_to_string(e.path().join("loop/backing_file")) else {
            continue;
        };
        if canon != Path::new(back.trim()) {
            continue;
        }
        let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
        let (ma, mi) = dev.trim().split_once(':')?;
        if let Some(m) = mount_point_of_dev(ma.parse().ok()?, mi.parse().ok()?) {
            return Some(m);
        }
    }
    None
}

/// Warns on stderr when the volume is mounted: what is read may be
/// mid-update (the kernel keeps some state in memory and writes it back
/// later).
pub fn warn_if_mounted(path: &Path) {
    if let Some(m) = mounted_at(path) {
        eprintln!(
            "livedfs: warning: {} is mounted on {m}; what is read may be mid-update \
             (run `sync` first, or inspect it unmounted for an exact picture)",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_utc() {
        assert_eq!(time_str(0), "n/a");
        assert_eq!(time_str(1), "1970-01-01 00:00:01 UTC");
        assert_eq!(time_str(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(time_str(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(time_str(-86_400), "1969-12-31 00:00:00 UTC");
    }

    #[test]
    fn uuid_and_units() {
        let u = [
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ];
        assert_eq!(uuid_str(&u), "12345678-9abc-def0-0123-456789abcdef");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(16 << 20), "16.0 MiB");
    }

    #[test]
    fn device_numbers_split_like_glibc() {
        let dev = (253u64 << 8) | 5; // old encoding for 253:5
        assert_eq!(dev_major(dev), 253);
        assert_eq!(dev_minor(dev), 5);
        let big = libc::makedev(259, 300);
        assert_eq!(dev_major(big), 259);
        assert_eq!(dev_minor(big), 300);
    }
}
