//! What every operation is given: the store, the policy, the time, who acts,
//! and what to make stale on this node. The HTTP state builds one per request;
//! the command line builds one per command. An operation never sees either.

use std::future::Future;
use std::pin::Pin;

use scopegate_core::Policy;
use scopegate_core::registration::FieldError;
use scopegate_store::Store;

use crate::audit::AuditKind;
use crate::writer::Writer;

/// Who made a change, as the audit trail names them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Actor {
    /// An admin API token, by its public id.
    AdminToken(String),
    /// A signed-in portal user, by login.
    User(String),
    /// An OAuth client at the token or revocation endpoint, by client id.
    Client(String),
    /// An upstream OpenID Connect provider, by name, vouching for who signs in.
    IdentityProvider(String),
    /// A client the provider did not register, registering itself: by the
    /// address it registered from, or the URL of its metadata document.
    UnregisteredClient(String),
    /// The command line: the command, and the operating-system user that ran it.
    CommandLine { command: &'static str, os_user: String },
}

impl Actor {
    /// `command` (such as `scopegate app create`), run by this process's
    /// operating-system user.
    pub fn command_line(command: &'static str) -> Actor {
        Actor::CommandLine {
            command,
            os_user: os_user(),
        }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::AdminToken(id) => write!(f, "admin-token {id}"),
            Actor::User(login) => write!(f, "user {login}"),
            Actor::Client(client_id) => write!(f, "client {client_id}"),
            Actor::IdentityProvider(name) => write!(f, "identity provider {name}"),
            Actor::UnregisteredClient(from) => write!(f, "unregistered client ({from})"),
            Actor::CommandLine { command, os_user } => write!(f, "command line ({command}, os user {os_user})"),
        }
    }
}

/// `$USER` (or `$LOGNAME`), else the process's uid, else `unknown`.
fn os_user() -> String {
    let named = ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.is_empty() && v.chars().all(|c| !c.is_control()));
    if let Some(name) = named {
        return name;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = std::fs::metadata("/proc/self") {
            return format!("uid {}", meta.uid());
        }
    }
    "unknown".to_owned()
}

/// Why a change was not made. Nothing was written.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ServiceError {
    /// The thing named does not exist (or is not the caller's to see).
    NotFound(String),
    /// A field of the request is wrong.
    Invalid(FieldError),
    /// The request is well formed but conflicts with what exists.
    Conflict(String),
    /// The store failed; logged, never shown.
    Internal,
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceError::NotFound(m) | ServiceError::Conflict(m) => f.write_str(m),
            ServiceError::Invalid(e) => write!(f, "{}: {}", e.field, e.message),
            ServiceError::Internal => f.write_str("internal error (see the log)"),
        }
    }
}

impl std::error::Error for ServiceError {}

impl From<scopegate_store::StoreError> for ServiceError {
    fn from(e: scopegate_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        ServiceError::Internal
    }
}

impl From<FieldError> for ServiceError {
    fn from(e: FieldError) -> Self {
        ServiceError::Invalid(e)
    }
}

pub type Result<T> = std::result::Result<T, ServiceError>;

/// A revocation written to the store, for this node's in-memory list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Revoked<'a> {
    /// Every token of a grant.
    Grant(&'a str),
    /// One JWT, by its `jti`.
    Jwt(&'a str),
}

/// What a change must reach on this node: the caches it makes stale, and
/// the batching writer its audit event joins (so that the trail keeps the
/// order in which things happened here). The server implements it; the
/// command line has neither ([`NoCaches`]). Other nodes learn of every
/// change through the store's change feed.
pub trait Caches: Send + Sync {
    /// The writer audit events go through, if this node has one; without
    /// one, an event is written to the store directly.
    fn writer(&self) -> Option<&Writer> {
        None
    }
    /// A key set changed or went away.
    fn forget_client(&self, client_id: &str);
    /// A user changed or went away.
    fn forget_user(&self, login: &str);
    /// One stored token was revoked.
    fn forget_token(&self, hash: &[u8]);
    /// Forget every credential verified so far (a token, grant or key set's
    /// tokens were revoked, or a permission changed).
    fn forget_credentials(&self);
    /// This node wrote a revocation.
    fn revoked(&self, what: Revoked<'_>);
    /// Revocations were written that this node cannot name one by one (a
    /// consent's grants): read the list again.
    fn reload_revocations(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// No caches: the command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCaches;

impl Caches for NoCaches {
    fn forget_client(&self, _: &str) {}
    fn forget_user(&self, _: &str) {}
    fn forget_token(&self, _: &[u8]) {}
    fn forget_credentials(&self) {}
    fn revoked(&self, _: Revoked<'_>) {}
    fn reload_revocations(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::ready(()))
    }
}

/// One operation's surroundings.
pub struct Context<'a, S: Store> {
    pub store: &'a S,
    pub policy: &'a Policy,
    /// Unix seconds, read once for the whole operation.
    pub now: i64,
    pub actor: &'a Actor,
    pub caches: &'a dyn Caches,
}

impl<S: Store> std::fmt::Debug for Context<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("now", &self.now)
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Context<'_, S> {
    /// Writes the change's audit event, durably (not through the batching
    /// writer: an operator's change must not be lost from the trail), naming
    /// who made it.
    pub(crate) async fn audit(
        &self,
        kind: AuditKind,
        client_id: Option<&str>,
        subject: Option<&str>,
        detail: String,
    ) -> Result<()> {
        let detail = if detail.is_empty() {
            format!("by {}", self.actor)
        } else {
            format!("{detail} by {}", self.actor)
        };
        let e = crate::audit::event(self.now, kind, client_id, subject, detail);
        let Some(writer) = self.caches.writer() else {
            return Ok(self.store.audit(&e).await?);
        };
        if writer.audit_committed(e).await {
            return Ok(());
        }
        tracing::error!(
            event = kind.as_str(),
            "the change was made but its audit event could not be written"
        );
        Err(ServiceError::Internal)
    }
}
