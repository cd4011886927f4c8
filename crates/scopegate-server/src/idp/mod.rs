//! Each `[[identity_provider]]` as this process knows it: its discovery
//! document and JWKS (fetched at start, refreshed hourly, fetched again at
//! once when an ID token names a key we do not have), whether it can be
//! reached now, and its client secret (read from the environment or a file,
//! never from the policy). A provider that cannot be reached is shown as
//! unavailable and retried; nothing else waits for it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, RedirectUrl};
use scopegate_core::sign_in::{IdentityProvider, SecretSource};

mod http_client;

use http_client::ProviderHttp;

/// How often a reachable provider's metadata and keys are fetched again.
const REFRESH_EVERY: Duration = Duration::from_secs(3600);
/// Retries of an unreachable provider start here and double up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(60);
/// An unknown signing key refetches the JWKS at most this often.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(10);

pub(crate) type RelyingParty =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// Every provider of the policy, by name.
#[derive(Debug, Default)]
pub(crate) struct Providers {
    known: Mutex<BTreeMap<String, Arc<Provider>>>,
    http: std::sync::OnceLock<ProviderHttp>,
}

impl Providers {
    /// The runtime of `config`, started (discovery under way) if new or if
    /// its issuer, client or secret changed since (a policy reload).
    pub(crate) fn get(&self, config: &IdentityProvider, issuer: &str) -> Arc<Provider> {
        let mut known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = known.get(&config.name)
            && p.config.issuer == config.issuer
            && p.config.client_id == config.client_id
            && p.config.client_secret == config.client_secret
            && p.config.scopes == config.scopes
        {
            return Arc::clone(p);
        }
        let http = self.http.get_or_init(ProviderHttp::new).clone();
        let provider = Provider::start(config.clone(), issuer, http);
        known.insert(config.name.clone(), Arc::clone(&provider));
        provider
    }

    /// Starts every provider of the policy (at `serve`).
    pub(crate) fn start_all(&self, policy: &scopegate_core::Policy) {
        for p in &policy.settings.sign_in.providers {
            self.get(p, &policy.settings.issuer);
        }
    }
}

/// One provider's runtime.
pub(crate) struct Provider {
    pub config: IdentityProvider,
    pub http: ProviderHttp,
    /// Where the provider sends the browser back: `{issuer}/oauth2/idp/<name>/callback`.
    pub redirect: String,
    secret: Result<Option<ClientSecret>, String>,
    discovered: ArcSwapOption<CoreProviderMetadata>,
    problem: Mutex<Option<String>>,
    last_refetch: Mutex<Option<Instant>>,
    last_retry: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

impl Provider {
    fn start(config: IdentityProvider, issuer: &str, http: ProviderHttp) -> Arc<Provider> {
        let secret = match &config.client_secret {
            SecretSource::None => Ok(None),
            SecretSource::Env(var) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(ClientSecret::new(v.trim().to_owned()))),
                _ => Err(format!(
                    "its client secret is missing: the environment variable {var} is not set"
                )),
            },
            SecretSource::File(path) => match std::fs::read_to_string(path) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(ClientSecret::new(v.trim().to_owned()))),
                Ok(_) => Err(format!("its client secret is missing: {path} is empty")),
                Err(e) => Err(format!("its client secret is missing: cannot read {path}: {e}")),
            },
        };
        if let Err(why) = &secret {
            tracing::error!(provider = %config.name, "identity provider unavailable: {why}");
        }
        let provider = Arc::new(Provider {
            redirect: format!("{}/oauth2/idp/{}/callback", issuer.trim_end_matches('/'), config.name),
            config,
            http,
            secret,
            discovered: ArcSwapOption::empty(),
            problem: Mutex::new(Some("connecting".to_owned())),
            last_refetch: Mutex::new(None),
            last_retry: Mutex::new(None),
        });
        if provider.secret.is_ok() {
            tokio::spawn(keep_discovered(Arc::downgrade(&provider)));
        }
        provider
    }

    /// The relying party, if the provider has been reached; else why not.
    pub(crate) fn relying_party(&self) -> Result<RelyingParty, String> {
        let secret = self.secret.clone()?;
        let Some(metadata) = self.discovered.load_full() else {
            return Err(self.problem().unwrap_or_else(|| "connecting".to_owned()));
        };
        let redirect = RedirectUrl::new(self.redirect.clone()).map_err(|e| format!("callback address: {e}"))?;
        Ok(CoreClient::from_provider_metadata(
            (*metadata).clone(),
            ClientId::new(self.config.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect))
    }

    /// The CSP sources a sign-in page's form ends at (through our 303):
    /// the issuer's origin, known before discovery, and the authorization
    /// endpoint's when discovery names another.
    pub(crate) fn form_action_sources(&self) -> Vec<String> {
        let mut sources: Vec<String> = crate::http::pages::form_action_source(&self.config.issuer)
            .into_iter()
            .collect();
        if let Some(metadata) = self.discovered.load_full()
            && let Some(source) = crate::http::pages::form_action_source(metadata.authorization_endpoint().as_str())
            && !sources.contains(&source)
        {
            sources.push(source);
        }
        sources
    }

    /// Why the provider cannot be used now (`None`: it can).
    pub(crate) fn problem(&self) -> Option<String> {
        if let Err(why) = &self.secret {
            return Some(why.clone());
        }
        if self.discovered.load().is_some() {
            return None;
        }
        self.problem
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether the keys may be fetched again now (an ID token named a key
    /// we do not have: the provider rotated); at most every
    /// [`REFETCH_AT_MOST_EVERY`], so that forged tokens cannot make us
    /// hammer the provider.
    pub(crate) fn refetch_keys(&self) -> bool {
        once_per(&self.last_refetch)
    }

    /// Whether an unreachable provider may be tried again now, on a
    /// person's click rather than at the next scheduled retry; as rarely
    /// as [`Provider::refetch_keys`], and counted apart from it.
    pub(crate) fn retry_now(&self) -> bool {
        once_per(&self.last_retry)
    }

    /// Fetches the discovery document and JWKS now.
    pub(crate) async fn discover(&self) -> Result<(), String> {
        let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(|e| format!("issuer: {e}"))?;
        match CoreProviderMetadata::discover_async(issuer, &self.http).await {
            Ok(metadata) => {
                self.discovered.store(Some(Arc::new(metadata)));
                *self.problem.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                Ok(())
            }
            Err(e) => {
                let why = describe(&e);
                *self.problem.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why.clone());
                Err(why)
            }
        }
    }
}

/// `true` at most once every [`REFETCH_AT_MOST_EVERY`] for one `last`.
fn once_per(last: &Mutex<Option<Instant>>) -> bool {
    let mut last = last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.is_some_and(|at| at.elapsed() < REFETCH_AT_MOST_EVERY) {
        return false;
    }
    *last = Some(Instant::now());
    true
}

fn describe(e: &openidconnect::DiscoveryError<http_client::CallError>) -> String {
    use std::error::Error;
    let mut text = format!("discovery failed: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// Keeps a provider's metadata fresh while the provider is in use: retries
/// when unreachable, refreshes hourly.
async fn keep_discovered(provider: Weak<Provider>) {
    let mut retry = RETRY_FIRST;
    loop {
        let Some(p) = provider.upgrade() else { return };
        let wait = match p.discover().await {
            Ok(()) => {
                tracing::info!(provider = %p.config.name, issuer = %p.config.issuer, "identity provider discovered");
                retry = RETRY_FIRST;
                REFRESH_EVERY
            }
            Err(why) => {
                tracing::warn!(provider = %p.config.name, issuer = %p.config.issuer, "identity provider unavailable, retrying in {} s: {why}", retry.as_secs());
                let wait = retry;
                retry = (retry * 2).min(RETRY_MAX);
                wait
            }
        };
        drop(p);
        tokio::time::sleep(wait).await;
    }
}
