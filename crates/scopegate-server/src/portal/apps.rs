//! A developer's apps: registering one, its key sets, secrets, scopes, the
//! endpoint picker and the authorize URL.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use scopegate_core::scope::encode_scope_param;
use scopegate_core::{CoverFor, GrantKind};
use scopegate_store::{KeySetRecord, Store};

use super::account::{app_rows, kind};
use super::form::PageForm;
use super::owned::{visible_app, visible_key_set};
use super::shown::{self, Shown};
use super::views::{
    AppPage, AuthorizeUrl, EndpointChoice, KeySetPage, KeyView, NewApp, NewAppForm, Picker, PickerResult, ScopeChoice,
    ScopeRow, SecretRow, time,
};
use super::{Visit, posted, refusal_text, see_other, unavailable, visited};
use crate::state::{AppState, Current};
use scopegate_service::Actor;
use scopegate_service::ServiceError;
use scopegate_service::operations::key_sets::KeySetSpec;
use scopegate_service::operations::{apps, client_secrets, key_sets, scope_requests};

/// The scopes a developer may choose in `env`, in declaration order.
fn scope_choices(state: &AppState, env: &str, assigned: &[&str], defaults: &[&str]) -> Vec<ScopeChoice> {
    state
        .policy
        .catalog
        .iter()
        .filter(|(_, info)| info.available_in(env) || env.is_empty())
        .map(|(_, info)| ScopeChoice {
            name: info.name.as_str().to_owned(),
            description: info.description.clone(),
            environments: info.environments.join(", "),
            self_service: !info.requires_approval,
            assigned: assigned.contains(&info.name.as_str()),
            default: defaults.contains(&info.name.as_str()),
        })
        .collect()
}

fn new_app_page(
    visit: &Visit,
    form: NewAppForm,
    assigned: &[&str],
    defaults: &[&str],
    error: Option<String>,
) -> Response {
    let state = &visit.state;
    let mut nav = visit.nav();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    nav.error = error;
    // The environment this server's gateway serves, so that the new app's
    // first tokens work here (Try it, then a call through the gateway).
    let environment = if form.environment.is_empty() {
        let served = &state.policy.settings.gateway.environment;
        if state.policy.environments.contains(served) {
            served.clone()
        } else {
            state.policy.environments.first().cloned().unwrap_or_default()
        }
    } else {
        form.environment.clone()
    };
    visit.render(
        status,
        &NewApp {
            nav,
            scopes: scope_choices(state, "", assigned, defaults),
            environments: state.policy.environments.clone(),
            form: NewAppForm { environment, ..form },
        },
    )
}

/// The key set a registration form describes, or why a developer may not
/// take it themselves (a scope that needs an administrator's approval).
fn key_set_spec(visit: &Visit, form: &PageForm) -> Result<KeySetSpec, String> {
    let assigned = form.all("scopes");
    let catalog = &visit.state.policy.catalog;
    if let Some(reserved) = assigned
        .iter()
        .find(|s| catalog.lookup(s).is_some_and(|id| catalog.info(id).requires_approval))
    {
        return Err(format!(
            "{reserved} needs an administrator's approval: request it from the keys' page once they exist"
        ));
    }
    let defaults = form.all("default_scopes");
    Ok(KeySetSpec {
        environment: form.get("environment").unwrap_or_default().to_owned(),
        scopes: assigned.join(" "),
        default_scopes: (!defaults.is_empty()).then(|| defaults.join(" ")),
        redirect_uris: form
            .get("redirect_uris")
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        public: form.get("public").is_some(),
        resource_server: false,
    })
}

/// New keys: the form answers with a redirect to their one-time view.
async fn keys_shown(visit: &Visit, login: &str, heading: &'static str, registered: key_sets::Registered) -> Response {
    let k = registered.key_set;
    let shown = Shown {
        heading: heading.to_owned(),
        secret_id: registered.secret.as_ref().map(|s| s.id.clone()).unwrap_or_default(),
        secret: registered.secret.map(|s| s.secret),
        expires: None,
        next: format!("/portal/apps/{}/keys/{}", k.app_id, k.client_id),
        client_id: k.client_id,
    };
    shown::redirect_to(visit, login, &shown).await
}

pub(super) async fn new_page(Current(state): Current, headers: HeaderMap) -> Response {
    let (visit, _) = page_try!(visited(state, &headers).await);
    new_app_page(&visit, NewAppForm::default(), &[], &[], None)
}

pub(super) async fn create(Current(state): Current, headers: HeaderMap, body: Bytes) -> Response {
    let (visit, user, form) = page_try!(posted(state, &headers, &body).await);
    let fields = NewAppForm {
        name: form.get("name").unwrap_or_default().to_owned(),
        environment: form.get("environment").unwrap_or_default().to_owned(),
        redirect_uris: form.get("redirect_uris").unwrap_or_default().to_owned(),
        public: form.get("public").is_some(),
    };
    let assigned = form.all("scopes");
    let defaults = form.all("default_scopes");
    let spec = match key_set_spec(&visit, &form) {
        Ok(spec) => spec,
        Err(error) => return new_app_page(&visit, fields, &assigned, &defaults, Some(error)),
    };
    let actor = Actor::User(user.login.clone());
    match apps::create(&visit.state.service(&actor), &fields.name, Some(&user.login), &spec).await {
        Ok(registered) => keys_shown(&visit, &user.login, "Your app is registered", registered).await,
        Err(ServiceError::Invalid(e)) => {
            let message = refusal_text(&ServiceError::Invalid(e));
            new_app_page(&visit, fields, &assigned, &defaults, Some(message))
        }
        Err(e) => new_app_page(&visit, fields, &assigned, &defaults, Some(refusal_text(&e))),
    }
}

pub(super) async fn show(
    Current(state): Current,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    uri: Uri,
) -> Response {
    let (visit, user) = page_try!(visited(state, &headers).await);
    let key_sets = page_try!(visible_app(&visit, &user, &app_id).await);
    let free_environments = visit
        .state
        .policy
        .environments
        .iter()
        .filter(|e| !key_sets.iter().any(|k| &k.environment == *e))
        .cloned()
        .collect();
    let Some(app) = app_rows(key_sets, visit.state.now()).pop() else {
        return visit.not_found("You have no app with that id.");
    };
    let mut nav = visit.nav();
    if uri.query() == Some("done=keys") {
        nav.notice = Some("Keys created.");
    }
    visit.render(
        StatusCode::OK,
        &AppPage {
            nav,
            app,
            free_environments,
            scopes: scope_choices(&visit.state, "", &[], &[]),
        },
    )
}

pub(super) async fn add_key_set(
    Current(state): Current,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    body: Bytes,
) -> Response {
    let (visit, user, form) = page_try!(posted(state, &headers, &body).await);
    page_try!(visible_app(&visit, &user, &app_id).await);
    let back = format!("/portal/apps/{app_id}");
    let spec = match key_set_spec(&visit, &form) {
        Ok(spec) => spec,
        Err(error) => return visit.problem(StatusCode::BAD_REQUEST, error, back),
    };
    match key_sets::add(&visit.state.service(&Actor::User(user.login.clone())), &app_id, &spec).await {
        Ok(registered) => keys_shown(&visit, &user.login, "Your new keys", registered).await,
        Err(ServiceError::Internal) => unavailable("add_key_set"),
        Err(e) => visit.problem(StatusCode::BAD_REQUEST, refusal_text(&e), back),
    }
}

pub(super) async fn delete(
    Current(state): Current,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    body: Bytes,
) -> Response {
    let (visit, user, form) = page_try!(posted(state, &headers, &body).await);
    page_try!(visible_app(&visit, &user, &app_id).await);
    if form.get("confirm") != Some("yes") {
        return see_other(&format!("/portal/apps/{app_id}"));
    }
    match apps::delete(&visit.state.service(&Actor::User(user.login.clone())), &app_id).await {
        Ok(()) => see_other("/portal/?done=deleted"),
        Err(ServiceError::NotFound(_)) => visit.not_found("You have no app with that id."),
        Err(e) => unavailable(format!("{e:?}")),
    }
}

fn grants_label(grants: &[GrantKind]) -> String {
    grants
        .iter()
        .map(|g| match g {
            GrantKind::ClientCredentials => "app token",
            GrantKind::AuthorizationCode => "user token",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) async fn key_set(
    Current(state): Current,
    headers: HeaderMap,
    Path((app_id, client_id)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    let (visit, user) = page_try!(visited(state, &headers).await);
    let k = page_try!(visible_key_set(&visit, &user, &app_id, &client_id).await);
    let query = PageForm::query(uri.query());
    let policy = &visit.state.policy;
    let catalog = &policy.catalog;
    let now = visit.state.now();
    let scopes: Vec<ScopeRow> = k
        .scopes
        .iter()
        .filter_map(|name| {
            let id = catalog.lookup(name)?;
            let info = catalog.info(id);
            let closure = catalog.closure_of(id);
            let allows = policy
                .routes()
                .iter()
                .filter(|r| r.requirement.scopes().is_some_and(|s| s.intersects(closure)))
                .map(|r| r.pattern.to_string())
                .collect();
            Some(ScopeRow {
                name: name.clone(),
                description: info.description.clone(),
                default: k.default_scopes.contains(name),
                allows,
                grants: grants_label(&info.grants),
                environments: info.environments.join(", "),
            })
        })
        .collect();
    let secrets = k
        .secrets
        .iter()
        .map(|s| SecretRow {
            id: s.id.clone(),
            created: time(s.created_at),
            last_used: s.last_used_at.map_or_else(|| "never".to_owned(), time),
            state: match (s.revoked_at, s.expires_at) {
                (Some(at), _) => format!("revoked {}", time(at)),
                (None, Some(at)) if at <= now => format!("expired {}", time(at)),
                (None, Some(at)) => format!("active, expires {}", time(at)),
                (None, None) => "active".into(),
            },
            active: s.is_active(now),
        })
        .collect();

    // The picker.
    let picked = query.all("endpoint");
    let user_token = query.get("grant") != Some("client_credentials");
    let endpoints = policy
        .routes()
        .iter()
        .filter(|r| r.requirement.scopes().is_some())
        .map(|r| {
            let endpoint = r.pattern.to_string();
            EndpointChoice {
                picked: picked.contains(&endpoint.as_str()),
                description: r.description.clone(),
                endpoint,
            }
        })
        .collect();
    let mut picker = Picker {
        user_token,
        ..Picker::default()
    };
    if !picked.is_empty() {
        let grant = if user_token {
            GrantKind::AuthorizationCode
        } else {
            GrantKind::ClientCredentials
        };
        let under = CoverFor {
            grant: Some(grant),
            environment: Some(&k.environment),
        };
        match policy.scopes_for(&picked, under) {
            Ok(cover) => {
                let names: Vec<&str> = catalog.names(&cover.scopes).collect();
                let assigned = catalog.close(&catalog.known(&k.scopes.join(" ")));
                let missing = cover
                    .scopes
                    .iter()
                    .filter(|id| !assigned.contains(*id))
                    .map(|id| catalog.name(id).to_owned())
                    .collect();
                let authorize_link = k
                    .redirect_uris
                    .first()
                    .filter(|_| user_token && !names.is_empty())
                    .map(|uri| {
                        let mut pairs = vec![("redirect_uri", uri.as_str())];
                        pairs.extend(names.iter().map(|n| ("ask", *n)));
                        format!(
                            "/portal/apps/{}/keys/{}?{}#authorize",
                            k.app_id,
                            k.client_id,
                            serde_urlencoded::to_string(&pairs).unwrap_or_default()
                        )
                    });
                picker.result = Some(PickerResult {
                    authorize_link,
                    endpoints: picked.join(", "),
                    scopes: names.join(" "),
                    encoded: encode_scope_param(names.iter().copied()),
                    missing,
                });
            }
            Err(e) => picker.error = Some(e.to_string()),
        }
    }

    // The authorize URL.
    // What an authorize request may ask for: the assignment, closed under
    // implication (a key set assigned `sell.account` may ask for
    // `sell.account.readonly`), that user tokens may carry.
    let assigned = catalog.close(&catalog.known(&k.scopes.join(" ")));
    let user_scopes: Vec<String> = catalog
        .iter()
        .filter(|(id, info)| assigned.contains(*id) && info.allows_grant(GrantKind::AuthorizationCode))
        .map(|(_, info)| info.name.as_str().to_owned())
        .collect();
    let asked = query.all("ask");
    let redirect_uri = query
        .get("redirect_uri")
        .filter(|u| k.redirect_uris.iter().any(|r| r == u));
    let url = redirect_uri.map(|uri| {
        let chosen: Vec<&str> = user_scopes
            .iter()
            .map(|s| s.as_str())
            .filter(|s| asked.contains(s))
            .collect();
        let params = [
            ("response_type", "code"),
            ("client_id", k.client_id.as_str()),
            ("redirect_uri", uri),
        ];
        let query = serde_urlencoded::to_string(params).unwrap_or_default();
        let scope = if chosen.is_empty() {
            String::new()
        } else {
            format!("&scope={}", encode_scope_param(chosen.iter().copied()))
        };
        format!(
            "{}{}?{query}{scope}",
            policy.settings.issuer,
            crate::http::endpoints::AUTHORIZE
        )
    });
    let try_it_uri = super::try_it::callback(&policy.settings.issuer);
    let authorize = AuthorizeUrl {
        try_it_ready: k.redirect_uris.contains(&try_it_uri),
        try_it_uri,
        asked: user_scopes
            .iter()
            .filter(|s| asked.contains(&s.as_str()))
            .cloned()
            .collect(),
        choices: user_scopes
            .iter()
            .map(|s| {
                (
                    (*s).clone(),
                    asked.contains(&s.as_str()) || (asked.is_empty() && k.default_scopes.contains(s)),
                )
            })
            .collect(),
        redirect_uri: redirect_uri.map(str::to_owned),
        url,
    };
    let requests = match visit.state.store.scope_requests(false, Some(&k.client_id)).await {
        Ok(r) => r.into_iter().map(|q| request_row(q, &k)).collect(),
        Err(e) => return unavailable(e),
    };
    let held = catalog.close(&catalog.known(&k.scopes.join(" ")));
    let requestable = scope_choices(&visit.state, &k.environment, &[], &[])
        .into_iter()
        .filter(|c| catalog.lookup(&c.name).is_some_and(|id| !held.contains(id)))
        .collect();
    let mut nav = visit.nav();
    nav.notice = match query.get("done") {
        Some("secret-revoked") => Some("Secret revoked: it no longer authenticates."),
        Some("assigned") => Some("The scopes are assigned to these keys."),
        Some("requested") => Some("Your request is with an administrator; it is listed under More scopes."),
        Some("try-it-uri") if authorize.try_it_ready => {
            Some("The portal's redirect URI is added to these keys: Try it signs you in with the scopes below.")
        }
        _ => None,
    };
    visit.render(
        StatusCode::OK,
        &KeySetPage {
            nav,
            app_name: k.app_name.clone(),
            key: KeyView {
                kind: kind(&k),
                client_id: k.client_id.clone(),
                environment: k.environment.clone(),
                public: k.public,
                redirect_uris: k.redirect_uris.clone(),
            },
            app_id,
            scopes,
            secrets,
            endpoints,
            picker,
            authorize,
            requests,
            requestable,
        },
    )
}

pub(super) fn request_row(q: scopegate_store::ScopeRequestRecord, k: &KeySetRecord) -> super::views::RequestRow {
    super::views::RequestRow {
        status: q.outcome.clone().unwrap_or_else(|| "pending".into()),
        id: q.id,
        app_name: k.app_name.clone(),
        environment: k.environment.clone(),
        scopes: q.scopes,
        requested_by: q.requested_by,
        reason: q.reason,
        created: time(q.created_at),
    }
}

pub(super) async fn request_scopes(
    Current(state): Current,
    headers: HeaderMap,
    Path((app_id, client_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (visit, user, form) = page_try!(posted(state, &headers, &body).await);
    page_try!(visible_key_set(&visit, &user, &app_id, &client_id).await);
    let scopes = form.all("scopes").join(" ");
    let reason = form.get("reason").unwrap_or_default();
    let actor = Actor::User(user.login.clone());
    let back = format!("/portal/apps/{app_id}/keys/{client_id}");
    match scope_requests::file(&visit.state.service(&actor), &user.login, &client_id, &scopes, reason).await {
        Ok(scope_requests::Requested::Assigned(_)) => see_other(&format!("{back}?done=assigned#scopes")),
        Ok(scope_requests::Requested::Pending(_)) => see_other(&format!("{back}?done=requested#requests")),
        Err(ServiceError::NotFound(_)) => visit.not_found("This app has no key set with that client_id."),
        Err(ServiceError::Internal) => unavailable("request_scopes"),
        Err(e) => visit.problem(StatusCode::BAD_REQUEST, refusal_text(&e), back),
    }
}

pub(super) async fn add_secret(
    Current(state): Current,
    headers: HeaderMap,
    Path((app_id, client_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (visit, user, form) = page_try!(posted(state, &headers, &body).await);
    page_try!(visible_key_set(&visit, &user, &app_id, &client_id).await);
    let now = visit.state.now();
    let actor = Actor::User(user.login.clone());
    let back = format!("/portal/apps/{app_id}/keys/{client_id}");
    let added = match client_secrets::expiry("expires_in", form.get("expires_in"), now) {
        Ok(expires_at) => client_secrets::add(&visit.state.service(&actor), &client_id, expires_at, false).await,
        Err(e) => Err(e),
    };
    match added {
        Ok(secret) => {
            let shown = Shown {
                heading: "Your new client secret".to_owned(),
                client_id,
                secret_id: secret.id,
                expires: secret.expires_at.map(time),
                secret: Some(secret.secret),
                next: back,
            };
            shown::redirect_to(&visit, &user.login, &shown).await
        }
        Err(e @ (ServiceError::Conflict(_) | ServiceError::Invalid(_))) => {
            visit.problem(StatusCode::CONFLICT, refusal_text(&e), back)
        }
        Err(ServiceError::NotFound(_)) => visit.not_found("This app has no key set with that client_id."),
        Err(ServiceError::Internal) => unavailable("add_secret"),
    }
}

pub(super) async fn revoke_secret(
    Current(state): Current,
    headers: HeaderMap,
    Path((app_id, client_id, secret_id)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let (visit, user, _) = page_try!(posted(state, &headers, &body).await);
    page_try!(visible_key_set(&visit, &user, &app_id, &client_id).await);
    match client_secrets::revoke(
        &visit.state.service(&Actor::User(user.login.clone())),
        &client_id,
        &secret_id,
    )
    .await
    {
        Ok(()) => see_other(&format!("/portal/apps/{app_id}/keys/{client_id}?done=secret-revoked")),
        Err(ServiceError::NotFound(_)) => visit.not_found("This key set has no active secret with that id."),
        Err(e) => unavailable(format!("{e:?}")),
    }
}
