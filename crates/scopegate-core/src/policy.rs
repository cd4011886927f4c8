//! Compiling a policy file into a validated [`Policy`]: the scope catalog, the
//! route table and the server settings. Every problem found is reported, each
//! as `FILE:LINE: message`, and nothing is half-built: either all of the file is
//! valid or there is no `Policy`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::catalog::{Catalog, GrantKind, ScopeInfo};
use crate::config::{List, RawGateway, RawLimits, RawMcp, RawPolicy, RawRoute, RawScope, RawTokens};
use crate::duration::{DURATION_FORMAT, parse_duration};
use crate::limits::{LimitSettings, Rate};
use crate::mcp::{McpPattern, McpRouter};
use crate::route::{MatchPattern, Requirement, RouteId, Router};
use crate::scope::ScopeToken;
use crate::scopeset::ScopeId;

/// One problem in a policy file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PolicyError {
    pub line: usize,
    pub message: String,
}

/// Every problem found in one policy file. Displays as one `FILE:LINE: message`
/// line per problem, in line order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PolicyErrors {
    pub file: String,
    pub errors: Vec<PolicyError>,
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}: {}", self.file, e.line, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

/// How access tokens are minted (`tokens.format`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TokenFormat {
    Opaque,
    Jwt,
}

/// What signs JWT access tokens (`tokens.algorithm`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SigningAlgorithm {
    /// Ed25519: small, fast, deterministic signatures; not every validator
    /// takes it (authlib calls it "not recommended").
    EdDSA,
    /// ECDSA on P-256 with SHA-256, the default: fast, and taken by the
    /// common validators.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit keys), the algorithm RFC
    /// 9068 section 2.1 requires every implementation to support.
    RS256,
}

impl SigningAlgorithm {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::EdDSA => "EdDSA",
            SigningAlgorithm::ES256 => "ES256",
            SigningAlgorithm::RS256 => "RS256",
        }
    }
}

#[derive(Clone, Debug)]
pub struct TokenSettings {
    pub format: TokenFormat,
    pub algorithm: SigningAlgorithm,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// `tokens.scope_claim = "expanded"`: JWT `scope` claims and introspection
    /// answers list implied scopes too, for resource servers that compare
    /// scope strings; the normalized form is the default (docs/policy.md).
    pub expand_implied: bool,
}

/// Where the gateway sends allowed requests.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Upstream {
    /// The built-in upstream that answers with a JSON echo of the request.
    Echo,
    /// An `http://` or `https://` base URL.
    Url(String),
}

#[derive(Clone, Debug)]
pub struct GatewaySettings {
    pub upstream: Upstream,
    pub environment: String,
    pub basic_auth: bool,
    /// Time allowed to open a connection to the upstream (502 past it).
    pub connect_timeout: Duration,
    /// Time allowed for the upstream's response headers (504 past it).
    pub response_timeout: Duration,
    /// Time a client connection gets to send a complete request head, from
    /// connect or from the end of the previous response; then it is closed.
    /// Bounds slow and idle connections (slowloris).
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers) accepted (431 past it).
    pub max_header_bytes: usize,
    /// Largest request body accepted (413 past it).
    pub max_body_bytes: u64,
    /// A request body must arrive within this of its head, plus one second
    /// per `body_min_rate` bytes received (then the connection is closed).
    pub body_timeout: Duration,
    pub body_min_rate: u64,
    /// Longest path, and longest query string, of a request target (414
    /// past them).
    pub max_path_bytes: usize,
    pub max_query_bytes: usize,
    /// How long a verified credential is trusted before the store is asked
    /// again: the bound on a revocation made by another node or process.
    pub cache_ttl: Duration,
    /// Speak HTTP/2 to the upstream with prior knowledge (h2c), one
    /// multiplexed connection per worker, instead of pooled HTTP/1.1.
    pub upstream_http2: bool,
    /// The upstream resolves paths as Windows does: segments naming an NTFS
    /// stream (`name::$DATA`, any `:`) or an 8.3 short name (`SECRE~1`) are
    /// refused too, since they reach a file by another name than its route's.
    pub windows_upstream: bool,
    /// The gateway's canonical URI (RFC 8707, `gateway.resource`; default:
    /// the issuer): what a client names as `resource` for a token for the
    /// API behind it.
    pub resource: String,
}

impl GatewaySettings {
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
    pub const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
    pub const DEFAULT_MAX_PATH_BYTES: usize = 4096;
    pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_BODY_MIN_RATE: u64 = 500;
    pub const DEFAULT_MAX_QUERY_BYTES: usize = 8192;
    pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(5);
}

/// The server half of the policy file.
#[derive(Clone, Debug)]
pub struct Settings {
    pub issuer: String,
    pub listen: SocketAddr,
    pub database: String,
    pub tokens: TokenSettings,
    pub gateway: GatewaySettings,
    /// Proxies whose `X-Forwarded-For` names the client
    /// ([`crate::limits::client_address`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub limits: LimitSettings,
    /// How `serve` writes its log (`serve --log-format` wins over it).
    pub log_format: LogFormat,
    /// A file holding the PostgreSQL password, kept out of `database`.
    pub database_password_file: Option<String>,
    /// `[retention] audit`: how long audit events are kept (`None`: forever).
    pub audit_retention: Option<Duration>,
    /// `[sign_in]` and the `[[identity_provider]]` tables.
    pub sign_in: crate::sign_in::SignInSettings,
    /// `[mcp]`: the MCP server behind the gateway, if there is one.
    pub mcp: Option<McpSettings>,
    /// `[clients]`: clients the provider did not register.
    pub clients: crate::clients::ClientsSettings,
}

/// `[mcp]` (docs/mcp.md).
#[derive(Clone, Debug)]
pub struct McpSettings {
    /// The MCP endpoint, a canonical path: its POSTs are decided by `[[mcp_route]]`.
    pub path: String,
    /// Its canonical URI (RFC 8707): the audience of the tokens it takes.
    pub resource: String,
    /// The scopes its RFC 9728 document advertises: as listed, or the
    /// smallest set that allows every list method.
    pub scopes_supported: crate::ScopeSet,
}

impl McpSettings {
    /// Where its RFC 9728 protected resource metadata is served.
    pub fn metadata_path(&self) -> String {
        format!("/.well-known/oauth-protected-resource{}", self.path)
    }
}

/// How long audit events are kept unless `[retention] audit` says otherwise.
pub(crate) const DEFAULT_AUDIT_RETENTION: Duration = Duration::from_secs(400 * 86_400);

/// `log_format`: lines for people (the default) or JSON objects for pipelines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    pub fn parse(text: &str) -> Option<LogFormat> {
        match text {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// What a route matches: HTTP requests (`[[route]]`) or MCP operations
/// (`[[mcp_route]]`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RoutePattern {
    Http(MatchPattern),
    Mcp(McpPattern),
}

impl RoutePattern {
    /// The HTTP pattern, for a `[[route]]`.
    pub fn http(&self) -> Option<&MatchPattern> {
        match self {
            RoutePattern::Http(p) => Some(p),
            RoutePattern::Mcp(_) => None,
        }
    }

    pub fn is_mcp(&self) -> bool {
        matches!(self, RoutePattern::Mcp(_))
    }
}

impl fmt::Display for RoutePattern {
    /// A `[[route]]` as its `match` string; an `[[mcp_route]]` as `mcp` and
    /// its `match` string, the form `explain` and `scopes-for` take.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoutePattern::Http(p) => p.fmt(f),
            RoutePattern::Mcp(p) => write!(f, "mcp {p}"),
        }
    }
}

/// A compiled route.
#[derive(Clone, Debug)]
pub struct Route {
    pub pattern: RoutePattern,
    pub requirement: Requirement,
    pub description: Option<String>,
    /// Line of the route's `match` key.
    pub line: usize,
}

/// A validated policy: built only by [`Policy::compile`].
#[derive(Debug)]
pub struct Policy {
    pub file: String,
    pub catalog: Catalog,
    pub environments: Vec<String>,
    pub settings: Settings,
    /// `[[route]]` then `[[mcp_route]]`, in file order.
    routes: Vec<Route>,
    router: Router,
    mcp_router: McpRouter,
    /// Per scope: how many routes holding it opens (through implication).
    reach: Vec<u32>,
}

impl Policy {
    /// Compiles the text of a policy file. `file` names it in error messages.
    pub fn compile(file: &str, source: &str) -> Result<Policy, PolicyErrors> {
        let lines = LineIndex::new(source);
        let fail = |errors: Vec<PolicyError>| PolicyErrors {
            file: file.to_owned(),
            errors,
        };
        let raw: RawPolicy = toml::from_str(source).map_err(|e| {
            let line = e.span().map_or(1, |s| lines.line(s.start));
            fail(vec![PolicyError {
                line,
                message: e.message().trim().to_owned(),
            }])
        })?;
        let mut c = Compiler {
            lines: &lines,
            errors: Vec::new(),
            families: BTreeMap::new(),
            declared: Default::default(),
        };
        let environments = c.environments(raw.environments.as_ref());
        let settings = c.settings(&raw, &environments);
        let catalog = c.catalog(&raw.scopes, &environments);
        // Routes are checked even when the catalog is not, so that one run
        // reports every problem; only their scope names go unresolved.
        let (mut routes, router) = c.routes(&raw.routes, catalog.as_ref());
        let mcp_router = c.mcp_routes(raw.mcp.as_ref(), &raw.mcp_routes, catalog.as_ref(), &mut routes);
        let listed = raw
            .mcp
            .as_ref()
            .and_then(|m| m.scopes_supported.as_ref())
            .and_then(|list| c.scope_list("[mcp]", "scopes_supported", list, catalog.as_ref()));
        let client_scopes = c.client_scopes(raw.clients.as_ref(), catalog.as_ref());
        let mut errors = c.errors;
        match (catalog, settings, errors.is_empty()) {
            (Some(catalog), Some(settings), true) => {
                let mut policy = Policy {
                    file: file.to_owned(),
                    reach: reach(&catalog, &routes),
                    catalog,
                    environments,
                    settings,
                    routes,
                    router,
                    mcp_router,
                };
                if let Some(scopes) = client_scopes {
                    policy.settings.clients.scopes = policy.catalog.names(&scopes).map(str::to_owned).collect();
                }
                if policy.settings.mcp.is_some() {
                    let supported = listed.unwrap_or_else(|| policy.list_cover());
                    if let Some(mcp) = &mut policy.settings.mcp {
                        mcp.scopes_supported = supported;
                    }
                }
                Ok(policy)
            }
            _ => {
                errors.sort_by_key(|e| e.line);
                Err(fail(errors))
            }
        }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn route(&self, id: RouteId) -> &Route {
        &self.routes[id.index()]
    }

    /// The most specific route for `method` and a canonical path.
    pub fn match_route(&self, method: &str, canonical_path: &str) -> Option<RouteId> {
        self.router.find(method, canonical_path)
    }

    /// The resources (RFC 8707) this server issues tokens for: the
    /// gateway's, and the MCP server's.
    pub fn resources(&self) -> Vec<&str> {
        let mut out = vec![self.settings.gateway.resource.as_str()];
        if let Some(mcp) = &self.settings.mcp {
            out.push(&mcp.resource);
        }
        out
    }

    /// Every `aud` a token of ours may carry: the issuer (a token for no
    /// resource) and [`Policy::resources`].
    pub fn audiences(&self) -> Vec<&str> {
        let mut out = vec![self.settings.issuer.as_str()];
        for r in self.resources() {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    /// Why a token for `resource` (`None`: issued for none) may not be used
    /// on `route` at the canonical `path`, if it may not: the MCP path (its
    /// `[[mcp_route]]` operations, and any other method a `[[route]]` allows
    /// there) takes only tokens for `mcp.resource`; the rest of the gateway
    /// only tokens for none or for `gateway.resource`.
    pub fn audience_refusal(&self, route: RouteId, path: &str, resource: Option<&str>) -> Option<String> {
        let mcp = self
            .settings
            .mcp
            .as_ref()
            .filter(|m| self.route(route).pattern.is_mcp() || m.path == path);
        match mcp {
            Some(mcp) if resource != Some(mcp.resource.as_str()) => Some(format!(
                "the token was not issued for this MCP server: ask for one with resource={}",
                mcp.resource
            )),
            None if resource.is_some_and(|r| r != self.settings.gateway.resource) => {
                Some("the token was issued for another resource".to_owned())
            }
            _ => None,
        }
    }

    /// The most specific `[[mcp_route]]` for an MCP operation.
    pub fn match_mcp(&self, method: &str, name: Option<&str>) -> Option<RouteId> {
        self.mcp_router.find(method, name)
    }

    /// Whether a request is an MCP operation, decided by `[[mcp_route]]`: a
    /// POST to `mcp.path` (a canonical path).
    pub fn is_mcp_request(&self, method: &str, canonical_path: &str) -> bool {
        self.settings
            .mcp
            .as_ref()
            .is_some_and(|mcp| method == "POST" && mcp.path == canonical_path)
    }

    /// Whether `method target` (as sent) is an MCP request: a POST to
    /// `mcp.path`, whose body must be read to decide it.
    pub fn is_mcp_target(&self, method: &str, target: &str) -> bool {
        self.settings.mcp.is_some()
            && method == "POST"
            && crate::path::canonicalize(target).is_ok_and(|t| self.is_mcp_request(method, &t.path))
    }

    /// The default `scopes_supported`: the smallest set that allows every
    /// list method the policy routes.
    fn list_cover(&self) -> crate::ScopeSet {
        let routes: Vec<RouteId> = crate::mcp::LISTS
            .iter()
            .filter_map(|(method, ..)| self.match_mcp(method, None))
            .collect();
        let under = crate::CoverFor {
            grant: None,
            environment: Some(&self.settings.gateway.environment),
        };
        self.cover_routes(&routes, under, None).unwrap_or_default()
    }

    /// How many routes a token holding `id` may call by scope: the measure of
    /// privilege that [`Policy::scopes_for`] keeps smallest.
    pub fn reach(&self, id: ScopeId) -> u32 {
        self.reach[id.index()]
    }

    pub fn router_nodes(&self) -> usize {
        self.router.node_count()
    }
}

fn reach(catalog: &Catalog, routes: &[Route]) -> Vec<u32> {
    let mut reach = vec![0u32; catalog.len()];
    for route in routes {
        let Some(listed) = route.requirement.scopes() else {
            continue;
        };
        let mut openers = catalog.empty_set();
        for id in listed.iter() {
            openers.union_with(catalog.implied_by(id));
        }
        for id in openers.iter() {
            reach[id.index()] += 1;
        }
    }
    reach
}

/// Byte offset to 1-based line number.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(source: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { starts }
    }

    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).max(1)
    }
}

struct Compiler<'a> {
    lines: &'a LineIndex,
    errors: Vec<PolicyError>,
    /// Levelled scope families (base name -> levels), for "did you mean" hints.
    families: BTreeMap<String, Vec<String>>,
    /// Every scope name declared, valid or not, to check route scopes against
    /// when the catalog itself could not be built.
    declared: std::collections::HashSet<String>,
}

const NAME_RULE: &str = "letters, digits, '-' and '_'";

fn is_simple_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Compiler<'_> {
    fn err(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.errors.push(PolicyError {
            line: self.lines.line(span.start),
            message: message.into(),
        });
    }

    fn environments(&mut self, raw: Option<&List>) -> Vec<String> {
        let Some(list) = raw else {
            return vec!["production".to_owned()];
        };
        if list.get_ref().is_empty() {
            self.err(
                list.span(),
                "`environments` may not be empty; omit it for the default [\"production\"]",
            );
        }
        let mut out: Vec<String> = Vec::new();
        for env in list.get_ref() {
            let name = env.get_ref();
            if !is_simple_name(name) {
                self.err(
                    env.span(),
                    format!("`environments`: {name:?} is not a valid environment name ({NAME_RULE})"),
                );
            } else if out.contains(name) {
                self.err(env.span(), format!("`environments`: {name:?} is listed twice"));
            } else {
                out.push(name.clone());
            }
        }
        out
    }

    fn settings(&mut self, raw: &RawPolicy, environments: &[String]) -> Option<Settings> {
        let before = self.errors.len();
        let listen = match &raw.listen {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(l) => l.get_ref().parse().unwrap_or_else(|_| {
                self.err(
                    l.span(),
                    format!(
                        "`listen`: {:?} is not an address and port such as \"127.0.0.1:8080\"",
                        l.get_ref()
                    ),
                );
                SocketAddr::from(([127, 0, 0, 1], 8080))
            }),
        };
        let issuer = match &raw.issuer {
            None => format!("http://{listen}"),
            Some(i) => {
                let v = i.get_ref();
                let scheme_ok = v.starts_with("https://") || v.starts_with("http://");
                let host_ok = v
                    .split_once("://")
                    .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
                if !scheme_ok || !host_ok || v.contains(['?', '#']) {
                    self.err(i.span(), format!("`issuer`: {v:?} must be an http:// or https:// URL with a host and no query or fragment (RFC 8414 section 2)"));
                }
                v.clone()
            }
        };
        let database = match &raw.database {
            None => "sqlite://scopegate.db".to_owned(),
            Some(d) => {
                let v = d.get_ref();
                let ok = ["sqlite://", "sqlite:", "postgres://", "postgresql://"]
                    .iter()
                    .any(|p| v.starts_with(p) && v.len() > p.len());
                if !ok {
                    self.err(
                        d.span(),
                        format!("`database`: {v:?} must be \"sqlite://FILE\" or \"postgres://USER@HOST/DB\""),
                    );
                }
                v.clone()
            }
        };
        let tokens = self.tokens(raw.tokens.as_ref());
        let mut gateway = self.gateway(raw.gateway.as_ref(), environments);
        gateway.resource = match raw.gateway.as_ref().and_then(|g| g.resource.as_ref()) {
            None => issuer.clone(),
            Some(r) => {
                self.resource_uri("gateway.resource", r);
                r.get_ref().clone()
            }
        };
        let trusted_proxies = self.trusted_proxies(raw.trusted_proxies.as_ref());
        let limits = self.limits(raw.limits.as_ref());
        let log_format = match &raw.log_format {
            None => LogFormat::Text,
            Some(v) => LogFormat::parse(v.get_ref()).unwrap_or_else(|| {
                self.err(
                    v.span(),
                    format!("`log_format`: {:?} must be \"text\" or \"json\"", v.get_ref()),
                );
                LogFormat::Text
            }),
        };
        let database_password_file = raw.database_password_file.as_ref().map(|v| {
            if v.get_ref().is_empty() {
                self.err(v.span(), "`database_password_file`: must name a file".to_owned());
            } else if !database.starts_with("postgres") {
                self.err(
                    v.span(),
                    "`database_password_file`: only a postgres:// `database` takes a password".to_owned(),
                );
            }
            v.get_ref().clone()
        });
        let audit_retention = match raw.retention.as_ref().and_then(|r| r.audit.as_ref()) {
            Some(v) if v.get_ref() == "forever" => None,
            Some(v) => match parse_duration(v.get_ref()) {
                Some(d) if d >= Duration::from_secs(86_400) => Some(d),
                Some(_) => {
                    self.err(
                        v.span(),
                        "`retention.audit`: keep the audit trail at least a day (\"1d\")".to_owned(),
                    );
                    None
                }
                None => {
                    self.err(
                        v.span(),
                        format!(
                            "`retention.audit`: {:?} is not a duration; use {DURATION_FORMAT}, or \"forever\"",
                            v.get_ref()
                        ),
                    );
                    None
                }
            },
            None => Some(DEFAULT_AUDIT_RETENTION),
        };
        let lines = self.lines;
        let mut found = Vec::new();
        let sign_in = crate::sign_in::compile(
            raw.sign_in.as_ref(),
            &raw.identity_providers,
            &mut |span, message| found.push((span, message)),
            &|offset| lines.line(offset),
        );
        for (span, message) in found {
            self.err(span, message);
        }
        let mcp = raw.mcp.as_ref().map(|m| self.mcp(m, &issuer));
        let clients = self.clients(raw.clients.as_ref());
        (self.errors.len() == before).then_some(Settings {
            mcp,
            clients,
            audit_retention,
            sign_in,
            issuer,
            listen,
            database,
            tokens,
            gateway,
            trusted_proxies,
            limits,
            log_format,
            database_password_file,
        })
    }

    fn trusted_proxies(&mut self, raw: Option<&List>) -> Vec<ipnet::IpNet> {
        let mut out = Vec::new();
        for entry in raw.map(|l| l.get_ref().as_slice()).unwrap_or_default() {
            let v = entry.get_ref();
            // A bare address is a network of one.
            let parsed = v
                .parse::<ipnet::IpNet>()
                .or_else(|_| v.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            match parsed {
                Ok(net) => out.push(net.trunc()),
                Err(_) => self.err(
                    entry.span(),
                    format!(
                        "`trusted_proxies`: {v:?} is not an address or network such as \"10.0.0.0/8\" or \"127.0.0.1\""
                    ),
                ),
            }
        }
        out
    }

    fn limits(&mut self, raw: Option<&RawLimits>) -> LimitSettings {
        let defaults = LimitSettings::default();
        let mut rate = |key: &str, value: Option<&Spanned<String>>, default: Option<Rate>| {
            let Some(value) = value else { return default };
            Rate::parse(value.get_ref()).unwrap_or_else(|why| {
                self.err(value.span(), format!("`limits.{key}`: {why}"));
                default
            })
        };
        macro_rules! limit {
            ($key:ident) => {
                rate(stringify!($key), raw.and_then(|l| l.$key.as_ref()), defaults.$key)
            };
        }
        LimitSettings {
            token_per_client: limit!(token_per_client),
            token_per_address: limit!(token_per_address),
            sign_in_per_address: limit!(sign_in_per_address),
            sign_in_failures: limit!(sign_in_failures),
            gateway_failures_per_address: limit!(gateway_failures_per_address),
            admin_api_per_token: limit!(admin_api_per_token),
            registration_per_address: limit!(registration_per_address),
        }
    }

    fn duration(&mut self, key: &str, raw: Option<&Spanned<String>>, default: Duration) -> Duration {
        let Some(raw) = raw else { return default };
        parse_duration(raw.get_ref()).unwrap_or_else(|| {
            self.err(
                raw.span(),
                format!("`{key}`: {:?} is not a duration; use {DURATION_FORMAT}", raw.get_ref()),
            );
            default
        })
    }

    fn byte_limit(&mut self, key: &str, raw: Option<&Spanned<i64>>, min: u64, default: u64) -> u64 {
        let Some(raw) = raw else { return default };
        match u64::try_from(*raw.get_ref()) {
            Ok(n) if n >= min => n,
            _ => {
                self.err(
                    raw.span(),
                    format!(
                        "`{key}`: {} is not a byte count; use a whole number of at least {min}",
                        raw.get_ref()
                    ),
                );
                default
            }
        }
    }

    fn tokens(&mut self, raw: Option<&RawTokens>) -> TokenSettings {
        let format = match raw.and_then(|t| t.format.as_ref()) {
            None => TokenFormat::Opaque,
            Some(f) => match f.get_ref().as_str() {
                "opaque" => TokenFormat::Opaque,
                "jwt" => TokenFormat::Jwt,
                other => {
                    self.err(
                        f.span(),
                        format!("`tokens.format`: {other:?} is not a token format; use \"opaque\" or \"jwt\""),
                    );
                    TokenFormat::Opaque
                }
            },
        };
        let algorithm = match raw.and_then(|t| t.algorithm.as_ref()) {
            None => SigningAlgorithm::ES256,
            Some(a) => match a.get_ref().as_str() {
                "EdDSA" => SigningAlgorithm::EdDSA,
                "ES256" => SigningAlgorithm::ES256,
                "RS256" => SigningAlgorithm::RS256,
                other => {
                    self.err(
                        a.span(),
                        format!(
                            "`tokens.algorithm`: {other:?} is not a signing algorithm; use \"ES256\", \"RS256\" or \"EdDSA\""
                        ),
                    );
                    SigningAlgorithm::ES256
                }
            },
        };
        let access_ttl = self.duration(
            "tokens.access_ttl",
            raw.and_then(|t| t.access_ttl.as_ref()),
            Duration::from_secs(3600),
        );
        let refresh_ttl = self.duration(
            "tokens.refresh_ttl",
            raw.and_then(|t| t.refresh_ttl.as_ref()),
            Duration::from_secs(30 * 86_400),
        );
        let expand_implied = match raw.and_then(|t| t.scope_claim.as_ref()) {
            None => false,
            Some(c) => {
                match c.get_ref().as_str() {
                    "normalized" => false,
                    "expanded" => true,
                    other => {
                        self.err(
                        c.span(),
                        format!("`tokens.scope_claim`: {other:?} is not a scope form; use \"normalized\" or \"expanded\""),
                    );
                        false
                    }
                }
            }
        };
        TokenSettings {
            format,
            algorithm,
            access_ttl,
            refresh_ttl,
            expand_implied,
        }
    }

    fn gateway(&mut self, raw: Option<&RawGateway>, environments: &[String]) -> GatewaySettings {
        let upstream = match raw.and_then(|g| g.upstream.as_ref()) {
            None => Upstream::Echo,
            Some(u) if u.get_ref() == "echo" => Upstream::Echo,
            Some(u) => {
                let v = u.get_ref();
                let host_ok = v.split_once("://").is_some_and(|(scheme, rest)| {
                    matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.starts_with('/')
                });
                if !host_ok || v.contains(['?', '#']) {
                    self.err(u.span(), format!("`gateway.upstream`: {v:?} must be \"echo\" or an http:// or https:// URL such as \"http://127.0.0.1:9000\""));
                }
                Upstream::Url(v.trim_end_matches('/').to_owned())
            }
        };
        let environment = match raw.and_then(|g| g.environment.as_ref()) {
            Some(e) => {
                if !environments.contains(e.get_ref()) {
                    self.err(
                        e.span(),
                        format!(
                            "`gateway.environment`: {:?} is not declared in `environments` ({})",
                            e.get_ref(),
                            environments.join(", ")
                        ),
                    );
                }
                e.get_ref().clone()
            }
            None if environments.len() == 1 => environments[0].clone(),
            None if environments.iter().any(|e| e == "production") => "production".to_owned(),
            None => {
                self.err(
                    0..0,
                    format!(
                        "`gateway.environment` must name the environment the gateway serves (one of {})",
                        environments.join(", ")
                    ),
                );
                String::new()
            }
        };
        let basic_auth = raw.and_then(|g| g.basic_auth.as_ref()).is_some_and(|b| *b.get_ref());
        let connect_timeout = self.duration(
            "gateway.connect_timeout",
            raw.and_then(|g| g.connect_timeout.as_ref()),
            GatewaySettings::DEFAULT_CONNECT_TIMEOUT,
        );
        let response_timeout = self.duration(
            "gateway.response_timeout",
            raw.and_then(|g| g.response_timeout.as_ref()),
            GatewaySettings::DEFAULT_RESPONSE_TIMEOUT,
        );
        let idle_timeout = self.duration(
            "gateway.idle_timeout",
            raw.and_then(|g| g.idle_timeout.as_ref()),
            GatewaySettings::DEFAULT_IDLE_TIMEOUT,
        );
        let cache_ttl = self.duration(
            "gateway.cache_ttl",
            raw.and_then(|g| g.cache_ttl.as_ref()),
            GatewaySettings::DEFAULT_CACHE_TTL,
        );
        let max_header_bytes = self.byte_limit(
            "gateway.max_header_bytes",
            raw.and_then(|g| g.max_header_bytes.as_ref()),
            1024,
            GatewaySettings::DEFAULT_MAX_HEADER_BYTES as u64,
        );
        let max_body_bytes = self.byte_limit(
            "gateway.max_body_bytes",
            raw.and_then(|g| g.max_body_bytes.as_ref()),
            0,
            GatewaySettings::DEFAULT_MAX_BODY_BYTES,
        );
        let body_timeout = self.duration(
            "gateway.body_timeout",
            raw.and_then(|g| g.body_timeout.as_ref()),
            GatewaySettings::DEFAULT_BODY_TIMEOUT,
        );
        let body_min_rate = self.byte_limit(
            "gateway.body_min_rate",
            raw.and_then(|g| g.body_min_rate.as_ref()),
            0,
            GatewaySettings::DEFAULT_BODY_MIN_RATE,
        );
        let max_path_bytes = self.byte_limit(
            "gateway.max_path_bytes",
            raw.and_then(|g| g.max_path_bytes.as_ref()),
            256,
            GatewaySettings::DEFAULT_MAX_PATH_BYTES as u64,
        );
        let max_query_bytes = self.byte_limit(
            "gateway.max_query_bytes",
            raw.and_then(|g| g.max_query_bytes.as_ref()),
            0,
            GatewaySettings::DEFAULT_MAX_QUERY_BYTES as u64,
        );
        GatewaySettings {
            upstream,
            environment,
            basic_auth,
            body_timeout,
            body_min_rate,
            max_path_bytes: usize::try_from(max_path_bytes).unwrap_or(usize::MAX),
            max_query_bytes: usize::try_from(max_query_bytes).unwrap_or(usize::MAX),
            connect_timeout,
            response_timeout,
            idle_timeout,
            max_header_bytes: usize::try_from(max_header_bytes).unwrap_or(usize::MAX),
            max_body_bytes,
            cache_ttl,
            upstream_http2: raw
                .and_then(|g| g.upstream_http2.as_ref())
                .is_some_and(|b| *b.get_ref()),
            windows_upstream: raw
                .and_then(|g| g.windows_upstream.as_ref())
                .is_some_and(|b| *b.get_ref()),
            resource: String::new(),
        }
    }

    /// Validates every `[[scope]]` and builds the catalog, or reports why not.
    fn catalog(&mut self, raw: &[RawScope], environments: &[String]) -> Option<Catalog> {
        let before = self.errors.len();
        let mut infos: Vec<ScopeInfo> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        // Levelled scope families, for suggestions: base name -> level names.
        let mut families: BTreeMap<String, Vec<String>> = BTreeMap::new();
        // Per declared scope entry: the ids it produced and its raw `implies`.
        let mut pending_implies: Vec<(usize, &List)> = Vec::new();

        for scope in raw {
            let name = scope.name.get_ref();
            let line = self.lines.line(scope.name.span().start);
            let label = format!("scope {name:?}");
            let token = match ScopeToken::parse(name) {
                Ok(token) => token,
                Err(e) => {
                    self.err(scope.name.span(), format!("{label}: `name` is not a valid scope: {e}"));
                    continue;
                }
            };
            if name.contains(',') {
                self.err(
                    scope.name.span(),
                    format!("{label}: `name` may not contain ',' because X-OAuth-Scope separates scopes with commas"),
                );
                continue;
            }
            let grants = self.grants(&label, scope.grants.as_ref());
            let envs = self.scope_environments(&label, scope.environments.as_ref(), environments);
            let requires_permissions = self.permissions(&label, scope.requires_permissions.as_ref());
            let max_lifetime = scope.max_lifetime.as_ref().and_then(|m| {
                parse_duration(m.get_ref()).or_else(|| {
                    self.err(
                        m.span(),
                        format!(
                            "{label}: `max_lifetime` {:?} is not a duration; use {DURATION_FORMAT}",
                            m.get_ref()
                        ),
                    );
                    None
                })
            });
            let description = scope.description.as_ref().map(|d| d.get_ref().clone());
            let base = ScopeInfo {
                name: token,
                description: description.clone(),
                grants,
                environments: envs,
                requires_permissions,
                no_expiry: scope.no_expiry.as_ref().is_some_and(|b| *b.get_ref()),
                requires_approval: scope.requires_approval.as_ref().is_some_and(|b| *b.get_ref()),
                approval_through: None,
                max_lifetime,
                implies: Vec::new(),
                line,
            };
            let mut declare = |c: &mut Self, info: ScopeInfo, span: Range<usize>| -> Option<usize> {
                let key = info.name.as_str().to_owned();
                if let Some(&first) = by_name.get(&key) {
                    let first_line = infos[first].line;
                    c.err(
                        span,
                        format!("scope {key:?} is declared twice (first at line {first_line})"),
                    );
                    return None;
                }
                infos.push(info);
                by_name.insert(key, infos.len() - 1);
                Some(infos.len() - 1)
            };

            match &scope.levels {
                None => {
                    if let Some(ld) = &scope.level_descriptions {
                        self.err(ld.span(), format!("{label}: `level_descriptions` needs `levels`"));
                    }
                    if let Some(id) = declare(self, base, scope.name.span())
                        && let Some(implies) = &scope.implies
                    {
                        pending_implies.push((id, implies));
                    }
                }
                Some(levels) => {
                    if let Some(implies) = &scope.implies {
                        self.err(implies.span(), format!("{label}: `implies` cannot be combined with `levels` (which level would imply it?); declare the implied scope's relation on a plain scope instead"));
                    }
                    if levels.get_ref().is_empty() {
                        self.err(
                            levels.span(),
                            format!(
                                "{label}: `levels` may not be empty; list them lowest first, e.g. [\"read\", \"write\"]"
                            ),
                        );
                    }
                    let mut seen: Vec<&str> = Vec::new();
                    let mut prev: Option<usize> = None;
                    let mut level_names = Vec::new();
                    for level in levels.get_ref() {
                        let l = level.get_ref().as_str();
                        if seen.contains(&l) {
                            self.err(
                                level.span(),
                                format!("{label}: level {l:?} is listed twice in `levels`"),
                            );
                            continue;
                        }
                        seen.push(l);
                        let full = format!("{name}:{l}");
                        let token = match ScopeToken::parse(&full) {
                            Ok(t) if !l.is_empty() && !l.contains(',') => t,
                            _ => {
                                self.err(level.span(), format!("{label}: level {l:?} does not make a valid scope {full:?} (scope characters, no ',' or space)"));
                                continue;
                            }
                        };
                        let description = scope
                            .level_descriptions
                            .as_ref()
                            .and_then(|ld| ld.get_ref().get(l).cloned())
                            .or_else(|| description.clone());
                        let info = ScopeInfo {
                            name: token,
                            description,
                            implies: prev.map(|p| vec![ScopeId(p as u32)]).unwrap_or_default(),
                            ..base.clone()
                        };
                        if let Some(id) = declare(self, info, level.span()) {
                            prev = Some(id);
                            level_names.push(l.to_owned());
                        }
                    }
                    if let Some(ld) = &scope.level_descriptions {
                        for key in ld.get_ref().keys() {
                            if !seen.contains(&key.as_str()) {
                                self.err(ld.span(), format!("{label}: `level_descriptions` names {key:?}, which is not one of its levels ({})", seen.join(", ")));
                            }
                        }
                    }
                    families.insert(name.clone(), level_names);
                }
            }
        }

        for (id, implies) in pending_implies {
            let label = format!("scope {:?}", infos[id].name.as_str());
            for target in implies.get_ref() {
                match by_name.get(target.get_ref()) {
                    Some(&t) if t == id => {
                        self.err(target.span(), format!("{label}: `implies` names the scope itself"))
                    }
                    Some(&t) => infos[id].implies.push(ScopeId(t as u32)),
                    None => {
                        let hint = suggest(target.get_ref(), &families);
                        self.err(
                            target.span(),
                            format!("{label}: `implies` names undeclared scope {:?}{hint}", target.get_ref()),
                        );
                    }
                }
            }
        }
        if self.errors.len() == before
            && let Some(cycle) = find_cycle(&infos)
        {
            let path: Vec<&str> = cycle.iter().map(|&i| infos[i].name.as_str()).collect();
            let line = infos[cycle[0]].line;
            self.errors.push(PolicyError {
                line,
                message: format!("`implies` forms a cycle: {}", path.join(" -> ")),
            });
        }
        self.families = families;
        self.declared = by_name.into_keys().collect();
        (self.errors.len() == before).then(|| Catalog::new(infos))
    }
}

impl Compiler<'_> {
    fn grants(&mut self, label: &str, raw: Option<&List>) -> Vec<GrantKind> {
        let Some(list) = raw else {
            return GrantKind::ALL.to_vec();
        };
        let mut out = Vec::new();
        for g in list.get_ref() {
            match GrantKind::parse(g.get_ref()) {
                Some(kind) if !out.contains(&kind) => out.push(kind),
                Some(_) => self.err(g.span(), format!("{label}: grant {:?} is listed twice in `grants`", g.get_ref())),
                None => self.err(g.span(), format!("{label}: `grants` names unknown grant {:?}; use \"client_credentials\" (app tokens) or \"authorization_code\" (user tokens)", g.get_ref())),
            }
        }
        if list.get_ref().is_empty() {
            self.err(
                list.span(),
                format!(
                    "{label}: `grants` may not be empty (no token could carry the scope); omit it to allow every grant"
                ),
            );
        }
        out
    }

    fn scope_environments(&mut self, label: &str, raw: Option<&List>, declared: &[String]) -> Vec<String> {
        let Some(list) = raw else {
            return declared.to_vec();
        };
        let mut out: Vec<String> = Vec::new();
        for e in list.get_ref() {
            if !declared.contains(e.get_ref()) {
                self.err(e.span(), format!("{label}: `environments` names {:?}, which is not declared in the top-level `environments` ({})", e.get_ref(), declared.join(", ")));
            } else if !out.contains(e.get_ref()) {
                out.push(e.get_ref().clone());
            }
        }
        if list.get_ref().is_empty() {
            self.err(
                list.span(),
                format!("{label}: `environments` may not be empty; omit it to make the scope available everywhere"),
            );
        }
        out
    }

    fn permissions(&mut self, label: &str, raw: Option<&List>) -> Vec<String> {
        let Some(list) = raw else { return Vec::new() };
        let mut out: Vec<String> = Vec::new();
        for p in list.get_ref() {
            if !is_simple_name(p.get_ref()) {
                self.err(
                    p.span(),
                    format!(
                        "{label}: permission {:?} in `requires_permissions` must be {NAME_RULE}",
                        p.get_ref()
                    ),
                );
            } else if !out.contains(p.get_ref()) {
                out.push(p.get_ref().clone());
            }
        }
        out
    }

    fn routes(&mut self, raw: &[RawRoute], catalog: Option<&Catalog>) -> (Vec<Route>, Router) {
        let mut routes: Vec<Route> = Vec::new();
        let mut router = Router::default();
        self.route_rows(
            raw,
            catalog,
            &mut routes,
            ("route", "requests"),
            |text| MatchPattern::parse(text).map_err(|e| e.to_string()),
            |pattern, id| router.insert(pattern, id),
            RoutePattern::Http,
        );
        (routes, router)
    }

    /// Compiles `[[route]]` or `[[mcp_route]]` rows (`table`, and what its
    /// patterns match) onto `routes`: the same requirement keys, the same
    /// overlap rule; `parse` and `insert` are the pattern kind's own.
    #[allow(clippy::too_many_arguments)]
    fn route_rows<P>(
        &mut self,
        raw: &[RawRoute],
        catalog: Option<&Catalog>,
        routes: &mut Vec<Route>,
        (table, matched): (&str, &str),
        parse: impl Fn(&str) -> Result<P, String>,
        mut insert: impl FnMut(&P, RouteId) -> Result<(), RouteId>,
        into: impl Fn(P) -> RoutePattern,
    ) {
        for r in raw {
            let line = self.lines.line(r.pattern.span().start);
            let label = format!("{table} {:?}", r.pattern.get_ref());
            let pattern = match parse(r.pattern.get_ref()) {
                Ok(p) => p,
                Err(e) => {
                    self.err(r.pattern.span(), format!("{label}: bad `match`: {e}"));
                    continue;
                }
            };
            let Some(requirement) = self.requirement(&label, r, catalog) else {
                continue;
            };
            let id = RouteId(routes.len() as u32);
            if let Err(existing) = insert(&pattern, id) {
                let other = &routes[existing.index()];
                // An `[[mcp_route]]` is named by its `match`, without the `mcp` of `explain`.
                let shown = other.pattern.to_string();
                let shown = shown
                    .strip_prefix("mcp ")
                    .filter(|_| other.pattern.is_mcp())
                    .unwrap_or(&shown);
                self.err(
                    r.pattern.span(),
                    format!("{label} can match the same {matched} as {table} \"{shown}\" (line {}) with the same specificity; make one more specific or merge them", other.line),
                );
                continue;
            }
            let description = r.description.as_ref().map(|d| d.get_ref().clone());
            routes.push(Route {
                pattern: into(pattern),
                requirement,
                description,
                line,
            });
        }
    }

    fn mcp(&mut self, raw: &RawMcp, issuer: &str) -> McpSettings {
        let path = raw.path.get_ref();
        let canonical = crate::path::canonicalize_path(path);
        match &canonical {
            Ok(c) if c == path && !path.contains(['?', '#', '*', '{']) && !path.ends_with('/') => {}
            _ => self.err(
                raw.path.span(),
                format!("`mcp.path`: {path:?} must be a canonical path such as \"/mcp\", with no query, wildcard or trailing '/'"),
            ),
        }
        let resource = match &raw.resource {
            None => format!("{}{path}", issuer.trim_end_matches('/')),
            Some(r) => {
                self.resource_uri("mcp.resource", r);
                r.get_ref().clone()
            }
        };
        McpSettings {
            path: path.clone(),
            resource,
            scopes_supported: crate::ScopeSet::new(),
        }
    }

    fn clients(&mut self, raw: Option<&crate::config::RawClients>) -> crate::clients::ClientsSettings {
        let Some(raw) = raw else {
            return Default::default();
        };
        let flag = |b: &Option<Spanned<bool>>| b.as_ref().is_some_and(|b| *b.get_ref());
        let registration = match &raw.registration {
            None => false,
            Some(r) => match r.get_ref().as_str() {
                "open" => true,
                "off" => false,
                other => {
                    self.err(
                        r.span(),
                        format!("`clients.registration`: {other:?} must be \"open\" (RFC 7591 at /oauth2/register) or \"off\""),
                    );
                    false
                }
            },
        };
        crate::clients::ClientsSettings {
            metadata_documents: flag(&raw.metadata_documents),
            loopback_metadata_documents: flag(&raw.loopback_metadata_documents),
            registration,
            scopes: Vec::new(),
        }
    }

    /// `[clients] scopes`, required when such clients are let in at all.
    fn client_scopes(
        &mut self,
        raw: Option<&crate::config::RawClients>,
        catalog: Option<&Catalog>,
    ) -> Option<crate::ScopeSet> {
        let raw = raw?;
        let on = raw.metadata_documents.as_ref().is_some_and(|b| *b.get_ref())
            || raw.registration.as_ref().is_some_and(|r| r.get_ref() == "open");
        match &raw.scopes {
            Some(list) => self.scope_list("[clients]", "scopes", list, catalog),
            None if on => {
                let span = raw
                    .metadata_documents
                    .as_ref()
                    .map(Spanned::span)
                    .or_else(|| raw.registration.as_ref().map(Spanned::span))
                    .unwrap_or(0..0);
                self.err(
                    span,
                    "[clients]: list the `scopes` clients the provider did not register may ask for",
                );
                None
            }
            None => None,
        }
    }

    /// Checks a resource indicator key: an absolute URI with no fragment.
    fn resource_uri(&mut self, key: &str, raw: &Spanned<String>) {
        let ok = url::Url::parse(raw.get_ref())
            .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some() && u.fragment().is_none());
        if !ok || raw.get_ref().contains('#') {
            self.err(
                raw.span(),
                format!(
                    "`{key}`: {:?} must be an absolute http:// or https:// URI with no fragment (RFC 8707 section 2)",
                    raw.get_ref()
                ),
            );
        }
    }

    fn mcp_routes(
        &mut self,
        mcp: Option<&RawMcp>,
        raw: &[RawRoute],
        catalog: Option<&Catalog>,
        routes: &mut Vec<Route>,
    ) -> McpRouter {
        let mut router = McpRouter::default();
        match (mcp, raw.first()) {
            (None, Some(first)) => {
                self.err(
                    first.pattern.span(),
                    "[[mcp_route]] needs an [mcp] table naming the MCP endpoint (`path = \"/mcp\"`)",
                );
                return router;
            }
            (Some(m), None) => {
                self.err(
                    m.path.span(),
                    "[mcp] has no [[mcp_route]]: every MCP request would be refused; declare what each operation requires",
                );
                return router;
            }
            _ => {}
        }
        self.route_rows(
            raw,
            catalog,
            routes,
            ("mcp_route", "operations"),
            McpPattern::parse,
            |pattern, id| router.insert(pattern, id),
            RoutePattern::Mcp,
        );
        router
    }

    fn requirement(&mut self, label: &str, r: &RawRoute, catalog: Option<&Catalog>) -> Option<Requirement> {
        let span = r.pattern.span();
        match (&r.require, &r.any_of, &r.all_of) {
            (Some(req), None, None) => match req.get_ref().as_str() {
                "none" => Some(Requirement::None),
                "client" => Some(Requirement::Client),
                other => {
                    self.err(req.span(), format!("{label}: `require` is {other:?}; use \"none\" (no credentials) or \"client\" (any authenticated app), or list scopes in `any_of` / `all_of`"));
                    None
                }
            },
            (None, Some(list), None) => self.scope_list(label, "any_of", list, catalog).map(Requirement::AnyOf),
            (None, None, Some(list)) => self.scope_list(label, "all_of", list, catalog).map(Requirement::AllOf),
            (None, None, None) => {
                self.err(span, format!("{label}: says nothing about access; give `require = \"none\"`, `require = \"client\"`, `any_of` or `all_of`"));
                None
            }
            _ => {
                self.err(
                    span,
                    format!("{label}: give exactly one of `require`, `any_of` and `all_of`"),
                );
                None
            }
        }
    }

    fn scope_list(
        &mut self,
        label: &str,
        key: &str,
        list: &List,
        catalog: Option<&Catalog>,
    ) -> Option<crate::ScopeSet> {
        if list.get_ref().is_empty() {
            self.err(
                list.span(),
                format!("{label}: `{key}` may not be empty; use `require = \"client\"` for any authenticated app"),
            );
            return None;
        }
        // Without a catalog (its own errors are reported) names are still
        // checked against what was declared, so one run reports everything.
        let before = self.errors.len();
        let mut set = crate::ScopeSet::new();
        for name in list.get_ref() {
            let found = match catalog {
                Some(catalog) => catalog.lookup(name.get_ref()).map(|id| set.insert(id)).is_some(),
                None => self.declared.contains(name.get_ref()),
            };
            if !found {
                let hint = suggest(name.get_ref(), &self.families);
                self.err(
                    name.span(),
                    format!("{label}: `{key}` names undeclared scope {:?}{hint}", name.get_ref()),
                );
            }
        }
        (self.errors.len() == before).then_some(set)
    }
}

/// A hint for an undeclared scope that looks like a levelled family.
fn suggest(name: &str, families: &BTreeMap<String, Vec<String>>) -> String {
    let (base, level) = name.rsplit_once(':').unwrap_or((name, ""));
    match families.get(base).or_else(|| families.get(name)) {
        Some(levels) if !levels.is_empty() => {
            let options: Vec<String> = levels
                .iter()
                .map(|l| format!("{}:{l}", if level.is_empty() { name } else { base }))
                .collect();
            format!("; did you mean {}?", options.join(" or "))
        }
        _ => String::new(),
    }
}

/// A cycle in the `implies` graph, as the scope indices along it (first repeated at the end).
fn find_cycle(infos: &[ScopeInfo]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(i: usize, infos: &[ScopeInfo], marks: &mut [Mark], stack: &mut Vec<usize>) -> Option<Vec<usize>> {
        marks[i] = Mark::Active;
        stack.push(i);
        for j in infos[i].implies.iter().map(|j| j.index()) {
            match marks[j] {
                Mark::Active => {
                    let from = stack.iter().position(|&s| s == j).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(j);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(j, infos, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[i] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; infos.len()];
    (0..infos.len()).find_map(|i| {
        if marks[i] == Mark::New {
            visit(i, infos, &mut marks, &mut Vec::new())
        } else {
            None
        }
    })
}
