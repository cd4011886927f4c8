//! Users who live elsewhere (docs/users.md): the `[sign_in]` table and the
//! `[[identity_provider]]` tables, compiled; the mapping from a provider's
//! claims to permissions; and which of a user's permissions count at a
//! given time, by source.
//!
//! Pure: the relying-party flow itself (discovery, the code exchange, the ID
//! token's verification) is the server's, with a relying-party crate.

use std::collections::BTreeSet;
use std::ops::Range;
use std::time::Duration;

use serde_json::{Map, Value};
use toml::Spanned;

use crate::config::{List, RawIdentityProvider, RawSignIn};
use crate::duration::{DURATION_FORMAT, parse_duration};

/// The source of permissions set by an operator (CLI, admin API, portal),
/// and of users made by `scopegate user create` with a password.
pub const LOCAL: &str = "local";
/// The source of users and permissions that a login delegation vouched for.
pub const DELEGATED: &str = "delegated";
/// The prefix of a provider's source: `idp:<name>`.
pub const PROVIDER_PREFIX: &str = "idp:";

/// The source of the users and permissions that provider `name` vouches for.
pub fn provider_source(name: &str) -> String {
    format!("{PROVIDER_PREFIX}{name}")
}

/// `[sign_in]` and every `[[identity_provider]]`.
#[derive(Clone, Debug)]
pub struct SignInSettings {
    /// Whether the local password form is offered.
    pub passwords: bool,
    /// Login delegation: where the browser is sent with `?login_challenge=`.
    pub delegate_to: Option<String>,
    /// How long a delegation's permissions count after it.
    pub permissions_max_age: Option<Duration>,
    pub providers: Vec<IdentityProvider>,
}

impl Default for SignInSettings {
    fn default() -> Self {
        SignInSettings {
            passwords: true,
            delegate_to: None,
            permissions_max_age: None,
            providers: Vec::new(),
        }
    }
}

/// Whether a provider's sign-in may make a user record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The first sign-in makes the user.
    Create,
    /// Only users an operator made beforehand (`user create --idp`) sign in.
    Existing,
}

/// Where a provider's client secret comes from; never the policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// A public client: PKCE only, no secret at the token endpoint.
    None,
    Env(String),
    File(String),
}

/// One `[[identity_provider.permissions]]` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRule {
    pub claim: String,
    pub value: String,
    pub grant: Vec<String>,
}

/// One `[[identity_provider]]`: an OpenID Connect provider users sign in at.
#[derive(Clone, Debug)]
pub struct IdentityProvider {
    pub name: String,
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretSource,
    pub scopes: Vec<String>,
    pub login_claim: String,
    pub users: Admission,
    pub permissions_max_age: Option<Duration>,
    pub default_permissions: Vec<String>,
    pub rules: Vec<ClaimRule>,
    /// Line of the table's `name` key.
    pub line: usize,
}

impl IdentityProvider {
    /// This provider's source of users and permissions.
    pub fn source(&self) -> String {
        provider_source(&self.name)
    }

    /// The permissions a user with these claims gets from this provider:
    /// `default_permissions` and the `grant` of every row whose claim
    /// equals its value (a string claim) or holds it (an array claim; other
    /// elements than strings are ignored). Sorted, each once.
    pub fn permissions_for(&self, claims: &Map<String, Value>) -> Vec<String> {
        let mut out: BTreeSet<&str> = self.default_permissions.iter().map(String::as_str).collect();
        for rule in &self.rules {
            if claim_holds(claims, &rule.claim, &rule.value) {
                out.extend(rule.grant.iter().map(String::as_str));
            }
        }
        out.into_iter().map(str::to_owned).collect()
    }

    /// Every claim the mapping reads: the login claim and each row's.
    pub fn claims_read(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.login_claim.as_str()).chain(self.rules.iter().map(|r| r.claim.as_str()))
    }
}

/// A claim by name: a top-level claim of that exact name, else (for a name
/// with dots, such as Keycloak's `realm_access.roles`) the path through
/// nested objects. Exact names come first because namespaced claims are
/// URLs (`https://example.com/roles`).
pub fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut at = claims.get(parts.next()?)?;
    for part in parts {
        at = at.as_object()?.get(part)?;
    }
    Some(at)
}

/// Whether claim `name` is the string `value` or an array holding it.
pub fn claim_holds(claims: &Map<String, Value>, name: &str, value: &str) -> bool {
    match claim(claims, name) {
        Some(Value::String(s)) => s == value,
        Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(value)),
        _ => false,
    }
}

/// A claim read as a login: a string, or a number written in decimal.
pub fn claim_text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match claim(claims, name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl SignInSettings {
    pub fn provider(&self, name: &str) -> Option<&IdentityProvider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// When permissions from `source`, given at `signed_in_at`, stop
    /// counting: `None` never. A source this policy no longer names (a
    /// provider taken out of the file) vouches for nothing any more.
    pub fn lapses_at(&self, source: &str, signed_in_at: i64) -> Option<i64> {
        let max_age = if source == LOCAL {
            return None;
        } else if source == DELEGATED {
            if self.delegate_to.is_none() {
                return Some(i64::MIN);
            }
            self.permissions_max_age
        } else {
            match source
                .strip_prefix(PROVIDER_PREFIX)
                .and_then(|name| self.provider(name))
            {
                Some(p) => p.permissions_max_age,
                None => return Some(signed_in_at.min(0)),
            }
        };
        max_age.map(|age| signed_in_at.saturating_add(i64::try_from(age.as_secs()).unwrap_or(i64::MAX)))
    }

    /// Whether permissions from `source` given at `signed_in_at` count at `now`.
    pub fn counts(&self, source: &str, signed_in_at: i64, now: i64) -> bool {
        self.lapses_at(source, signed_in_at).is_none_or(|at| now < at)
    }
}

/// What a user with some claims would get from a provider (`scopegate
/// explain --claims`): their login, each mapping row and whether it
/// matched, their permissions, and which scopes they could grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimsExplanation {
    /// The login claim's value, or `None` when the claims lack it.
    pub login: Option<String>,
    /// Each row: (claim, value, grant, matched).
    pub rows: Vec<(String, String, Vec<String>, bool)>,
    pub permissions: Vec<String>,
    /// Scopes whose `requires_permissions` (and those of every scope they
    /// imply) the permissions cover.
    pub may_grant: Vec<String>,
    /// The others, each with the permissions it lacks.
    pub may_not: Vec<(String, Vec<String>)>,
}

/// Explains `claims` through `provider` against `catalog`.
pub fn explain_claims(
    provider: &IdentityProvider,
    catalog: &crate::Catalog,
    claims: &Map<String, Value>,
) -> ClaimsExplanation {
    let permissions = provider.permissions_for(claims);
    let rows = provider
        .rules
        .iter()
        .map(|r| {
            (
                r.claim.clone(),
                r.value.clone(),
                r.grant.clone(),
                claim_holds(claims, &r.claim, &r.value),
            )
        })
        .collect();
    let (mut may_grant, mut may_not) = (Vec::new(), Vec::new());
    for (id, _) in catalog.iter() {
        let mut lacking: Vec<String> = Vec::new();
        for implied in catalog.closure_of(id).iter() {
            for p in &catalog.info(implied).requires_permissions {
                if !permissions.contains(p) && !lacking.contains(p) {
                    lacking.push(p.clone());
                }
            }
        }
        if lacking.is_empty() {
            may_grant.push(catalog.name(id).to_owned());
        } else {
            may_not.push((catalog.name(id).to_owned(), lacking));
        }
    }
    ClaimsExplanation {
        login: claim_text(claims, &provider.login_claim),
        rows,
        permissions,
        may_grant,
        may_not,
    }
}

const PROVIDER_NAME_RULE: &str = "lowercase letters, digits and '-'";

fn is_provider_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_permission_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An absolute URL scopegate may send a browser or a request to: https, or
/// http to a loopback host (for development and tests); no fragment.
fn check_url(v: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(v).map_err(|e| format!("{v:?} is not an absolute URL ({e})"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(format!("{v:?} must be https:// (http:// only to a loopback host)")),
        _ => return Err(format!("{v:?} must be an https:// URL")),
    }
    if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{v:?} must name a host and no user"));
    }
    if url.fragment().is_some() {
        return Err(format!("{v:?} may not have a #fragment"));
    }
    Ok(url)
}

/// Compiles `[sign_in]` and the `[[identity_provider]]` tables, reporting
/// each problem through `err` with the span it is at.
pub(crate) fn compile(
    sign_in: Option<&RawSignIn>,
    providers: &[RawIdentityProvider],
    err: &mut dyn FnMut(Range<usize>, String),
    line: &dyn Fn(usize) -> usize,
) -> SignInSettings {
    let mut out = SignInSettings::default();
    let duration = |key: &str, raw: &Option<Spanned<String>>, err: &mut dyn FnMut(Range<usize>, String)| {
        let v = raw.as_ref()?;
        let parsed = parse_duration(v.get_ref());
        if parsed.is_none() {
            err(
                v.span(),
                format!("`{key}`: {:?} is not a duration; use {DURATION_FORMAT}", v.get_ref()),
            );
        }
        parsed
    };
    if let Some(raw) = sign_in {
        out.passwords = raw.passwords.as_ref().is_none_or(|p| *p.get_ref());
        if let Some(d) = &raw.delegate_to {
            match check_url(d.get_ref()) {
                Ok(url) if url.query().is_some() => err(
                    d.span(),
                    format!(
                        "`sign_in.delegate_to`: {:?} may not have a query; scopegate adds `?login_challenge=`",
                        d.get_ref()
                    ),
                ),
                Ok(_) => out.delegate_to = Some(d.get_ref().clone()),
                Err(e) => err(d.span(), format!("`sign_in.delegate_to`: {e}")),
            }
        }
        out.permissions_max_age = duration("sign_in.permissions_max_age", &raw.permissions_max_age, err);
        if let (Some(age), None) = (&raw.permissions_max_age, &raw.delegate_to) {
            err(
                age.span(),
                "`sign_in.permissions_max_age` applies to delegated sign-ins; set `delegate_to` too, or give each `[[identity_provider]]` its own".to_owned(),
            );
        }
    }
    for raw in providers {
        let label = format!("identity_provider {:?}", raw.name.get_ref());
        let name = raw.name.get_ref().clone();
        if !is_provider_name(&name) {
            err(
                raw.name.span(),
                format!("`identity_provider.name`: {name:?} must be {PROVIDER_NAME_RULE} (1 to 64)"),
            );
        } else if out.providers.iter().any(|p| p.name == name) {
            err(raw.name.span(), format!("{label} is declared twice"));
        }
        let issuer = raw.issuer.get_ref();
        if let Err(e) = check_url(issuer) {
            err(raw.issuer.span(), format!("{label}: `issuer`: {e}"));
        } else if issuer.contains('?') {
            err(
                raw.issuer.span(),
                format!("{label}: `issuer`: {issuer:?} may not have a query"),
            );
        }
        if raw.client_id.get_ref().is_empty() {
            err(raw.client_id.span(), format!("{label}: `client_id` may not be empty"));
        }
        if let Some(secret) = &raw.client_secret {
            err(
                secret.span(),
                format!(
                    "{label}: a secret never goes in the policy file; name where it is with `client_secret_env` or `client_secret_file`"
                ),
            );
        }
        let client_secret = match (&raw.client_secret_env, &raw.client_secret_file) {
            (Some(_), Some(f)) => {
                err(
                    f.span(),
                    format!("{label}: give `client_secret_env` or `client_secret_file`, not both"),
                );
                SecretSource::None
            }
            (Some(e), None) if e.get_ref().is_empty() => {
                err(e.span(), format!("{label}: `client_secret_env` must name a variable"));
                SecretSource::None
            }
            (None, Some(f)) if f.get_ref().is_empty() => {
                err(f.span(), format!("{label}: `client_secret_file` must name a file"));
                SecretSource::None
            }
            (Some(e), None) => SecretSource::Env(e.get_ref().clone()),
            (None, Some(f)) => SecretSource::File(f.get_ref().clone()),
            (None, None) => SecretSource::None,
        };
        let scopes = match &raw.scopes {
            None => vec!["openid".to_owned()],
            Some(list) => {
                let mut scopes: Vec<String> = Vec::new();
                for s in list.get_ref() {
                    if crate::ScopeToken::parse(s.get_ref()).is_err() {
                        err(
                            s.span(),
                            format!(
                                "{label}: `scopes`: {:?} is not a scope (RFC 6749 section 3.3)",
                                s.get_ref()
                            ),
                        );
                    } else if !scopes.contains(s.get_ref()) {
                        scopes.push(s.get_ref().clone());
                    }
                }
                if !scopes.iter().any(|s| s == "openid") {
                    err(list.span(), format!("{label}: `scopes` must include \"openid\""));
                }
                scopes
            }
        };
        let login_claim = match &raw.login_claim {
            None => "sub".to_owned(),
            Some(c) if c.get_ref().is_empty() => {
                err(c.span(), format!("{label}: `login_claim` may not be empty"));
                String::new()
            }
            Some(c) => c.get_ref().clone(),
        };
        let users = match raw.users.as_ref().map(|u| (u, u.get_ref().as_str())) {
            None | Some((_, "create")) => Admission::Create,
            Some((_, "existing")) => Admission::Existing,
            Some((u, other)) => {
                err(
                    u.span(),
                    format!("{label}: `users`: {other:?} must be \"create\" or \"existing\""),
                );
                Admission::Create
            }
        };
        let permissions_max_age = duration(&format!("{label}: permissions_max_age"), &raw.permissions_max_age, err);
        let default_permissions = permissions(&label, "default_permissions", raw.default_permissions.as_ref(), err);
        let mut rules = Vec::new();
        for rule in &raw.permissions {
            if rule.claim.get_ref().is_empty() {
                err(
                    rule.claim.span(),
                    format!("{label}: `permissions.claim` may not be empty"),
                );
            }
            if rule.grant.get_ref().is_empty() {
                err(
                    rule.grant.span(),
                    format!("{label}: `permissions.grant` may not be empty"),
                );
            }
            rules.push(ClaimRule {
                claim: rule.claim.get_ref().clone(),
                value: rule.value.get_ref().clone(),
                grant: permissions(&label, "permissions.grant", Some(&rule.grant), err),
            });
        }
        out.providers.push(IdentityProvider {
            label: raw.label.as_ref().map_or_else(|| name.clone(), |l| l.get_ref().clone()),
            line: line(raw.name.span().start),
            name,
            issuer: issuer.clone(),
            client_id: raw.client_id.get_ref().clone(),
            client_secret,
            scopes,
            login_claim,
            users,
            permissions_max_age,
            default_permissions,
            rules,
        });
    }
    if let Some(p) = sign_in.and_then(|s| s.passwords.as_ref())
        && !*p.get_ref()
        && out.providers.is_empty()
        && out.delegate_to.is_none()
    {
        err(
            p.span(),
            "`sign_in.passwords = false` leaves nobody a way to sign in; add an `[[identity_provider]]` or `sign_in.delegate_to`".to_owned(),
        );
    }
    out
}

fn permissions(label: &str, key: &str, raw: Option<&List>, err: &mut dyn FnMut(Range<usize>, String)) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in raw.map(|l| l.get_ref().as_slice()).unwrap_or_default() {
        if !is_permission_name(p.get_ref()) {
            err(
                p.span(),
                format!(
                    "{label}: `{key}`: permission {:?} must be letters, digits, '-' and '_'",
                    p.get_ref()
                ),
            );
        } else if !out.contains(p.get_ref()) {
            out.push(p.get_ref().clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn provider(rules: &[(&str, &str, &[&str])], defaults: &[&str]) -> IdentityProvider {
        IdentityProvider {
            name: "corp".into(),
            label: "corp".into(),
            issuer: "https://login.example.com".into(),
            client_id: "scopegate".into(),
            client_secret: SecretSource::None,
            scopes: vec!["openid".into()],
            login_claim: "preferred_username".into(),
            users: Admission::Create,
            permissions_max_age: None,
            default_permissions: defaults.iter().map(|s| s.to_string()).collect(),
            rules: rules
                .iter()
                .map(|(claim, value, grant)| ClaimRule {
                    claim: claim.to_string(),
                    value: value.to_string(),
                    grant: grant.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
            line: 1,
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn claim_mapping_table() {
        let p = provider(
            &[
                ("groups", "store-admins", &["Orders", "admin"]),
                ("role", "clerk", &["Orders"]),
                ("realm_access.roles", "auditor", &["Audit"]),
                ("https://example.com/roles", "owner", &["Owner"]),
            ],
            &["Base"],
        );
        let cases: &[(&str, Value, &[&str])] = &[
            (
                "an array claim holding the value grants",
                json!({"groups": ["x", "store-admins"]}),
                &["Base", "Orders", "admin"],
            ),
            (
                "a string claim equal to the value grants",
                json!({"role": "clerk"}),
                &["Base", "Orders"],
            ),
            (
                "a string claim that only contains the value does not",
                json!({"role": "clerks"}),
                &["Base"],
            ),
            ("a missing claim grants only the defaults", json!({}), &["Base"]),
            (
                "non-string elements are ignored",
                json!({"groups": [1, null, {"a": "store-admins"}, ["store-admins"]]}),
                &["Base"],
            ),
            ("a number is not a string", json!({"role": 7}), &["Base"]),
            ("a boolean claim grants nothing", json!({"groups": true}), &["Base"]),
            (
                "the match is case-sensitive",
                json!({"groups": ["Store-Admins"]}),
                &["Base"],
            ),
            (
                "a dotted name reaches into objects",
                json!({"realm_access": {"roles": ["auditor"]}}),
                &["Audit", "Base"],
            ),
            (
                "a namespaced claim is read by its exact name",
                json!({"https://example.com/roles": "owner"}),
                &["Base", "Owner"],
            ),
            (
                "two rows granting the same permission give it once",
                json!({"groups": "store-admins", "role": "clerk"}),
                &["Base", "Orders", "admin"],
            ),
        ];
        for (rule, input, want) in cases {
            assert_eq!(p.permissions_for(&claims(input.clone())), *want, "{rule}");
        }
    }

    #[test]
    fn provider_permissions_lapse_after_max_age_and_unknown_sources_count_for_nothing() {
        let mut settings = SignInSettings::default();
        let mut p = provider(&[], &[]);
        p.permissions_max_age = Some(Duration::from_secs(3600));
        settings.providers.push(p);
        assert!(settings.counts("idp:corp", 1000, 4599));
        assert!(!settings.counts("idp:corp", 1000, 4600));
        assert!(settings.counts(LOCAL, 0, i64::MAX));
        assert!(
            !settings.counts("idp:gone", 1000, 1001),
            "a provider no longer in the policy vouches for nothing"
        );
        assert!(
            !settings.counts(DELEGATED, 1000, 1001),
            "delegation off: its permissions do not count"
        );
        settings.delegate_to = Some("https://app.example.com/login".into());
        assert!(settings.counts(DELEGATED, 1000, i64::MAX));
    }

    fn claim_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            "[a-c]{0,2}".prop_map(Value::String),
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop::collection::vec(inner, 0..4).prop_map(Value::Array)
        })
    }

    proptest! {
        /// A row grants exactly when its claim is the string value or an
        /// array with that string as an element; the defaults always.
        #[test]
        fn claim_mapping_grants_exactly_on_string_or_element_match(v in claim_value(), want in "[a-c]{0,2}") {
            let p = provider(&[("g", &want, &["P"])], &["D"]);
            let matched = match &v {
                Value::String(s) => *s == want,
                Value::Array(a) => a.contains(&Value::String(want.clone())),
                _ => false,
            };
            let got = p.permissions_for(&claims(json!({ "g": v })));
            prop_assert!(got.contains(&"D".to_owned()));
            prop_assert_eq!(got.contains(&"P".to_owned()), matched);
        }
    }
}
