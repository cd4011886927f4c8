//! What an app's key set may be registered with, decided against the policy:
//! one set of rules for `scopegate app create`, the admin API and the portal.
//! Each refusal names the field it is about, so that a command can print its
//! flag and an endpoint its JSON field.

use crate::policy::Policy;
use crate::scope::split_scope_list;

/// A request to register a key set of an app in one environment, as given.
#[derive(Clone, Debug, Default)]
pub struct AppRequest<'a> {
    pub name: &'a str,
    pub environment: &'a str,
    /// Space- or comma-separated.
    pub scopes: &'a str,
    /// `None`: every assigned scope.
    pub default_scopes: Option<&'a str>,
    pub redirect_uris: &'a [String],
    pub public: bool,
    pub resource_server: bool,
}

/// The checked scope lists, declared names in input order without repeats.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Registration {
    pub scopes: Vec<String>,
    pub default_scopes: Vec<String>,
}

/// Which field was refused, and why.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field as the admin API spells it (`default_scopes`); commands
    /// print it as a flag (`--default-scopes`).
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }

    /// The field as a command-line flag.
    pub fn flag(&self) -> String {
        format!("--{}", self.field.replace('_', "-"))
    }
}

/// The longest app name, in characters.
pub const MAX_NAME: usize = 100;

/// Checks a registration against `policy`; the first problem is the answer.
pub fn check_app(policy: &Policy, request: &AppRequest<'_>) -> Result<Registration, FieldError> {
    let env = request.environment;
    if !policy.environments.iter().any(|e| e == env) {
        return Err(FieldError::new(
            "environment",
            format!(
                "environment {env:?} is not declared in {} ({})",
                policy.file,
                policy.environments.join(", ")
            ),
        ));
    }
    check_name(request.name)?;
    let scopes = scope_list(policy, "scopes", request.scopes, env)?;
    if scopes.is_empty() {
        return Err(FieldError::new("scopes", "assign at least one scope"));
    }
    let default_scopes = match request.default_scopes {
        None => scopes.clone(),
        Some(list) => {
            let defaults = scope_list(policy, "default_scopes", list, env)?;
            let catalog = &policy.catalog;
            let (assigned, chosen) = (catalog.known(&scopes.join(" ")), catalog.known(&defaults.join(" ")));
            if let Some(extra) = catalog.first_default_not_assigned(&assigned, &chosen) {
                return Err(FieldError::new(
                    "default_scopes",
                    format!(
                        "{:?} is not among the assigned scopes, nor implied by them",
                        catalog.name(extra)
                    ),
                ));
            }
            defaults
        }
    };
    for uri in request.redirect_uris {
        check_redirect_uri(uri, request.public)?;
    }
    if request.public && request.resource_server {
        return Err(FieldError::new(
            "resource_server",
            "a resource server must be a confidential client: it authenticates to introspect",
        ));
    }
    Ok(Registration { scopes, default_scopes })
}

/// An app's display name: shown on consent pages, so visible and one line.
pub fn check_name(name: &str) -> Result<(), FieldError> {
    if name.trim().is_empty() {
        return Err(FieldError::new("name", "may not be empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(FieldError::new("name", format!("at most {MAX_NAME} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new("name", "may not contain control characters"));
    }
    if let Some(c) = name.chars().find(|c| is_format_character(*c)) {
        return Err(FieldError::new(
            "name",
            format!(
                "may not contain U+{:04X}: an invisible or text-direction character would let a consent page show a name other than the one stored",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// A scope list checked against the policy and the environment, in input order.
pub fn scope_list(policy: &Policy, field: &'static str, list: &str, env: &str) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::new();
    for name in split_scope_list(list) {
        let Some(id) = policy.catalog.lookup(name) else {
            return Err(FieldError::new(
                field,
                format!("scope {name:?} is not declared in {}", policy.file),
            ));
        };
        if !policy.catalog.info(id).available_in(env) {
            return Err(FieldError::new(
                field,
                format!("scope {name:?} is not available in environment {env:?}"),
            ));
        }
        if !out.iter().any(|o| o == name) {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

/// RFC 9700 and RFC 8252: https anywhere, http only on a loopback host, a
/// reverse-domain private scheme for a public (native) client; never a
/// fragment, userinfo or a backslash. The URI is parsed as a browser parses
/// it (WHATWG URL), so the host checked is the host a browser would go to:
/// `http://localhost:80@evil.example/cb` is evil.example's.
pub fn check_redirect_uri(uri: &str, public: bool) -> Result<(), FieldError> {
    let refuse = |why: &str| {
        Err(FieldError::new(
            "redirect_uris",
            format!(
                "{uri:?} must be an https:// URI, http:// on a loopback host, or (public clients) a reverse-domain private scheme, with no fragment{why}"
            ),
        ))
    };
    if uri.contains('#') || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("");
    }
    if uri.contains('\\') {
        return refuse(": a backslash is read as \"/\" by browsers, so the host would not be what it seems");
    }
    let Ok(parsed) = url::Url::parse(uri) else {
        return refuse("");
    };
    let (scheme, rest) = uri.split_once("://").unwrap_or(("", ""));
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if !parsed.username().is_empty() || parsed.password().is_some() || authority.contains('@') {
        return refuse(
            ": user information (\"…@\") before the host is not allowed; the browser would go to the host after it",
        );
    }
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() && ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    let ok = match scheme {
        "https" => parsed.host_str().is_some_and(|h| !h.is_empty()),
        "http" => loopback,
        s => public && s.contains('.') && !rest.is_empty(),
    };
    if !ok {
        return refuse("");
    }
    Ok(())
}

/// Unicode's format characters (general category Cf: bidirectional
/// embeddings, overrides and isolates, zero-width characters, the byte-order
/// mark, invisible operators, tags) and the line and paragraph separators.
fn is_format_character(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// A user's login or a permission name.
pub fn check_login(field: &'static str, s: &str) -> Result<(), FieldError> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{s:?}: use letters, digits and - _ . @ (1 to 128)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn policy() -> Policy {
        Policy::compile(
            "p.toml",
            r#"
environments = ["sandbox", "production"]
[[scope]]
name   = "account"
levels = ["read", "write"]
[[scope]]
name = "feed"
environments = ["production"]
"#,
        )
        .unwrap()
    }

    fn request<'a>(scopes: &'a str, defaults: Option<&'a str>) -> AppRequest<'a> {
        AppRequest {
            name: "Reports",
            environment: "sandbox",
            scopes,
            default_scopes: defaults,
            ..AppRequest::default()
        }
    }

    #[test]
    fn default_scopes_default_to_every_assigned_scope() {
        let r = check_app(&policy(), &request("account:write, account:write", None)).unwrap();
        assert_eq!(r.scopes, ["account:write"]);
        assert_eq!(r.default_scopes, ["account:write"]);
    }

    #[test]
    fn default_scopes_may_be_implied_by_the_assignment_but_not_beyond_it() {
        let p = policy();
        let r = check_app(&p, &request("account:write", Some("account:read"))).unwrap();
        assert_eq!(r.default_scopes, ["account:read"]);
        let e = check_app(&p, &request("account:read", Some("account:write"))).unwrap_err();
        assert_eq!(e.field, "default_scopes");
    }

    #[test]
    fn a_scope_not_available_in_the_environment_is_refused() {
        let e = check_app(&policy(), &request("feed", None)).unwrap_err();
        assert_eq!(e.field, "scopes");
        assert!(e.message.contains("not available in environment \"sandbox\""), "{e}");
    }

    #[test]
    fn each_refusal_names_its_field() {
        let p = policy();
        let cases: [(AppRequest<'_>, &str); 5] = [
            (
                AppRequest {
                    environment: "staging",
                    ..request("account:read", None)
                },
                "environment",
            ),
            (
                AppRequest {
                    name: " ",
                    ..request("account:read", None)
                },
                "name",
            ),
            (request("", None), "scopes"),
            (request("nope", None), "scopes"),
            (
                AppRequest {
                    public: true,
                    resource_server: true,
                    ..request("account:read", None)
                },
                "resource_server",
            ),
        ];
        for (r, field) in cases {
            assert_eq!(check_app(&p, &r).unwrap_err().field, field, "{r:?}");
        }
        assert_eq!(FieldError::new("default_scopes", "x").flag(), "--default-scopes");
    }

    #[test]
    fn redirect_uris_are_https_loopback_http_or_a_native_scheme() {
        for ok in ["https://app.example/cb", "http://127.0.0.1:9000/cb", "http://[::1]/cb"] {
            assert!(check_redirect_uri(ok, false).is_ok(), "{ok}");
        }
        assert!(check_redirect_uri("com.example.app://cb", true).is_ok());
        for bad in [
            "http://app.example/cb",
            "https://app.example/cb#x",
            "com.example.app://cb",
            "https://",
            "https://a.example/\u{0}",
        ] {
            assert_eq!(
                check_redirect_uri(bad, false).unwrap_err().field,
                "redirect_uris",
                "{bad}"
            );
        }
    }

    #[test]
    fn redirect_uris_with_userinfo_or_a_backslash_are_refused() {
        for bad in [
            "http://localhost:80@evil.example/cb",
            "http://127.0.0.1:80@evil.example/cb",
            "http://[::1]:80@evil.example/cb",
            "http://127.0.0.1\\@evil.example/cb",
            "http://localhost\\@evil.example/cb",
            "http://127.0.0.1@evil.example/cb",
            "https://user:pass@app.example/cb",
            "https://app.example\\@evil.example/cb",
            "http://evil.example\\127.0.0.1/cb",
        ] {
            for public in [false, true] {
                assert_eq!(
                    check_redirect_uri(bad, public).unwrap_err().field,
                    "redirect_uris",
                    "{bad}"
                );
            }
        }
        assert!(check_redirect_uri("http://localhost:8080/cb?next=a@b", false).is_ok());
        assert!(check_redirect_uri("http://localhost/cb", false).is_ok());
    }

    #[test]
    fn app_names_with_bidi_or_zero_width_characters_are_refused() {
        for bad in [
            "Safe\u{202E}ppA",
            "Pay\u{200B}Pal",
            "\u{FEFF}Reports",
            "A\u{2066}B\u{2069}",
            "Line\u{2028}break",
            "soft\u{00AD}hyphen",
            "tag\u{E0041}",
        ] {
            let e = check_name(bad).unwrap_err();
            assert_eq!(e.field, "name", "{bad:?}");
            assert!(
                e.message.contains("invisible or text-direction"),
                "{bad:?}: {}",
                e.message
            );
        }
        for ok in ["Reports", "Café Ünïcode", "日本語のアプリ", "עברית", "emoji 🚀"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn logins_are_short_plain_names() {
        assert!(check_login("login", "ana.lopez@shop").is_ok());
        for bad in ["", "a b", "ä", &"x".repeat(129)] {
            assert!(check_login("login", bad).is_err(), "{bad:?}");
        }
    }
}
