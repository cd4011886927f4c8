//! The portal's pages as values: one askama template each, checked at
//! compile time.

use askama::Template;

/// What every portal page shows around its content.
#[derive(Debug, Default)]
pub(crate) struct Nav {
    /// The signed-in user (no navigation when signed out).
    pub login: Option<String>,
    pub admin: bool,
    pub csrf: String,
    pub notice: Option<&'static str>,
    pub error: Option<String>,
}

#[derive(Template, Debug)]
#[template(path = "portal/sign_in.html")]
pub(crate) struct SignIn {
    pub nav: Nav,
    pub options: crate::http::pages::SignInOptions,
}

#[derive(Debug)]
pub(crate) struct AppRow {
    pub app_id: String,
    pub name: String,
    pub owner: Option<String>,
    /// Said of an app the provider did not register (`None`: it did).
    pub registered_by: Option<&'static str>,
    pub created: String,
    pub key_sets: Vec<KeySetRow>,
}

#[derive(Debug)]
pub(crate) struct KeySetRow {
    pub client_id: String,
    pub environment: String,
    pub kind: &'static str,
    pub active_secrets: usize,
    pub scopes: Vec<String>,
}

#[derive(Template, Debug)]
#[template(path = "portal/home.html")]
pub(crate) struct Home {
    pub nav: Nav,
    pub apps: Vec<AppRow>,
}

#[derive(Debug, Default)]
pub(crate) struct NewAppForm {
    pub name: String,
    pub environment: String,
    pub redirect_uris: String,
    pub public: bool,
}

#[derive(Debug)]
pub(crate) struct ScopeChoice {
    pub name: String,
    pub description: Option<String>,
    pub environments: String,
    /// A developer may take it without an administrator.
    pub self_service: bool,
    pub assigned: bool,
    pub default: bool,
}

#[derive(Template, Debug)]
#[template(path = "portal/new_app.html")]
pub(crate) struct NewApp {
    pub nav: Nav,
    pub form: NewAppForm,
    pub environments: Vec<String>,
    pub scopes: Vec<ScopeChoice>,
}

#[derive(Template, Debug)]
#[template(path = "portal/secret.html")]
pub(crate) struct SecretShown {
    pub nav: Nav,
    pub heading: String,
    pub client_id: String,
    pub secret: Option<String>,
    pub secret_id: String,
    pub expires: Option<String>,
    pub next: String,
}

#[derive(Template, Debug)]
#[template(path = "portal/app.html")]
pub(crate) struct AppPage {
    pub nav: Nav,
    pub app: AppRow,
    /// Declared environments the app has no keys in yet.
    pub free_environments: Vec<String>,
    pub scopes: Vec<ScopeChoice>,
}

#[derive(Debug)]
pub(crate) struct KeyView {
    pub client_id: String,
    pub environment: String,
    pub kind: &'static str,
    pub public: bool,
    pub redirect_uris: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct ScopeRow {
    pub name: String,
    pub description: Option<String>,
    pub default: bool,
    /// `METHOD PATTERN` of each route it opens.
    pub allows: Vec<String>,
    pub grants: String,
    pub environments: String,
}

#[derive(Debug)]
pub(crate) struct SecretRow {
    pub id: String,
    pub created: String,
    /// When it last authenticated (to within five minutes), or "never".
    pub last_used: String,
    pub state: String,
    pub active: bool,
}

#[derive(Debug)]
pub(crate) struct EndpointChoice {
    pub endpoint: String,
    pub description: Option<String>,
    pub picked: bool,
}

#[derive(Debug, Default)]
pub(crate) struct PickerResult {
    pub scopes: String,
    pub encoded: String,
    /// The picked endpoints, for a request's reason.
    pub endpoints: String,
    /// Needed scopes this key set is not assigned.
    pub missing: Vec<String>,
    /// This key set's page with the authorize URL built for these scopes.
    pub authorize_link: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Picker {
    pub user_token: bool,
    pub result: Option<PickerResult>,
    pub error: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct AuthorizeUrl {
    pub redirect_uri: Option<String>,
    /// Scopes a user token may carry, and whether each is ticked.
    pub choices: Vec<(String, bool)>,
    pub url: Option<String>,
    /// The scopes ticked for the URL, carried into "try it".
    pub asked: Vec<String>,
    /// The portal's own redirect URI, and whether the key set has it.
    pub try_it_uri: String,
    pub try_it_ready: bool,
}

#[derive(Template, Debug)]
#[template(path = "portal/key_set.html")]
pub(crate) struct KeySetPage {
    pub nav: Nav,
    pub app_id: String,
    pub app_name: String,
    pub key: KeyView,
    pub scopes: Vec<ScopeRow>,
    pub secrets: Vec<SecretRow>,
    pub endpoints: Vec<EndpointChoice>,
    pub picker: Picker,
    pub authorize: AuthorizeUrl,
    pub requests: Vec<RequestRow>,
    /// Scopes of the environment the key set is not assigned.
    pub requestable: Vec<ScopeChoice>,
}

#[derive(Debug)]
pub(crate) struct RequestRow {
    pub id: String,
    pub app_name: String,
    pub environment: String,
    pub scopes: Vec<String>,
    pub requested_by: String,
    pub reason: String,
    pub created: String,
    pub status: String,
}

#[derive(Debug)]
pub(crate) struct UserRow {
    pub login: String,
    /// Space-separated: the locally set ones (the form edits them).
    pub permissions: String,
    pub enabled: bool,
    /// `idp:<name>` or `delegated` (none: a password user).
    pub source: Option<String>,
    /// What the source gave, and when it was given and lapses.
    pub source_permissions: String,
    pub source_note: String,
}

#[derive(Template, Debug)]
#[template(path = "portal/admin.html")]
pub(crate) struct Admin {
    pub nav: Nav,
    pub requests: Vec<RequestRow>,
    pub apps: Vec<AppRow>,
    pub users: Vec<UserRow>,
    /// Where the next page of apps (users) starts, if there is one.
    pub apps_next: Option<String>,
    pub users_next: Option<String>,
}

#[derive(Template, Debug)]
#[template(path = "portal/audit.html")]
pub(crate) struct Audit {
    pub nav: Nav,
    /// client_id, subject, event.
    pub filter: (String, String, String),
    /// When, event, client_id, user, detail.
    pub entries: Vec<(String, String, String, String, String)>,
    pub next: Option<String>,
}

#[derive(Debug)]
pub(crate) struct GrantRow {
    pub client_id: String,
    pub app_name: String,
    pub environment: String,
    pub scopes: Vec<(String, Option<String>)>,
    pub granted: String,
}

#[derive(Template, Debug)]
#[template(path = "portal/connected.html")]
pub(crate) struct Connected {
    pub nav: Nav,
    pub grants: Vec<GrantRow>,
}

#[derive(Template, Debug)]
#[template(path = "portal/not_found.html")]
pub(crate) struct NotFound {
    pub nav: Nav,
    pub message: String,
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn time(at: i64) -> String {
    let t = scopegate_core::timestamp::Utc::from_unix(at);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year, t.month, t.day, t.hour, t.minute
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_civil_utc() {
        assert_eq!(super::time(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::time(1_800_000_000), "2027-01-15 08:00 UTC");
        assert_eq!(super::time(951_825_600), "2000-02-29 12:00 UTC");
    }
}

/// A refused change: the layout shows the error; the page links back.
#[derive(Template, Debug)]
#[template(path = "portal/problem.html")]
pub(crate) struct Problem {
    pub nav: Nav,
    pub back: String,
}
