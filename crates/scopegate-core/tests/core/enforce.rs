//! The request rules of docs/gateway.md that need no server: credentials, per-request
//! narrowing, forward-auth sources and the shape of each refusal.

use scopegate_core::enforce::{
    Credentials, ForwardedHeaders, Refusal, narrow_request, original_request, read_credentials,
};

use crate::{held, policy};

const POLICY: &str = r#"
[[scope]]
name   = "account"
levels = ["read", "write"]

[[scope]]
name = "public"
levels = ["read"]

[[route]]
match  = "PUT /account/*"
any_of = ["account:write"]

[[route]]
match  = "POST /both"
all_of = ["account:write", "public:read"]
"#;

fn creds(values: &[&str], query: Option<&str>, basic: bool) -> Result<Credentials<'static>, Refusal> {
    let values: Vec<&'static [u8]> = values
        .iter()
        .map(|v| &*Box::leak(v.as_bytes().to_vec().into_boxed_slice()))
        .collect();
    read_credentials(values.into_iter(), query, basic)
}

fn invalid_request(r: Result<Credentials<'static>, Refusal>) -> String {
    match r {
        Err(Refusal::InvalidRequest(why)) => why,
        other => panic!("expected invalid_request, got {other:?}"),
    }
}

#[test]
fn bearer_tokens_are_read_from_the_authorization_header() {
    assert_eq!(
        creds(&["Bearer abc.DEF-_~+/="], None, false),
        Ok(Credentials::Bearer("abc.DEF-_~+/="))
    );
    assert_eq!(creds(&["bearer x"], None, false), Ok(Credentials::Bearer("x")));
    assert_eq!(creds(&[], None, false), Ok(Credentials::None));
    assert!(matches!(
        creds(&["Bearer a b"], None, false),
        Err(Refusal::InvalidToken(_))
    ));
    assert!(matches!(
        creds(&["Bearer "], None, false),
        Err(Refusal::InvalidToken(_))
    ));
    assert!(matches!(
        creds(&["Digest x"], None, false),
        Err(Refusal::InvalidToken(_))
    ));
}

#[test]
fn a_token_given_two_ways_is_invalid_request() {
    assert!(invalid_request(creds(&["Bearer x"], Some("a=1&access_token=x"), false)).contains("two ways"));
    assert!(invalid_request(creds(&[], Some("access_token=x"), false)).contains("URI"));
    assert!(invalid_request(creds(&["Bearer x", "Bearer y"], None, false)).contains("more than one"));
    assert_eq!(
        creds(&["Bearer x"], Some("my_access_token=1"), false),
        Ok(Credentials::Bearer("x"))
    );
}

#[test]
fn basic_credentials_are_read_only_where_basic_auth_is_on() {
    // base64("sgci_id:sgcs_secret")
    let header = "Basic c2djaV9pZDpzZ2NzX3NlY3JldA==";
    assert_eq!(
        creds(&[header], None, true),
        Ok(Credentials::Basic {
            client_id: "sgci_id".into(),
            secret: "sgcs_secret".into()
        })
    );
    match creds(&[header], None, false) {
        Err(Refusal::InvalidToken(why)) => assert!(why.contains("basic_auth")),
        other => panic!("{other:?}"),
    }
    // Malformed Basic credentials are refused with a Basic challenge too.
    assert!(matches!(
        creds(&["Basic !!!"], None, true),
        Err(Refusal::InvalidBasic(_))
    ));
    // base64("nocolon")
    assert!(matches!(
        creds(&["Basic bm9jb2xvbg=="], None, true),
        Err(Refusal::InvalidBasic(_))
    ));
}

#[test]
fn x_oauth_scope_narrows_to_held_scopes_only() {
    let p = policy(POLICY);
    let h = held(&p, "account:write public:read");
    let narrowed = narrow_request(&p.catalog, &h, [&b"account:read"[..]].into_iter()).unwrap();
    assert_eq!(narrowed, held(&p, "account:read"));
    let both = narrow_request(&p.catalog, &h, [&b"account:read, public:read"[..]].into_iter()).unwrap();
    assert_eq!(both, held(&p, "account:read public:read"));
    let small = held(&p, "account:read");
    match narrow_request(&p.catalog, &small, [&b"account:write"[..]].into_iter()) {
        Err(Refusal::NarrowBeyondHeld { missing, .. }) => {
            assert_eq!(p.catalog.display(&missing), "account:write");
        }
        other => panic!("{other:?}"),
    }
    match narrow_request(&p.catalog, &small, [&b"nope"[..]].into_iter()) {
        Err(Refusal::InvalidRequest(why)) => assert!(why.contains("undeclared scope `nope`")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        narrow_request(&p.catalog, &small, [&b" , "[..]].into_iter()),
        Err(Refusal::InvalidRequest(_))
    ));
}

#[test]
fn insufficient_scope_names_the_requirement_and_the_grant() {
    let p = policy(POLICY);
    let h = held(&p, "account:read public:read");
    let route = p.match_route("POST", "/both").unwrap();
    let answer = Refusal::InsufficientScope { route, held: h }.answer(&p);
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.www_authenticate.as_deref(),
        Some("Bearer error=\"insufficient_scope\", scope=\"account:write public:read\"")
    );
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        body["required"],
        serde_json::json!({"all_of": ["account:write", "public:read"]})
    );
    assert_eq!(body["granted"], serde_json::json!(["account:read", "public:read"]));
}

#[test]
fn unauthenticated_has_no_error_attribute_and_invalid_token_has_one() {
    let p = policy(POLICY);
    let a = Refusal::Unauthenticated.answer(&p);
    assert_eq!(
        (a.status, a.www_authenticate.as_deref()),
        (401, Some("Bearer realm=\"scopegate\""))
    );
    let a = Refusal::InvalidToken("expired".into()).answer(&p);
    assert_eq!(
        (a.status, a.www_authenticate.as_deref()),
        (401, Some("Bearer realm=\"scopegate\", error=\"invalid_token\""))
    );
    let a = Refusal::RouteNotFound.answer(&p);
    assert_eq!((a.status, a.body.as_str()), (404, r#"{"error":"route_not_found"}"#));
}

#[test]
fn forward_auth_takes_exactly_one_source() {
    let nginx = ForwardedHeaders {
        original_method: Some("PUT"),
        original_uri: Some("/a?b"),
        ..Default::default()
    };
    assert_eq!(original_request("GET", None, nginx), Ok(("PUT", "/a?b")));
    let traefik = ForwardedHeaders {
        forwarded_method: Some("GET"),
        forwarded_uri: Some("/x"),
        ..Default::default()
    };
    assert_eq!(original_request("GET", None, traefik), Ok(("GET", "/x")));
    assert_eq!(
        original_request("DELETE", Some("/y"), ForwardedHeaders::default()),
        Ok(("DELETE", "/y"))
    );
    // Two sources that agree are one request; two that disagree are refused.
    assert_eq!(original_request("GET", Some("/x"), traefik), Ok(("GET", "/x")));
    assert!(original_request("POST", Some("/x"), traefik).is_err());
    let both = ForwardedHeaders {
        original_method: Some("GET"),
        original_uri: Some("/y"),
        ..traefik
    };
    assert!(original_request("GET", None, both).is_err());
    assert!(original_request("GET", None, ForwardedHeaders::default()).is_err());
    let half = ForwardedHeaders {
        original_uri: Some("/y"),
        ..Default::default()
    };
    assert!(original_request("GET", None, half).is_err());
}
