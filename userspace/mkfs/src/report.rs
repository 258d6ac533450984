//! What mkfs tells the user: the layout summary, as mke2fs prints it.

use std::fmt::Write as _;

use livedfs_format::filter::FilterParams;

use crate::cli::Options;
use crate::layout::Plan;

fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else if v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The superblock backup locations, as mke2fs lists them.
pub fn backup_list(plan: &Plan) -> Vec<u32> {
    let geo = &plan.geo;
    (1..geo.group_count)
        .filter(|&g| geo.group_has_super(g))
        .filter_map(|g| geo.group(g).ok().and_then(|l| l.super_block))
        .collect()
}

/// The summary printed before writing (and by -n).
pub fn summary(o: &Options, plan: &Plan) -> String {
    let geo = &plan.geo;
    let bs = u64::from(geo.block_size);
    let mut s = String::new();
    let uuid = uuid::Uuid::from_bytes(o.uuid);
    let _ = writeln!(
        s,
        "Creating a livedfs file system with {} {}k blocks and {} inodes ({})",
        geo.blocks_count,
        bs / 1024,
        geo.inodes_count,
        human(u64::from(geo.blocks_count) * bs)
    );
    if u64::from(geo.blocks_count) < plan.device_blocks {
        let _ = writeln!(
            s,
            "  ({} blocks at the end of the device are left unused)",
            plan.device_blocks.min(u64::from(u32::MAX)) - u64::from(geo.blocks_count)
        );
    }
    let _ = writeln!(s, "Volume UUID: {uuid}");
    let label = livedfs_format::superblock::cstr_field(&o.label);
    if !label.is_empty() {
        let _ = writeln!(s, "Volume label: {label}");
    }
    let _ = writeln!(
        s,
        "{} block group{} of {} blocks and {} inodes; {} descriptor-table block{}",
        geo.group_count,
        if geo.group_count == 1 { "" } else { "s" },
        geo.blocks_per_group,
        geo.inodes_per_group,
        geo.gdt_blocks,
        if geo.gdt_blocks == 1 { "" } else { "s" }
    );
    match o.errors {
        livedfs_format::superblock::ERRORS_CONTINUE => {
            let _ = writeln!(s, "Errors behavior: continue");
        }
        livedfs_format::superblock::ERRORS_PANIC => {
            let _ = writeln!(s, "Errors behavior: panic");
        }
        _ => {}
    }
    let _ = writeln!(
        s,
        "Reserved blocks: {} ({:.2}%), for uid 0",
        plan.r_blocks, o.reserved_pct
    );
    let _ = writeln!(
        s,
        "Fingerprints: {} ({} bytes + 4-byte refcount, {} entries per block)",
        geo.fp_algo.name(),
        geo.fp_algo.size(),
        geo.fp_entries_per_block
    );
    if geo.fp_at_end {
        let _ = writeln!(
            s,
            "Fingerprint stores: at the end of the device (no spatial locality), {} blocks per \
             group from block {}",
            geo.fp_blocks_per_group, geo.groups_end
        );
    } else {
        let _ = writeln!(
            s,
            "Fingerprint stores: in each group (spatial locality), {} blocks per group",
            geo.fp_blocks_per_group
        );
    }
    let fp = FilterParams::for_blocks(u64::from(geo.blocks_count));
    let _ = writeln!(
        s,
        "Fingerprint filter: {}-bit index key, {}-bit bucket key (about 2^{} false candidates \
         per lookup when full)",
        fp.index_bits,
        fp.bucket_bits,
        fp.false_candidate_log2(u64::from(geo.blocks_count))
    );
    match plan.journal {
        Some(j) => {
            let _ = writeln!(
                s,
                "Journal: {} blocks ({}) at blocks {}-{}, in group {}",
                j.blocks,
                human(u64::from(j.blocks) * bs),
                j.start,
                j.start + j.blocks - 1,
                j.group
            );
        }
        None => {
            let _ = writeln!(s, "Journal: none");
        }
    }
    for n in &plan.notes {
        let _ = writeln!(s, "Note: {n}");
    }
    let backups = backup_list(plan);
    if !backups.is_empty() {
        let _ = write!(s, "Superblock backups stored on blocks:");
        let mut line = String::new();
        for (i, b) in backups.iter().enumerate() {
            let item = if i + 1 < backups.len() {
                format!("{b}, ")
            } else {
                b.to_string()
            };
            if line.len() + item.len() > 72 {
                let _ = write!(s, "\n\t{}", line.trim_end());
                line.clear();
            }
            line.push_str(&item);
        }
        let _ = writeln!(s, "\n\t{}", line.trim_end());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn sizes() {
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(1 << 40), "1 TiB");
        assert_eq!(human(124 << 20), "124 MiB");
        assert_eq!(human(1536), "1.5 KiB");
    }
}
