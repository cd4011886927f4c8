//! The audit trail, filtered and paged, newest first.

use axum::extract::RawQuery;
use axum::response::{IntoResponse, Response};
use scopegate_store::{AuditFilter, Store};
use serde::Deserialize;
use utoipa::IntoParams;

use super::body;
use super::error::{ApiError, ErrorBody};
use super::paging::{PageParams, next_link};
use super::views::{AuditEntry, Page};
use crate::http::error::no_store;
use crate::state::Current;

#[derive(Deserialize, IntoParams, Debug, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditParams {
    /// Only events of this key set.
    pub client_id: Option<String>,
    /// Only events about this user.
    pub subject: Option<String>,
    /// Only this event (`issue`, `refresh`, `revoke`, `app_create`, …).
    pub event: Option<String>,
    /// How many entries, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Where to continue: from the previous page's `next` link.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/admin/api/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = Page<AuditEntry>), (status = 400, body = ErrorBody)))]
pub(super) async fn list(Current(state): Current, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let params: AuditParams = body::query(q.as_deref())?;
    let limit = PageParams {
        limit: params.limit,
        cursor: None,
    }
    .limit()?;
    let before = match params.cursor.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            ApiError::field(scopegate_core::registration::FieldError::new(
                "cursor",
                "not a cursor this API gave (take it from a `next` link)",
            ))
        })?),
    };
    let filter = AuditFilter {
        client_id: params.client_id.clone(),
        subject: params.subject.clone(),
        event: params.event.clone(),
    };
    let mut entries: Vec<AuditEntry> = state
        .store
        .audit_page(&filter, before, limit + 1)
        .await?
        .into_iter()
        .map(|(id, e)| AuditEntry::new(id, e))
        .collect();
    let next = if entries.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        entries.pop();
        entries.last().map(|e| {
            let filters = [
                ("client_id", params.client_id.as_deref()),
                ("subject", params.subject.as_deref()),
                ("event", params.event.as_deref()),
            ];
            next_link("/admin/api/audit", &filters, &e.id.to_string(), limit)
        })
    } else {
        None
    };
    Ok(no_store(axum::Json(Page { items: entries, next }).into_response()))
}
