//! Signing in users who live elsewhere (docs/users.md): an upstream OpenID
//! Connect provider or a login delegation has vouched for a subject; this
//! finds or makes its user, replaces what the source says it may do, and
//! audits it. The front end has already checked the proof (the ID token, the
//! admin token of the login app); this decides who the subject is here.

use scopegate_core::registration::check_login;
use scopegate_core::sign_in::Admission;
use scopegate_store::{SourceSignIn, Store, UserRecord};

use crate::audit::AuditKind;
use crate::context::{Context, Result};

/// What a source says of the person signing in.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Vouched<'a> {
    /// `idp:<name>` or `delegated`.
    pub source: &'a str,
    /// The source's stable identifier for them (`sub`).
    pub subject: &'a str,
    /// Their login here (from the provider's `login_claim`).
    pub login: &'a str,
    pub display_name: Option<&'a str>,
    /// What the source lets them do, replacing what it said before.
    pub permissions: Vec<String>,
}

/// Why a vouched-for person was not signed in; nothing was written but
/// the audit event.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Refusal {
    /// The login the source gave is not one scopegate can hold.
    BadLogin(String),
    /// `users = "existing"` and no operator admitted this login.
    NotAdmitted,
    /// The login belongs to a user of another source (or to another
    /// subject of this one): never linked.
    Collision {
        source: String,
    },
    Disabled,
}

impl Refusal {
    /// What the sign-in page says.
    pub fn message(&self, login: &str) -> String {
        match self {
            Refusal::BadLogin(why) => format!("Your account's login cannot be used here: {why}."),
            Refusal::NotAdmitted => {
                format!("Your account ({login}) has not been given access here. Ask the operator to admit it.")
            }
            Refusal::Collision { source } => format!(
                "The login {login} already belongs to another account here ({}), so this sign-in was refused. Ask the operator.",
                describe(source)
            ),
            Refusal::Disabled => "Your account is disabled here.".to_owned(),
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Refusal::BadLogin(_) => "bad login",
            Refusal::NotAdmitted => "not admitted",
            Refusal::Collision { .. } => "login taken by another source",
            Refusal::Disabled => "user disabled",
        }
    }
}

fn describe(source: &str) -> String {
    if source == scopegate_core::sign_in::LOCAL {
        "a scopegate password".to_owned()
    } else if let Some(name) = source.strip_prefix(scopegate_core::sign_in::PROVIDER_PREFIX) {
        format!("provider {name}")
    } else {
        source.to_owned()
    }
}

/// Signs in the person a source vouched for: the user of that source and
/// subject; else the user an operator admitted under that login (binding the
/// subject); else, with [`Admission::Create`], a new user. Their source's
/// permissions are replaced; local permissions are never touched. One audit
/// event: `sign_in` (with `created` for a new user) or `sign_in_failed`.
pub async fn sign_in_from_source<S: Store>(
    cx: &Context<'_, S>,
    vouched: &Vouched<'_>,
    admission: Admission,
    client_id: Option<&str>,
) -> Result<std::result::Result<UserRecord, Refusal>> {
    let mut permissions = vouched.permissions.clone();
    permissions.sort();
    permissions.dedup();
    let vouched = &Vouched {
        permissions,
        ..vouched.clone()
    };
    let outcome = find_or_make(cx, vouched, admission).await?;
    match &outcome {
        Ok((user, created)) => {
            cx.caches.forget_user(&user.login);
            cx.caches.forget_credentials();
            let detail = format!(
                "source={} permissions=\"{}\"{}",
                vouched.source,
                vouched.permissions.join(" "),
                if *created { " created" } else { "" }
            );
            cx.audit(AuditKind::SignIn, client_id, Some(&user.login), detail)
                .await?;
        }
        Err(refusal) => {
            let detail = format!("source={} refused: {}", vouched.source, refusal.reason());
            cx.audit(AuditKind::SignInFailed, client_id, Some(vouched.login), detail)
                .await?;
        }
    }
    Ok(outcome.map(|(user, _)| user))
}

async fn find_or_make<S: Store>(
    cx: &Context<'_, S>,
    v: &Vouched<'_>,
    admission: Admission,
) -> Result<std::result::Result<(UserRecord, bool), Refusal>> {
    fn record<'a>(v: &'a Vouched<'_>, login: &'a str, at: i64) -> SourceSignIn<'a> {
        SourceSignIn {
            login,
            source: v.source,
            subject: v.subject,
            display_name: v.display_name,
            permissions: &v.permissions,
            at,
        }
    }
    // Twice at most: a concurrent first sign-in of the same subject may
    // make the user between our look and our insert.
    for _ in 0..2 {
        if let Some(user) = cx.store.user_by_subject(v.source, v.subject).await? {
            if !user.enabled {
                return Ok(Err(Refusal::Disabled));
            }
            if cx.store.record_source_sign_in(&record(v, &user.login, cx.now)).await? {
                return Ok(Ok((reread(cx, &user.login).await?, false)));
            }
            continue;
        }
        if let Err(e) = check_login("login", v.login) {
            return Ok(Err(Refusal::BadLogin(e.message)));
        }
        if let Some(user) = cx.store.user(v.login).await? {
            if user.source != v.source || user.subject.is_some() {
                return Ok(Err(Refusal::Collision { source: user.source }));
            }
            if !user.enabled {
                return Ok(Err(Refusal::Disabled));
            }
            if cx.store.record_source_sign_in(&record(v, &user.login, cx.now)).await? {
                return Ok(Ok((reread(cx, &user.login).await?, false)));
            }
            continue;
        }
        if admission == Admission::Existing {
            return Ok(Err(Refusal::NotAdmitted));
        }
        let mut user = UserRecord::local(v.login, String::new(), Vec::new(), cx.now);
        user.source = v.source.to_owned();
        user.subject = Some(v.subject.to_owned());
        user.display_name = v.display_name.map(str::to_owned);
        user.source_permissions = v.permissions.clone();
        user.signed_in_at = Some(cx.now);
        if cx.store.create_user(&user).await? {
            return Ok(Ok((user, true)));
        }
    }
    // Still racing after a retry: the login was taken meanwhile.
    Ok(Err(Refusal::Collision {
        source: cx.store.user(v.login).await?.map_or_else(String::new, |u| u.source),
    }))
}

async fn reread<S: Store>(cx: &Context<'_, S>, login: &str) -> Result<UserRecord> {
    crate::operations::users::get(cx.store, login).await
}

/// A delegation's challenge kind in the store.
pub const DELEGATION: &str = "delegation";

/// What the provider's login app answered to a login challenge.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Accept {
        subject: String,
        #[serde(default)]
        permissions: Vec<String>,
        #[serde(default)]
        name: Option<String>,
        /// The admin token that answered (the audit names it).
        by: String,
    },
    Reject {
        error: String,
        #[serde(default)]
        description: Option<String>,
        by: String,
    },
}

/// Why a challenge cannot be answered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ChallengeState {
    Unknown,
    /// Answered, used or expired: 410.
    Gone,
}

/// Records the login app's answer to a delegation challenge, once, while
/// it is unused and unexpired. The sign-in itself (and its audit event)
/// happens when the browser comes back. `subject` must be a valid login,
/// `permissions` valid names, `error` an OAuth error code.
pub async fn answer_challenge<S: Store>(
    cx: &Context<'_, S>,
    hash: &[u8],
    answer: &Answer,
) -> Result<std::result::Result<(), ChallengeState>> {
    match answer {
        Answer::Accept {
            subject,
            permissions,
            name,
            ..
        } => {
            check_login("subject", subject)?;
            for p in permissions {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                    return Err(scopegate_core::registration::FieldError::new(
                        "permissions",
                        format!("{p:?}: use letters, digits, '-' and '_'"),
                    )
                    .into());
                }
            }
            if name
                .as_ref()
                .is_some_and(|n| n.chars().count() > 200 || n.chars().any(char::is_control))
            {
                return Err(scopegate_core::registration::FieldError::new(
                    "name",
                    "at most 200 characters, none of them control characters",
                )
                .into());
            }
        }
        Answer::Reject { error, description, .. } => {
            if error.is_empty() || error.len() > 64 || !error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err(scopegate_core::registration::FieldError::new(
                    "error",
                    "an OAuth error code such as \"access_denied\" (lowercase letters and '_')",
                )
                .into());
            }
            if description
                .as_ref()
                .is_some_and(|d| d.chars().count() > 400 || d.chars().any(char::is_control))
            {
                return Err(scopegate_core::registration::FieldError::new(
                    "description",
                    "at most 400 characters, none of them control characters",
                )
                .into());
            }
        }
    }
    let Some(challenge) = cx.store.challenge(hash).await? else {
        return Ok(Err(ChallengeState::Unknown));
    };
    if challenge.kind != DELEGATION {
        return Ok(Err(ChallengeState::Unknown));
    }
    let outcome = serde_json::to_string(answer).map_err(|_| crate::context::ServiceError::Internal)?;
    if cx.store.settle_challenge(hash, &outcome, cx.now).await? {
        Ok(Ok(()))
    } else {
        Ok(Err(ChallengeState::Gone))
    }
}
