//! Attribute blocks: encoding against a model, validation of every field,
//! sharing's canonical bytes, the POSIX ACL value check, and no panic on
//! any input.

mod common;

use std::collections::BTreeMap;

use common::*;
use livedfs_format::xattr::{self, SetError, SetMode};
use livedfs_format::Crc32c;
use proptest::prelude::*;

const SEED: u32 = 0x1234_5678;

fn empty(bs: usize) -> Vec<u8> {
    let mut b = vec![0xeeu8; bs];
    xattr::init_block(&mut b).unwrap();
    b
}

/// The attributes of a block, as the iterator reads them.
fn contents(b: &[u8]) -> BTreeMap<(u8, Vec<u8>), Vec<u8>> {
    xattr::entries(b)
        .map(|e| {
            let e = e.unwrap();
            ((e.index, e.name.to_vec()), e.value.to_vec())
        })
        .collect()
}

/// Bytes the model's attributes take (entries only).
fn model_size(m: &BTreeMap<(u8, Vec<u8>), Vec<u8>>) -> usize {
    m.iter()
        .map(|((_, n), v)| xattr::entry_size(n.len(), v.len()).unwrap())
        .sum()
}

/// A minimal valid access ACL: user::rw-, group::r--, other::r--.
fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for &(tag, perm, id) in entries {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

fn minimal_acl() -> Vec<u8> {
    use xattr::acl::*;
    acl(&[
        (USER_OBJ, 6, UNDEFINED_ID),
        (GROUP_OBJ, 4, UNDEFINED_ID),
        (OTHER, 4, UNDEFINED_ID),
    ])
}

#[derive(Debug, Clone)]
enum Op {
    Set(u8, Vec<u8>, Vec<u8>, SetMode),
    Remove(u8, Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let index = prop::sample::select(vec![
        xattr::INDEX_USER,
        xattr::INDEX_TRUSTED,
        xattr::INDEX_SECURITY,
        xattr::INDEX_POSIX_ACL_ACCESS,
    ]);
    // Few distinct names, so sets hit existing attributes often.
    let name = prop::sample::select(vec![
        b"a".to_vec(),
        b"b".to_vec(),
        b"long.name.with.dots".to_vec(),
        vec![b'x'; 255],
    ]);
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        prop::collection::vec(any::<u8>(), 300..1500),
    ];
    let mode = prop::sample::select(vec![SetMode::Any, SetMode::Create, SetMode::Replace]);
    prop_oneof![
        3 => (index.clone(), name.clone(), value, mode).prop_map(|(i, n, v, m)| {
            if xattr::is_acl(i) {
                Op::Set(i, vec![], minimal_acl(), m)
            } else {
                Op::Set(i, n, v, m)
            }
        }),
        1 => (index, name).prop_map(|(i, n)| {
            if xattr::is_acl(i) { Op::Remove(i, vec![]) } else { Op::Remove(i, n) }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    /// Any sequence of changes leaves exactly the model's attributes, in
    /// order, and every refusal is the model's; a sealed non-empty block
    /// verifies, with the hash the model's attributes give.
    #[test]
    fn changes_match_a_model(
        bs in prop::sample::select(vec![1024usize, 2048, 4096]),
        ops in prop::collection::vec(op(), 1..40),
        blocknr in 1u32..1_000_000,
    ) {
        let mut b = empty(bs);
        let mut m: BTreeMap<(u8, Vec<u8>), Vec<u8>> = BTreeMap::new();
        for o in ops {
            let before = b.clone();
            let (key, value, mode) = match &o {
                Op::Set(i, n, v, md) => ((*i, n.clone()), Some(v.clone()), *md),
                Op::Remove(i, n) => ((*i, n.clone()), None, SetMode::Replace),
            };
            let exists = m.contains_key(&key);
            let want: Result<(), SetError> = match (&value, exists, mode) {
                (Some(_), true, SetMode::Create) => Err(SetError::Exists),
                (Some(_), false, SetMode::Replace) | (None, false, _) => Err(SetError::NoData),
                (Some(v), _, _) => {
                    let mut after = m.clone();
                    after.insert(key.clone(), v.clone());
                    if model_size(&after) > xattr::capacity(bs) {
                        Err(SetError::NoSpace)
                    } else {
                        Ok(())
                    }
                }
                (None, true, _) => Ok(()),
            };
            let got = xattr::set(&mut b, key.0, &key.1, value.as_deref(), mode);
            prop_assert_eq!(got, want, "{:?}", o);
            if got.is_ok() {
                match value {
                    Some(v) => { m.insert(key, v); }
                    None => { m.remove(&key); }
                }
            } else {
                prop_assert_eq!(&b, &before, "a refused change altered the block");
            }
            prop_assert_eq!(contents(&b), m.clone());
            let l = xattr::layout(&b).unwrap();
            prop_assert_eq!(l.count, m.len());
            prop_assert_eq!(l.end_marker, xattr::HEADER_SIZE + model_size(&m));
            // Everything past the end marker is zero.
            prop_assert!(b[l.used()..bs - 4].iter().all(|&x| x == 0));
            for ((i, n), v) in &m {
                prop_assert_eq!(xattr::find(&b, *i, n).unwrap(), Some(&v[..]));
            }
        }
        let mut sealed = b.clone();
        let hash = xattr::seal(&mut sealed, 3, blocknr, SEED, &Crc).unwrap();
        let r = xattr::verify_block(&sealed, blocknr, SEED, &Crc);
        if m.is_empty() {
            prop_assert!(r.is_err(), "an empty block verified");
        } else {
            let v = r.unwrap();
            prop_assert_eq!((v.refcount, v.hash, v.layout.count), (3, hash, m.len()));
            // Another block number or seed: the checksum fails.
            prop_assert!(xattr::verify_block(&sealed, blocknr + 1, SEED, &Crc).is_err());
            prop_assert!(xattr::verify_block(&sealed, blocknr, SEED ^ 1, &Crc).is_err());
            // Building the same set in another order gives the same bytes.
            let mut other = empty(bs);
            for ((i, n), v) in m.iter().rev() {
                xattr::set(&mut other, *i, n, Some(v), SetMode::Create).unwrap();
            }
            prop_assert!(xattr::same_attributes(&other, &sealed));
            let h2 = xattr::seal(&mut other, 1, blocknr + 7, SEED, &Crc).unwrap();
            prop_assert_eq!(h2, hash, "the hash depends on the attributes alone");
        }
    }

    /// Any changed byte of a sealed block is detected.
    #[test]
    fn any_changed_byte_is_detected(
        at in 0usize..4096,
        mask in 1u8..=255,
        n in 1usize..20,
    ) {
        let mut b = empty(4096);
        for k in 0..n {
            let name = format!("attr{k}");
            xattr::set(&mut b, xattr::INDEX_USER, name.as_bytes(), Some(&vec![k as u8; k * 7]), SetMode::Any).unwrap();
        }
        xattr::seal(&mut b, 1, 99, SEED, &Crc).unwrap();
        prop_assert!(xattr::verify_block(&b, 99, SEED, &Crc).is_ok());
        b[at] ^= mask;
        prop_assert!(xattr::verify_block(&b, 99, SEED, &Crc).is_err());
    }

    /// Random bytes, and damaged blocks with a right checksum: errors,
    /// never a panic, in every function that reads a block.
    #[test]
    fn no_panic_on_any_block(
        raw in prop::collection::vec(any::<u8>(), 0..4200),
        damage in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        name in prop::collection::vec(any::<u8>(), 0..300),
        value in prop::collection::vec(any::<u8>(), 0..5000),
        index: u8,
    ) {
        let mut b = if raw.len() >= 1024 { raw.clone() } else {
            let mut b = empty(1024);
            let _ = xattr::set(&mut b, xattr::INDEX_USER, b"k", Some(&raw), SetMode::Any);
            b
        };
        let len = b.len();
        for (at, v) in damage {
            b[at % len] = v;
        }
        let _ = xattr::seal(&mut b, 1, 5, SEED, &Crc);
        let _ = xattr::verify_block(&b, 5, SEED, &Crc);
        let _ = xattr::verify_fields(&b, SEED, &Crc);
        let _ = xattr::layout(&b);
        let _ = xattr::find(&b, index, &name);
        for e in xattr::entries(&b) {
            let _ = e.map(|e| e.size());
        }
        let before = b.clone();
        let r = xattr::set(&mut b, index, &name, Some(&value), SetMode::Any);
        if r.is_err() {
            prop_assert_eq!(&b, &before);
        }
        let _ = xattr::set(&mut b, index, &name, None, SetMode::Replace);
        let _ = xattr::set_refcount(&mut b, 2, 5, SEED, &Crc);
        let _ = xattr::split_name(&name);
        let _ = xattr::acl_valid(&value);
        let _ = xattr::same_attributes(&b, &raw);
    }
}

#[test]
fn largest_value_fits_and_one_more_byte_does_not() {
    for bs in [1024usize, 2048, 4096] {
        let cap = xattr::capacity(bs);
        assert_eq!(cap, bs - 40);
        // "user.big": a 3-byte name, 4 bytes of entry header.
        let max = cap - 4 - 3;
        let mut b = empty(bs);
        xattr::set(
            &mut b,
            xattr::INDEX_USER,
            b"big",
            Some(&vec![7u8; max]),
            SetMode::Any,
        )
        .unwrap();
        xattr::seal(&mut b, 1, 10, SEED, &Crc).unwrap();
        xattr::verify_block(&b, 10, SEED, &Crc).unwrap();
        let mut b = empty(bs);
        assert_eq!(
            xattr::set(
                &mut b,
                xattr::INDEX_USER,
                b"big",
                Some(&vec![7u8; max + 1]),
                SetMode::Any
            ),
            Err(SetError::NoSpace)
        );
        // A value too long for the 16-bit length.
        assert_eq!(
            xattr::set(
                &mut b,
                xattr::INDEX_USER,
                b"x",
                Some(&vec![0u8; 65536]),
                SetMode::Any
            ),
            Err(SetError::NoSpace)
        );
    }
}

#[test]
fn names_and_indexes() {
    assert_eq!(
        xattr::split_name(b"user.foo"),
        Some((xattr::INDEX_USER, &b"foo"[..]))
    );
    assert_eq!(
        xattr::split_name(b"trusted.x.y"),
        Some((xattr::INDEX_TRUSTED, &b"x.y"[..]))
    );
    assert_eq!(
        xattr::split_name(b"security.selinux"),
        Some((xattr::INDEX_SECURITY, &b"selinux"[..]))
    );
    assert_eq!(
        xattr::split_name(b"system.posix_acl_access"),
        Some((xattr::INDEX_POSIX_ACL_ACCESS, &b""[..]))
    );
    assert_eq!(
        xattr::split_name(b"system.posix_acl_default"),
        Some((xattr::INDEX_POSIX_ACL_DEFAULT, &b""[..]))
    );
    assert_eq!(xattr::split_name(b"user."), None);
    assert_eq!(xattr::split_name(b"system.other"), None);
    assert_eq!(xattr::split_name(b"os2.x"), None);
    assert_eq!(xattr::split_name(b"user.a\0b"), None);
    let long = [b"user.".to_vec(), vec![b'n'; 256]].concat();
    assert_eq!(xattr::split_name(&long), None);
    let mut b = empty(1024);
    for (i, n) in [
        (xattr::INDEX_USER, &b""[..]),
        (xattr::INDEX_POSIX_ACL_ACCESS, b"x"),
        (5, b"x"),
        (0, b"x"),
    ] {
        assert_eq!(
            xattr::set(&mut b, i, n, Some(b"v"), SetMode::Any),
            Err(SetError::Invalid)
        );
    }
}

#[test]
fn header_and_entry_damage_is_refused() {
    let good = || {
        let mut b = empty(1024);
        xattr::set(&mut b, xattr::INDEX_USER, b"a", Some(b"1"), SetMode::Any).unwrap();
        xattr::set(&mut b, xattr::INDEX_USER, b"b", Some(b"22"), SetMode::Any).unwrap();
        b
    };
    // Each damage, resealed (right checksum and hash when the layout
    // allows one): refused by verify_fields all the same.
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Damage)> = vec![
        ("magic", Box::new(|b| b[0] ^= 1)),
        (
            "refcount 0",
            Box::new(|b| b[4..8].copy_from_slice(&0u32.to_le_bytes())),
        ),
        ("reserved byte", Box::new(|b| b[20] = 1)),
        ("unknown index", Box::new(|b| b[32] = 5)),
        ("name with NUL", Box::new(|b| b[36] = 0)),
        ("padding", Box::new(|b| b[38] = 9)),
        (
            "out of order",
            Box::new(|b| {
                b[36] = b'c';
            }),
        ),
        ("byte after the end marker", Box::new(|b| b[60] = 1)),
        ("bad end marker", Box::new(|b| b[49] = 1)),
        (
            "value crosses the block end",
            Box::new(|b| b[34..36].copy_from_slice(&2000u16.to_le_bytes())),
        ),
    ];
    for (what, damage) in cases {
        let mut b = good();
        xattr::seal(&mut b, 1, 7, SEED, &Crc).unwrap();
        damage(&mut b);
        // Keep the header's own damage; fix up what depends on the rest.
        if let Ok(l) = xattr::layout(&b) {
            let h = xattr::hash_of(&b, &l, SEED, &Crc).unwrap();
            b[8..12].copy_from_slice(&h.to_le_bytes());
        }
        let c = xattr::checksum_of(&b, 7, SEED, &Crc).unwrap();
        b[1020..].copy_from_slice(&c.to_le_bytes());
        assert!(
            xattr::verify_block(&b, 7, SEED, &Crc).is_err(),
            "{what}: accepted"
        );
    }
    // A wrong hash alone.
    let mut b = good();
    xattr::seal(&mut b, 1, 7, SEED, &Crc).unwrap();
    b[8] ^= 1;
    let c = xattr::checksum_of(&b, 7, SEED, &Crc).unwrap();
    b[1020..].copy_from_slice(&c.to_le_bytes());
    assert!(matches!(
        xattr::verify_block(&b, 7, SEED, &Crc),
        Err(livedfs_format::FormatError::Inconsistent { .. })
    ));
    // No attributes at all.
    let mut b = empty(1024);
    xattr::seal(&mut b, 1, 7, SEED, &Crc).unwrap();
    assert!(xattr::verify_block(&b, 7, SEED, &Crc).is_err());
}

#[test]
fn acl_values() {
    use xattr::acl::*;
    let u = UNDEFINED_ID;
    assert!(xattr::acl_valid(&minimal_acl()));
    let named = acl(&[
        (USER_OBJ, 7, u),
        (USER, 5, 1000),
        (USER, 0, 1001),
        (GROUP_OBJ, 5, u),
        (GROUP, 4, 50),
        (MASK, 5, u),
        (OTHER, 0, u),
    ]);
    assert!(xattr::acl_valid(&named));
    let bad = [
        // named entry without a mask
        acl(&[
            (USER_OBJ, 7, u),
            (USER, 5, 1000),
            (GROUP_OBJ, 5, u),
            (OTHER, 0, u),
        ]),
        // wrong order
        acl(&[(GROUP_OBJ, 5, u), (USER_OBJ, 7, u), (OTHER, 0, u)]),
        // missing OTHER
        acl(&[(USER_OBJ, 7, u), (GROUP_OBJ, 5, u)]),
        // permission bits past rwx
        acl(&[(USER_OBJ, 8, u), (GROUP_OBJ, 5, u), (OTHER, 0, u)]),
        // a named user without an id
        acl(&[
            (USER_OBJ, 7, u),
            (USER, 5, u),
            (GROUP_OBJ, 5, u),
            (MASK, 5, u),
            (OTHER, 0, u),
        ]),
        // unknown tag
        acl(&[
            (USER_OBJ, 7, u),
            (0x40, 5, u),
            (GROUP_OBJ, 5, u),
            (OTHER, 0, u),
        ]),
        // two OTHER
        acl(&[
            (USER_OBJ, 7, u),
            (GROUP_OBJ, 5, u),
            (OTHER, 0, u),
            (OTHER, 0, u),
        ]),
        // no entries, short, bad version, partial entry
        acl(&[]),
        vec![2, 0, 0],
        {
            let mut v = minimal_acl();
            v[0] = 1;
            v
        },
        {
            let mut v = minimal_acl();
            v.push(0);
            v
        },
    ];
    for (k, v) in bad.iter().enumerate() {
        assert!(!xattr::acl_valid(v), "bad ACL {k} accepted");
    }
    // An invalid ACL is not stored, and in a block (hash and checksum
    // right) it is refused.
    let mut b = empty(1024);
    assert_eq!(
        xattr::set(
            &mut b,
            xattr::INDEX_POSIX_ACL_ACCESS,
            b"",
            Some(&bad[0]),
            SetMode::Any,
        ),
        Err(SetError::Invalid)
    );
    let good = acl(&[
        (USER_OBJ, 7, u),
        (USER, 5, 1000),
        (GROUP_OBJ, 5, u),
        (MASK, 5, u),
        (OTHER, 0, u),
    ]);
    xattr::set(
        &mut b,
        xattr::INDEX_POSIX_ACL_ACCESS,
        b"",
        Some(&good),
        SetMode::Any,
    )
    .unwrap();
    xattr::seal(&mut b, 1, 3, SEED, &Crc).unwrap();
    xattr::verify_block(&b, 3, SEED, &Crc).unwrap();
    // The mask entry (the fourth) becomes a second GROUP_OBJ.
    let mask_tag = 32 + 4 + 4 + 3 * 8;
    b[mask_tag..mask_tag + 2].copy_from_slice(&GROUP_OBJ.to_le_bytes());
    let used = 32 + xattr::entry_size(0, good.len()).unwrap() + 4;
    let h = Crc.crc32c(SEED, &b[32..used]);
    b[8..12].copy_from_slice(&h.to_le_bytes());
    let c = xattr::checksum_of(&b, 3, SEED, &Crc).unwrap();
    b[1020..].copy_from_slice(&c.to_le_bytes());
    assert!(matches!(
        xattr::verify_block(&b, 3, SEED, &Crc),
        Err(livedfs_format::FormatError::BadAttrEntry {
            reason: "invalid POSIX ACL",
            ..
        })
    ));
}

#[test]
fn refcount_changes_keep_the_block_valid() {
    let mut b = empty(4096);
    xattr::set(
        &mut b,
        xattr::INDEX_SECURITY,
        b"selinux",
        Some(b"system_u:object_r:etc_t:s0"),
        SetMode::Any,
    )
    .unwrap();
    let h = xattr::seal(&mut b, 1, 500, SEED, &Crc).unwrap();
    for r in [2, 1024, 1] {
        xattr::set_refcount(&mut b, r, 500, SEED, &Crc).unwrap();
        let v = xattr::verify_block(&b, 500, SEED, &Crc).unwrap();
        assert_eq!((v.refcount, v.hash), (r, h));
        assert_eq!(xattr::refcount(&b).unwrap(), r);
    }
}
