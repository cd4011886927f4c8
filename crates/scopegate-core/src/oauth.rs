//! Pure OAuth 2.0 protocol decisions: which scope a token gets, how long it
//! lives, whether a refresh may proceed. Handlers load data, call these, and
//! persist the answer. Time is a parameter (Unix seconds).

use std::fmt;
use std::time::Duration;

use crate::catalog::{Catalog, GrantKind};
use crate::policy::Policy;
use crate::scope::split_scope_list;
use crate::scopeset::ScopeSet;

/// RFC 6749 section 5.2 error codes (plus RFC 6750's `invalid_token` and
/// `insufficient_scope`, which share the vocabulary).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    /// RFC 8707 section 2: the `resource` is not one this server issues for.
    InvalidTarget,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidTarget => "invalid_target",
        }
    }
}

/// An RFC 6749 error with a human description (`error_description`).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

/// The resource (RFC 8707) a request names with its `resource` parameter:
/// `None` when it names none; one the policy knows (`gateway.resource`,
/// `mcp.resource`), or `invalid_target`. (A parameter sent twice is refused
/// before this, so a grant is for one resource.)
pub fn requested_resource(policy: &Policy, value: Option<&str>) -> Result<Option<String>, OAuthError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let known = policy.resources();
    if known.contains(&value) {
        Ok(Some(value.to_owned()))
    } else {
        Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            format!(
                "unknown resource {value:?}; this server issues tokens for {}",
                known.join(", ")
            ),
        ))
    }
}

/// The resource of a token issued from a grant (a code's, a refresh
/// token's) for `granted`, when the request names `requested`: the grant's
/// own, or the same one named again, never another (a refresh may narrow,
/// never widen). A grant for no resource is for the gateway's.
pub fn resource_from_grant(
    policy: &Policy,
    granted: Option<&str>,
    requested: Option<&str>,
) -> Result<Option<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(granted.map(str::to_owned));
    };
    let granted_or_gateway = granted.unwrap_or(&policy.settings.gateway.resource);
    if requested == granted_or_gateway {
        Ok(Some(requested.to_owned()))
    } else {
        Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            format!("the grant is for {granted_or_gateway:?}, not {requested:?}"),
        ))
    }
}

/// Why a requested scope is refused: the four reasons of docs/oauth.md.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ScopeRefusal {
    Undeclared,
    NotAssigned,
    GrantNotAllowed(GrantKind),
    NotInEnvironment,
}

impl fmt::Display for ScopeRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeRefusal::Undeclared => f.write_str("is not declared by this server"),
            ScopeRefusal::NotAssigned => f.write_str("is not assigned to this client"),
            ScopeRefusal::GrantNotAllowed(g) => {
                write!(f, "is not allowed for {g} ({})", g.token_kind())
            }
            ScopeRefusal::NotInEnvironment => f.write_str("is not available in this client's environment"),
        }
    }
}

/// What the token endpoint knows of the client when deciding scope.
#[derive(Clone, Copy, Debug)]
pub struct ClientScopes<'a> {
    /// Assigned scopes (names, as stored).
    pub assigned: &'a [String],
    /// Default scopes (a subset of assigned).
    pub default: &'a [String],
    pub environment: &'a str,
}

/// The scope list a token request asks for: the `scope` parameter and the
/// `X-OAuth-Scope` header are two spellings of one list; both present and
/// different is `invalid_request`.
/// The longest scope list a request may carry, in bytes: far more than any
/// policy's scopes, and a bound on the work a request can ask for.
pub const MAX_SCOPE_LIST: usize = 4096;

pub fn requested_scope<'a>(param: Option<&'a str>, header: Option<&'a str>) -> Result<Option<&'a str>, OAuthError> {
    if param.into_iter().chain(header).any(|list| list.len() > MAX_SCOPE_LIST) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("the scope list is longer than {MAX_SCOPE_LIST} bytes"),
        ));
    }
    match (param, header) {
        (Some(p), Some(h)) => {
            let a: Vec<&str> = split_scope_list(p).collect();
            let b: Vec<&str> = split_scope_list(h).collect();
            let (mut a, mut b) = (a, b);
            a.sort_unstable();
            b.sort_unstable();
            if a == b {
                Ok(Some(p))
            } else {
                Err(OAuthError::new(
                    ErrorCode::InvalidRequest,
                    "the scope parameter and the X-OAuth-Scope header name different scopes; send one of them",
                ))
            }
        }
        (p, h) => Ok(p.or(h)),
    }
}

/// Checks one scope name against the four refusal reasons.
pub fn check_scope(
    catalog: &Catalog,
    client: ClientScopes<'_>,
    grant: GrantKind,
    name: &str,
) -> Result<crate::ScopeId, ScopeRefusal> {
    let id = catalog.lookup(name).ok_or(ScopeRefusal::Undeclared)?;
    // Assignment is closed under implication: a client assigned `orders` may
    // ask for `read_orders`.
    let assigned = client
        .assigned
        .iter()
        .filter_map(|a| catalog.lookup(a))
        .any(|a| catalog.closure_of(a).contains(id));
    if !assigned {
        return Err(ScopeRefusal::NotAssigned);
    }
    let info = catalog.info(id);
    if !info.allows_grant(grant) {
        return Err(ScopeRefusal::GrantNotAllowed(grant));
    }
    if !info.available_in(client.environment) {
        return Err(ScopeRefusal::NotInEnvironment);
    }
    Ok(id)
}

/// The scope a new grant gets (docs/oauth.md, token issuance rules). With no
/// request, the client's defaults that this grant may carry; otherwise every
/// requested scope must pass [`check_scope`].
pub fn decide_scope(
    policy: &Policy,
    client: ClientScopes<'_>,
    grant: GrantKind,
    requested: Option<&str>,
) -> Result<ScopeSet, OAuthError> {
    let catalog = &policy.catalog;
    let mut set = catalog.empty_set();
    match requested {
        None => {
            for name in client.default {
                if let Ok(id) = check_scope(catalog, client, grant, name) {
                    set.insert(id);
                }
            }
            if set.is_empty() {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!(
                        "no scope was requested and none of this client's default scopes may be carried by {grant} ({})",
                        grant.token_kind()
                    ),
                ));
            }
        }
        Some(list) => {
            for name in split_scope_list(list) {
                let id = check_scope(catalog, client, grant, name)
                    .map_err(|why| OAuthError::new(ErrorCode::InvalidScope, format!("scope \"{name}\" {why}")))?;
                set.insert(id);
            }
            if set.is_empty() {
                return Err(OAuthError::new(ErrorCode::InvalidScope, "the scope list is empty"));
            }
        }
    }
    Ok(catalog.normalize(&set))
}

/// The scope of a refreshed token: the grant's scope, or a narrowing of it.
/// A scope outside the grant is `invalid_scope` (tokens never widen); a scope
/// the client lost since is refused too.
pub fn decide_refresh_scope(
    policy: &Policy,
    client: ClientScopes<'_>,
    grant: GrantKind,
    grant_scope: &str,
    requested: Option<&str>,
) -> Result<ScopeSet, OAuthError> {
    let catalog = &policy.catalog;
    let granted = catalog.parse_list(grant_scope).map_err(|e| {
        OAuthError::new(
            ErrorCode::InvalidGrant,
            format!("the grant carries a scope the policy no longer declares ({e}); obtain a new grant"),
        )
    })?;
    let held = catalog.close(&granted);
    let wanted = match requested {
        None => granted.clone(),
        Some(list) => {
            let mut set = catalog.empty_set();
            for name in split_scope_list(list) {
                let id = catalog.lookup(name).ok_or_else(|| {
                    OAuthError::new(
                        ErrorCode::InvalidScope,
                        format!("scope \"{name}\" {}", ScopeRefusal::Undeclared),
                    )
                })?;
                if !held.contains(id) {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        format!(
                            "scope \"{name}\" was not granted; a refresh may narrow the scope, never widen it (obtain a new grant)"
                        ),
                    ));
                }
                set.insert(id);
            }
            set
        }
    };
    for id in wanted.iter() {
        check_scope(catalog, client, grant, catalog.name(id))
            .map_err(|why| OAuthError::new(ErrorCode::InvalidScope, format!("scope \"{}\" {why}", catalog.name(id))))?;
    }
    Ok(catalog.normalize(&wanted))
}

/// How long a token lives. `None` means it never expires.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Lifetimes {
    /// Unix time the access token expires.
    pub access_expires_at: Option<i64>,
    /// Whether a refresh token is issued, and when it expires.
    pub refresh: Option<Option<i64>>,
}

impl Lifetimes {
    /// `expires_in` for the token response.
    pub fn expires_in(&self, now: i64) -> Option<i64> {
        self.access_expires_at.map(|at| (at - now).max(0))
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Lifetimes for a token with `scope`, issued `now` under a grant made at
/// `granted_at` (docs/oauth.md): `client_credentials` and `no_expiry` tokens
/// get no refresh token; `no_expiry` tokens no expiry, unless a
/// `max_lifetime` caps them; every `max_lifetime` caps every token, counted
/// from the original grant.
pub fn lifetimes(policy: &Policy, scope: &ScopeSet, grant: GrantKind, granted_at: i64, now: i64) -> Lifetimes {
    let catalog = &policy.catalog;
    let tokens = &policy.settings.tokens;
    let held = catalog.close(scope);
    let no_expiry = held.set().iter().any(|id| catalog.info(id).no_expiry);
    let cap = held
        .set()
        .iter()
        .filter_map(|id| catalog.info(id).max_lifetime)
        .min()
        .map(|d| granted_at.saturating_add(secs(d)));
    let access = if no_expiry {
        None
    } else {
        Some(now.saturating_add(secs(tokens.access_ttl)))
    };
    let access_expires_at = match (access, cap) {
        (Some(a), Some(c)) => Some(a.min(c)),
        (a, c) => a.or(c),
    };
    let refresh = (grant == GrantKind::AuthorizationCode && !no_expiry).then(|| {
        let r = now.saturating_add(secs(tokens.refresh_ttl));
        Some(cap.map_or(r, |c| r.min(c)))
    });
    Lifetimes {
        access_expires_at,
        refresh,
    }
}

/// A redirect URI the client registered (or, for a public client, the same
/// loopback URI on another port). Only [`match_redirect`] makes one, so an
/// authorize endpoint cannot redirect anywhere else.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RegisteredRedirectUri(String);

impl RegisteredRedirectUri {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This URI with `params` appended to its query (RFC 6749 section 4.1.2).
    pub fn with_params(&self, params: &str) -> String {
        let separator = if self.0.contains('?') { '&' } else { '?' };
        format!("{}{separator}{params}", self.0)
    }
}

/// Why no redirect may happen. The endpoint shows an error page instead.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum RedirectError {
    #[error("this app has no redirect URI registered")]
    NoneRegistered,
    #[error("redirect_uri is required: this app registers more than one")]
    Ambiguous,
    #[error("redirect_uri {0:?} is not registered for this app (redirect URIs must match exactly)")]
    NotRegistered(String),
}

/// `(host, port, path and query)` of an `http://127.0.0.1` or `http://[::1]` URI.
fn loopback_parts(uri: &str) -> Option<(&str, &str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) = rest.find(['/', '?']).map_or((rest, ""), |i| rest.split_at(i));
    // Userinfo or a backslash would make a browser go elsewhere.
    if authority.contains(['@', '\\']) || path.contains('\\') {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix("[::1]") {
        ("[::1]", v6.strip_prefix(':').unwrap_or(v6))
    } else {
        let (h, p) = authority.split_once(':').unwrap_or((authority, ""));
        (h, p)
    };
    let port_ok = port.is_empty() || (port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()));
    (matches!(host, "127.0.0.1" | "[::1]") && port_ok).then_some((host, port, path))
}

/// Matches a requested redirect URI against the registered ones (RFC 9700
/// section 4.1.3: exact string match), with the one exception of RFC 8252
/// section 7.3: a public client's loopback URI may use any port.
pub fn match_redirect(
    registered: &[String],
    requested: Option<&str>,
    public: bool,
) -> Result<RegisteredRedirectUri, RedirectError> {
    let Some(requested) = requested else {
        return match registered {
            [] => Err(RedirectError::NoneRegistered),
            [only] => Ok(RegisteredRedirectUri(only.clone())),
            _ => Err(RedirectError::Ambiguous),
        };
    };
    if registered.iter().any(|r| r == requested) {
        return Ok(RegisteredRedirectUri(requested.to_owned()));
    }
    if public && let Some((host, _, path)) = loopback_parts(requested) {
        let same = registered
            .iter()
            .filter_map(|r| loopback_parts(r))
            .any(|(h, _, p)| h == host && p == path);
        if same {
            return Ok(RegisteredRedirectUri(requested.to_owned()));
        }
    }
    if registered.is_empty() {
        Err(RedirectError::NoneRegistered)
    } else {
        Err(RedirectError::NotRegistered(requested.to_owned()))
    }
}

#[cfg(test)]
mod redirect_tests {
    use super::*;

    fn reg(uris: &[&str]) -> Vec<String> {
        uris.iter().map(|u| (*u).to_owned()).collect()
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let r = reg(&["https://app.example/cb"]);
        assert!(match_redirect(&r, Some("https://app.example/cb"), false).is_ok());
        for bad in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://APP.example/cb",
            "https://app.example/c",
            "https://app.example/cb#f",
        ] {
            assert_eq!(
                match_redirect(&r, Some(bad), false),
                Err(RedirectError::NotRegistered(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_loopback_uri_with_userinfo_never_matches_by_port() {
        let registered = reg(&["http://127.0.0.1/cb"]);
        for requested in [
            "http://127.0.0.1:80@evil.example/cb",
            "http://127.0.0.1\\@evil.example/cb",
        ] {
            assert!(
                match_redirect(&registered, Some(requested), true).is_err(),
                "{requested}"
            );
        }
    }

    #[test]
    fn omitted_redirect_uri_needs_exactly_one_registered() {
        assert_eq!(
            match_redirect(&reg(&["https://a/cb"]), None, false).map(|r| r.0),
            Ok("https://a/cb".to_owned())
        );
        assert_eq!(
            match_redirect(&reg(&["https://a/cb", "https://b/cb"]), None, false),
            Err(RedirectError::Ambiguous)
        );
        assert_eq!(match_redirect(&[], None, false), Err(RedirectError::NoneRegistered));
    }

    #[test]
    fn loopback_port_may_vary_for_public_clients_only() {
        let r = reg(&["http://127.0.0.1/callback", "http://[::1]:8000/cb"]);
        assert!(match_redirect(&r, Some("http://127.0.0.1:51234/callback"), true).is_ok());
        assert!(match_redirect(&r, Some("http://[::1]:9/cb"), true).is_ok());
        assert!(
            match_redirect(&r, Some("http://127.0.0.1:51234/callback"), false).is_err(),
            "confidential: exact only"
        );
        assert!(
            match_redirect(&r, Some("http://127.0.0.1:51234/other"), true).is_err(),
            "path must match"
        );
        assert!(match_redirect(&r, Some("http://127.0.0.1.evil.example:80/callback"), true).is_err());
        assert!(
            match_redirect(&r, Some("http://localhost:5000/callback"), true).is_err(),
            "localhost is not a loopback literal"
        );
    }

    #[test]
    fn with_params_appends_to_an_existing_query() {
        assert_eq!(
            RegisteredRedirectUri("https://a/cb?x=1".into()).with_params("code=c"),
            "https://a/cb?x=1&code=c"
        );
        assert_eq!(
            RegisteredRedirectUri("https://a/cb".into()).with_params("code=c"),
            "https://a/cb?code=c"
        );
    }
}
