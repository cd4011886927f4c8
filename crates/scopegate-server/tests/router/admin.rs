//! The admin API (docs/admin-api.md): admin tokens decided by the admin policy,
//! every endpoint, bad input answered with a 4xx naming the field and
//! nothing written, and the OpenAPI document listing exactly what is served.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use scopegate_service::credentials::secrets::{self, SecretKind};
use scopegate_store::{AdminTokenRecord, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{Harness, Reply, T0};

impl Harness {
    /// An admin token with these scopes.
    pub async fn admin_token(&self, scopes: &[&str]) -> String {
        let token = secrets::generate(SecretKind::AdminToken);
        let record = AdminTokenRecord {
            id: secrets::generate(SecretKind::AdminTokenId),
            hash: secrets::hash(&token),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            created_at: T0,
            revoked_at: None,
        };
        assert!(self.store.create_admin_token(&record).await.unwrap());
        token
    }

    /// An admin API call with a bearer token and an optional JSON body.
    pub async fn admin(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let response = self.app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 22).await.unwrap();
        Reply {
            status,
            headers,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }
}

fn app_body() -> Value {
    json!({
        "name": "Reports",
        "environment": "production",
        "scopes": ["account:write", "feed"],
        "default_scopes": ["account:read"],
        "redirect_uris": ["https://reports.example/cb"],
    })
}

#[tokio::test]
async fn the_admin_api_needs_an_admin_token() {
    let h = Harness::new().await;
    let r = h.admin("GET", "/admin/api/apps", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json["error"], "unauthenticated");
    assert!(
        r.headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    let r = h.admin("GET", "/admin/api/apps", Some("sgadm_nope"), None).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );

    // Unknown paths are not revealed without a token.
    let r = h.admin("GET", "/admin/api/nothing-here", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_oauth_access_token_is_not_an_admin_token() {
    let h = Harness::new().await;
    let client = h.client("production", "account:read", "account:read", false).await;
    let r = h
        .post(
            "/oauth2/token",
            Some(&client),
            &[("grant_type", "client_credentials")],
            &[],
        )
        .await;
    let access = r.json["access_token"].as_str().unwrap().to_owned();
    let r = h.admin("GET", "/admin/api/apps", Some(&access), None).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    assert!(
        r.json["message"].as_str().unwrap().contains("not admin tokens"),
        "{}",
        r.json
    );
}

#[tokio::test]
async fn an_admin_read_token_reads_and_cannot_write() {
    let h = Harness::new().await;
    let read = h.admin_token(&["admin:read"]).await;
    assert_eq!(
        h.admin("GET", "/admin/api/apps", Some(&read), None).await.status,
        StatusCode::OK
    );
    let r = h.admin("POST", "/admin/api/apps", Some(&read), Some(app_body())).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_scope"))
    );
    assert!(
        r.json["message"].as_str().unwrap().contains("admin:write"),
        "{}",
        r.json
    );
    assert!(h.store.key_sets().await.unwrap().is_empty(), "nothing written");
    let r = h
        .admin(
            "POST",
            "/admin/api/decide",
            Some(&read),
            Some(json!({"method": "GET", "path": "/x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "a dry run is a read: {}", r.json);
}

#[tokio::test]
async fn a_revoked_admin_token_stops_at_once() {
    let h = Harness::new().await;
    let write = h.admin_token(&["admin:write"]).await;
    let listed = h.admin("GET", "/admin/api/admin-tokens", Some(&write), None).await;
    let id = listed.json[0]["id"].as_str().unwrap().to_owned();
    assert!(listed.json[0].get("hash").is_none() && listed.json[0].get("token").is_none());
    let r = h
        .admin("DELETE", &format!("/admin/api/admin-tokens/{id}"), Some(&write), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = h.admin("GET", "/admin/api/apps", Some(&write), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn apps_are_created_listed_shown_and_deleted() {
    let h = Harness::new().await;
    let admin = h.admin_token(&["admin:write"]).await;
    let r = h.admin("POST", "/admin/api/apps", Some(&admin), Some(app_body())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let app_id = r.json["app"]["app_id"].as_str().unwrap().to_owned();
    let client_id = r.json["client_id"].as_str().unwrap().to_owned();
    let secret = r.json["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(r.json["app"]["key_sets"][0]["default_scopes"], json!(["account:read"]));
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");

    // The keys work at the token endpoint.
    let c = crate::Client {
        id: client_id.clone(),
        secret: secret.clone(),
    };
    let t = h
        .post("/oauth2/token", Some(&c), &[("grant_type", "client_credentials")], &[])
        .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.json);

    let shown = h
        .admin("GET", &format!("/admin/api/apps/{app_id}"), Some(&admin), None)
        .await;
    assert_eq!(shown.json["name"], "Reports");
    assert!(!shown.json.to_string().contains(&secret), "never the secret");
    let listed = h.admin("GET", "/admin/api/apps", Some(&admin), None).await;
    assert_eq!(listed.json["items"][0]["app_id"], app_id.as_str());
    assert!(listed.json.get("next").is_none());

    // Another environment's key set.
    let r = h
        .admin(
            "POST",
            &format!("/admin/api/apps/{app_id}/key-sets"),
            Some(&admin),
            Some(json!({"environment": "sandbox", "scopes": ["account:read"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let again = h
        .admin(
            "POST",
            &format!("/admin/api/apps/{app_id}/key-sets"),
            Some(&admin),
            Some(json!({"environment": "sandbox", "scopes": ["account:read"]})),
        )
        .await;
    assert_eq!(
        (again.status, again.json["error"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );

    let r = h
        .admin("DELETE", &format!("/admin/api/apps/{app_id}"), Some(&admin), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let t = h
        .post("/oauth2/token", Some(&c), &[("grant_type", "client_credentials")], &[])
        .await;
    assert_eq!(
        t.status,
        StatusCode::UNAUTHORIZED,
        "deleted keys stop at once on this node"
    );
    let r = h
        .admin("GET", &format!("/admin/api/apps/{app_id}"), Some(&admin), None)
        .await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    let audit = h
        .admin("GET", "/admin/api/audit?event=app_create", Some(&admin), None)
        .await;
    let detail = audit.json["items"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("by admin-token sgai_"), "{detail}");
}

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() {
    let h = Harness::new().await;
    let admin = h.admin_token(&["admin:write"]).await;
    let cases = [
        (
            json!({"name": "R", "environment": "staging", "scopes": ["account:read"]}),
            "environment",
        ),
        (
            json!({"name": "R", "environment": "sandbox", "scopes": ["feed"]}),
            "scopes",
        ),
        (
            json!({"name": "R", "environment": "sandbox", "scopes": ["account:read account:write"]}),
            "scopes",
        ),
        (
            json!({"name": "", "environment": "sandbox", "scopes": ["account:read"]}),
            "name",
        ),
        (
            json!({"name": "R", "environment": "sandbox", "scopes": ["account:read"], "default_scopes": ["account:write"]}),
            "default_scopes",
        ),
        (
            json!({"name": "R", "environment": "sandbox", "scopes": ["account:read"], "redirect_uris": ["http://evil.example/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"name": "R", "environment": "sandbox", "scopes": ["account:read"], "owner": "nobody"}),
            "owner",
        ),
    ];
    for (body, field) in cases {
        let r = h
            .admin("POST", "/admin/api/apps", Some(&admin), Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.json);
        assert_eq!(
            (r.json["error"].as_str(), r.json["field"].as_str()),
            (Some("invalid_field"), Some(field)),
            "{body}"
        );
    }
    // Unknown fields, wrong types and broken JSON: 400 invalid_request naming the problem.
    for body in [
        json!({"name": "R", "environment": "sandbox", "scopes": ["account:read"], "scope": "x"}),
        json!({"name": "R", "environment": "sandbox", "scopes": "account:read"}),
    ] {
        let r = h
            .admin("POST", "/admin/api/apps", Some(&admin), Some(body.clone()))
            .await;
        assert_eq!(
            (r.status, r.json["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{body}"
        );
    }
    let r = h.admin("POST", "/admin/api/apps", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(h.store.key_sets().await.unwrap().is_empty(), "nothing written");

    let r = h.admin("GET", "/admin/api/apps?limit=0", Some(&admin), None).await;
    assert_eq!(r.json["field"], "limit");
    let r = h.admin("GET", "/admin/api/audit?cursor=abc", Some(&admin), None).await;
    assert_eq!(r.json["field"], "cursor");
    let r = h.admin("GET", "/admin/api/audit?colour=red", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h.admin("PATCH", "/admin/api/apps", Some(&admin), None).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    let r = h.admin("GET", "/admin/api/nothing-here", Some(&admin), None).await;
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test]
async fn secrets_rotate_without_downtime() {
    let h = Harness::new().await;
    let admin = h.admin_token(&["admin:write"]).await;
    let r = h.admin("POST", "/admin/api/apps", Some(&admin), Some(app_body())).await;
    let client_id = r.json["client_id"].as_str().unwrap().to_owned();
    let old = crate::Client {
        id: client_id.clone(),
        secret: r.json["client_secret"].as_str().unwrap().to_owned(),
    };
    let old_id = r.json["secret_id"].as_str().unwrap().to_owned();
    let path = format!("/admin/api/key-sets/{client_id}/secrets");
    let r = h
        .admin("POST", &path, Some(&admin), Some(json!({"expires_in": "30d"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["expires_at"], T0 + 30 * 86_400);
    let new = crate::Client {
        id: client_id.clone(),
        secret: r.json["client_secret"].as_str().unwrap().to_owned(),
    };
    let cc = |c: &crate::Client| {
        let c = crate::Client {
            id: c.id.clone(),
            secret: c.secret.clone(),
        };
        let h = &h;
        async move {
            h.post("/oauth2/token", Some(&c), &[("grant_type", "client_credentials")], &[])
                .await
                .status
        }
    };
    assert_eq!((cc(&old).await, cc(&new).await), (StatusCode::OK, StatusCode::OK));
    let r = h.admin("DELETE", &format!("{path}/{old_id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        (cc(&old).await, cc(&new).await),
        (StatusCode::UNAUTHORIZED, StatusCode::OK)
    );
    let r = h.admin("DELETE", &format!("{path}/{old_id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "revoked once");
    // The new one expires by itself.
    h.advance(30 * 86_400 + 1);
    h.state.clients.clear();
    assert_eq!(cc(&new).await, StatusCode::UNAUTHORIZED);
    let r = h
        .admin("POST", &path, Some(&admin), Some(json!({"expires_in": "soon"})))
        .await;
    assert_eq!(r.json["field"], "expires_in");
}

#[tokio::test]
async fn tokens_are_revoked_by_token_by_key_set_and_by_user() {
    let policy = format!(
        "{}\n[[route]]\nmatch = \"GET /account/*\"\nany_of = [\"account:read\"]\n[tokens]\nformat = \"jwt\"\n",
        crate::POLICY
    );
    let h = Harness::with_policy(&policy).await;
    let admin = h.admin_token(&["admin:write"]).await;
    let client = h.client("production", "account:read", "account:read", false).await;
    async fn issue(h: &Harness, client: &crate::Client) -> String {
        let r = h
            .post(
                "/oauth2/token",
                Some(client),
                &[("grant_type", "client_credentials")],
                &[],
            )
            .await;
        r.json["access_token"].as_str().unwrap().to_owned()
    }
    async fn active(h: &Harness, client: &crate::Client, token: &str) -> Value {
        h.post("/oauth2/introspect", Some(client), &[("token", token)], &[])
            .await
            .json["active"]
            .clone()
    }
    // By token (a JWT, revoked by its jti).
    let one = issue(&h, &client).await;
    let r = h
        .admin(
            "POST",
            "/admin/api/tokens/revoke",
            Some(&admin),
            Some(json!({"token": one})),
        )
        .await;
    assert_eq!(
        (r.status, r.json["kind"].as_str()),
        (StatusCode::OK, Some("access")),
        "{}",
        r.json
    );
    assert_eq!(active(&h, &client, &one).await, false);
    let r = h
        .admin(
            "POST",
            "/admin/api/tokens/revoke",
            Some(&admin),
            Some(json!({"token": "sgat_unknown"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // By key set: every JWT issued so far, none issued after.
    let two = issue(&h, &client).await;
    assert_eq!(active(&h, &client, &two).await, true);
    let gw = h
        .api("GET", "/account/x", &[("authorization", &format!("Bearer {two}"))])
        .await;
    assert_eq!(gw.status, StatusCode::OK, "{}", gw.json);
    let r = h
        .admin(
            "POST",
            &format!("/admin/api/key-sets/{}/revoke-tokens", client.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(active(&h, &client, &two).await, false);
    let gw = h
        .api("GET", "/account/x", &[("authorization", &format!("Bearer {two}"))])
        .await;
    assert_eq!(gw.status, StatusCode::UNAUTHORIZED, "{}", gw.json);
    h.advance(1);
    let three = issue(&h, &client).await;
    assert_eq!(active(&h, &client, &three).await, true, "tokens issued afterwards work");

    // By user.
    h.user("ana", &[]).await;
    let refresh = h.seed_refresh(&client, "ana", "account:read", T0 - 10).await;
    let r = h
        .admin("POST", "/admin/api/users/ana/revoke-tokens", Some(&admin), None)
        .await;
    assert_eq!(
        (r.status, r.json["revoked"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{}",
        r.json
    );
    let t = h
        .post(
            "/oauth2/token",
            Some(&client),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            &[],
        )
        .await;
    assert_eq!(t.status, StatusCode::BAD_REQUEST);
    let r = h
        .admin("POST", "/admin/api/users/nobody/revoke-tokens", Some(&admin), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn users_are_created_and_their_permissions_set() {
    let h = Harness::new().await;
    let admin = h.admin_token(&["admin:write"]).await;
    let body = json!({"login": "ana", "password": "correct horse battery", "permissions": ["Orders", "Orders"]});
    let r = h
        .admin("POST", "/admin/api/users", Some(&admin), Some(body.clone()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["permissions"], json!(["Orders"]));
    assert!(r.json.get("password_hash").is_none() && !r.json.to_string().contains("argon2"));
    let r = h.admin("POST", "/admin/api/users", Some(&admin), Some(body)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = h
        .admin(
            "POST",
            "/admin/api/users",
            Some(&admin),
            Some(json!({"login": "bo", "password": "short"})),
        )
        .await;
    assert_eq!(r.json["field"], "password");
    let r = h
        .admin(
            "PUT",
            "/admin/api/users/ana/permissions",
            Some(&admin),
            Some(json!({"permissions": ["admin"]})),
        )
        .await;
    assert_eq!(r.json["permissions"], json!(["admin"]));
    let r = h
        .admin(
            "PUT",
            "/admin/api/users/ana/enabled",
            Some(&admin),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.json["enabled"], false);
    let r = h.admin("GET", "/admin/api/users/ana", Some(&admin), None).await;
    assert_eq!(
        (r.json["login"].as_str(), r.json["grants"].as_array().map(Vec::len)),
        (Some("ana"), Some(0))
    );
    let r = h.admin("GET", "/admin/api/users?limit=1", Some(&admin), None).await;
    assert_eq!(r.json["items"][0]["login"], "ana");
    let r = h
        .admin("DELETE", "/admin/api/users/ana/grants/sgci_x", Some(&admin), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn decide_answers_the_explanation() {
    let h = Harness::with_policy(
        r#"
[[scope]]
name   = "account"
levels = ["read", "write"]

[[route]]
match  = "GET /account/*"
any_of = ["account:read"]
"#,
    )
    .await;
    let read = h.admin_token(&["admin:read"]).await;
    let r = h
        .admin(
            "POST",
            "/admin/api/decide",
            Some(&read),
            Some(json!({"method": "get", "path": "/account/settings", "scopes": ["account:write"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["allowed"], true);
    assert_eq!(r.json["reason"], "holds account:read (implied by account:write)");
    assert_eq!(r.json["route"]["require"], "any_of");
    assert_eq!(r.json["holds"], json!(["account:read", "account:write"]));
    let r = h
        .admin(
            "POST",
            "/admin/api/decide",
            Some(&read),
            Some(json!({"method": "GET", "path": "/account/x"})),
        )
        .await;
    assert_eq!(
        (r.json["outcome"].as_str(), r.json["status"].as_u64()),
        (Some("unauthenticated"), Some(401))
    );
    let r = h
        .admin(
            "POST",
            "/admin/api/decide",
            Some(&read),
            Some(json!({"method": "GET", "path": "/x", "scopes": ["nope"]})),
        )
        .await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("scopes"))
    );
}

#[tokio::test]
async fn the_audit_trail_pages_with_a_next_link() {
    let h = Harness::new().await;
    let admin = h.admin_token(&["admin:write"]).await;
    for login in ["a1", "a2", "a3"] {
        let body = json!({"login": login, "password": "correct horse battery"});
        assert_eq!(
            h.admin("POST", "/admin/api/users", Some(&admin), Some(body))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let first = h
        .admin("GET", "/admin/api/audit?event=user_create&limit=2", Some(&admin), None)
        .await;
    let subjects = |r: &Reply| {
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["subject"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(subjects(&first), [json!("a3"), json!("a2")]);
    let next = first.json["next"].as_str().unwrap().to_owned();
    assert!(next.starts_with("/admin/api/audit?event=user_create&cursor="), "{next}");
    let second = h.admin("GET", &next, Some(&admin), None).await;
    assert_eq!(subjects(&second), [json!("a1")]);
    assert!(second.json.get("next").is_none());
}

/// The document and the router agree: every operation the document lists is
/// served, and every route served is in the document.
#[tokio::test]
async fn the_openapi_document_lists_exactly_the_served_routes() {
    let h = Harness::new().await;
    let admin = h.admin_token(&["admin:read"]).await;
    let r = h.admin("GET", "/admin/api/openapi.json", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.json["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        r.json["openapi"]
    );
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in r.json["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_ascii_uppercase(), path.clone()));
        }
    }
    let mut served: Vec<(String, String)> = scopegate_server::admin::served()
        .into_iter()
        .map(|(m, p): (Method, &str)| (m.to_string(), p.to_owned()))
        .collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served);
    // And each is routed (not the catch-all, not 405), with a read token.
    for (method, path) in &served {
        let concrete = path.replace('{', "x").replace('}', "");
        let r = h.admin(method, &concrete, Some(&admin), None).await;
        let unrouted = r.status == StatusCode::METHOD_NOT_ALLOWED
            || r.json["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no such admin API endpoint"));
        assert!(!unrouted, "{method} {path}: {} {}", r.status, r.json);
    }
}

#[tokio::test]
async fn a_scope_implying_an_approval_gated_one_is_requested_not_taken() {
    let policy = format!(
        "{}\n[[scope]]\nname = \"reports\"\nrequires_approval = true\n\n[[scope]]\nname = \"reports_admin\"\nimplies = [\"reports\"]\n",
        crate::POLICY
    );
    let h = Harness::with_policy(&policy).await;
    let admin = h.admin_token(&["admin:write"]).await;
    let r = h.admin("POST", "/admin/api/apps", Some(&admin), Some(app_body())).await;
    let client_id = r.json["client_id"].as_str().unwrap().to_owned();
    let path = format!("/admin/api/key-sets/{client_id}/scope-requests");
    let r = h
        .admin("POST", &path, Some(&admin), Some(json!({"scopes": ["reports_admin"]})))
        .await;
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (StatusCode::CREATED, Some("pending")),
        "{}",
        r.json
    );
    let k = h
        .admin("GET", &format!("/admin/api/key-sets/{client_id}"), Some(&admin), None)
        .await;
    assert!(
        !k.json["scopes"].as_array().unwrap().contains(&json!("reports_admin")),
        "{}",
        k.json
    );
}

#[tokio::test]
async fn a_scope_needing_approval_is_requested_and_granted_or_refused() {
    let policy = format!(
        "{}\n[[scope]]\nname = \"reports\"\nrequires_approval = true\n",
        crate::POLICY
    );
    let h = Harness::with_policy(&policy).await;
    let admin = h.admin_token(&["admin:write"]).await;
    let r = h.admin("POST", "/admin/api/apps", Some(&admin), Some(app_body())).await;
    let client_id = r.json["client_id"].as_str().unwrap().to_owned();
    let path = format!("/admin/api/key-sets/{client_id}/scope-requests");

    let r = h
        .admin(
            "POST",
            &path,
            Some(&admin),
            Some(json!({"scopes": ["reports"], "reason": "monthly"})),
        )
        .await;
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (StatusCode::CREATED, Some("pending")),
        "{}",
        r.json
    );
    let id = r.json["id"].as_str().unwrap().to_owned();
    let pending = h.admin("GET", "/admin/api/scope-requests", Some(&admin), None).await;
    assert_eq!(pending.json[0]["id"], id.as_str());
    let granted = h
        .admin(
            "POST",
            &format!("/admin/api/scope-requests/{id}/grant"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(granted.json["status"], "granted");
    let k = h
        .admin("GET", &format!("/admin/api/key-sets/{client_id}"), Some(&admin), None)
        .await;
    assert!(
        k.json["scopes"].as_array().unwrap().contains(&json!("reports")),
        "{}",
        k.json
    );
    let again = h
        .admin(
            "POST",
            &format!("/admin/api/scope-requests/{id}/refuse"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "decided once");

    // A scope a developer may take is assigned at once; one already held is refused as input.
    let r = h
        .admin("POST", &path, Some(&admin), Some(json!({"scopes": ["no_expiry"]})))
        .await;
    assert_eq!(r.json["status"], "granted", "{}", r.json);
    let r = h
        .admin("POST", &path, Some(&admin), Some(json!({"scopes": ["account:read"]})))
        .await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("scopes")),
        "implied by account:write"
    );
    let all = h
        .admin("GET", "/admin/api/scope-requests?status=all", Some(&admin), None)
        .await;
    assert_eq!(all.json.as_array().unwrap().len(), 2);
    let audit = h
        .admin("GET", "/admin/api/audit?event=scope_request_grant", Some(&admin), None)
        .await;
    assert_eq!(audit.json["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn admin_tokens_signing_keys_and_scopes_for_as_the_cli_has_them() {
    let h = Harness::with_policy(
        r#"
[[scope]]
name   = "account"
levels = ["read", "write"]

[[route]]
match  = "GET /account/*"
any_of = ["account:read"]
"#,
    )
    .await;
    let write = h.admin_token(&["admin:write"]).await;
    let r = h
        .admin(
            "POST",
            "/admin/api/admin-tokens",
            Some(&write),
            Some(json!({"scopes": ["admin:read"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let read = r.json["token"].as_str().unwrap().to_owned();
    assert_eq!(
        h.admin("GET", "/admin/api/apps", Some(&read), None).await.status,
        StatusCode::OK
    );
    let r = h
        .admin(
            "POST",
            "/admin/api/admin-tokens",
            Some(&read),
            Some(json!({"scopes": ["admin:write"]})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a read token cannot mint a write token"
    );
    let r = h
        .admin(
            "POST",
            "/admin/api/admin-tokens",
            Some(&write),
            Some(json!({"scopes": ["root"]})),
        )
        .await;
    assert_eq!(r.json["field"], "scopes");

    let keys = h.admin("GET", "/admin/api/signing-keys", Some(&read), None).await;
    let before = keys.json.as_array().unwrap().len();
    h.advance(10);
    let r = h
        .admin("POST", "/admin/api/signing-keys/rotate", Some(&write), None)
        .await;
    assert_eq!(
        (r.status, r.json["signs_from"].as_str()),
        (StatusCode::OK, Some("next_start"))
    );
    let keys = h.admin("GET", "/admin/api/signing-keys", Some(&read), None).await;
    assert_eq!(keys.json.as_array().unwrap().len(), before + 1);
    assert_eq!(keys.json[0]["kid"], r.json["kid"], "newest first");
    assert_eq!(keys.json[1]["retired_at"], T0 + 10, "the one before is retired");

    let r = h
        .admin(
            "POST",
            "/admin/api/scopes-for",
            Some(&read),
            Some(json!({"endpoints": ["GET /account/x"]})),
        )
        .await;
    assert_eq!(r.json["scopes"], json!(["account:read"]), "{}", r.json);
    assert_eq!(r.json["scope_param"], "account%3Aread");
    let r = h
        .admin(
            "POST",
            "/admin/api/scopes-for",
            Some(&read),
            Some(json!({"endpoints": ["GET /nowhere"]})),
        )
        .await;
    assert_eq!(
        (r.status, r.json["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("endpoints"))
    );
}

#[tokio::test]
async fn decide_takes_a_token_as_explain_does() {
    let policy = format!(
        "{}\n[[route]]\nmatch = \"GET /account/*\"\nany_of = [\"account:read\"]\n",
        crate::POLICY
    );
    let h = Harness::with_policy(&policy).await;
    let read = h.admin_token(&["admin:read"]).await;
    let client = h.client("production", "account:write", "account:write", false).await;
    let t = h
        .post(
            "/oauth2/token",
            Some(&client),
            &[("grant_type", "client_credentials")],
            &[],
        )
        .await;
    let token = t.json["access_token"].as_str().unwrap().to_owned();
    let body = json!({"method": "GET", "path": "/account/x", "token": token});
    let r = h.admin("POST", "/admin/api/decide", Some(&read), Some(body)).await;
    assert_eq!(
        (r.json["allowed"].as_bool(), r.json["reason"].as_str()),
        (Some(true), Some("holds account:read (implied by account:write)")),
        "{}",
        r.json
    );
    let body = json!({"method": "GET", "path": "/account/x", "token": "sgat_not_a_token"});
    let r = h.admin("POST", "/admin/api/decide", Some(&read), Some(body)).await;
    assert_eq!(
        (r.status, r.json["outcome"].as_str(), r.json["status"].as_u64()),
        (StatusCode::OK, Some("invalid_token"), Some(401)),
        "{}",
        r.json
    );
    let body = json!({"method": "GET", "path": "/account/x", "token": "x", "scopes": []});
    let r = h.admin("POST", "/admin/api/decide", Some(&read), Some(body)).await;
    assert_eq!(r.json["field"], "token");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_in_the_apis_error_shape_and_documented() {
    let h = Harness::new().await;
    let admin = h.admin_token(&["admin:write"]).await;
    for size in [100 * 1024, 3 << 20] {
        let body = json!({"name": "x".repeat(size), "environment": "production", "scopes": []});
        let r = h.admin("POST", "/admin/api/apps", Some(&admin), Some(body)).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{size}");
        assert_eq!(r.json["error"], "payload_too_large", "{size}: {}", r.json);
        assert_eq!(r.json["message"], "the body is larger than 65536 bytes");
    }
    let doc = h.admin("GET", "/admin/api/openapi.json", Some(&admin), None).await;
    let create = &doc.json["paths"]["/admin/api/apps"]["post"]["responses"]["413"];
    assert!(create["content"]["application/json"].is_object(), "{create}");
}
