//! `import-openapi` on public API descriptions that no one here wrote: the
//! Swagger Petstore (OpenAPI 3.0 and Swagger 2.0), Bitbucket's and Quay.io's
//! APIs (Swagger 2.0, oauth2 scopes with AND, OR and other schemes), a payroll
//! API whose every operation takes an API key only, and an Azure description
//! whose operations live in other files.
//!
//! They are not in this repository: they come from Debian's packages of the
//! Go OpenAPI libraries, which keep them as test fixtures (go-openapi:
//! Apache-2.0; kin-openapi: MIT; each package's terms are in its
//! usr/share/doc/PACKAGE/copyright). `.ci/run` unpacks the packages under
//! target/public-openapi and names the folder in `SCOPEGATE_PUBLIC_OPENAPI`;
//! installed packages (/usr/share/gocode) serve as well. Outside CI, missing
//! documents are skipped, and the test says so.
//!
//! For every operation of every document the expectation is worked out here
//! from the document alone (an oracle independent of the importer), then
//! `explain` is asked about a request to it: the route it matches, what the
//! route requires, and that a caller holding what the document asks for is
//! let in (and one holding part of an AND is not).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

struct Public {
    /// The Debian package that ships it.
    package: &'static str,
    path: &'static str,
    /// The importer's summary line, pinned to the package's version.
    summary: &'static str,
}

/// Where the documents are: `SCOPEGATE_PUBLIC_OPENAPI`, else where
/// `.ci/run` unpacks them, else where Debian installs its Go sources.
fn root() -> PathBuf {
    if let Some(dir) = std::env::var_os("SCOPEGATE_PUBLIC_OPENAPI") {
        return PathBuf::from(dir);
    }
    let unpacked = crate::workspace_root().join("target/public-openapi/usr/share/gocode/src/github.com");
    if unpacked.is_dir() {
        unpacked
    } else {
        PathBuf::from("/usr/share/gocode/src/github.com")
    }
}

const DOCUMENTS: [Public; 6] = [
    Public {
        package: "golang-github-getkin-kin-openapi-dev",
        path: "getkin/kin-openapi/openapi3filter/fixtures/petstore.json",
        summary: "2 scopes, 22 routes (11 public, 0 any client, 11 scoped); 2 operations left without a route; 15 warnings",
    },
    Public {
        package: "golang-github-go-openapi-validate-dev",
        path: "go-openapi/validate/fixtures/go-swagger/canary/petstore/swagger.json",
        summary: "2 scopes, 18 routes (11 public, 0 any client, 7 scoped); 2 operations left without a route; 15 warnings",
    },
    Public {
        package: "golang-github-go-openapi-validate-dev",
        path: "go-openapi/validate/fixtures/go-swagger/canary/bitbucket.org/swagger.json",
        summary: "18 scopes, 133 routes (0 public, 14 any client, 119 scoped); 0 operations left without a route; 269 warnings",
    },
    Public {
        package: "golang-github-go-openapi-validate-dev",
        path: "go-openapi/validate/fixtures/go-swagger/canary/quay.io/swagger.json",
        summary: "6 scopes, 95 routes (14 public, 0 any client, 81 scoped); 0 operations left without a route; 14 warnings",
    },
    Public {
        package: "golang-github-go-openapi-spec-dev",
        path: "go-openapi/spec/fixtures/bugs/69/dapperbox.json",
        summary: "2 scopes, 0 routes (0 public, 0 any client, 0 scoped); 437 operations left without a route; 874 warnings",
    },
    Public {
        package: "golang-github-go-openapi-spec-dev",
        path: "go-openapi/spec/fixtures/azure/network.json",
        summary: "1 scope, 0 routes (0 public, 0 any client, 0 scoped); 0 operations left without a route; 1 warning",
    },
];

/// What the document says of one operation, in the route model's words.
#[derive(Debug)]
enum Stated {
    Public,
    AnyClient,
    AnyOf(BTreeSet<String>),
    AllOf(BTreeSet<String>),
    /// Only other schemes (API keys, HTTP auth) admit callers.
    NoRoute,
}

fn stated(security: Option<&Value>, scheme: &str) -> Stated {
    let Some(alternatives) = security.and_then(Value::as_array) else {
        return Stated::Public;
    };
    if alternatives.is_empty() || alternatives.iter().any(|a| a.as_object().is_some_and(|o| o.is_empty())) {
        return Stated::Public;
    }
    let ours: Vec<BTreeSet<String>> = alternatives
        .iter()
        .filter_map(|a| a.get(scheme))
        .map(|scopes| {
            scopes
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    if ours.iter().any(BTreeSet::is_empty) {
        Stated::AnyClient
    } else if ours.is_empty() {
        Stated::NoRoute
    } else if ours.len() == 1 && ours[0].len() > 1 {
        Stated::AllOf(ours[0].clone())
    } else {
        assert!(ours.iter().all(|s| s.len() == 1), "an OR of ANDs: {ours:?}");
        Stated::AnyOf(ours.into_iter().flatten().collect())
    }
}

/// basePath (Swagger 2.0) or the first server URL's path (OpenAPI 3).
fn prefix(doc: &Value) -> String {
    let url = doc
        .get("basePath")
        .or_else(|| doc.pointer("/servers/0/url"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => url,
    };
    path.trim_end_matches('/').to_owned()
}

/// A path with its parameters' names forgotten: `/a/{}/b`.
fn shape(path: &str) -> String {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn field<'a>(explained: &'a str, name: &str) -> &'a str {
    explained
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map_or("", str::trim)
}

fn check_document(file: &Path, public: &Public) {
    let spec = file.to_str().unwrap();
    let o = crate::scopegate(&["import-openapi", spec]);
    let warnings = crate::stderr(&o);
    assert!(o.status.success(), "{spec}: {warnings}");
    assert!(
        warnings.ends_with(&format!("{spec}: imported {}\n", public.summary)),
        "{spec}: the summary changed:\n{}",
        warnings.lines().last().unwrap_or("")
    );
    let dir = std::env::temp_dir().join(format!("scopegate-public-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join(format!("{}.toml", public.path.replace('/', "_")));
    std::fs::write(&policy, crate::stdout(&o)).unwrap();
    let config = policy.to_str().unwrap();
    let checked = crate::scopegate(&["check", "--config", config]);
    assert!(checked.status.success(), "{spec}: {}", crate::stderr(&checked));

    let doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let schemes = doc
        .get("securityDefinitions")
        .or_else(|| doc.pointer("/components/securitySchemes"))
        .and_then(Value::as_object)
        .unwrap();
    let scheme = schemes
        .iter()
        .find(|(_, s)| s["type"] == "oauth2")
        .map(|(name, _)| name.as_str())
        .unwrap();
    // Every scope the scheme declares, in whichever flow.
    let flows = schemes[scheme].get("flows").and_then(Value::as_object);
    let all_scopes: BTreeSet<&str> = flows
        .map_or_else(|| vec![&schemes[scheme]], |f| f.values().collect())
        .into_iter()
        .filter_map(|flow| flow.get("scopes").and_then(Value::as_object))
        .flat_map(|scopes| scopes.keys().map(String::as_str))
        .collect();
    let all_scopes: Vec<&str> = all_scopes.into_iter().collect();
    let base = prefix(&doc);
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "options", "head", "patch", "trace"] {
            let Some(op) = item.get(method) else { continue };
            operations += 1;
            let upper = method.to_ascii_uppercase();
            let request: String = format!("{base}{path}")
                .split('/')
                .map(|s| if s.starts_with('{') { "x1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let stated = stated(op.get("security").or(doc.get("security")), scheme);
            let explain = |caller: &[&str]| {
                let mut args = vec!["explain", "--config", config];
                args.extend(caller);
                args.extend([upper.as_str(), request.as_str()]);
                let o = crate::scopegate(&args);
                (o.status.code(), crate::stdout(&o))
            };
            let at = format!("{spec} {upper} {path} ({stated:?})");
            let (code, out) = match &stated {
                Stated::Public => explain(&["--anonymous"]),
                Stated::AnyClient => explain(&["--scopes", ""]),
                Stated::AnyOf(s) => explain(&["--scopes", s.first().unwrap()]),
                Stated::AllOf(s) => {
                    let part: Vec<&str> = s.iter().skip(1).map(String::as_str).collect();
                    let (code, _) = explain(&["--scopes", &part.join(" ")]);
                    assert_eq!(code, Some(1), "{at}: part of an AND is let in");
                    explain(&["--scopes", &s.iter().cloned().collect::<Vec<_>>().join(" ")])
                }
                Stated::NoRoute => {
                    let (code, out) = explain(&["--scopes", &all_scopes.join(" ")]);
                    assert_eq!(code, Some(1), "{at}: {out}");
                    assert!(out.contains("route_not_found"), "{at}: {out}");
                    continue;
                }
            };
            assert_eq!(code, Some(0), "{at}: the caller the document admits is refused:\n{out}");
            let route = field(&out, "route");
            let pattern = route.split("  (").next().unwrap();
            assert_eq!(
                shape(pattern),
                format!("{upper} {}", shape(&format!("{base}{path}"))),
                "{at}: {out}"
            );
            let want = match &stated {
                Stated::Public => "nothing: credentials are not examined".to_owned(),
                Stated::AnyClient => "any authenticated client, whatever its scope".to_owned(),
                Stated::AnyOf(s) => format!("any of: {}", s.iter().cloned().collect::<Vec<_>>().join(" ")),
                Stated::AllOf(s) => format!("all of: {}", s.iter().cloned().collect::<Vec<_>>().join(" ")),
                Stated::NoRoute => unreachable!(),
            };
            assert_eq!(field(&out, "requires"), want, "{at}: {out}");
        }
    }
    eprintln!("{spec}: {operations} operations explained as the document states");
    let _ = std::fs::remove_file(&policy);
}

#[test]
fn import_openapi_on_public_api_descriptions_explains_each_operation_as_its_document_states() {
    let mut missing = Vec::new();
    for public in &DOCUMENTS {
        let file = root().join(public.path);
        if file.exists() {
            check_document(&file, public);
        } else {
            missing.push(public.package);
        }
    }
    if !missing.is_empty() {
        missing.dedup();
        scopegate_store::testing::missing(&format!(
            "public OpenAPI documents not found under {} (from the Debian packages {}; see .ci/run)",
            root().display(),
            missing.join(" ")
        ));
    }
}

/// `diff` on two editions of a public description, and on one with a
/// requirement loosened by hand: computed on access, exit 2 when wider.
#[test]
fn diff_of_public_api_descriptions_reports_what_each_edition_opens_and_closes() {
    let root = root();
    let swagger2 = root.join(DOCUMENTS[1].path);
    let openapi3 = root.join(DOCUMENTS[0].path);
    let bitbucket = root.join(DOCUMENTS[2].path);
    if !(swagger2.exists() && openapi3.exists() && bitbucket.exists()) {
        scopegate_store::testing::missing(&format!("public OpenAPI documents not found under {}", root.display()));
        return;
    }
    // kin-openapi's Petstore is an OpenAPI 3 edition of the Swagger 2.0 one,
    // with PATCH /pet where the other has PUT, and five operations more.
    let o = crate::scopegate(&["diff", swagger2.to_str().unwrap(), openapi3.to_str().unwrap()]);
    let out = crate::stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{}", crate::stderr(&o));
    for new in [
        "PATCH /v2/pet",
        "POST /v2/pet2",
        "GET /v2/pets",
        "GET /v2/pet/findByIds",
        "GET /v2/pet/findByKind",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("widened          route {new}:"))
                    && l.contains("-> all_of [read:pets, write:pets]")),
            "{new}: {out}"
        );
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("narrowed         route PUT /v2/pet:") && l.contains("no route (404)")),
        "{out}"
    );
    assert_eq!(out.lines().count(), 6, "{out}");

    let same = crate::scopegate(&["diff", bitbucket.to_str().unwrap(), bitbucket.to_str().unwrap()]);
    assert_eq!(same.status.code(), Some(0));
    assert_eq!(crate::stdout(&same), "no change in access\n");

    // One AND loosened: voting on an issue no longer needs account:write.
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&bitbucket).unwrap()).unwrap();
    doc["paths"]["/repositories/{username}/{repo_slug}/issues/{issue_id}/vote"]["put"]["security"] =
        serde_json::json!([{"oauth2": ["issue"]}, {"basic": []}, {"api_key": []}]);
    let loosened = std::env::temp_dir().join(format!("scopegate-bitbucket-{}.json", std::process::id()));
    std::fs::write(&loosened, doc.to_string()).unwrap();
    let o = crate::scopegate(&["diff", bitbucket.to_str().unwrap(), loosened.to_str().unwrap()]);
    let _ = std::fs::remove_file(&loosened);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        crate::stdout(&o),
        "widened          route PUT /2.0/repositories/{username}/{repo_slug}/issues/{issue_id}/vote: \
         all_of [account:write, issue] -> any_of [issue] (now lets in a client granted [\"issue\"])\n"
    );
}
