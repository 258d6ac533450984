//! The workload against the checker, without a crash: every state it
//! passes through is accepted, and a real file system running it ends
//! with exactly the model's tree.

use crashtest::check::verify;
use crashtest::exec::Executor;
use crashtest::guest::scan;
use crashtest::model::Op;
use crashtest::workload::{Params, Workload};

fn small(seed: u64) -> Params {
    Params {
        scenarios: 40,
        max_live: 8 << 20,
        max_image_mib: 2,
        ..Params::new(seed)
    }
}

#[test]
fn every_intermediate_state_passes_the_check() {
    for seed in 0..3 {
        let ops: Vec<Op> = Workload::new(small(seed)).collect();
        let full = {
            let mut w = Workload::new(small(seed));
            for _ in w.by_ref() {}
            w.model.hist
        };
        let mut m = crashtest::model::Model::new();
        let mut done = 0;
        for op in &ops {
            m.apply(op);
            let snap = m.snapshot();
            // Seen with the record of the last sync written or not yet.
            let is_sync = op.sync_kind().is_some();
            let counts: Vec<usize> = if is_sync {
                vec![done, done + 1]
            } else {
                vec![done]
            };
            if is_sync {
                done += 1;
            }
            for n in counts {
                let r = verify(&full, n, &snap, &[]);
                assert!(
                    r.failures.is_empty(),
                    "seed {seed}, after op {} ({}), progress {n}: {:?}",
                    m.hist.ops - 1,
                    op.describe(),
                    r.failures
                );
            }
        }
    }
}

#[test]
fn a_real_file_system_ends_with_the_model_tree() {
    let dir = tempfile::tempdir().unwrap();
    let mut ex = Executor::new(dir.path());
    ex.clone_fallback = true;
    let mut w = Workload::new(small(7));
    for op in w.by_ref() {
        ex.run(&op)
            .unwrap_or_else(|e| panic!("{}: {e}", op.describe()));
    }
    let hist = w.model.hist;
    let s = scan(dir.path(), &[]).unwrap();
    let r = verify(&hist, hist.syncs.len(), &s.snap, &[]);
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert!(r.exact_present > 5, "{r:?}");
    // Any other progress count than the last finds something missing or
    // extra (the tree is the final one).
    let r = verify(&hist, 1, &s.snap, &[]);
    assert!(!r.failures.is_empty());
}
