//! The metadata a client the provider did not register describes itself
//! with (RFC 7591 section 2), in a Client ID Metadata Document or a
//! registration request, checked by the rules every registration follows.

use serde_json::Value;

use crate::registration::{check_name, check_redirect_uri};

/// The most redirect URIs a client may list.
pub const MAX_REDIRECT_URIS: usize = 10;

/// What a client says of itself, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientMetadata {
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    /// The scopes it says it will ask for (space-separated), if it says.
    pub scope: Option<String>,
}

/// Why a client's metadata is refused: RFC 7591's error code and a
/// description naming the member at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct MetadataError {
    /// `invalid_redirect_uri` or `invalid_client_metadata`.
    pub code: &'static str,
    pub description: String,
}

fn invalid(description: impl Into<String>) -> MetadataError {
    MetadataError {
        code: "invalid_client_metadata",
        description: description.into(),
    }
}

/// Reads client metadata (RFC 7591 section 2): a JSON object with
/// `redirect_uris`. A public client only: `token_endpoint_auth_method`
/// absent or `none`; grant types within `authorization_code` and
/// `refresh_token`; response types within `code`. A metadata document
/// (`document_url`) must name itself as its `client_id`, and carries no secret.
pub fn read_metadata(json: &[u8], document_url: Option<&str>) -> Result<ClientMetadata, MetadataError> {
    let value: Value = serde_json::from_slice(json).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let Value::Object(members) = value else {
        return Err(invalid("the metadata must be a JSON object"));
    };
    let text = |name: &str| -> Result<Option<&str>, MetadataError> {
        match members.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(invalid(format!("{name} must be a string"))),
        }
    };
    let list = |name: &str| -> Result<Option<Vec<&str>>, MetadataError> {
        match members.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .ok_or_else(|| invalid(format!("{name} must be an array of strings")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid(format!("{name} must be an array of strings"))),
        }
    };
    if let Some(url) = document_url {
        match text("client_id")? {
            Some(id) if id == url => {}
            Some(id) => {
                return Err(invalid(format!(
                    "the document's client_id {id:?} is not its own URL {url:?}"
                )));
            }
            None => {
                return Err(invalid(
                    "the document names no client_id; it must be the document's URL",
                ));
            }
        }
        for secret in ["client_secret", "client_secret_expires_at"] {
            if members.contains_key(secret) {
                return Err(invalid(format!(
                    "a metadata document carries no {secret}: its client is public"
                )));
            }
        }
    }
    match text("token_endpoint_auth_method")? {
        None | Some("none") => {}
        Some(other) => {
            return Err(invalid(format!(
                "token_endpoint_auth_method {other:?}: only \"none\" (a public client with PKCE) is accepted"
            )));
        }
    }
    for (name, allowed) in [
        ("grant_types", &["authorization_code", "refresh_token"][..]),
        ("response_types", &["code"][..]),
    ] {
        if let Some(given) = list(name)?
            && let Some(other) = given.iter().find(|g| !allowed.contains(g))
        {
            return Err(invalid(format!(
                "{name}: {other:?} is not supported (only {})",
                allowed.join(", ")
            )));
        }
    }
    let redirect_uris = list("redirect_uris")?.unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err(MetadataError {
            code: "invalid_redirect_uri",
            description: "redirect_uris must list at least one redirect URI".into(),
        });
    }
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(MetadataError {
            code: "invalid_redirect_uri",
            description: format!("at most {MAX_REDIRECT_URIS} redirect_uris"),
        });
    }
    for uri in &redirect_uris {
        check_redirect_uri(uri, true).map_err(|e| MetadataError {
            code: "invalid_redirect_uri",
            description: e.message,
        })?;
    }
    let client_name = match text("client_name")? {
        Some(name) => {
            check_name(name).map_err(|e| invalid(format!("client_name {}", e.message)))?;
            name.to_owned()
        }
        None => document_url
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "Unnamed app".to_owned()),
    };
    Ok(ClientMetadata {
        client_name,
        redirect_uris: redirect_uris.into_iter().map(str::to_owned).collect(),
        scope: text("scope")?.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const URL: &str = "https://agent.example/client.json";

    #[test]
    fn a_document_must_name_itself_and_a_public_client() {
        let doc =
            |extra: &str| format!(r#"{{"client_id":"{URL}","redirect_uris":["http://127.0.0.1:3000/cb"]{extra}}}"#);
        let m = read_metadata(doc("").as_bytes(), Some(URL)).unwrap();
        assert_eq!(m.client_name, "agent.example");
        let other = read_metadata(
            br#"{"client_id":"https://evil.example/c.json","redirect_uris":["https://a.example/cb"]}"#,
            Some(URL),
        );
        assert!(other.unwrap_err().description.contains("not its own URL"));
        for extra in [
            r#","token_endpoint_auth_method":"client_secret_basic""#,
            r#","grant_types":["client_credentials"]"#,
            r#","response_types":["token"]"#,
            r#","client_secret":"x""#,
            r#","client_name":"a\u0007b""#,
        ] {
            assert!(read_metadata(doc(extra).as_bytes(), Some(URL)).is_err(), "{extra}");
        }
        let bad_uri = read_metadata(br#"{"redirect_uris":["http://evil.example/cb"]}"#, None).unwrap_err();
        assert_eq!(bad_uri.code, "invalid_redirect_uri");
        assert_eq!(
            read_metadata(br#"{"redirect_uris":[]}"#, None).unwrap_err().code,
            "invalid_redirect_uri"
        );
        assert!(read_metadata(b"[1]", None).is_err());
    }
}
