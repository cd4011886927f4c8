//! The laws of the scope algebra (docs/policy.md), as properties over random
//! catalogs: levels, `implies` chains and plain scopes mixed.

use proptest::prelude::*;
use scopegate_core::{Policy, ScopeId, ScopeSet};

/// A random acyclic catalog: scope i may imply only scopes with a larger index.
fn catalog_source() -> impl Strategy<Value = String> {
    (2usize..14).prop_flat_map(|n| {
        proptest::collection::vec(proptest::collection::vec(any::<bool>(), n), n).prop_map(move |edges| {
            let mut src = String::from("[[scope]]\nname = \"lv\"\nlevels = [\"read\", \"write\", \"admin\"]\n\n");
            for i in 0..n {
                let implies: Vec<String> = (i + 1..n)
                    .filter(|&j| edges[i][j])
                    .map(|j| format!("\"s{j}\""))
                    .collect();
                src += &format!("[[scope]]\nname = \"s{i}\"\nimplies = [{}]\n\n", implies.join(", "));
            }
            src
        })
    })
}

fn subset(policy: &Policy, bits: &[bool]) -> ScopeSet {
    bits.iter()
        .enumerate()
        .filter(|&(i, &b)| b && i < policy.catalog.len())
        .map(|(i, _)| id(policy, i))
        .collect()
}

fn id(policy: &Policy, i: usize) -> ScopeId {
    policy
        .catalog
        .iter()
        .nth(i)
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no scope {i}"))
}

proptest! {
    /// Dropping scopes at request time (a lost permission, a passed
    /// `max_lifetime`) keeps what is held closed, never keeps a dropped scope,
    /// and keeps every scope whose whole closure survives.
    #[test]
    fn restriction_stays_closed_and_keeps_exactly_what_survives(
        src in catalog_source(),
        bits in proptest::collection::vec(any::<bool>(), 20),
        keep in proptest::collection::vec(any::<bool>(), 20),
    ) {
        let p = Policy::compile("t.toml", &src).unwrap();
        let held = p.catalog.close(&subset(&p, &bits));
        let kept_ids = subset(&p, &keep);
        let out = p.catalog.restrict(&held, |id| kept_ids.contains(id));
        prop_assert_eq!(p.catalog.close(out.set()), out.clone());
        prop_assert!(out.set().is_subset(held.set()));
        for id in held.set().iter() {
            let survives = p.catalog.closure_of(id).iter().all(|j| kept_ids.contains(j));
            prop_assert_eq!(out.contains(id), survives, "scope {}", p.catalog.name(id));
        }
    }

    #[test]
    fn closure_is_idempotent_and_extensive(src in catalog_source(), bits in proptest::collection::vec(any::<bool>(), 20)) {
        let p = Policy::compile("t.toml", &src).unwrap();
        let s = subset(&p, &bits);
        let once = p.catalog.close(&s);
        prop_assert!(s.is_subset(once.set()));
        prop_assert_eq!(p.catalog.close(once.set()), once);
    }

    #[test]
    fn closure_is_monotone(src in catalog_source(), a in proptest::collection::vec(any::<bool>(), 20), b in proptest::collection::vec(any::<bool>(), 20)) {
        let p = Policy::compile("t.toml", &src).unwrap();
        let small = subset(&p, &a);
        let mut big = small.clone();
        big.union_with(&subset(&p, &b));
        prop_assert!(p.catalog.close(&small).set().is_subset(p.catalog.close(&big).set()));
    }

    #[test]
    fn normalization_is_idempotent_and_keeps_the_closure(src in catalog_source(), bits in proptest::collection::vec(any::<bool>(), 20)) {
        let p = Policy::compile("t.toml", &src).unwrap();
        let s = subset(&p, &bits);
        let n = p.catalog.normalize(&s);
        prop_assert_eq!(p.catalog.normalize(&n), n.clone());
        prop_assert_eq!(p.catalog.close(&n), p.catalog.close(&s));
        // No member of a normalized set implies another.
        for x in n.iter() {
            for y in n.iter() {
                prop_assert!(x == y || !p.catalog.closure_of(x).contains(y));
            }
        }
    }

    #[test]
    fn narrowing_never_widens(src in catalog_source(), g in proptest::collection::vec(any::<bool>(), 20), r in proptest::collection::vec(any::<bool>(), 20)) {
        let p = Policy::compile("t.toml", &src).unwrap();
        let held = p.catalog.close(&subset(&p, &g));
        match p.catalog.narrow(&held, &subset(&p, &r)) {
            Ok(narrowed) => prop_assert!(narrowed.set().is_subset(held.set())),
            Err(not_held) => {
                prop_assert!(!not_held.0.is_empty());
                prop_assert!(!not_held.0.intersects(held.set()));
            }
        }
    }
}

#[test]
fn levels_imply_every_lower_level() {
    let p = Policy::compile(
        "t.toml",
        "[[scope]]\nname = \"lv\"\nlevels = [\"read\", \"write\", \"admin\"]\n",
    )
    .unwrap();
    let admin = p.catalog.parse_list("lv:admin").unwrap();
    assert_eq!(
        p.catalog.display(p.catalog.close(&admin).set()),
        "lv:read lv:write lv:admin"
    );
    let read = p.catalog.parse_list("lv:read").unwrap();
    assert_eq!(p.catalog.display(p.catalog.close(&read).set()), "lv:read");
}
