//! Form-encoded parameters, strictly: a parameter sent twice is refused (RFC
//! 6749 section 3.2), and so is a body that is not form-encoded.

use axum::http::{HeaderMap, header};
use scopegate_core::oauth::{ErrorCode, OAuthError};

/// Whether the request's `Content-Type` is `essence` (parameters aside, any case).
pub(crate) fn has_content_type(headers: &HeaderMap, essence: &str) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case(essence)
}

/// No OAuth request needs more; the check bounds the duplicate scan below.
pub(crate) const MAX_PARAMETERS: usize = 50;

#[derive(Default)]
pub(crate) struct Form(Vec<(String, String)>);

/// Names only: a form carries client secrets, passwords, codes and tokens.
impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(name, _)| name)).finish()
    }
}

impl Form {
    /// Parameters made on the server (the portal's "try it").
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Form {
        Form(pairs)
    }

    /// An `application/x-www-form-urlencoded` request body.
    pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Form, OAuthError> {
        if !has_content_type(headers, "application/x-www-form-urlencoded") {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Form::decode(body)
    }

    /// A query string, with the same rules as a form body.
    pub(crate) fn query(query: Option<&str>) -> Result<Form, OAuthError> {
        Form::decode(query.unwrap_or("").as_bytes())
    }

    fn decode(bytes: &[u8]) -> Result<Form, OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
            .map_err(|_| OAuthError::new(ErrorCode::InvalidRequest, "the parameters are not valid form encoding"))?;
        if pairs.len() > MAX_PARAMETERS {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                format!("more than {MAX_PARAMETERS} parameters"),
            ));
        }
        for (i, (name, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidRequest,
                    format!("parameter \"{name}\" is sent more than once"),
                ));
            }
        }
        Ok(Form(pairs))
    }

    /// A parameter's value; empty values count as absent (RFC 6749 section 3.1).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter, in order.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub(crate) fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, format!("missing parameter \"{name}\"")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::Form;

    #[test]
    fn a_form_prints_its_names_never_its_values() {
        let form = Form::decode(b"grant_type=password&client_secret=sgcs_very_secret&password=hunter2").unwrap();
        let printed = format!("{form:?}");
        assert!(printed.contains("client_secret"), "{printed}");
        assert!(
            !printed.contains("very_secret") && !printed.contains("hunter2"),
            "{printed}"
        );
    }
}
