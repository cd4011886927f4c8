//! Canonical paths (docs/gateway.md, docs/paths.md): one test per published
//! class of path-normalization bypass, and the properties of `canonicalize`.

use proptest::prelude::*;
use scopegate_core::path::{PathError, canonicalize, canonicalize_path, percent_decode};

fn refused(target: &str) -> PathError {
    match canonicalize(target) {
        Err(e) => e,
        Ok(t) => panic!("{target:?} must be refused, got {:?}", t.path),
    }
}

fn canonical(target: &str) -> String {
    match canonicalize(target) {
        Ok(t) => t.path.into_owned(),
        Err(e) => panic!("{target:?} must be accepted: {e}"),
    }
}

#[test]
fn encoded_slash_is_refused() {
    // Envoy/Istio (CVE-2019-9901-style) and Traefik: %2F decoded after routing.
    for t in ["/admin%2Fusers", "/admin%2fusers", "/a/%2F/b"] {
        assert!(
            matches!(refused(t), PathError::EncodedDelimiter { byte: b'/', .. }),
            "{t}"
        );
    }
}

#[test]
fn encoded_backslash_and_literal_backslash_are_refused() {
    // Windows upstreams and some Java containers treat '\' as '/'.
    assert!(matches!(
        refused("/admin%5Cusers"),
        PathError::EncodedDelimiter { byte: b'\\', .. }
    ));
    assert!(matches!(
        refused("/admin\\users"),
        PathError::AmbiguousByte { byte: b'\\', .. }
    ));
}

#[test]
fn encoded_dot_is_refused() {
    // %2e%2e walks up on upstreams that decode before resolving dot segments.
    for t in [
        "/public/%2e%2e/admin",
        "/public/%2E%2E/admin",
        "/public/.%2e/admin",
        "/file%2ejson",
    ] {
        assert!(
            matches!(refused(t), PathError::EncodedDelimiter { byte: b'.', .. }),
            "{t}"
        );
    }
}

#[test]
fn dot_segments_are_refused() {
    // Istio CVE-2021-39156-style: the proxy normalizes, the upstream does not (or vice versa).
    for t in ["/public/../admin", "/public/./admin", "/..", "/.", "/a/..", "/a/../"] {
        assert!(matches!(refused(t), PathError::DotSegment { .. }), "{t}");
    }
}

#[test]
fn trailing_dot_segments_are_refused() {
    // IIS and Windows file APIs drop a trailing '.', so /admin. is /admin there.
    assert!(matches!(refused("/admin."), PathError::DotSegment { .. }));
    assert!(matches!(refused("/a/.../b"), PathError::DotSegment { .. }));
    assert_eq!(canonical("/files/report.json"), "/files/report.json");
}

#[test]
fn double_encoding_is_refused() {
    // %252F decodes to %2F, which a second decoder turns into '/'.
    for t in ["/admin%252Fusers", "/a%252e%252e/b", "/100%25"] {
        assert!(
            matches!(refused(t), PathError::EncodedDelimiter { byte: b'%', .. }),
            "{t}"
        );
    }
}

#[test]
fn path_parameters_are_refused() {
    // Tomcat/Spring strip ";..." from segments: /admin;x=y/ and /..;/ bypasses.
    for t in ["/admin;jsessionid=1", "/public/..;/admin", "/a;/b"] {
        let e = refused(t);
        assert!(
            matches!(
                e,
                PathError::AmbiguousByte { byte: b';', .. } | PathError::DotSegment { .. }
            ),
            "{t}: {e:?}"
        );
    }
    assert!(matches!(
        refused("/admin%3Bx"),
        PathError::EncodedDelimiter { byte: b';', .. }
    ));
}

#[test]
fn nul_and_control_characters_are_refused() {
    // %00 truncates paths in C upstreams; CR/LF split headers in some.
    for t in ["/admin%00.json", "/a%0d%0aX-Injected:1", "/a%7F", "/a%09b"] {
        assert!(matches!(refused(t), PathError::EncodedDelimiter { .. }), "{t}");
    }
    for t in ["/a\u{0}b", "/a\tb", "/a b", "/a\u{7f}"] {
        assert!(matches!(refused(t), PathError::AmbiguousByte { .. }), "{t:?}");
    }
}

#[test]
fn empty_segments_are_refused_but_one_trailing_slash_is_fine() {
    // //admin matches no route in one parser and /admin in another (merge_slashes).
    for t in ["//admin", "/a//b", "/a/b//", "//"] {
        assert!(matches!(refused(t), PathError::EmptySegment { .. }), "{t}");
    }
    assert_eq!(canonical("/account/"), "/account/");
    assert_eq!(canonical("/"), "/");
}

#[test]
fn invalid_and_overlong_utf8_is_refused() {
    // %C0%AF is an overlong '/', decoded as '/' by lax decoders (IIS unicode bug).
    for t in ["/a%C0%AFadmin", "/a%E0%80%AF", "/a%FF", "/a%C3", "/a%ED%A0%80"] {
        assert_eq!(refused(t), PathError::InvalidUtf8, "{t}");
    }
    assert_eq!(canonical("/caf%C3%A9"), "/caf%C3%A9");
    assert_eq!(canonical("/café"), "/caf%C3%A9");
}

#[test]
fn unicode_lookalikes_of_ascii_are_refused() {
    // Fullwidth '／' (U+FF0F) and 'ａ' become '/' and 'a' under NFKC (Spring, Python, IIS).
    for t in [
        "/admin\u{FF0F}users",
        "/%EF%BC%8Fadmin",
        "/\u{FF41}dmin",
        "/a\u{2025}b",
        "/\u{FB01}le",
    ] {
        assert!(matches!(refused(t), PathError::UnicodeLookalike { .. }), "{t}");
    }
}

#[test]
fn c1_control_characters_are_refused() {
    // U+0085 (NEL) is a line break to some readers; C0 controls were always refused.
    for t in ["/a%C2%85b", "/a%C2%80", "/\u{9b}x"] {
        assert!(
            matches!(
                refused(t),
                PathError::ControlCharacter { .. } | PathError::TrailingWhitespace { .. }
            ),
            "{t}"
        );
    }
    assert!(matches!(
        refused("/a%C2%85b"),
        PathError::ControlCharacter { ch: '\u{85}' }
    ));
}

#[test]
fn a_segment_ending_in_whitespace_is_refused() {
    // Windows file APIs drop trailing spaces as they drop trailing dots:
    // `/admin%20` is the file `admin` there.
    for t in [
        "/admin%20",
        "/admin%20/x",
        "/a/b%20",
        "/admin%C2%85",
        "/admin%E3%80%80/x",
        "/admin\u{2028}",
    ] {
        assert!(matches!(refused(t), PathError::TrailingWhitespace { .. }), "{t}");
    }
    // A literal space, anywhere, was refused before any of this.
    assert!(matches!(
        refused("/admin /x"),
        PathError::AmbiguousByte { byte: b' ', .. }
    ));
    // Inside a segment a space is an ordinary character.
    assert_eq!(canonical("/a%20b"), "/a%20b");
}

#[test]
fn windows_upstream_refuses_ntfs_streams_and_short_names() {
    let policy = |windows: bool| {
        scopegate_core::Policy::compile(
            "t.toml",
            &format!("[gateway]\nwindows_upstream = {windows}\n[[route]]\nmatch = \"GET /*\"\nrequire = \"none\"\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let (windows, other) = (policy(true), policy(false));
    for t in [
        "/admin::$DATA",
        "/files/report.txt:secret",
        "/files/a%3Ab",
        "/SECRE~1/keys",
        "/a/PROGRA~12",
    ] {
        assert!(
            matches!(windows.resolve("GET", t), Err(PathError::WindowsAlias { .. })),
            "{t}"
        );
        assert!(
            other.resolve("GET", t).is_ok(),
            "{t}: only refused for a Windows upstream"
        );
    }
    for t in ["/v1/~user", "/a~b", "/x/y"] {
        assert!(windows.resolve("GET", t).is_ok(), "{t}");
    }
}

#[test]
fn malformed_escapes_are_refused() {
    for t in ["/a%", "/a%2", "/a%zz", "/a%%41"] {
        assert!(matches!(refused(t), PathError::BadEscape { .. }), "{t}");
    }
}

#[test]
fn non_origin_form_and_fragments_are_refused() {
    assert_eq!(refused("admin"), PathError::NotOriginForm);
    assert_eq!(refused(""), PathError::NotOriginForm);
    assert_eq!(refused("*"), PathError::NotOriginForm);
    assert!(matches!(refused("/a#frag"), PathError::Fragment { .. }));
    assert!(matches!(refused("/a?x=1#frag"), PathError::Fragment { .. }));
}

#[test]
fn overlong_paths_are_refused() {
    assert_eq!(refused(&format!("/{}", "a".repeat(9000))), PathError::TooLong);
    assert_eq!(refused(&"/a".repeat(200)), PathError::TooManySegments);
}

#[test]
fn unreserved_escapes_are_decoded_and_hex_is_upper_cased() {
    // /%61dmin is /admin to every decoder, so it must be matched as /admin.
    assert_eq!(canonical("/%61dmin"), "/admin");
    assert_eq!(canonical("/a%7eb%2D"), "/a~b-");
    assert_eq!(canonical("/a%3ab"), "/a%3Ab");
    assert_eq!(canonical("/a%20b"), "/a%20b");
    assert_eq!(canonical("/a{b}"), "/a%7Bb%7D");
}

#[test]
fn query_string_is_passed_through_unchanged() {
    let t = canonicalize("/%61ccount?x=%2F..&y=%00").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.path, "/account");
    assert_eq!(t.query, Some("x=%2F..&y=%00"));
}

#[test]
fn canonical_paths_are_borrowed_when_already_canonical() {
    assert!(matches!(
        canonicalize_path("/api/v1/orders/42"),
        Ok(std::borrow::Cow::Borrowed(_))
    ));
}

/// Raw paths built from the pieces attackers use.
fn raw_path() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("a".to_owned()),
        Just("B".to_owned()),
        Just("/".to_owned()),
        Just(".".to_owned()),
        Just(";".to_owned()),
        Just("\\".to_owned()),
        Just("é".to_owned()),
        Just("{".to_owned()),
        Just(":".to_owned()),
        Just("~".to_owned()),
        Just("\u{FF0F}".to_owned()),
        Just("%20".to_owned()),
        Just("%C2%85".to_owned()),
        "%[0-9a-fA-F]{2}",
        "%[0-9a-fA-F]",
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| format!("/{}", v.concat()))
}

proptest! {
    #[test]
    fn canonicalization_is_idempotent(raw in raw_path()) {
        if let Ok(once) = canonicalize_path(&raw) {
            let twice = canonicalize_path(&once);
            prop_assert_eq!(twice.as_deref(), Ok(&*once));
        }
    }

    /// A decoder reads the canonical form exactly as it reads the raw path.
    #[test]
    fn canonical_form_decodes_like_the_raw_path(raw in raw_path()) {
        if let Ok(c) = canonicalize_path(&raw) {
            prop_assert_eq!(percent_decode(c.as_bytes()), percent_decode(raw.as_bytes()));
        }
    }

    /// Two raw paths with one canonical form mean the same path to a decoder.
    #[test]
    fn equal_canonical_forms_mean_equal_paths(a in raw_path(), b in raw_path()) {
        if let (Ok(ca), Ok(cb)) = (canonicalize_path(&a), canonicalize_path(&b))
            && ca == cb {
                prop_assert_eq!(percent_decode(a.as_bytes()), percent_decode(b.as_bytes()));
            }
    }

    /// Whatever is accepted decodes to segments with no separator, dot segment
    /// or control character hidden inside.
    #[test]
    fn accepted_paths_decode_to_the_same_segments(raw in raw_path()) {
        if let Ok(c) = canonicalize_path(&raw) {
            let decoded = percent_decode(c.as_bytes());
            let text = String::from_utf8(decoded).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(text.matches('/').count(), c.matches('/').count());
            prop_assert!(!text.contains('\\') && !text.contains(';') && !text.chars().any(char::is_control));
            prop_assert!(text.split('/').skip(1).all(|s| !s.ends_with('.') && !s.ends_with(char::is_whitespace)));
        }
    }
}
