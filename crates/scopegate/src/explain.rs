//! `scopegate explain`: one request through the decision path, shown step by step.

use std::path::PathBuf;
use std::process::ExitCode;

use scopegate_core::Policy;
use scopegate_core::explain::{Credentials, ExplainInputError, Explanation, explain};

use crate::policy_file::load_or_report;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The policy file.
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
    /// Instead of a request: which scopes could a user whose ID token (or
    /// userinfo) has these claims grant? FILE is a JSON object of claims.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["scopes", "token", "anonymous", "narrow"])]
    claims: Option<PathBuf>,
    /// The `[[identity_provider]]` whose mapping `--claims` goes through
    /// (default: the only one).
    #[arg(long, value_name = "NAME", requires = "claims")]
    idp: Option<String>,
    /// The caller's granted scopes, space- or comma-separated ("" for an
    /// authenticated client with no scope).
    #[arg(long, value_name = "SCOPES", required_unless_present_any = ["anonymous", "token", "claims"], conflicts_with = "token")]
    scopes: Option<String>,
    /// An access token issued by this server: its scopes, if it is live.
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Explain the request as made with no credentials at all.
    #[arg(long, conflicts_with_all = ["scopes", "token"])]
    anonymous: bool,
    /// An X-OAuth-Scope value that narrows the scopes for this request.
    #[arg(long, value_name = "SCOPES", conflicts_with = "anonymous")]
    narrow: Option<String>,
    /// The HTTP method, e.g. GET; or `mcp` to explain an MCP operation.
    #[arg(required_unless_present = "claims")]
    method: Option<String>,
    /// The request target: path and optional query, e.g. /account/settings?x=1;
    /// after `mcp`, the operation, e.g. "tools/call create_order".
    #[arg(required_unless_present = "claims")]
    path: Option<String>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(&args.config)?;
    if let Some(file) = &args.claims {
        return explain_claims(&policy, file, args.idp.as_deref());
    }
    let (Some(method), Some(path)) = (args.method.as_deref(), args.path.as_deref()) else {
        anyhow::bail!("give METHOD and PATH, or --claims FILE");
    };
    let token_scope = match &args.token {
        None => None,
        Some(token) => match token_scope(&policy, token)? {
            Ok(scope) => Some(scope),
            Err(why) => {
                println!("request    {method} {path}");
                println!("holds      no valid credentials: {why}");
                println!("decision   deny (invalid_token, 401): {why}");
                return Ok(ExitCode::from(1));
            }
        },
    };
    let credentials = match args.scopes.as_ref().or(token_scope.as_ref().map(|(scope, _)| scope)) {
        None => Credentials::Anonymous,
        Some(granted) => Credentials::Scopes {
            granted,
            narrow: args.narrow.as_deref(),
        },
    };
    let e = explain(&policy, method, path, credentials).map_err(|e| match e {
        ExplainInputError::Scopes(m) => anyhow::anyhow!("--scopes: {m}"),
        ExplainInputError::Narrow(m) => anyhow::anyhow!("--narrow: {m}"),
        ExplainInputError::Operation(m) => anyhow::anyhow!("{m}"),
    })?;
    print(&e, token_scope.as_ref().map(|(_, who)| who.as_str()));
    Ok(if e.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print(e: &Explanation, token: Option<&str>) {
    println!("request    {} {}", e.method, e.target);
    if let Some(who) = token {
        println!("token      {who}");
    }
    if let Some(path) = &e.canonical_path
        && path != e.target.split('?').next().unwrap_or_default()
    {
        println!("canonical  {path}");
    }
    if let Some(route) = &e.route {
        println!("route      {}  ({})", route.pattern, route.location);
        println!("requires   {}", route.describe);
    }
    match (&e.granted, &e.holds) {
        (Some(granted), Some(holds)) => println!("holds      {}  (granted: {})", or_none(holds), or_none(granted)),
        _ => println!("holds      no credentials"),
    }
    if e.allowed {
        println!("decision   allow: {}", e.reason);
    } else {
        println!("decision   deny ({}, {}): {}", e.outcome, e.status, e.reason);
    }
}

/// `explain --claims`: a provider's mapping applied to a claims file.
fn explain_claims(policy: &Policy, file: &std::path::Path, idp: Option<&str>) -> anyhow::Result<ExitCode> {
    let providers = &policy.settings.sign_in.providers;
    let provider = match idp {
        Some(name) => providers.iter().find(|p| p.name == name).ok_or_else(|| {
            anyhow::anyhow!(
                "--idp {name:?}: the policy has no [[identity_provider]] of that name (it has: {})",
                names(providers)
            )
        })?,
        None => match providers.as_slice() {
            [only] => only,
            [] => anyhow::bail!("--claims: the policy has no [[identity_provider]]"),
            _ => anyhow::bail!(
                "--claims: name the provider with --idp (the policy has: {})",
                names(providers)
            ),
        },
    };
    let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("--claims {}: {e}", file.display()))?;
    let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("--claims {}: not a JSON object of claims: {e}", file.display()))?;
    let e = scopegate_core::sign_in::explain_claims(provider, &policy.catalog, &claims);
    println!("provider     {} ({})", provider.name, provider.label);
    match &e.login {
        Some(login) => println!("login        {login}  (claim {})", provider.login_claim),
        None => println!(
            "login        none: the claims lack {:?}, so the sign-in would be refused",
            provider.login_claim
        ),
    }
    if !provider.default_permissions.is_empty() {
        println!("default      {}", provider.default_permissions.join(" "));
    }
    for (claim, value, grant, matched) in &e.rows {
        let mark = if *matched { "matches" } else { "no match" };
        println!("row          {claim} = {value:?} -> {}  ({mark})", grant.join(" "));
    }
    println!(
        "permissions  {}",
        if e.permissions.is_empty() {
            "none".to_owned()
        } else {
            e.permissions.join(" ")
        }
    );
    println!("may grant    {}", or_none(&e.may_grant));
    for (scope, lacking) in &e.may_not {
        println!("may not      {scope}  (needs {})", lacking.join(" "));
    }
    Ok(ExitCode::SUCCESS)
}

fn names(providers: &[scopegate_core::sign_in::IdentityProvider]) -> String {
    if providers.is_empty() {
        return "none".to_owned();
    }
    providers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
}

fn or_none(names: &[String]) -> String {
    if names.is_empty() {
        "no scopes".to_owned()
    } else {
        names.join(" ")
    }
}

/// The scope of a live access token, or why it gives no credentials.
fn token_scope(policy: &Policy, token: &str) -> anyhow::Result<Result<(String, String), String>> {
    use scopegate_store::{Store, TokenKind};

    use crate::store_cmd::{open, runtime, unix_now};
    if scopegate_service::credentials::keys::looks_like_jwt(token) {
        return jwt_scope(policy, token);
    }
    let hash = scopegate_service::credentials::secrets::hash(token);
    let record = runtime()?.block_on(async {
        {
            let store = open(policy).await?;
            Ok::<_, anyhow::Error>(store.token(&hash).await?)
        }
    })?;
    let now = unix_now();
    Ok(match record {
        None => Err("the token is unknown to this server".to_owned()),
        Some(t) if t.kind != TokenKind::Access => {
            Err("that is a refresh token; API calls take access tokens".to_owned())
        }
        Some(t) if t.revoked => Err("the token was revoked".to_owned()),
        Some(t) if !t.is_live(now) => Err("the token has expired".to_owned()),
        Some(t) if t.environment != policy.settings.gateway.environment => Err(format!(
            "the token belongs to environment {:?}, the gateway serves {:?}",
            t.environment, policy.settings.gateway.environment
        )),
        Some(t) => {
            let who = t.subject.as_deref().map_or_else(String::new, |s| format!(", user {s}"));
            Ok((
                t.scope,
                format!("client {}{who}, environment {}", t.client_id, t.environment),
            ))
        }
    })
}

/// A stateless JWT: verified with the keys in the store, then checked against revocations.
fn jwt_scope(policy: &Policy, token: &str) -> anyhow::Result<Result<(String, String), String>> {
    use scopegate_service::credentials::keys::Keys;
    use scopegate_store::Store;

    use crate::store_cmd::{open, runtime, unix_now};
    let now = unix_now();
    let issuer = policy.settings.issuer.clone();
    runtime()?.block_on(async {
        {
            let store = open(policy).await?;
            let keys = Keys::from_records(
                &store.signing_keys().await?,
                scopegate_service::credentials::sealing::KeyEncryptionKey::from_env()?.map(std::sync::Arc::new),
            )?;
            let Some(c) = keys.verify_for(token, &issuer, &policy.audiences(), now) else {
                return Ok(Err(
                    "the JWT is not valid here (signature, issuer, audience or time)".to_owned()
                ));
            };
            if store.is_revoked(&c.jti, &c.grant_id).await? {
                return Ok(Err("the token was revoked".to_owned()));
            }
            if c.env != policy.settings.gateway.environment {
                return Ok(Err(format!(
                    "the token belongs to environment {:?}, the gateway serves {:?}",
                    c.env, policy.settings.gateway.environment
                )));
            }
            let who = if c.sub == c.client_id {
                String::new()
            } else {
                format!(", user {}", c.sub)
            };
            Ok(Ok((
                c.scope,
                format!("client {}{who}, environment {}", c.client_id, c.env),
            )))
        }
    })
}
