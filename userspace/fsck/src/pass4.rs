//! Pass 4: link counts. Every inode in use must be named by as many
//! directory entries as its `links` says (a directory: its entry in its
//! parent, its own '.', and each subdirectory's '..'). An inode named by
//! no entry is reconnected to /lost+found, or cleared if it holds nothing.

use livedfs_format::inode::Inode;
use livedfs_format::ROOT_INO;

use crate::ctx::{Fsck, R};
use crate::pass3;
use crate::problem::{PCtx, P};

/// Runs pass 4.
pub fn run(f: &mut Fsck) -> R<()> {
    let mut inos: Vec<u32> = f.inodes.keys().copied().collect();
    inos.sort_unstable();
    let total = inos.len() as u64;
    let mut lf: Option<u32> = None;
    for (k, ino) in inos.into_iter().enumerate() {
        f.check_cancel()?;
        if k % 4096 == 0 {
            f.progress.update(4, k as u64, total);
        }
        let Some(rec) = f.inodes.get(&ino).cloned() else {
            continue;
        };
        if rec.refs == 0 && ino != ROOT_INO {
            if rec.orphan && !f.rw() {
                continue; // unlinked while open: the kernel frees it
            }
            if !rec.nonempty && !rec.is_dir() {
                if f.fix(P::INODE_UNATTACHED_EMPTY, PCtx::new().ino(ino))? {
                    let raw = f.read_inode_raw(ino)?;
                    if let Ok(mut i) = Inode::decode_fields(&raw) {
                        i.links_count = 0;
                        i.dtime = f.now.max(1);
                        f.write_inode(ino, &i)?;
                    }
                    f.inodes.remove(&ino);
                }
                continue;
            }
            if !f.fix(P::INODE_UNATTACHED, PCtx::new().ino(ino))? {
                continue;
            }
            let l = match lf {
                Some(l) => l,
                None => {
                    let l = pass3::lost_found(f, true)?;
                    lf = Some(l);
                    l
                }
            };
            pass3::reconnect(f, l, ino)?;
        }
        let Some(rec) = f.inodes.get(&ino).cloned() else {
            continue;
        };
        if rec.refs != rec.links
            && rec.refs > 0
            && f.fix(
                P::LINK_COUNT,
                PCtx::new()
                    .ino(ino)
                    .n(u64::from(rec.links))
                    .m(u64::from(rec.refs)),
            )?
        {
            let raw = f.read_inode_raw(ino)?;
            if let Ok(mut i) = Inode::decode_fields(&raw) {
                i.links_count = rec.refs;
                f.write_inode(ino, &i)?;
            }
            if let Some(r) = f.inodes.get_mut(&ino) {
                r.links = rec.refs;
            }
        }
    }
    Ok(())
}
