//! A request's header fields as the decision path reads them: hyper's
//! `HeaderMap`, or the fast path's spans of the bytes it read. Copying
//! every field into a map only to read two of them and write the rest
//! straight out again was a tenth of a proxied request's instructions.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// Header fields, looked up by name.
pub(crate) trait Fields {
    /// Every value of the field `name`, in the order they came.
    fn values<'a>(&'a self, name: &HeaderName) -> impl Iterator<Item = &'a [u8]>;

    /// Every field as (name, value), in the order they came (a `HeaderMap`:
    /// by name), names in any case.
    fn all(&self) -> impl Iterator<Item = (&[u8], &[u8])>;
}

impl Fields for HeaderMap {
    fn values<'a>(&'a self, name: &HeaderName) -> impl Iterator<Item = &'a [u8]> {
        self.get_all(name).into_iter().map(HeaderValue::as_bytes)
    }

    fn all(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.iter()
            .map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes()))
    }
}

/// `value` as text, when every byte is visible ASCII, a space or a tab (the
/// rule of `HeaderValue::to_str`).
pub(crate) fn visible_ascii(value: &[u8]) -> Option<&str> {
    if value.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b)) {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

/// Where one field's name and value are in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    name: (u32, u32),
    value: (u32, u32),
}

impl Span {
    /// The span of `name` and `value`, both slices of `buf`.
    pub(crate) fn of(buf: &[u8], name: &[u8], value: &[u8]) -> Option<Self> {
        Some(Self {
            name: offsets(buf, name)?,
            value: offsets(buf, value)?,
        })
    }
}

fn offsets(buf: &[u8], part: &[u8]) -> Option<(u32, u32)> {
    let start = (part.as_ptr() as usize).checked_sub(buf.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= buf.len()).then_some(())?;
    Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
}

/// The fields of a request head still in the buffer it was read into.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawFields<'b> {
    buf: &'b [u8],
    spans: &'b [Span],
}

impl<'b> RawFields<'b> {
    pub(crate) fn new(buf: &'b [u8], spans: &'b [Span]) -> Self {
        Self { buf, spans }
    }

    /// The buffer the fields are in.
    pub(crate) fn buf(&self) -> &'b [u8] {
        self.buf
    }

    /// Each field as (name, value), in the order they came, names as sent.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'b [u8], &'b [u8])> + Clone + 'b {
        let buf = self.buf;
        self.spans
            .iter()
            .map(move |span| (slice(buf, span.name), slice(buf, span.value)))
    }
}

fn slice(buf: &[u8], (start, end): (u32, u32)) -> &[u8] {
    // Spans are only made by `Span::of`, within the buffer.
    buf.get(start as usize..end as usize).unwrap_or_default()
}

impl Fields for RawFields<'_> {
    fn values<'a>(&'a self, name: &HeaderName) -> impl Iterator<Item = &'a [u8]> {
        let wanted = name.as_str().as_bytes();
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value)
    }

    fn all(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
    use proptest::prelude::*;

    use super::{Fields, RawFields, Span, visible_ascii};

    /// Parses `head` as the fast path does and returns its spans.
    fn spans(head: &[u8]) -> Vec<Span> {
        let mut parsed = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut parsed);
        request.parse(head).unwrap();
        request
            .headers
            .iter()
            .map(|h| Span::of(head, h.name.as_bytes(), h.value).unwrap())
            .collect()
    }

    fn map(head: &[u8]) -> HeaderMap {
        let mut parsed = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut parsed);
        request.parse(head).unwrap();
        let mut map = HeaderMap::new();
        for h in request.headers.iter() {
            map.append(
                HeaderName::from_bytes(h.name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(h.value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn raw_fields_answer_as_a_header_map_does() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\nAUTHORIZATION: Bearer x\r\nX-OAuth-Scope: a\r\n\
                     x-oauth-scope:  b \r\nX-Original-URI: /caf\xc3\xa9\r\nX-Forwarded-Method: GET\r\n\r\n";
        let spans = spans(head);
        let raw = RawFields::new(head, &spans);
        let map = map(head);
        for name in [
            header::AUTHORIZATION,
            HeaderName::from_static("x-oauth-scope"),
            HeaderName::from_static("x-original-uri"),
            HeaderName::from_static("x-forwarded-method"),
            HeaderName::from_static("x-absent"),
        ] {
            assert_eq!(
                raw.values(&name).collect::<Vec<_>>(),
                Fields::values(&map, &name).collect::<Vec<_>>(),
                "{name}"
            );
        }
        assert_eq!(raw.values(&HeaderName::from_static("x-oauth-scope")).count(), 2);
        let mut all: Vec<_> = raw.all().map(|(n, v)| (n.to_ascii_lowercase(), v.to_vec())).collect();
        let mut from_map: Vec<_> = Fields::all(&map).map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        all.sort();
        from_map.sort();
        assert_eq!(all, from_map);
    }

    #[test]
    fn a_span_outside_its_buffer_is_not_made() {
        let buf = b"abc".to_vec();
        let other = b"xyz".to_vec();
        assert!(Span::of(&buf, &buf[..1], &buf[1..]).is_some());
        assert!(Span::of(&buf, &other, &buf[1..]).is_none());
    }

    proptest! {
        #[test]
        fn visible_ascii_is_the_rule_of_header_value_to_str(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                prop_assert_eq!(visible_ascii(&bytes), value.to_str().ok());
            }
        }
    }
}
