//! Canonical request paths: the one form in which a path is matched and forwarded.
//!
//! A gateway is only as good as its agreement with the upstream about which
//! resource a request names. Every published gateway bypass of this kind
//! (`/admin;x/`, `/admin/..;/`, `%2F`, `%2e%2e`, `%252F`, `\`, overlong UTF-8,
//! fullwidth `／`) comes from a path that two parsers read differently. So
//! [`canonicalize`] refuses every path whose meaning could depend on the parser,
//! and rewrites the rest to a single spelling that every decoder reads alike.
//!
//! Refused ([`PathError`]):
//! - not origin-form (must start with `/`), a fragment (`#`), overlong paths;
//! - percent-encoded `/`, `\`, `.`, `%` (double encoding), `;` or control bytes;
//! - `%` not followed by two hex digits;
//! - a literal `\`, `;` (path parameters), space or control byte;
//! - empty segments (`//`; one trailing slash is fine);
//! - dot segments (`.`, `..`) and any segment ending in `.` (Windows drops it);
//! - any segment ending in whitespace, however written (a space as `%20`, or
//!   a Unicode space such as U+0085): Windows drops trailing spaces too;
//! - percent-decoded bytes that are not UTF-8 (overlong forms such as `%C0%AF` included);
//! - C1 control characters (U+0080 to U+009F, such as `%C2%85`);
//! - a non-ASCII character that Unicode compatibility normalization (NFKC) turns
//!   into ASCII, such as `／` (U+FF0F) or `ａ` (U+FF41).
//!
//! Rewritten: `%XX` of an unreserved character is decoded (`%41` becomes `A`),
//! other escapes get upper-case hex, and bytes that are not allowed raw in a path
//! (`"`, `<`, `{`, non-ASCII UTF-8, ...) are percent-encoded. The query string is
//! passed through untouched. See `docs/paths.md`.

use std::borrow::Cow;
use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// Longest path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 8 * 1024;
/// Most segments accepted in one path.
pub const MAX_SEGMENTS: usize = 128;

/// A request target after canonicalization.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CanonicalTarget<'a> {
    /// The canonical path: what is matched and what the upstream receives.
    pub path: Cow<'a, str>,
    /// The raw query string (without `?`), forwarded unchanged.
    pub query: Option<&'a str>,
}

/// Why a path was refused. `at` is a byte offset into the raw target.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum PathError {
    #[error("the path must start with '/'")]
    NotOriginForm,
    #[error("the path is longer than {MAX_PATH_LEN} bytes")]
    TooLong,
    #[error("the path has more than {MAX_SEGMENTS} segments")]
    TooManySegments,
    #[error("a request target may not carry a fragment ('#' at byte {at})")]
    Fragment { at: usize },
    #[error("percent-encoded {} (%{byte:02X}) at byte {at}: servers disagree on whether it separates, escapes or walks the path", describe(*byte))]
    EncodedDelimiter { byte: u8, at: usize },
    #[error("'%' at byte {at} is not followed by two hex digits")]
    BadEscape { at: usize },
    #[error("{} at byte {at}: servers disagree on what it means in a path", describe(*byte))]
    AmbiguousByte { byte: u8, at: usize },
    #[error("empty segment ('//') at byte {at}")]
    EmptySegment { at: usize },
    #[error("dot segment {segment:?}: '.' and '..' segments, and segments ending in '.', are refused")]
    DotSegment { segment: String },
    #[error("segment {segment:?} ends in whitespace, which Windows drops, so it names another file")]
    TrailingWhitespace { segment: String },
    #[error("segment {segment:?} names an NTFS stream or an 8.3 short name (gateway.windows_upstream is on)")]
    WindowsAlias { segment: String },
    #[error("control character U+{:04X} in the percent-decoded path", *ch as u32)]
    ControlCharacter { ch: char },
    #[error("the percent-decoded path is not valid UTF-8 (overlong and truncated forms included)")]
    InvalidUtf8,
    #[error("character {ch:?} (U+{:04X}) becomes {nfkc:?} under Unicode normalization (NFKC), so servers that normalize read another path", *ch as u32)]
    UnicodeLookalike { ch: char, nfkc: String },
}

fn describe(byte: u8) -> String {
    match byte {
        b'/' => "'/'".into(),
        b'\\' => "'\\'".into(),
        b'.' => "'.'".into(),
        b'%' => "'%' (double encoding)".into(),
        b';' => "';' (path parameter)".into(),
        b' ' => "a space".into(),
        b'?' => "'?' (the query starts there)".into(),
        b => format!("control byte 0x{b:02X}"),
    }
}

/// What a byte is when it appears raw in a path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Raw {
    /// Kept as is: unreserved, sub-delims except `;`, `:` and `@`.
    Keep,
    /// Allowed but written percent-encoded in the canonical form.
    Encode,
    /// Refused wherever it appears.
    Refuse,
}

const fn raw_class(b: u8) -> Raw {
    match b {
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => Raw::Keep,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@' => Raw::Keep,
        b'"' | b'<' | b'>' | b'[' | b']' | b'^' | b'`' | b'{' | b'|' | b'}' => Raw::Encode,
        0x80..=0xFF => Raw::Encode,
        _ => Raw::Refuse, // controls, space, '\\', ';', and '%', '/', '?', '#' handled apart
    }
}

const fn is_unreserved_not_dot(b: u8) -> bool {
    matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~')
}

/// Bytes that may never appear percent-encoded.
const fn refused_encoded(b: u8) -> bool {
    matches!(b, b'/' | b'\\' | b'.' | b'%' | b';' | 0x00..=0x1F | 0x7F)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Canonicalizes a raw request target (`/path?query`), or refuses it.
pub fn canonicalize(target: &str) -> Result<CanonicalTarget<'_>, PathError> {
    let (path, query) = match target.find('?') {
        Some(q) => (&target[..q], Some(&target[q + 1..])),
        None => (target, None),
    };
    if let Some(at) = target.find('#') {
        return Err(PathError::Fragment { at });
    }
    let path = canonicalize_path(path)?;
    Ok(CanonicalTarget { path, query })
}

/// Canonicalizes a path with no query string.
pub fn canonicalize_path(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotOriginForm);
    }
    if bytes.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    // One pass to validate and learn whether the path is already canonical.
    let mut rewrite = false;
    let mut has_escape_or_utf8 = false;
    let mut segments = 0usize;
    let mut seg_start = 1usize;
    let mut i = 1usize;
    while i <= bytes.len() {
        let b = bytes.get(i).copied();
        match b {
            None | Some(b'/') => {
                let seg = &bytes[seg_start..i];
                if seg.is_empty() {
                    // A single trailing slash (or the root) is fine; `//` is not.
                    if b.is_some() {
                        return Err(PathError::EmptySegment { at: i });
                    }
                } else {
                    segments += 1;
                    if segments > MAX_SEGMENTS {
                        return Err(PathError::TooManySegments);
                    }
                    if seg.last() == Some(&b'.') {
                        return Err(PathError::DotSegment {
                            segment: String::from_utf8_lossy(seg).into_owned(),
                        });
                    }
                }
                if b.is_some() && i + 1 == bytes.len() {
                    break; // trailing slash
                }
                seg_start = i + 1;
                i += 1;
            }
            Some(b'%') => {
                let decoded = match (
                    bytes.get(i + 1).copied().and_then(hex_val),
                    bytes.get(i + 2).copied().and_then(hex_val),
                ) {
                    (Some(h), Some(l)) => h << 4 | l,
                    _ => return Err(PathError::BadEscape { at: i }),
                };
                if refused_encoded(decoded) {
                    return Err(PathError::EncodedDelimiter { byte: decoded, at: i });
                }
                // Canonical escapes are upper-case and never of an unreserved byte.
                if is_unreserved_not_dot(decoded) || bytes[i + 1..i + 3].iter().any(u8::is_ascii_lowercase) {
                    rewrite = true;
                }
                has_escape_or_utf8 = true;
                i += 3;
            }
            Some(b'#') => return Err(PathError::Fragment { at: i }),
            Some(b) => {
                match raw_class(b) {
                    Raw::Keep => {}
                    Raw::Encode => {
                        rewrite = true;
                        has_escape_or_utf8 |= b >= 0x80;
                    }
                    Raw::Refuse => return Err(PathError::AmbiguousByte { byte: b, at: i }),
                }
                i += 1;
            }
        }
    }
    if has_escape_or_utf8 {
        check_decoded_text(bytes)?;
    }
    if !rewrite {
        return Ok(Cow::Borrowed(path));
    }
    let mut out = String::with_capacity(path.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let decoded = (hex_val(bytes[i + 1]).unwrap_or(0) << 4) | hex_val(bytes[i + 2]).unwrap_or(0);
            if is_unreserved_not_dot(decoded) {
                out.push(decoded as char);
            } else {
                push_escape(&mut out, decoded);
            }
            i += 3;
        } else {
            if b == b'/' || raw_class(b) == Raw::Keep {
                out.push(b as char);
            } else {
                push_escape(&mut out, b);
            }
            i += 1;
        }
    }
    Ok(Cow::Owned(out))
}

fn push_escape(out: &mut String, b: u8) {
    out.push('%');
    out.push(HEX[(b >> 4) as usize] as char);
    out.push(HEX[(b & 0xF) as usize] as char);
}

/// Percent-decodes `bytes` and checks the result is UTF-8 with no character
/// that NFKC folds into ASCII. Escapes were validated by the caller.
fn check_decoded_text(bytes: &[u8]) -> Result<(), PathError> {
    let decoded = percent_decode(bytes);
    let text = std::str::from_utf8(&decoded).map_err(|_| PathError::InvalidUtf8)?;
    // A literal space is refused byte by byte; written any other way, a
    // space ending a segment is found here.
    if let Some(segment) = text.split('/').find(|seg| seg.ends_with(char::is_whitespace)) {
        return Err(PathError::TrailingWhitespace {
            segment: segment.to_owned(),
        });
    }
    // C1 controls (U+0080 to U+009F) arrive as UTF-8; C0 ones were refused
    // byte by byte.
    if let Some(ch) = text.chars().find(|c| c.is_control()) {
        return Err(PathError::ControlCharacter { ch });
    }
    for ch in text.chars().filter(|c| !c.is_ascii()) {
        let nfkc: String = std::iter::once(ch).nfkc().collect();
        if nfkc.chars().any(|c| c.is_ascii()) {
            return Err(PathError::UnicodeLookalike { ch, nfkc });
        }
    }
    Ok(())
}

/// For an upstream that resolves paths as Windows does
/// (`gateway.windows_upstream`): refuses a canonical path with a segment
/// that names an NTFS alternate data stream (any `:`, as in `name::$DATA`)
/// or looks like an 8.3 short name (`~` followed by a digit, as in
/// `SECRE~1`), since either reaches a file under another name than the one
/// its route was written for.
pub fn check_windows(canonical: &str) -> Result<(), PathError> {
    let alias = |seg: &str| {
        let decoded = percent_decode(seg.as_bytes());
        decoded.contains(&b':') || decoded.windows(2).any(|w| w[0] == b'~' && w[1].is_ascii_digit())
    };
    match canonical.split('/').find(|seg| alias(seg)) {
        Some(segment) => Err(PathError::WindowsAlias {
            segment: segment.to_owned(),
        }),
        None => Ok(()),
    }
}

/// Plain RFC 3986 percent-decoding, the way an upstream reads a path. Malformed
/// escapes are left as they are.
pub fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex_val),
                bytes.get(i + 2).copied().and_then(hex_val),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The segments of a canonical path that routes match, ignoring one trailing slash.
/// `/` has none.
pub fn match_segments(canonical: &str) -> &str {
    let p = canonical.strip_prefix('/').unwrap_or(canonical);
    p.strip_suffix('/').unwrap_or(p)
}

impl fmt::Display for CanonicalTarget<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if let Some(q) = self.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}
