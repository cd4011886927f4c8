//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic` and `client_secret_post` (RFC 6749 section 2.3.1),
//! exactly one of them, and public clients by `client_id` alone where allowed.

use axum::http::{HeaderMap, header};
use scopegate_core::basic::parse_basic;
use scopegate_core::oauth::{ErrorCode, OAuthError};
use scopegate_service::AuditKind;
use scopegate_store::KeySetRecord;

use crate::http::address::ClientAddress;
use crate::http::error::EndpointError;
use crate::http::form::Form;
use crate::state::AppState;
use scopegate_service::credentials::secrets;
use std::sync::Arc;

/// Credentials as presented, before looking anything up. Its `Debug` never
/// shows the secret.
pub(crate) struct Presented {
    pub client_id: String,
    pub secret: Option<String>,
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn bad_client(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, description)
}

/// Reads the client's credentials from the `Authorization: Basic` header or
/// the form; both at once is `invalid_request`.
pub(crate) fn presented(headers: &HeaderMap, form: &Form) -> Result<Presented, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| bad_client("malformed Authorization header"))?;
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(bad_client(
                    "client authentication must use HTTP Basic or client_secret_post",
                ));
            }
            // RFC 6749 section 2.3.1: both parts are form-encoded before Base64.
            let (client_id, secret) = parse_basic(rest).ok_or_else(|| bad_client("malformed Basic credentials"))?;
            Some(Presented {
                client_id,
                secret: Some(secret),
            })
        }
    };
    let posted = form.get("client_id").map(|id| Presented {
        client_id: id.to_owned(),
        secret: form.get("client_secret").map(str::to_owned),
    });
    match (basic, posted) {
        (Some(_), Some(_)) => Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "use one client authentication method, not both",
        )),
        (Some(b), None) => Ok(b),
        (None, Some(p)) => Ok(p),
        (None, None) if form.get("client_secret").is_some() => Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "client_secret without client_id",
        )),
        (None, None) => Err(bad_client("client authentication is required")),
    }
}

/// The longest presented client id the audit trail records as given.
const AUDITED_ID_LEN: usize = 64;

/// Authenticates a client. A confidential client must present its secret; a
/// public client may present only its id, and only where `allow_public`.
/// A failure is audited (`client_auth_failed`) with the presented client id
/// and the source address, never the presented secret.
pub(crate) async fn authenticate(
    state: &AppState,
    address: ClientAddress,
    headers: &HeaderMap,
    form: &Form,
    allow_public: bool,
) -> Result<Arc<KeySetRecord>, EndpointError> {
    let presented = presented(headers, form)?;
    let failed = |why: &str| {
        // As given, but printable: it is the caller's text.
        let id: String = presented
            .client_id
            .chars()
            .take(AUDITED_ID_LEN)
            .map(|c| if c.is_ascii_graphic() { c } else { '?' })
            .collect();
        state.audit_repeated(
            AuditKind::ClientAuthFailed,
            Some(&id),
            None,
            &address.to_string(),
            format!("address={address} reason=\"{why}\""),
        );
    };
    let unknown = || bad_client("unknown client or wrong secret");
    let Some(client) = state
        .clients
        .get(&state.store, &presented.client_id, state.now())
        .await?
    else {
        failed("unknown client");
        return Err(unknown().into());
    };
    let used = match (client.public, presented.secret.as_deref()) {
        (false, Some(secret)) => secrets::matching_client_secret(secret, &client, state.now()).map(|s| s.id.clone()),
        _ => None,
    };
    match (client.public, presented.secret.as_deref(), used) {
        (false, Some(_), Some(id)) => {
            state.secret_uses.note(&state.store, &id, state.now());
            Ok(client)
        }
        (true, None, _) if allow_public => Ok(client),
        (true, None, _) => Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "public clients may not use this endpoint or grant",
        )
        .into()),
        (false, Some(_), None) => {
            failed("wrong secret");
            Err(unknown().into())
        }
        _ => {
            failed("missing or unexpected secret");
            Err(unknown().into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Presented;

    #[test]
    fn presented_client_credentials_never_print_their_secret() {
        let presented = Presented {
            client_id: "sgci_app".into(),
            secret: Some("sgcs_very_secret".into()),
        };
        let printed = format!("{presented:?}");
        assert!(
            printed.contains("sgci_app") && !printed.contains("very_secret"),
            "{printed}"
        );
    }
}
