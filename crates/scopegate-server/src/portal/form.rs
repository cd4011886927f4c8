//! Portal forms: `application/x-www-form-urlencoded` bodies where a name may
//! repeat (checkboxes), with the CSRF field.

use axum::http::HeaderMap;

#[derive(Default)]
pub(crate) struct PageForm(Vec<(String, String)>);

/// Names only: forms carry passwords.
impl std::fmt::Debug for PageForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(name, _)| name)).finish()
    }
}

impl PageForm {
    /// `None` when the body is not a form.
    pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Option<PageForm> {
        if !crate::http::form::has_content_type(headers, "application/x-www-form-urlencoded") {
            return None;
        }
        serde_urlencoded::from_bytes(body).ok().map(PageForm)
    }

    /// A query string.
    pub(crate) fn query(query: Option<&str>) -> PageForm {
        serde_urlencoded::from_str(query.unwrap_or(""))
            .map(PageForm)
            .unwrap_or_default()
    }

    /// The first value of `name`, if not empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every non-empty value of `name`, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }
}
