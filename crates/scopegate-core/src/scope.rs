//! Scope tokens ([RFC 6749 section 3.3]) and scope lists as they travel on the wire.
//!
//! [RFC 6749 section 3.3]: https://www.rfc-editor.org/rfc/rfc6749#section-3.3

use std::fmt;

/// One scope-token: `1*( %x21 / %x23-5B / %x5D-7E )`, i.e. printable ASCII
/// except space, `"` and `\`. Valid by construction.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScopeToken(Box<str>);

/// Why a string is not a scope-token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeTokenError {
    #[error("a scope may not be empty")]
    Empty,
    #[error(
        "character {found:?} at position {position} is outside the RFC 6749 scope-token grammar \
         (printable ASCII except space, '\"' and '\\')"
    )]
    BadCharacter { found: char, position: usize },
}

/// Whether `b` may appear in a scope-token (RFC 6749 `NQCHAR`).
pub const fn is_scope_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

impl ScopeToken {
    pub fn parse(s: &str) -> Result<Self, ScopeTokenError> {
        if s.is_empty() {
            return Err(ScopeTokenError::Empty);
        }
        if let Some((position, found)) = s
            .char_indices()
            .find(|&(_, c)| !c.is_ascii() || !is_scope_char(c as u8))
        {
            return Err(ScopeTokenError::BadCharacter { found, position });
        }
        Ok(Self(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScopeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ScopeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

/// Splits a scope list in either spelling scopegate accepts: space-separated
/// (RFC 6749 `scope` parameter) or comma-separated with optional spaces around
/// the commas (the `X-OAuth-Scope` header). Empty items are skipped, so
/// `"a, b"`, `"a b"` and `" a,b "` all give `["a", "b"]`.
pub fn split_scope_list(list: &str) -> impl Iterator<Item = &str> {
    list.split([' ', ',']).filter(|item| !item.is_empty())
}

/// A scope list as the value of an authorize URL's `scope` parameter: names
/// joined by spaces, then percent-encoded (everything but RFC 3986 unreserved
/// characters), so `a:read b` becomes `a%3Aread%20b`.
pub fn encode_scope_param<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, name) in names.into_iter().enumerate() {
        if i > 0 {
            out.push_str("%20");
        }
        for b in name.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn url_scopes_are_plain_scopes() {
        let s = "https://api.example.com/oauth/api_scope/sell.inventory";
        assert_eq!(ScopeToken::parse(s).map(|t| t.to_string()), Ok(s.to_owned()));
    }

    #[test]
    fn space_quote_and_backslash_are_refused() {
        for bad in ["a b", "a\"b", "a\\b", "é", "a\tb"] {
            assert!(ScopeToken::parse(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(ScopeToken::parse(""), Err(ScopeTokenError::Empty));
    }

    #[test]
    fn both_list_spellings_are_accepted() {
        let want = vec!["products:write", "private:read", "account:read"];
        let header: Vec<_> = split_scope_list("products:write, private:read, account:read").collect();
        let param: Vec<_> = split_scope_list("products:write private:read account:read").collect();
        assert_eq!(header, want);
        assert_eq!(param, want);
        assert_eq!(split_scope_list(" a ,b ,, c").collect::<Vec<_>>(), vec!["a", "b", "c"]);
    }

    #[test]
    fn scope_param_is_url_encoded_like_the_marketplace_seed() {
        let names = [
            "https://api.ebay.com/oauth/api_scope/sell.inventory",
            "https://api.ebay.com/oauth/api_scope/sell.account",
            "https://api.ebay.com/oauth/api_scope/sell.fulfillment",
        ];
        assert_eq!(
            encode_scope_param(names),
            "https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope%2Fsell.inventory%20https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope%2Fsell.account%20https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope%2Fsell.fulfillment"
        );
    }

    proptest! {
        /// The parser accepts exactly RFC 6749's `1*NQCHAR`.
        #[test]
        fn scope_token_grammar_is_exactly_rfc6749(s in "\\PC{0,12}|[\\x00-\\x7f]{0,12}") {
            let by_grammar = !s.is_empty() && s.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
            prop_assert_eq!(ScopeToken::parse(&s).is_ok(), by_grammar);
        }
    }
}
