//! The portal's rules that need no browser (docs/portal.md): headers on
//! every page, CSRF on every form, sessions and their
//! cookie, and another user's ids answered with a 404 page.

use axum::http::{StatusCode, header};
use scopegate_service::credentials::passwords::hash_password;
use scopegate_store::{Store, UserRecord};

use crate::sessions::Answer as Page;
use crate::{Harness, T0};

impl Harness {
    async fn page(&self, method: &str, path: &str, cookies: &str, form: Option<&str>) -> Page {
        let headers: &[(&str, &str)] = if cookies.is_empty() {
            &[]
        } else {
            &[("cookie", cookies)]
        };
        crate::sessions::send(self, method, path, headers, form).await
    }

    async fn portal_user(&self, login: &str, permissions: &[&str]) {
        let u = UserRecord::local(
            login,
            hash_password("a long password").unwrap(),
            permissions.iter().map(|p| (*p).to_owned()).collect(),
            T0,
        );
        assert!(self.store.create_user(&u).await.unwrap());
    }

    /// Signs in through the portal's form; the cookies to send afterwards.
    async fn sign_in(&self, login: &str) -> String {
        let csrf = "sgcf_test";
        let r = self
            .page(
                "POST",
                "/portal/sign-in",
                &format!("sg_csrf={csrf}"),
                Some(&format!("csrf={csrf}&login={login}&password=a+long+password")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let session = r.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
        let token = session.split(';').next().unwrap().to_owned();
        format!("sg_csrf={csrf}; {token}")
    }
}

fn csp_is_strict(page: &Page) {
    let csp = page.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(page.headers[header::REFERRER_POLICY], "no-referrer");
}

#[tokio::test]
async fn every_portal_page_forbids_framing_inline_code_and_referrers() {
    let h = Harness::new().await;
    h.portal_user("dev", &["admin"]).await;
    let cookies = h.sign_in("dev").await;
    csp_is_strict(&h.page("GET", "/portal/sign-in", "", None).await);
    for path in [
        "/portal/",
        "/portal/apps/new",
        "/portal/connected",
        "/portal/admin/",
        "/portal/admin/audit",
        "/portal/nowhere",
        "/oauth2/authorize?client_id=x",
    ] {
        let page = h.page("GET", path, &cookies, None).await;
        assert!(page.body.contains("<html"), "{path}: {}", page.status);
        csp_is_strict(&page);
    }
    let css = h.page("GET", "/portal/assets/scopegate.css", "", None).await;
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
}

#[tokio::test]
async fn a_signed_out_visitor_is_sent_to_sign_in() {
    let h = Harness::new().await;
    for path in ["/portal/", "/portal/apps/new", "/portal/connected", "/portal/admin/"] {
        let page = h.page("GET", path, "", None).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.headers[header::LOCATION], "/portal/sign-in");
    }
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_lax() {
    let h = Harness::new().await;
    h.portal_user("dev", &[]).await;
    let r = h
        .page(
            "POST",
            "/portal/sign-in",
            "sg_csrf=c",
            Some("csrf=c&login=dev&password=a+long+password"),
        )
        .await;
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.starts_with("sg_session=sgss_") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "the test issuer is http://");
    let wrong = h
        .page(
            "POST",
            "/portal/sign-in",
            "sg_csrf=c",
            Some("csrf=c&login=dev&password=wrong+password"),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Wrong login or password"));
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let h = Harness::new().await;
    h.portal_user("dev", &[]).await;
    let cookies = h.sign_in("dev").await;
    let without = cookies.replace("sg_csrf=sgcf_test; ", "");
    let form = "name=R&environment=sandbox&scopes=account%3Aread";
    for (cookie, body) in [
        (cookies.as_str(), form.to_owned()),
        (cookies.as_str(), format!("csrf=forged&{form}")),
        (without.as_str(), format!("csrf=sgcf_test&{form}")),
    ] {
        let r = h.page("POST", "/portal/apps/new", cookie, Some(&body)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{body}");
    }
    assert!(h.store.key_sets().await.unwrap().is_empty(), "nothing written");
    let r = h
        .page(
            "POST",
            "/portal/apps/new",
            &cookies,
            Some(&format!("csrf=sgcf_test&{form}")),
        )
        .await;
    // The form answers with a redirect to its one-time view (docs/portal.md):
    // reloading that page never registers a second app.
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(h.store.key_sets().await.unwrap().len(), 1);
}

#[tokio::test]
async fn another_users_app_is_a_404_page() {
    let h = Harness::new().await;
    h.portal_user("ana", &[]).await;
    h.portal_user("bo", &[]).await;
    let ana = h.sign_in("ana").await;
    let form = "csrf=sgcf_test&name=Ana%27s+app&environment=sandbox&scopes=account%3Aread";
    h.page("POST", "/portal/apps/new", &ana, Some(form)).await;
    let k = h.store.key_sets().await.unwrap().pop().unwrap();
    let bo = h.sign_in("bo").await;
    let app = format!("/portal/apps/{}", k.app_id);
    let keys = format!("{app}/keys/{}", k.client_id);
    for path in [app.as_str(), keys.as_str(), "/portal/apps/app_nope", "/portal/admin/"] {
        let page = h.page("GET", path, &bo, None).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            !page.body.contains("Ana&#x27;s app") && !page.body.contains(&k.client_id),
            "{path}"
        );
    }
    let r = h
        .page(
            "POST",
            &format!("{app}/delete"),
            &bo,
            Some("csrf=sgcf_test&confirm=yes"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = h
        .page("POST", &format!("{keys}/secrets"), &bo, Some("csrf=sgcf_test"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.store.key_set(&k.client_id).await.unwrap().unwrap().secrets.len(),
        1,
        "nothing written"
    );
    // Its owner sees it.
    assert_eq!(h.page("GET", &keys, &ana, None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_administrator_disables_a_user_and_others_cannot() {
    let h = Harness::new().await;
    h.portal_user("boss", &["admin"]).await;
    h.portal_user("dev", &[]).await;
    let dev = h.sign_in("dev").await;
    let r = h
        .page(
            "POST",
            "/portal/admin/users/boss/enabled",
            &dev,
            Some("csrf=sgcf_test&enabled=no"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "no such page for a non-administrator");
    assert!(h.store.user("boss").await.unwrap().unwrap().enabled);
    let boss = h.sign_in("boss").await;
    let r = h
        .page(
            "POST",
            "/portal/admin/users/dev/enabled",
            &boss,
            Some("csrf=sgcf_test&enabled=no"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(!h.store.user("dev").await.unwrap().unwrap().enabled);
    // A disabled user's session no longer signs them in.
    let page = h.page("GET", "/portal/", &dev, None).await;
    assert_eq!(page.headers[header::LOCATION], "/portal/sign-in");
    let audit = h.store.audit_log(10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.event == "user_disable" && e.detail.contains("by user boss")),
        "{audit:?}"
    );
}
