//! `scopegate explain`: one request through the decision path, shown step by step.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use scopegate_core::{Allowance, Caller, Decision, Held, Policy, Requirement, ScopeSet, path::canonicalize};

use crate::policy_file::load_or_report;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The policy file.
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
    /// The caller's granted scopes, space- or comma-separated ("" for an
    /// authenticated client with no scope).
    #[arg(long, value_name = "SCOPES", required_unless_present_any = ["anonymous", "token"], conflicts_with = "token")]
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
    /// The HTTP method, e.g. GET.
    method: String,
    /// The request target: path and optional query, e.g. /account/settings?x=1.
    path: String,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let policy = load_or_report(&args.config)?;
    let catalog = &policy.catalog;
    let token_scope = match &args.token {
        None => None,
        Some(token) => match token_scope(&policy, token)? {
            Ok(scope) => Some(scope),
            Err(why) => {
                println!("request    {} {}", args.method, args.path);
                println!("holds      no valid credentials: {why}");
                println!("decision   deny (invalid_token, 401): {why}");
                return Ok(ExitCode::from(1));
            }
        },
    };
    let held = match args.scopes.as_ref().or(token_scope.as_ref().map(|(scope, _)| scope)) {
        None => None,
        Some(list) => {
            let granted = catalog
                .parse_list(list)
                .with_context(|| format!("--scopes: {}", declared_hint(&policy)))?;
            let mut held = catalog.close(&granted);
            if let Some(narrow) = &args.narrow {
                let requested = catalog.parse_list(narrow).context("--narrow")?;
                held = match catalog.narrow(&held, &requested) {
                    Ok(narrowed) => narrowed,
                    Err(not_held) => {
                        println!("request    {} {}", args.method, args.path);
                        println!(
                            "decision   deny (insufficient_scope): X-OAuth-Scope names {} which the caller does not hold",
                            catalog.display(&not_held.0)
                        );
                        return Ok(ExitCode::from(1));
                    }
                };
            }
            Some((catalog.normalize(&granted), held))
        }
    };
    let caller = match &held {
        None => Caller::Anonymous,
        Some((_, held)) => Caller::Client(held),
    };

    println!("request    {} {}", args.method, args.path);
    if let Some((_, who)) = &token_scope {
        println!("token      {who}");
    }
    let decision = match canonicalize(&args.path) {
        Err(e) => Decision::BadPath(e),
        Ok(target) => {
            if target.path != args.path.split('?').next().unwrap_or_default() {
                println!("canonical  {}", target.path);
            }
            let route = policy.match_route(&args.method, &target.path);
            if let Some(id) = route {
                let r = policy.route(id);
                println!("route      {}  ({}:{})", r.pattern, policy.file, r.line);
                println!("requires   {}", describe_requirement(&policy, &r.requirement));
            }
            policy.decide_route(route, caller)
        }
    };
    match &held {
        None => println!("holds      no credentials"),
        Some((given, held)) => println!(
            "holds      {}  (granted: {})",
            or_none(catalog.display(held.set())),
            or_none(catalog.display(given))
        ),
    }
    println!(
        "decision   {}",
        describe_decision(
            &policy,
            &decision,
            &args.method,
            held.as_ref().map(|(given, _)| given),
            held.as_ref().map(|(_, held)| held),
        )
    );
    Ok(if decision.is_allow() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn or_none(s: String) -> String {
    if s.is_empty() { "no scopes".to_owned() } else { s }
}

fn declared_hint(policy: &Policy) -> String {
    let names: Vec<&str> = policy.catalog.iter().map(|(_, s)| s.name.as_str()).collect();
    format!("declared scopes are: {}", names.join(" "))
}

fn describe_requirement(policy: &Policy, requirement: &Requirement) -> String {
    match requirement {
        Requirement::None => "nothing: credentials are not examined".to_owned(),
        Requirement::Client => "any authenticated client, whatever its scope".to_owned(),
        Requirement::AnyOf(s) => format!("any of: {}", policy.catalog.display(s)),
        Requirement::AllOf(s) => format!("all of: {}", policy.catalog.display(s)),
    }
}

fn describe_decision(
    policy: &Policy,
    decision: &Decision,
    method: &str,
    granted: Option<&ScopeSet>,
    held: Option<&Held>,
) -> String {
    let catalog = &policy.catalog;
    match decision {
        Decision::Allow { because, .. } => match because {
            Allowance::Open => "allow: the route is open to everyone".to_owned(),
            Allowance::AnyClient => "allow: any authenticated client may call this route".to_owned(),
            Allowance::Holds(id) => {
                let implier = granted.and_then(|g| g.iter().find(|&s| s != *id && catalog.closure_of(s).contains(*id)));
                match implier {
                    Some(by) if !granted.is_some_and(|g| g.contains(*id)) => {
                        format!("allow: holds {} (implied by {})", catalog.name(*id), catalog.name(by))
                    }
                    _ => format!("allow: holds {}", catalog.name(*id)),
                }
            }
            Allowance::HoldsAll => "allow: holds every required scope".to_owned(),
        },
        Decision::BadPath(e) => format!("deny (bad_path, 400): the path is ambiguous: {e}"),
        Decision::RouteNotFound => {
            format!("deny (route_not_found, 404): no route matches {method} on this path")
        }
        Decision::Unauthenticated { .. } => {
            "deny (unauthenticated, 401): the route needs credentials and none were given".to_owned()
        }
        Decision::InsufficientScope { route } => {
            let missing = &held.map(|h| policy.missing(*route, h)).unwrap_or_default();
            match policy.route(*route).requirement {
                Requirement::AllOf(_) => {
                    format!("deny (insufficient_scope, 403): missing {}", catalog.display(missing))
                }
                _ => format!(
                    "deny (insufficient_scope, 403): holds none of {}",
                    catalog.display(missing)
                ),
            }
        }
    }
}

/// The scope of a live access token, or why it gives no credentials.
fn token_scope(policy: &Policy, token: &str) -> anyhow::Result<Result<(String, String), String>> {
    use scopegate_store::{Store, TokenKind};

    use crate::store_cmd::{runtime, unix_now, with_store};
    if scopegate_server::keys::looks_like_jwt(token) {
        return jwt_scope(policy, token);
    }
    let hash = scopegate_server::secrets::hash(token);
    let record = runtime()?
        .block_on(async { with_store!(policy, store => Ok::<_, anyhow::Error>(store.token(&hash).await?)) })?;
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
    use scopegate_server::keys::Keys;
    use scopegate_store::Store;

    use crate::store_cmd::{runtime, unix_now, with_store};
    let now = unix_now();
    let issuer = policy.settings.issuer.clone();
    runtime()?.block_on(async {
        with_store!(policy, store => {
            let keys = Keys::from_records(&store.signing_keys().await?)?;
            let Some(c) = keys.verify(token, &issuer, now) else {
                return Ok(Err("the JWT is not valid here (signature, issuer, audience or time)".to_owned()));
            };
            if store.is_revoked(&c.jti, &c.grant_id).await? {
                return Ok(Err("the token was revoked".to_owned()));
            }
            if c.env != policy.settings.gateway.environment {
                return Ok(Err(format!("the token belongs to environment {:?}, the gateway serves {:?}", c.env, policy.settings.gateway.environment)));
            }
            let who = if c.sub == c.client_id { String::new() } else { format!(", user {}", c.sub) };
            Ok(Ok((c.scope, format!("client {}{who}, environment {}", c.client_id, c.env))))
        })
    })
}
