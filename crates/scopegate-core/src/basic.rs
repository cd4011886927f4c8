//! HTTP Basic client credentials as RFC 6749 section 2.3.1 reads them: the
//! client id and secret are each encoded with
//! `application/x-www-form-urlencoded` (so `+` is a space and `%XX` a byte),
//! joined by `:`, and the whole is Base64. The token endpoint, the gateway and
//! forward-auth all read them here, so a credential that works in one works in
//! the others.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::path::percent_decode;

/// A Basic `Authorization` value's credentials (`rest` is what follows
/// `Basic `); `None` if it is not Base64 of UTF-8 holding a `:`.
pub fn parse_basic(rest: &str) -> Option<(String, String)> {
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let decoded = std::str::from_utf8(&decoded).ok()?;
    // The separator is the first `:` of the decoded text: an encoded `:` in
    // the id is `%3A`.
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a
/// space, then plain percent-decoding (a `%` not followed by two hex digits
/// stands for itself, as browsers and `serde_urlencoded` read it). `None` if
/// the bytes are not UTF-8.
fn form_decode(value: &str) -> Option<String> {
    String::from_utf8(percent_decode(value.replace('+', " ").as_bytes())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(id: &str, secret: &str) -> String {
        STANDARD.encode(format!("{id}:{secret}"))
    }

    #[test]
    fn basic_credentials_are_form_decoded_as_rfc_6749_section_2_3_1_says() {
        assert_eq!(
            parse_basic(&encoded("my%3Aapp", "s%25e+c%2Bret")),
            Some(("my:app".into(), "s%e c+ret".into()))
        );
    }

    #[test]
    fn the_first_colon_separates_and_later_ones_belong_to_the_secret() {
        assert_eq!(parse_basic(&encoded("id", "a:b")), Some(("id".into(), "a:b".into())));
    }

    #[test]
    fn a_percent_without_two_hex_digits_stands_for_itself() {
        assert_eq!(
            parse_basic(&encoded("100%", "%zz%4")),
            Some(("100%".into(), "%zz%4".into()))
        );
    }

    #[test]
    fn what_is_not_base64_of_utf8_with_a_colon_is_no_credential() {
        assert_eq!(parse_basic("not base64!"), None);
        assert_eq!(parse_basic(&STANDARD.encode("no colon")), None);
        assert_eq!(parse_basic(&STANDARD.encode([0xff, b':', b'x'])), None);
        assert_eq!(parse_basic(&encoded("id", "%ff")), None);
    }
}
