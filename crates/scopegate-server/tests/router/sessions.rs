//! Sessions and the forms they sign (docs/security.md, "Sessions and forms"):
//! a form's CSRF cookie bound to the session it was signed in with, forms
//! from another site refused, a session replaced at each sign-in, ended for
//! good when its user is disabled, and "sign out everywhere".

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use scopegate_service::credentials::passwords::hash_password;
use scopegate_store::{Store, UserRecord};
use tower::ServiceExt;

use crate::{Harness, T0};

pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

pub(crate) async fn send(
    h: &Harness,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: Option<&str>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let body = match form {
        Some(f) => {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(f.to_owned())
        }
        None => Body::empty(),
    };
    let response = h.app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22).await.unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub(crate) async fn user(h: &Harness, login: &str, permissions: &[&str]) {
    let u = UserRecord::local(
        login,
        hash_password("a long password").unwrap(),
        permissions.iter().map(|p| (*p).to_owned()).collect(),
        T0,
    );
    assert!(h.store.create_user(&u).await.unwrap());
}

/// Signs in with the CSRF cookie `csrf` (and whatever `cookies` the browser
/// already holds); the browser's cookies afterwards.
pub(crate) async fn sign_in_with(h: &Harness, login: &str, csrf: &str, cookies: &str) -> String {
    let jar = if cookies.is_empty() {
        format!("sg_csrf={csrf}")
    } else {
        format!("{cookies}; sg_csrf={csrf}")
    };
    let r = send(
        h,
        "POST",
        "/portal/sign-in",
        &[("cookie", &jar)],
        Some(&format!("csrf={csrf}&login={login}&password=a+long+password")),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let session = r.headers[header::SET_COOKIE].to_str().unwrap();
    format!("sg_csrf={csrf}; {}", session.split(';').next().unwrap())
}

const NEW_APP: &str = "name=R&environment=sandbox&scopes=account%3Aread";

async fn register(h: &Harness, cookies: &str, csrf: &str, extra: &[(&str, &str)]) -> StatusCode {
    let mut headers = vec![("cookie", cookies)];
    headers.extend_from_slice(extra);
    send(
        h,
        "POST",
        "/portal/apps/new",
        &headers,
        Some(&format!("csrf={csrf}&{NEW_APP}")),
    )
    .await
    .status
}

#[tokio::test]
async fn a_planted_csrf_cookie_matches_no_session_and_its_form_changes_nothing() {
    let h = Harness::new().await;
    user(&h, "dev", &[]).await;
    let cookies = sign_in_with(&h, "dev", "sgcf_browser", "").await;
    // A sibling subdomain sets its own CSRF cookie and submits a matching field.
    let planted = cookies.replace("sg_csrf=sgcf_browser", "sg_csrf=sgcf_planted");
    assert_eq!(register(&h, &planted, "sgcf_planted", &[]).await, StatusCode::FORBIDDEN);
    assert!(h.store.key_sets().await.unwrap().is_empty(), "nothing written");
    assert_eq!(register(&h, &cookies, "sgcf_browser", &[]).await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_form_from_another_site_or_a_sibling_subdomain_is_refused() {
    let h = Harness::new().await;
    user(&h, "dev", &[]).await;
    let cookies = sign_in_with(&h, "dev", "sgcf_browser", "").await;
    for extra in [
        [("sec-fetch-site", "cross-site"), ("host", "127.0.0.1:8080")],
        [("sec-fetch-site", "same-site"), ("host", "127.0.0.1:8080")],
        [("origin", "http://evil.example"), ("host", "127.0.0.1:8080")],
        [("origin", "null"), ("sec-fetch-site", "cross-site")],
    ] {
        assert_eq!(
            register(&h, &cookies, "sgcf_browser", &extra).await,
            StatusCode::FORBIDDEN,
            "{extra:?}"
        );
    }
    assert!(h.store.key_sets().await.unwrap().is_empty(), "nothing written");
    let same = [
        ("sec-fetch-site", "same-origin"),
        ("origin", "http://portal.example:9000"),
        ("host", "portal.example:9000"),
    ];
    assert_eq!(
        register(&h, &cookies, "sgcf_browser", &same).await,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn signing_in_again_replaces_the_session() {
    let h = Harness::new().await;
    user(&h, "dev", &[]).await;
    let first = sign_in_with(&h, "dev", "sgcf_browser", "").await;
    let old_session = first.split("; ").nth(1).unwrap().to_owned();
    let second = sign_in_with(&h, "dev", "sgcf_browser", &old_session).await;
    assert_ne!(first, second, "a new session id");
    let home = send(&h, "GET", "/portal/", &[("cookie", &first)], None).await;
    assert_eq!(
        home.headers[header::LOCATION],
        "/portal/sign-in",
        "the old session ended"
    );
    let home = send(&h, "GET", "/portal/", &[("cookie", &second)], None).await;
    assert_eq!(home.status, StatusCode::OK);
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_for_good() {
    let h = Harness::new().await;
    user(&h, "dev", &[]).await;
    let cookies = sign_in_with(&h, "dev", "sgcf_browser", "").await;
    h.store.set_user_enabled("dev", false).await.unwrap();
    h.store.set_user_enabled("dev", true).await.unwrap();
    let home = send(&h, "GET", "/portal/", &[("cookie", &cookies)], None).await;
    assert_eq!(
        home.headers[header::LOCATION],
        "/portal/sign-in",
        "enabling again revives no session"
    );
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session_of_the_user_and_is_audited() {
    let h = Harness::new().await;
    user(&h, "dev", &[]).await;
    user(&h, "other", &[]).await;
    let laptop = sign_in_with(&h, "dev", "sgcf_laptop", "").await;
    let phone = sign_in_with(&h, "dev", "sgcf_phone", "").await;
    let other = sign_in_with(&h, "other", "sgcf_other", "").await;
    let connected = send(&h, "GET", "/portal/connected", &[("cookie", &phone)], None).await;
    assert!(
        connected.body.contains("action=\"/portal/sign-out-everywhere\""),
        "{}",
        connected.body
    );
    let r = send(
        &h,
        "POST",
        "/portal/sign-out-everywhere",
        &[("cookie", &phone)],
        Some("csrf=sgcf_phone"),
    )
    .await;
    assert_eq!(
        (r.status, &r.headers[header::LOCATION]),
        (StatusCode::SEE_OTHER, &"/portal/sign-in".parse().unwrap())
    );
    for gone in [&laptop, &phone] {
        let home = send(&h, "GET", "/portal/", &[("cookie", gone)], None).await;
        assert_eq!(home.status, StatusCode::SEE_OTHER);
    }
    assert_eq!(
        send(&h, "GET", "/portal/", &[("cookie", &other)], None).await.status,
        StatusCode::OK
    );
    let audit = h.store.audit_log(5).await.unwrap();
    assert!(
        audit.iter().any(|e| e.event == "sessions_ended"
            && e.subject.as_deref() == Some("dev")
            && e.detail == "sessions=2 by user dev"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn an_administrator_signs_a_user_out_everywhere_in_the_portal_and_the_admin_api() {
    let h = Harness::new().await;
    user(&h, "boss", &["admin"]).await;
    user(&h, "dev", &[]).await;
    let dev = sign_in_with(&h, "dev", "sgcf_dev", "").await;
    let boss = sign_in_with(&h, "boss", "sgcf_boss", "").await;
    let r = send(
        &h,
        "POST",
        "/portal/admin/users/dev/sign-out",
        &[("cookie", &boss)],
        Some("csrf=sgcf_boss"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        send(&h, "GET", "/portal/", &[("cookie", &dev)], None).await.status,
        StatusCode::SEE_OTHER
    );
    let dev = sign_in_with(&h, "dev", "sgcf_dev", "").await;
    let admin = h.admin_token(&["admin:write"]).await;
    let r = h
        .admin("POST", "/admin/api/users/dev/sign-out", Some(&admin), None)
        .await;
    assert_eq!(r.json, serde_json::json!({"sessions_ended": 1}));
    assert_eq!(
        send(&h, "GET", "/portal/", &[("cookie", &dev)], None).await.status,
        StatusCode::SEE_OTHER
    );
    let r = h
        .admin("POST", "/admin/api/users/nobody/sign-out", Some(&admin), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pages_send_forms_only_to_this_site_and_the_consent_page_also_to_the_app() {
    let h = Harness::new().await;
    user(&h, "dev", &[]).await;
    let sign_in = send(&h, "GET", "/portal/sign-in", &[], None).await;
    let csp = sign_in.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.ends_with("form-action 'self'"), "{csp}");
    let c = h.client("production", "account:read", "account:read", false).await;
    h.store
        .set_redirect_uris(&c.id, &["https://app.example/cb".to_owned()])
        .await
        .unwrap();
    let cookies = sign_in_with(&h, "dev", "sgcf_browser", "").await;
    let consent = send(
        &h,
        "GET",
        &format!(
            "/oauth2/authorize?response_type=code&client_id={}&scope=account:read&state=s",
            c.id
        ),
        &[("cookie", &cookies)],
        None,
    )
    .await;
    assert!(consent.body.contains("approve"), "{}", consent.body);
    let csp = consent.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.ends_with("form-action 'self' https://app.example"), "{csp}");
}

#[tokio::test]
async fn behind_https_the_cookies_are_host_prefixed_and_secure() {
    let h = Harness::with_policy(&format!("issuer = \"https://auth.example\"\n{}", crate::POLICY)).await;
    user(&h, "dev", &[]).await;
    let page = send(&h, "GET", "/portal/sign-in", &[], None).await;
    let csrf = page.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        csrf.starts_with("__Host-sg_csrf=") && csrf.contains("; Secure"),
        "{csrf}"
    );
    let value = csrf.split(';').next().unwrap().trim_start_matches("__Host-sg_csrf=");
    // The unprefixed name, as a sibling subdomain could set it, is not read.
    let r = send(
        &h,
        "POST",
        "/portal/sign-in",
        &[("cookie", &format!("sg_csrf={value}"))],
        Some(&format!("csrf={value}&login=dev&password=a+long+password")),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        &h,
        "POST",
        "/portal/sign-in",
        &[("cookie", &format!("__Host-sg_csrf={value}"))],
        Some(&format!("csrf={value}&login=dev&password=a+long+password")),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let session = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        session.starts_with("__Host-sg_session=") && session.contains("; Secure"),
        "{session}"
    );
}

/// The cookies a response sets, as a `Cookie` header adds them.
fn set_cookies(r: &Answer) -> String {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn reloading_the_page_after_a_form_never_sends_the_form_again() {
    let h = Harness::new().await;
    user(&h, "dev", &[]).await;
    let cookies = sign_in_with(&h, "dev", "sgcf_b", "").await;
    let r = send(
        &h,
        "POST",
        "/portal/apps/new",
        &[("cookie", &cookies)],
        Some(&format!("csrf=sgcf_b&{NEW_APP}")),
    )
    .await;
    assert_eq!(
        (r.status, &r.headers[header::LOCATION]),
        (StatusCode::SEE_OTHER, &"/portal/shown".parse().unwrap())
    );
    let viewer = format!("{cookies}; {}", set_cookies(&r));
    let shown = send(&h, "GET", "/portal/shown", &[("cookie", &viewer)], None).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(
        shown.body.contains("Your app is registered") && shown.body.contains("sgcs_"),
        "{}",
        shown.body
    );
    // A reload: the secret is not shown again, and nothing is registered again.
    let again = send(&h, "GET", "/portal/shown", &[("cookie", &viewer)], None).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(
        !again.body.contains("sgcs_") && again.body.contains("add another secret"),
        "{}",
        again.body
    );
    let k = h.store.key_sets().await.unwrap();
    assert_eq!(k.len(), 1);
    // Adding a secret, likewise; another user cannot take the view.
    let r = send(
        &h,
        "POST",
        &format!("/portal/apps/{}/keys/{}/secrets", k[0].app_id, k[0].client_id),
        &[("cookie", &cookies)],
        Some("csrf=sgcf_b"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    user(&h, "other", &[]).await;
    let other = sign_in_with(&h, "other", "sgcf_o", "").await;
    let stolen = send(
        &h,
        "GET",
        "/portal/shown",
        &[("cookie", &format!("{other}; {}", set_cookies(&r)))],
        None,
    )
    .await;
    assert_eq!(stolen.status, StatusCode::GONE);
    let mine = send(
        &h,
        "GET",
        "/portal/shown",
        &[("cookie", &format!("{cookies}; {}", set_cookies(&r)))],
        None,
    )
    .await;
    assert!(mine.body.contains("Your new client secret"), "{}", mine.body);
    assert_eq!(
        h.store.key_set(&k[0].client_id).await.unwrap().unwrap().secrets.len(),
        2
    );
}
