//! The canonical path function, differentially: whatever it accepts must
//! decode to the same segments under a second, independent decoder (the
//! way an upstream reads a path), and its answer is its own canonical form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scopegate_core::path::{canonicalize_path, match_segments};

/// Splits on `/`, then percent-decodes each segment: written here, apart
/// from scopegate's decoder, on purpose.
fn segments(path: &str) -> Vec<Vec<u8>> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    match_segments(path)
        .split('/')
        .map(|segment| {
            let bytes = segment.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                match (
                    bytes[i],
                    bytes.get(i + 1).and_then(|b| hex(*b)),
                    bytes.get(i + 2).and_then(|b| hex(*b)),
                ) {
                    (b'%', Some(h), Some(l)) => {
                        out.push(h * 16 + l);
                        i += 3;
                    }
                    (b, _, _) => {
                        out.push(b);
                        i += 1;
                    }
                }
            }
            out
        })
        .collect()
}

fuzz_target!(|path: &str| {
    let Ok(canonical) = canonicalize_path(path) else { return };
    assert_eq!(
        canonicalize_path(&canonical).as_deref(),
        Ok(&*canonical),
        "not idempotent: {path:?}"
    );
    assert_eq!(segments(path), segments(&canonical), "{path:?} -> {canonical:?}");
    for segment in segments(&canonical) {
        assert!(!segment.contains(&b'/'), "{path:?}: a segment holds a slash");
        assert!(segment != b"." && segment != b"..", "{path:?}: a dot segment");
    }
});
