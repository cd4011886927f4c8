//! An OpenAPI 3.0/3.1 (or Swagger 2.0) document's oauth2 scopes and operations as a policy
//! fragment (`scopegate import-openapi`). Pure: the caller parses the file
//! (JSON or YAML) into a [`serde_json::Value`] and prints the result.
//!
//! The Security Requirement Object, exactly: the list is OR, each object is
//! AND; an operation's `security` replaces the document's; `security: []` is
//! public; an empty object `{}` among the alternatives allows anonymous
//! access. What the route model cannot say (an OR of ANDs, a requirement on
//! another scheme that an alternative also needs) is refused, naming the
//! operation by its JSON pointer, never approximated.

use std::collections::BTreeMap;

use serde_json::Value;

/// `import-openapi`'s options.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// The oauth2 security scheme to read (needed when there are several).
    pub scheme: Option<String>,
    /// Prefixed to every path, after the first server URL's path.
    pub base_path: Option<String>,
}

/// What an operation requires, in the route model's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// No credentials (`security: []`, or an empty alternative `{}`).
    None {
        anonymous_alternative: bool,
    },
    /// Any authenticated client (the scheme with no scopes).
    Client,
    AnyOf(Vec<String>),
    AllOf(Vec<String>),
    /// Only other schemes (an API key, HTTP auth) admit callers here, which
    /// scopegate does not check: the operation gets no route, so its
    /// requests find none and are refused.
    Unreachable,
}

/// One operation as a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedRoute {
    pub method: String,
    pub path: String,
    pub requirement: Requirement,
    /// `summary` or `operationId`, for a description.
    pub description: Option<String>,
    /// Where it came from: `#/paths/~1pet/put`.
    pub pointer: String,
    /// Said as a TOML comment above the route (and on stderr).
    pub notes: Vec<String>,
}

/// The fragment: scopes with descriptions, routes, and what to tell the user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub scheme: String,
    pub scopes: Vec<(String, String)>,
    pub routes: Vec<ImportedRoute>,
    /// About the whole document, each with its pointer: said as TOML
    /// comments at the top.
    pub notes: Vec<String>,
    /// Every note, the document's and each route's, with its pointer.
    pub warnings: Vec<String>,
}

/// Why a document cannot be imported: what, and where (a JSON pointer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

/// Most scopes one oauth2 scheme may declare: an API with more is not one a
/// person reviews, and the import's work grows with them.
pub const MAX_SCOPES: usize = 2_000;
/// Most alternatives one `security` list may hold (the Security Requirement
/// Object's OR): absorbing them is quadratic.
pub const MAX_ALTERNATIVES: usize = 64;
/// Most scopes one alternative may ask for at once.
pub const MAX_SCOPES_PER_ALTERNATIVE: usize = 64;
/// Most operations one document may have.
pub const MAX_OPERATIONS: usize = 20_000;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// A JSON pointer token (RFC 6901). A control character is written as in
/// a pointer's URI fragment form (`%0A`), so that a pointer never breaks a
/// line of what is printed.
fn token(name: &str) -> String {
    let escaped = name.replace('~', "~0").replace('/', "~1");
    if !escaped.chars().any(char::is_control) {
        return escaped;
    }
    escaped
        .chars()
        .map(|c| {
            if c.is_control() {
                let mut utf8 = [0; 4];
                c.encode_utf8(&mut utf8).bytes().map(|b| format!("%{b:02X}")).collect()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The first control character of `text` (a newline, say), as `U+000A`.
fn control_character(text: &str) -> Option<String> {
    text.chars()
        .find(|c| c.is_control())
        .map(|c| format!("U+{:04X}", u32::from(c)))
}

fn fail(pointer: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError {
        pointer: pointer.into(),
        message: message.into(),
    }
}

/// Reads the document; every problem found, not only the first.
pub fn import(doc: &Value, options: &ImportOptions) -> Result<Imported, Vec<ImportError>> {
    let mut errors = Vec::new();
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    let swagger = doc.get("swagger").and_then(Value::as_str) == Some("2.0");
    if !(swagger || version.starts_with("3.0") || version.starts_with("3.1")) {
        return Err(vec![fail(
            "#/openapi",
            "not an OpenAPI 3.0 or 3.1 document (\"openapi\": \"3.x\") nor a Swagger 2.0 one (\"swagger\": \"2.0\")",
        )]);
    }
    // Swagger 2.0 keeps its schemes in `securityDefinitions`, each oauth2
    // scheme with one flow and its `scopes`; OpenAPI 3 in
    // `components/securitySchemes`, with `scopes` per flow.
    let schemes_at = if swagger {
        "/securityDefinitions"
    } else {
        "/components/securitySchemes"
    };
    if let Some(pointer) = external_ref(doc, String::new()) {
        return Err(vec![fail(
            pointer,
            "an external $ref; only references inside the document (\"#/…\") are read",
        )]);
    }
    let schemes = doc
        .pointer(schemes_at)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let oauth: Vec<&String> = schemes
        .iter()
        .filter(|(_, s)| s.get("type").and_then(Value::as_str) == Some("oauth2"))
        .map(|(name, _)| name)
        .collect();
    let scheme = match (&options.scheme, oauth.as_slice()) {
        (Some(name), _) if oauth.contains(&name) => name.clone(),
        (Some(name), _) => {
            return Err(vec![fail(
                format!("#{schemes_at}"),
                format!("no oauth2 scheme named {name:?} (oauth2 schemes: {oauth:?})"),
            )]);
        }
        (None, [one]) => (*one).clone(),
        (None, []) => {
            return Err(vec![fail(
                format!("#{schemes_at}"),
                "no oauth2 security scheme: there are no scopes to import",
            )]);
        }
        (None, many) => {
            return Err(vec![fail(
                format!("#{schemes_at}"),
                format!("several oauth2 schemes ({many:?}); choose one with --scheme"),
            )]);
        }
    };
    let scheme_pointer = format!("#{schemes_at}/{}", token(&scheme));
    let mut scopes: BTreeMap<String, String> = BTreeMap::new();
    // Each flow with the pointer of its `scopes`.
    let flows: Vec<(String, &Value)> = if swagger {
        vec![(format!("{scheme_pointer}/scopes"), &schemes[&scheme])]
    } else {
        schemes[&scheme]
            .get("flows")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, flow)| (format!("{scheme_pointer}/flows/{}/scopes", token(name)), flow))
            .collect()
    };
    for (at, flow) in flows {
        let declared = flow.get("scopes").and_then(Value::as_object);
        if declared.is_some_and(|d| d.len() > MAX_SCOPES) {
            return Err(vec![fail(
                at,
                format!(
                    "{} scopes declared; scopegate imports at most {MAX_SCOPES} from one scheme",
                    declared.map_or(0, serde_json::Map::len)
                ),
            )]);
        }
        for (name, description) in declared.into_iter().flatten() {
            // The policy splits scope lists at commas as well as spaces.
            let invalid = match crate::scope::ScopeToken::parse(name) {
                Err(why) => Some(why.to_string()),
                Ok(_) if name.contains(',') => Some("a comma would split it in a scope list".to_owned()),
                Ok(_) => None,
            };
            if let Some(why) = invalid {
                errors.push(fail(
                    format!("{at}/{}", token(name)),
                    format!("scope {name:?} cannot be a scopegate scope: {why}"),
                ));
            }
            scopes
                .entry(name.clone())
                .or_insert_with(|| description.as_str().unwrap_or_default().to_owned());
        }
    }
    let global = doc.get("security");
    let mut routes: Vec<ImportedRoute> = Vec::new();
    let mut warnings = Vec::new();
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut unreachable: Vec<(String, String, String)> = Vec::new();
    let operations = doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(_, item)| item.as_object())
        .map(|item| METHODS.iter().filter(|m| item.contains_key(**m)).count())
        .sum::<usize>();
    if operations > MAX_OPERATIONS {
        return Err(vec![fail(
            "#/paths",
            format!("{operations} operations; scopegate imports at most {MAX_OPERATIONS} from one document"),
        )]);
    }
    for (path, item) in doc.get("paths").and_then(Value::as_object).into_iter().flatten() {
        let path_pointer = format!("#/paths/{}", token(path));
        if let Some(c) = control_character(path) {
            errors.push(fail(
                path_pointer,
                format!("the path holds a control character ({c}); no request path can"),
            ));
            continue;
        }
        let item = match path_item(doc, item) {
            Ok(item) => item,
            Err(why) => {
                errors.push(fail(format!("{path_pointer}/$ref"), why));
                continue;
            }
        };
        if let Err(why) = route_path("", path) {
            errors.push(fail(path_pointer, why));
            continue;
        }
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let pointer = format!("{path_pointer}/{method}");
            let prefix = base_path(doc, servers(doc, item, op), options.base_path.as_deref());
            let template = route_path(&prefix, path).unwrap_or_default();
            // A problem in the document's `security` is told where it is,
            // once, not under each operation that inherits it.
            let (security, security_at) = match op.get("security") {
                Some(own) => (Some(own), format!("{pointer}/security")),
                None => (global, "#/security".to_owned()),
            };
            let mut notes = Vec::new();
            let stated = Stated {
                security,
                at: &security_at,
                scheme: &scheme,
                schemes: &schemes,
                scopes: &scopes,
            };
            let requirement = match requirement(&stated, &mut notes) {
                Ok(r) => r,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let upper = method.to_ascii_uppercase();
            // `{a}` and `{b}` in the same place are the same route.
            // Literal segments match ASCII case-insensitively, so `/Pets`
            // and `/pets` are one route too.
            let shape = template
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        "{}".to_owned()
                    } else {
                        s.to_ascii_lowercase()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            // Two operations on one route (`/values` and `/values/`, say)
            // are one route when they state the same requirement.
            if let Some(&first) = seen.get(&(upper.clone(), shape.clone())) {
                let earlier: &mut ImportedRoute = &mut routes[first];
                if same_requirement(&earlier.requirement, &requirement) {
                    let note = format!(
                        "{pointer} ({upper} {path}) is the same route once the paths are joined, with the same requirement"
                    );
                    warnings.push(format!("{}: {note}", earlier.pointer));
                    earlier.notes.push(note);
                } else {
                    errors.push(fail(
                        pointer.clone(),
                        format!(
                            "{upper} {template} is the same route as {} once the paths are joined, with a different requirement",
                            earlier.pointer
                        ),
                    ));
                }
                continue;
            }
            seen.insert((upper.clone(), shape), routes.len());
            if requirement == Requirement::Unreachable {
                notes.push(format!(
                    "only schemes other than {scheme:?} admit callers here; scopegate does not check them, so this operation gets no route and its requests are refused, unless a catch-all route you add (such as \"* /*\") covers them"
                ));
                unreachable.push((upper.clone(), template.clone(), pointer.clone()));
            }
            for note in &notes {
                warnings.push(format!("{pointer}: {note}"));
            }
            let description = op
                .get("summary")
                .or_else(|| op.get("operationId"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            routes.push(ImportedRoute {
                method: upper,
                path: template.clone(),
                requirement,
                description,
                pointer,
                notes,
            });
        }
    }
    if !errors.is_empty() {
        let mut told = std::collections::BTreeSet::new();
        errors.retain(|e| told.insert(e.to_string()));
        return Err(errors);
    }
    let mut notes = Vec::new();
    if routes.is_empty() {
        notes.push(
            "#/paths: the document has no operations; the fragment declares scopes but no routes, so every request is refused"
                .to_owned(),
        );
    }
    warnings.extend(notes.iter().cloned());
    let imported = Imported {
        scheme,
        scopes: scopes.into_iter().collect(),
        routes,
        notes,
        warnings,
    };
    // The fragment must pass `check` as it is: what the policy refuses (a
    // path it does not take as canonical, say) is told at the operation.
    let toml = imported.to_toml("imported");
    let policy = match crate::Policy::compile("imported", &toml) {
        Ok(policy) => policy,
        Err(refused) => {
            return Err(refused
                .errors
                .iter()
                .map(|e| {
                    fail(
                        pointer_above(&toml, e.line),
                        format!("the policy refuses it: {}", e.message),
                    )
                })
                .collect());
        }
    };
    // An operation left without a route must not fall to another route
    // (a `{param}` one beside it) that would admit its callers.
    for (method, path, pointer) in unreachable {
        let example: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        if let Some(route) = policy.resolve(&method, &example).ok().and_then(|r| r.route) {
            errors.push(fail(
                pointer,
                format!(
                    "{method} {path} needs a scheme scopegate does not check, and left without a route it would fall to {}",
                    policy.route(route).pattern
                ),
            ));
        }
    }
    if errors.is_empty() { Ok(imported) } else { Err(errors) }
}

/// The operation a line of the fragment belongs to: the pointer in the
/// comment right above its route (notes above that one say theirs after
/// the pointer), or the document for the scopes before any route.
fn pointer_above(toml: &str, line: usize) -> String {
    toml.lines()
        .take(line)
        .collect::<Vec<_>>()
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("# #/"))
        .map_or_else(|| "#".to_owned(), |p| format!("#/{p}"))
}

/// The first `$ref` that leaves the document, as a pointer to it. Vendor
/// extensions (`x-…`) are not read, so what they refer to does not matter.
fn external_ref(value: &Value, at: String) -> Option<String> {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref")
                && !r.starts_with('#')
            {
                return Some(format!("#{at}/$ref"));
            }
            map.iter()
                .filter(|(k, _)| !k.starts_with("x-"))
                .find_map(|(k, v)| external_ref(v, format!("{at}/{}", token(k))))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| external_ref(v, format!("{at}/{i}"))),
        _ => None,
    }
}

/// The servers an operation is served from: its own, else its path's, else
/// the document's (an empty list counts as none).
fn servers<'a>(doc: &'a Value, item: &'a Value, op: &'a Value) -> Option<&'a Value> {
    [op, item, doc]
        .into_iter()
        .filter_map(|v| v.get("servers"))
        .find(|s| s.as_array().is_some_and(|a| !a.is_empty()))
}

/// The first server URL's path (its variables at their defaults), or
/// Swagger 2.0's `basePath`, then `--base-path`.
fn base_path(doc: &Value, servers: Option<&Value>, extra: Option<&str>) -> String {
    let mut prefix = String::new();
    if let Some(base) = doc.get("basePath").and_then(Value::as_str) {
        prefix.push_str(base.trim_end_matches('/'));
    } else if let Some(server) = servers.and_then(|s| s.get(0)) {
        let mut url = server.get("url").and_then(Value::as_str).unwrap_or("").to_owned();
        for (name, var) in server.get("variables").and_then(Value::as_object).into_iter().flatten() {
            let default = var.get("default").and_then(Value::as_str).unwrap_or("");
            url = url.replace(&format!("{{{name}}}"), default);
        }
        let path = match url.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
            None => url.as_str(),
        };
        prefix.push_str(path.trim_end_matches('/'));
    }
    if let Some(extra) = extra {
        let extra = extra.trim_matches('/');
        if !extra.is_empty() {
            prefix.push('/');
            prefix.push_str(extra);
        }
    }
    prefix
}

/// A Path Item, or the one its `$ref` names inside the document (OpenAPI
/// 3.1's `#/components/pathItems/…`).
fn path_item<'a>(doc: &'a Value, item: &'a Value) -> Result<&'a Value, String> {
    let Some(reference) = item.get("$ref").and_then(Value::as_str) else {
        return Ok(item);
    };
    // A reference is a URI fragment: it may be percent-encoded.
    let fragment = reference.strip_prefix('#').unwrap_or(reference);
    let decoded = String::from_utf8(crate::path::percent_decode(fragment.as_bytes())).unwrap_or_default();
    let target = doc
        .pointer(fragment)
        .or_else(|| doc.pointer(&decoded))
        .filter(|v| v.is_object())
        .ok_or_else(|| format!("{reference:?} names no path item in the document"))?;
    if target.get("$ref").is_some() {
        return Err(format!(
            "{reference:?} names another $ref; a path item's reference is followed once"
        ));
    }
    Ok(target)
}

/// `prefix` + `path`, each templated segment a whole `{param}`.
fn route_path(prefix: &str, path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("path {path:?} does not start with \"/\""));
    }
    for segment in path.split('/') {
        if segment.contains('*') {
            return Err(format!(
                "segment {segment:?}: '*' is a wildcard in a scopegate route, where the document means the character"
            ));
        }
        let open = segment.matches('{').count();
        let whole = segment.starts_with('{') && segment.ends_with('}') && open == 1;
        if open > 0 && !whole {
            return Err(format!(
                "segment {segment:?} mixes a template with text; a route parameter is a whole segment"
            ));
        }
    }
    let joined = format!("{prefix}{path}");
    Ok(if joined.len() > 1 {
        joined.trim_end_matches('/').to_owned()
    } else {
        joined
    })
}

/// One operation's `security` (its own or the document's) and what it is read against.
struct Stated<'a> {
    security: Option<&'a Value>,
    /// The JSON pointer of `security`.
    at: &'a str,
    scheme: &'a str,
    /// Every security scheme the document declares.
    schemes: &'a serde_json::Map<String, Value>,
    /// The chosen scheme's scopes.
    scopes: &'a BTreeMap<String, String>,
}

/// The requirement of one operation from its (or the document's) `security`.
fn requirement(stated: &Stated<'_>, notes: &mut Vec<String>) -> Result<Requirement, ImportError> {
    let Stated {
        security,
        at: security_at,
        scheme,
        schemes,
        scopes: declared,
    } = *stated;
    let Some(security) = security else {
        notes.push("no security requirement: anyone may call it (require = \"none\")".into());
        return Ok(Requirement::None {
            anonymous_alternative: false,
        });
    };
    let Some(alternatives) = security.as_array() else {
        return Err(fail(security_at, "security must be a list"));
    };
    if alternatives.is_empty() {
        return Ok(Requirement::None {
            anonymous_alternative: false,
        });
    }
    if alternatives.len() > MAX_ALTERNATIVES {
        return Err(fail(
            security_at,
            format!(
                "{} alternatives; a route can say at most {MAX_ALTERNATIVES} (list the scopes once, in one alternative each)",
                alternatives.len()
            ),
        ));
    }
    if let Some((i, big)) = alternatives
        .iter()
        .enumerate()
        .flat_map(|(i, alt)| alt.as_object().into_iter().flatten().map(move |(_, v)| (i, v)))
        .find(|(_, v)| v.as_array().is_some_and(|l| l.len() > MAX_SCOPES_PER_ALTERNATIVE))
    {
        return Err(fail(
            format!("{security_at}/{i}"),
            format!(
                "{} scopes in one alternative; at most {MAX_SCOPES_PER_ALTERNATIVE}",
                big.as_array().map_or(0, Vec::len)
            ),
        ));
    }
    // Oauth2-only alternatives (their scopes), and those that need another
    // scheme as well (where, which schemes, and the oauth2 scopes).
    let mut sets: Vec<Vec<String>> = Vec::new();
    let mut mixed: Vec<(String, Vec<&String>, Vec<String>)> = Vec::new();
    let mut anonymous = false;
    for (i, alternative) in alternatives.iter().enumerate() {
        let at = format!("{security_at}/{i}");
        let Some(object) = alternative.as_object() else {
            return Err(fail(at, "a security requirement must be an object"));
        };
        if object.is_empty() {
            anonymous = true;
            continue;
        }
        if let Some(unknown) = object.keys().find(|k| !schemes.contains_key(*k)) {
            return Err(fail(
                format!("{at}/{}", token(unknown)),
                format!(
                    "security scheme {unknown:?} is not declared (declared: {:?})",
                    schemes.keys().collect::<Vec<_>>()
                ),
            ));
        }
        let others: Vec<&String> = object.keys().filter(|k| *k != scheme).collect();
        let Some(ours) = object.get(scheme) else {
            notes.push(format!(
                "the alternative {others:?} is not the oauth2 scheme {scheme:?}; scopegate does not check it, so it is left out (callers it would let in are refused)"
            ));
            continue;
        };
        let Some(list) = ours.as_array() else {
            return Err(fail(format!("{at}/{}", token(scheme)), "the scopes must be a list"));
        };
        let mut set = Vec::new();
        for (j, s) in list.iter().enumerate() {
            let Some(name) = s.as_str() else {
                return Err(fail(format!("{at}/{}/{j}", token(scheme)), "a scope must be a string"));
            };
            if !declared.contains_key(name) {
                return Err(fail(
                    format!("{at}/{}/{j}", token(scheme)),
                    format!("scope {name:?} is not declared by the scheme {scheme:?}"),
                ));
            }
            if !set.iter().any(|x| x == name) {
                set.push(name.to_owned());
            }
        }
        if others.is_empty() {
            sets.push(set);
        } else {
            mixed.push((at, others, set));
        }
    }
    if anonymous {
        notes.push("an empty requirement {} allows anonymous access (require = \"none\")".into());
        return Ok(Requirement::None {
            anonymous_alternative: true,
        });
    }
    // An alternative needing another scheme as well admits a part of whom an
    // oauth2-only alternative with fewer scopes admits: then it adds no one.
    // Otherwise scopegate cannot say it: it checks only the oauth2 token.
    for (at, others, set) in &mixed {
        if !sets.iter().any(|t| t.iter().all(|s| set.contains(s))) {
            return Err(fail(
                at.clone(),
                format!(
                    "this alternative needs {others:?} as well as {scheme:?}; scopegate checks only {scheme:?}, and dropping the rest would let in callers the document refuses"
                ),
            ));
        }
    }
    if sets.iter().any(Vec::is_empty) {
        return Ok(Requirement::Client);
    }
    // A or (A and B) is A: an alternative needing all of another's scopes
    // and more admits no one else, so it is dropped (duplicates too).
    let mut kept: Vec<Vec<String>> = Vec::new();
    for set in sets {
        if kept.iter().any(|k| k.iter().all(|s| set.contains(s))) {
            continue;
        }
        kept.retain(|k| !set.iter().all(|s| k.contains(s)));
        kept.push(set);
    }
    let sets = kept;
    match sets.as_slice() {
        [] => Ok(Requirement::Unreachable),
        [only] if only.len() > 1 => Ok(Requirement::AllOf(only.clone())),
        _ if sets.iter().all(|s| s.len() == 1) => Ok(Requirement::AnyOf(sets.into_iter().flatten().collect())),
        _ => Err(fail(
            security_at,
            "an OR of alternatives some of which need several scopes at once; a route is any_of or all_of, not both",
        )),
    }
}

/// The same callers admitted: scope lists compare as sets.
fn same_requirement(a: &Requirement, b: &Requirement) -> bool {
    fn set(s: &[String]) -> std::collections::BTreeSet<&String> {
        s.iter().collect()
    }
    match (a, b) {
        (Requirement::AnyOf(x), Requirement::AnyOf(y)) | (Requirement::AllOf(x), Requirement::AllOf(y)) => {
            set(x) == set(y)
        }
        (Requirement::None { .. }, Requirement::None { .. }) => true,
        _ => a == b,
    }
}

/// `text` as a TOML string, by the TOML serializer: nothing in it can end
/// the string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// `text` as a TOML comment line: a control character or a line or
/// paragraph separator (a line break to some reader) is written as an
/// escape, so a comment never ends before its line.
fn comment(out: &mut String, text: &str) {
    out.push_str("# ");
    for c in text.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('\n');
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| quoted(s)).collect::<Vec<_>>().join(", "))
}

/// A note said of more operations than this is said once, with a few of them.
const SAID_APART: usize = 3;

impl Imported {
    /// The warnings for a terminal: a note shared by many operations (an
    /// API key alternative on each, say) is said once, with the first few
    /// pointers and how many more; the fragment marks each of them. A line
    /// that starts with `#` is a pointer into the document.
    pub fn told(&self) -> Vec<String> {
        let mut order: Vec<&str> = Vec::new();
        let mut at: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for route in &self.routes {
            for note in &route.notes {
                let pointers = at.entry(note).or_default();
                if pointers.is_empty() {
                    order.push(note);
                }
                pointers.push(&route.pointer);
            }
        }
        let mut lines = self.notes.clone();
        for note in order {
            let pointers = &at[note];
            if pointers.len() <= SAID_APART {
                lines.extend(pointers.iter().map(|p| format!("{p}: {note}")));
            } else {
                lines.push(format!(
                    "{note}: at {} and {} more operations (each is marked in the fragment)",
                    pointers[..SAID_APART].join(", "),
                    pointers.len() - SAID_APART
                ));
            }
        }
        lines
    }

    /// One line on what the fragment holds: routes by kind, and the
    /// operations left without one.
    pub fn summary(&self) -> String {
        let count = |f: fn(&Requirement) -> bool| self.routes.iter().filter(|r| f(&r.requirement)).count();
        let unrouted = count(|r| *r == Requirement::Unreachable);
        let counted = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{}, {} ({} public, {} any client, {} scoped); {} left without a route; {}",
            counted(self.scopes.len(), "scope", "scopes"),
            counted(self.routes.len() - unrouted, "route", "routes"),
            count(|r| matches!(r, Requirement::None { .. })),
            count(|r| *r == Requirement::Client),
            count(|r| matches!(r, Requirement::AnyOf(_) | Requirement::AllOf(_))),
            counted(unrouted, "operation", "operations"),
            counted(self.warnings.len(), "warning", "warnings"),
        )
    }

    /// The policy fragment, as TOML: `[[scope]]` then `[[route]]` tables,
    /// each route with the operation it came from.
    pub fn to_toml(&self, source: &str) -> String {
        let mut out = String::new();
        comment(
            &mut out,
            &format!(
                "Imported from {source} (oauth2 scheme {:?}) by scopegate import-openapi.",
                self.scheme
            ),
        );
        for note in &self.notes {
            comment(&mut out, note);
        }
        for (name, description) in &self.scopes {
            out.push_str(&format!("\n[[scope]]\nname = {}\n", quoted(name)));
            if !description.is_empty() {
                out.push_str(&format!("description = {}\n", quoted(description)));
            }
        }
        for route in &self.routes {
            out.push('\n');
            if route.requirement == Requirement::Unreachable {
                comment(
                    &mut out,
                    &format!("{} {} ({}) is not imported:", route.method, route.path, route.pointer),
                );
                for note in &route.notes {
                    comment(&mut out, note);
                }
                continue;
            }
            for note in &route.notes {
                comment(&mut out, note);
            }
            comment(&mut out, &route.pointer);
            out.push_str(&format!(
                "[[route]]\nmatch = {}\n",
                quoted(&format!("{} {}", route.method, route.path))
            ));
            match &route.requirement {
                Requirement::None { .. } => out.push_str("require = \"none\"\n"),
                Requirement::Client => out.push_str("require = \"client\"\n"),
                Requirement::AnyOf(s) => out.push_str(&format!("any_of = {}\n", list(s))),
                Requirement::AllOf(s) => out.push_str(&format!("all_of = {}\n", list(s))),
                Requirement::Unreachable => {}
            }
            if let Some(d) = &route.description {
                out.push_str(&format!("description = {}\n", quoted(d)));
            }
        }
        out
    }
}
