//! Directory blocks under random inserts and removes: the block stays
//! well formed, every live name is found at the offset it was given (the
//! stable readdir position), and the checksum tail is never touched.

mod common;

use common::*;
use livedfs_format::dirent;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    Insert { name: Vec<u8>, ino: u32, ft: u8 },
    Remove(usize),
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(b"abcdefghij".to_vec()), 1..12),
        1 => prop::collection::vec(1u8..=255, 1..=255)
            .prop_map(|v| v.into_iter().map(|b| if b == b'/' { b'_' } else { b }).collect()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (name(), 1u32.., 0u8..=dirent::FT_MAX).prop_map(|(name, ino, ft)| Op::Insert { name, ino, ft }),
        2 => any::<usize>().prop_map(Op::Remove),
    ]
}

/// Live entries of the block: offset -> (ino, name, file type).
type Model = BTreeMap<usize, (u32, Vec<u8>, u8)>;

fn live(b: &[u8]) -> Model {
    let mut m = Model::new();
    let mut end = 0;
    for e in dirent::entries(b) {
        let e = e.expect("block stays well formed");
        assert_eq!(e.offset, end, "entries tile the block");
        end += e.rec_len;
        if e.ino != 0 {
            m.insert(e.offset, (e.ino, e.name.to_vec(), e.file_type));
        }
    }
    assert_eq!(end, b.len() - dirent::TAIL_SIZE, "entries end at the tail");
    m
}

fn lookup(b: &[u8], name: &[u8]) -> Option<(usize, u32)> {
    dirent::entries(b)
        .map(|e| e.unwrap())
        .find(|e| e.ino != 0 && e.name == name)
        .map(|e| (e.offset, e.ino))
}

fn start_block(bs: usize, first: bool) -> (Vec<u8>, Model) {
    let mut b = vec![0u8; bs];
    if first {
        dirent::init_first_block(&mut b, 2, 2).unwrap();
    } else {
        dirent::init_block(&mut b).unwrap();
    }
    dirent::set_checksum(&mut b, 2, 9, 77, &Crc).unwrap();
    let m = live(&b);
    (b, m)
}

/// Applies the ops, checking the invariants after each.
fn run(bs: usize, first: bool, ops: &[Op]) -> (Vec<u8>, Model) {
    let (mut b, mut model) = start_block(bs, first);
    let tail: Vec<u8> = b[bs - dirent::TAIL_SIZE..].to_vec();
    for op in ops {
        match op {
            Op::Insert { name, ino, ft } => {
                if model.values().any(|(_, n, _)| n == name) {
                    continue; // names are unique in a directory
                }
                match dirent::find_room(&b, name.len()).unwrap() {
                    Some(at) => {
                        let off = dirent::insert_at(&mut b, at, *ino, name, *ft).unwrap();
                        assert!(!model.contains_key(&off), "offset {off} reused while live");
                        assert_eq!(off % 4, 0);
                        model.insert(off, (*ino, name.clone(), *ft));
                    }
                    None => {
                        // No entry has the room: check that.
                        let need = dirent::rec_len_for(name.len());
                        for e in dirent::entries(&b) {
                            let e = e.unwrap();
                            let used = if e.ino == 0 {
                                0
                            } else {
                                dirent::rec_len_for(e.name.len())
                            };
                            assert!(
                                e.rec_len < used + need,
                                "find_room missed room at {}",
                                e.offset
                            );
                        }
                    }
                }
            }
            Op::Remove(k) => {
                if model.is_empty() {
                    continue;
                }
                let off = *model.keys().nth(k % model.len()).unwrap();
                dirent::remove_at(&mut b, off).unwrap();
                model.remove(&off);
            }
        }
        assert_eq!(live(&b), model, "live entries differ from the model");
        assert_eq!(&b[bs - dirent::TAIL_SIZE..], &tail[..], "tail changed");
        for (off, (ino, name, _)) in &model {
            assert_eq!(lookup(&b, name), Some((*off, *ino)), "name not found");
        }
    }
    let mut c = b.clone();
    dirent::set_checksum(&mut c, 2, 9, 77, &Crc).unwrap();
    dirent::verify_block(&c, 2, 9, 77, &Crc).unwrap();
    (b, model)
}

fn block_size() -> impl Strategy<Value = usize> {
    prop::sample::select(BLOCK_SIZES.iter().map(|&b| b as usize).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn inserts_and_removes_keep_the_block_valid(
        bs in block_size(),
        first: bool,
        ops in prop::collection::vec(op(), 0..150),
    ) {
        run(bs, first, &ops);
    }

    /// Emptying a block gives back all of its space.
    #[test]
    fn removing_everything_frees_the_block(
        bs in block_size(),
        ops in prop::collection::vec(op(), 0..80),
    ) {
        let (mut b, model) = run(bs, false, &ops);
        for off in model.keys() {
            dirent::remove_at(&mut b, *off).unwrap();
        }
        prop_assert!(live(&b).is_empty());
        // Whatever was merged, a longest name fits again.
        prop_assert!(dirent::find_room(&b, dirent::NAME_MAX).unwrap().is_some());
    }

    /// insert_at and remove_at at any offset: refused with the block
    /// untouched, or done with every other entry where it was.
    #[test]
    fn edits_at_random_offsets(
        bs in block_size(),
        first: bool,
        ops in prop::collection::vec(op(), 0..60),
        at in prop_oneof![0usize..4096, any::<usize>()],
        name in name(),
        ino in 1u32..,
    ) {
        let (b, model) = run(bs, first, &ops);
        let at = if at < 8192 { at % bs } else { at };
        let tail = b[bs - dirent::TAIL_SIZE..].to_vec();

        let mut c = b.clone();
        match dirent::insert_at(&mut c, at, ino, &name, dirent::FT_REG) {
            Err(_) => prop_assert_eq!(&c, &b, "refused insert changed the block"),
            Ok(off) => {
                let mut want = model.clone();
                if let Some((_, n, _)) = want.get(&off) {
                    prop_assert!(false, "insert over live entry {:?} at {}", n, off);
                }
                want.insert(off, (ino, name.clone(), dirent::FT_REG));
                prop_assert_eq!(live(&c), want);
                prop_assert_eq!(&c[bs - dirent::TAIL_SIZE..], &tail[..]);
            }
        }

        let mut c = b.clone();
        match dirent::remove_at(&mut c, at) {
            Err(_) => prop_assert_eq!(&c, &b, "refused remove changed the block"),
            Ok(()) => {
                let mut want = model.clone();
                want.remove(&at);
                prop_assert_eq!(live(&c), want);
                prop_assert_eq!(&c[bs - dirent::TAIL_SIZE..], &tail[..]);
            }
        }
    }
}

/// Regression: insert_at at an offset that is not the start of an entry
/// used to write through whatever bytes were there and wreck the block.
#[test]
fn insert_at_a_non_entry_offset_is_refused() {
    let (mut b, _) = start_block(1024, true);
    let at = dirent::find_room(&b, 5).unwrap().unwrap();
    let off = dirent::insert_at(&mut b, at, 11, b"aaaaa", dirent::FT_REG).unwrap();
    let before = b.clone();
    for bad in [1, 4, 8, off + 4, off + 8, off + 12, 1008, 1012, 1020, 5000] {
        let r = dirent::insert_at(
            &mut b,
            bad,
            12,
            b"\x01\x01\x01\x01\x01\x01\x01",
            dirent::FT_REG,
        );
        assert!(r.is_err(), "offset {bad} accepted");
        assert_eq!(b, before, "offset {bad}: block changed");
    }
    for (ino, ft) in [(0, dirent::FT_REG), (12, dirent::FT_MAX + 1)] {
        assert!(dirent::insert_at(&mut b, off, ino, b"x", ft).is_err());
        assert_eq!(b, before);
    }
    assert_eq!(live(&b).len(), 3);
}

/// Regression: an entry whose name crosses the end of the buffer is
/// refused before its header is written.
#[test]
fn write_entry_is_all_or_nothing() {
    let mut b = vec![0u8; 64];
    for off in [40usize, 56, 60, 64, usize::MAX] {
        assert!(dirent::write_entry(&mut b, off, 7, 24, b"0123456789abcdefg", 1).is_err());
        assert!(b.iter().all(|&x| x == 0), "{off}: partial write");
    }
    assert!(dirent::write_entry(&mut b, 0, 7, 70_000, b"x", 1).is_err());
    assert!(dirent::write_entry(&mut b, 0, 7, 12, &[b'x'; 256], 1).is_err());
    assert!(b.iter().all(|&x| x == 0));
    dirent::write_entry(&mut b, 36, 7, 28, b"0123456789abcdefg", 1).unwrap();
}
