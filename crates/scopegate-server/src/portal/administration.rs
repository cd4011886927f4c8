//! Administrators (users with the `admin` permission): every app and user,
//! scope requests to grant or refuse, revocation, the audit trail. To anyone
//! else these pages do not exist (404).

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use scopegate_store::{AuditFilter, Store};

use super::account::app_rows;
use super::apps::request_row;
use super::form::PageForm;
use super::views::{Admin, Audit, UserRow, time};
use super::{Visit, see_other, unavailable};
use crate::state::Current;
use scopegate_service::Actor;
use scopegate_service::operations::{key_sets, scope_requests, sessions, users};

const PAGE: i64 = 50;

/// The visit, if an administrator's; else the 404 (or sign-in) answer.
async fn administrator(state: crate::state::AppState, headers: &HeaderMap) -> Result<(Visit, Actor), Response> {
    let visit = Visit::new(state, headers).await?;
    let login = visit.user()?.login.clone();
    if !visit.is_admin() {
        return Err(visit.not_found("There is no such page."));
    }
    Ok((visit, Actor::User(login)))
}

macro_rules! admin_visit {
    ($state:expr, $headers:expr) => {
        match administrator($state, &$headers).await {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

/// Rows of apps and of users the overview shows at once.
const OVERVIEW_PAGE: usize = 50;

/// The overview's query: a notice, and where each list's page starts.
#[derive(serde::Deserialize, Debug, Default)]
struct OverviewQuery {
    done: Option<String>,
    apps_after: Option<String>,
    users_after: Option<String>,
}

pub(super) async fn overview(Current(state): Current, headers: HeaderMap, uri: Uri) -> Response {
    let (visit, _) = admin_visit!(state, headers);
    let query: OverviewQuery = serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let store = &visit.state.store;
    let limit = i64::try_from(OVERVIEW_PAGE + 1).unwrap_or(i64::MAX);
    let (page, pending, users) = match (
        store.apps(query.apps_after.as_deref(), limit).await,
        store.scope_requests(true, None).await,
        store.users_page(query.users_after.as_deref(), limit).await,
    ) {
        (Ok(c), Ok(p), Ok(u)) => (c, p, u),
        _ => return unavailable("admin overview"),
    };
    let mut requests = Vec::new();
    for q in pending {
        match store.key_set(&q.client_id).await {
            Ok(Some(k)) => requests.push(request_row(q, &k)),
            Ok(None) => {}
            Err(e) => return unavailable(e),
        }
    }
    let mut app_ids: Vec<&str> = page.iter().map(|k| k.app_id.as_str()).collect();
    app_ids.dedup();
    let apps_next = (app_ids.len() > OVERVIEW_PAGE).then(|| app_ids[OVERVIEW_PAGE - 1].to_owned());
    let mut sorted: Vec<_> = match &apps_next {
        Some(last) => page.into_iter().filter(|k| k.app_id <= *last).collect(),
        None => page,
    };
    sorted.sort_by(|a, b| {
        (a.app_name.as_str(), a.app_id.as_str(), a.created_at).cmp(&(
            b.app_name.as_str(),
            b.app_id.as_str(),
            b.created_at,
        ))
    });
    let users_next = (users.len() > OVERVIEW_PAGE).then(|| users[OVERVIEW_PAGE - 1].login.clone());
    let users = users
        .into_iter()
        .take(OVERVIEW_PAGE)
        .map(|u| {
            let sign_in = &visit.state.policy.settings.sign_in;
            let now = visit.state.now();
            let source_note = match (u.signed_in_at, users::source_lapses_at(&u, sign_in)) {
                (None, _) => "not signed in yet".to_owned(),
                (Some(at), None) => format!("signed in {}", time(at)),
                (Some(at), Some(lapse)) if users::source_counts(&u, sign_in, now) => {
                    format!("signed in {}, lapses {}", time(at), time(lapse))
                }
                (Some(at), Some(lapse)) => format!("signed in {}, lapsed {}", time(at), time(lapse)),
            };
            UserRow {
                permissions: u.permissions.join(" "),
                source: (u.source != scopegate_core::sign_in::LOCAL).then(|| u.source.clone()),
                source_permissions: u.source_permissions.join(" "),
                source_note,
                login: u.login,
                enabled: u.enabled,
            }
        })
        .collect();
    let mut nav = visit.nav();
    nav.notice = match query.done.as_deref().map(|d| format!("done={d}")).as_deref() {
        Some("done=granted") => Some("Request granted: the scopes are assigned."),
        Some("done=refused") => Some("Request refused."),
        Some("done=revoked") => Some("Every token of those keys is revoked."),
        Some("done=user") => Some("User saved."),
        Some("done=user-revoked") => Some("Every token of that user is revoked."),
        Some("done=signed-out") => Some("Every session of that user is ended."),
        _ => None,
    };
    visit.render(
        StatusCode::OK,
        &Admin {
            nav,
            requests,
            apps: app_rows(sorted, visit.state.now()),
            users,
            apps_next,
            users_next,
        },
    )
}

fn checked(visit: &Visit, headers: &HeaderMap, body: &[u8]) -> Result<PageForm, Response> {
    let form = PageForm::parse(headers, body).unwrap_or_default();
    if !visit.csrf_ok(headers, &form) {
        return Err(visit.forged());
    }
    Ok(form)
}

pub(super) async fn decide(
    Current(state): Current,
    headers: HeaderMap,
    Path((id, decision)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (visit, actor) = admin_visit!(state, headers);
    if let Err(r) = checked(&visit, &headers, &body) {
        return r;
    }
    let grant = match decision.as_str() {
        "grant" => true,
        "refuse" => false,
        _ => return visit.not_found("There is no such page."),
    };
    match scope_requests::decide(&visit.state.service(&actor), &id, grant).await {
        Ok(_) => see_other(if grant {
            "/portal/admin/?done=granted"
        } else {
            "/portal/admin/?done=refused"
        }),
        Err(e) => visit.refused(&e, "/portal/admin/".into()),
    }
}

pub(super) async fn revoke_tokens(
    Current(state): Current,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Response {
    let (visit, actor) = admin_visit!(state, headers);
    if let Err(r) = checked(&visit, &headers, &body) {
        return r;
    }
    match key_sets::revoke_tokens(&visit.state.service(&actor), &client_id).await {
        Ok(_) => see_other("/portal/admin/?done=revoked"),
        Err(e) => visit.refused(&e, "/portal/admin/".into()),
    }
}

fn permissions(form: &PageForm) -> Vec<String> {
    form.get("permissions")
        .unwrap_or_default()
        .split([' ', ','])
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) async fn create_user(Current(state): Current, headers: HeaderMap, body: Bytes) -> Response {
    let (visit, actor) = admin_visit!(state, headers);
    let form = match checked(&visit, &headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let login = form.get("login").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    match users::create(&visit.state.service(&actor), login, password, &permissions(&form)).await {
        Ok(_) => see_other("/portal/admin/?done=user"),
        Err(e) => visit.refused(&e, "/portal/admin/".into()),
    }
}

pub(super) async fn set_permissions(
    Current(state): Current,
    headers: HeaderMap,
    Path(login): Path<String>,
    body: Bytes,
) -> Response {
    let (visit, actor) = admin_visit!(state, headers);
    let form = match checked(&visit, &headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match users::set_permissions(&visit.state.service(&actor), &login, &permissions(&form)).await {
        Ok(_) => see_other("/portal/admin/?done=user"),
        Err(e) => visit.refused(&e, "/portal/admin/".into()),
    }
}

pub(super) async fn audit(Current(state): Current, headers: HeaderMap, uri: Uri) -> Response {
    let (visit, _) = admin_visit!(state, headers);
    let query = PageForm::query(uri.query());
    let filter = AuditFilter {
        client_id: query.get("client_id").map(str::to_owned),
        subject: query.get("subject").map(str::to_owned),
        event: query.get("event").map(str::to_owned),
    };
    let before = query.get("before").and_then(|b| b.parse::<i64>().ok());
    let mut page = match visit.state.store.audit_page(&filter, before, PAGE + 1).await {
        Ok(p) => p,
        Err(e) => return unavailable(e),
    };
    let more = page.len() > usize::try_from(PAGE).unwrap_or(usize::MAX);
    page.truncate(usize::try_from(PAGE).unwrap_or(usize::MAX));
    let next = page.last().filter(|_| more).map(|(id, _)| {
        let pairs = [
            ("client_id", filter.client_id.clone().unwrap_or_default()),
            ("subject", filter.subject.clone().unwrap_or_default()),
            ("event", filter.event.clone().unwrap_or_default()),
            ("before", id.to_string()),
        ];
        format!(
            "/portal/admin/audit?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    let entries = page
        .into_iter()
        .map(|(_, e)| {
            (
                time(e.at),
                e.event,
                e.client_id.unwrap_or_default(),
                e.subject.unwrap_or_default(),
                e.detail,
            )
        })
        .collect();
    visit.render(
        StatusCode::OK,
        &Audit {
            filter: (
                filter.client_id.unwrap_or_default(),
                filter.subject.unwrap_or_default(),
                filter.event.unwrap_or_default(),
            ),
            nav: visit.nav(),
            entries,
            next,
        },
    )
}

pub(super) async fn revoke_user_tokens(
    Current(state): Current,
    headers: HeaderMap,
    Path(login): Path<String>,
    body: Bytes,
) -> Response {
    let (visit, actor) = admin_visit!(state, headers);
    if let Err(r) = checked(&visit, &headers, &body) {
        return r;
    }
    match users::revoke_tokens(&visit.state.service(&actor), &login).await {
        Ok(_) => see_other("/portal/admin/?done=user-revoked"),
        Err(e) => visit.refused(&e, "/portal/admin/".into()),
    }
}

pub(super) async fn set_enabled(
    Current(state): Current,
    headers: HeaderMap,
    Path(login): Path<String>,
    body: Bytes,
) -> Response {
    let (visit, actor) = admin_visit!(state, headers);
    let form = match checked(&visit, &headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let enabled = form.get("enabled") == Some("yes");
    match users::set_enabled(&visit.state.service(&actor), &login, enabled).await {
        Ok(_) => see_other("/portal/admin/?done=user"),
        Err(e) => visit.refused(&e, "/portal/admin/".into()),
    }
}

/// Ends every session of a user, on every device.
pub(super) async fn sign_out(
    Current(state): Current,
    headers: HeaderMap,
    Path(login): Path<String>,
    body: Bytes,
) -> Response {
    let (visit, actor) = admin_visit!(state, headers);
    if let Err(r) = checked(&visit, &headers, &body) {
        return r;
    }
    match sessions::end_all(&visit.state.service(&actor), &login).await {
        Ok(_) => see_other("/portal/admin/?done=signed-out"),
        Err(e) => visit.refused(&e, "/portal/admin/".into()),
    }
}
