//! Lists are paged with an opaque cursor: each page says where the next
//! begins, as a `next` link with the same filters.

use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;
use scopegate_core::registration::FieldError;

pub(super) const DEFAULT_LIMIT: i64 = 50;
pub(super) const MAX_LIMIT: i64 = 200;

/// `limit` and `cursor`, common to every list.
#[derive(Deserialize, IntoParams, Default, Debug)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct PageParams {
    /// How many items, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Where to continue: the `cursor` of the previous page's `next` link.
    pub cursor: Option<String>,
}

impl PageParams {
    pub(super) fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::field(FieldError::new(
                "limit",
                format!("{n} is not between 1 and {MAX_LIMIT}"),
            ))),
        }
    }
}

/// The `next` link: `path?` the filters, `cursor` and `limit`.
pub(super) fn next_link(path: &str, filters: &[(&str, Option<&str>)], cursor: &str, limit: i64) -> String {
    let mut pairs = url_pairs(filters);
    pairs.push(("cursor".to_owned(), cursor.to_owned()));
    pairs.push(("limit".to_owned(), limit.to_string()));
    format!("{path}?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
}

fn url_pairs(filters: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
    filters
        .iter()
        .filter_map(|(k, v)| v.map(|v| ((*k).to_owned(), v.to_owned())))
        .collect()
}
