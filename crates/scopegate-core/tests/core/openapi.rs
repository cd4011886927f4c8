//! `import-openapi`: each rule of the Security Requirement Object as the
//! route model says it, and each document it refuses, with the pointer.

use scopegate_core::openapi::{ImportOptions, Imported, Requirement, import};
use serde_json::{Value, json};

fn doc(paths: Value, global: Option<Value>) -> Value {
    let mut d = json!({
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "components": {"securitySchemes": {
            "oauth": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://x/token", "scopes": {
                "read:pets": "read", "write:pets": "write", "admin": "all"
            }}}},
            "api_key": {"type": "apiKey", "name": "k", "in": "header"}
        }},
        "paths": paths,
    });
    if let Some(g) = global {
        d["security"] = g;
    }
    d
}

fn imported(d: &Value) -> Imported {
    import(d, &ImportOptions::default()).unwrap_or_else(|e| panic!("{e:?}"))
}

fn only(d: &Value) -> Requirement {
    let i = imported(d);
    assert_eq!(i.routes.len(), 1, "{i:?}");
    i.routes[0].requirement.clone()
}

fn refused(d: &Value) -> Vec<String> {
    match import(d, &ImportOptions::default()) {
        Ok(i) => panic!("imported: {i:?}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn one_requirement_with_one_scope_is_any_of_it() {
    let d = doc(
        json!({"/pets": {"get": {"security": [{"oauth": ["read:pets"]}]}}}),
        None,
    );
    assert_eq!(only(&d), Requirement::AnyOf(vec!["read:pets".into()]));
}

#[test]
fn alternatives_of_one_scope_each_are_any_of() {
    let d = doc(
        json!({"/pets": {"post": {"security": [{"oauth": ["write:pets"]}, {"oauth": ["admin"]}]}}}),
        None,
    );
    assert_eq!(only(&d), Requirement::AnyOf(vec!["write:pets".into(), "admin".into()]));
}

#[test]
fn several_scopes_in_one_requirement_are_all_of_never_any_of() {
    let d = doc(
        json!({"/pets": {"put": {"security": [{"oauth": ["write:pets", "read:pets"]}]}}}),
        None,
    );
    assert_eq!(
        only(&d),
        Requirement::AllOf(vec!["write:pets".into(), "read:pets".into()])
    );
}

#[test]
fn an_or_of_ands_is_refused_naming_the_operation() {
    let d = doc(
        json!({"/pets": {"put": {"security": [{"oauth": ["write:pets", "read:pets"]}, {"oauth": ["admin"]}]}}}),
        None,
    );
    let errors = refused(&d);
    assert!(errors[0].starts_with("#/paths/~1pets/put/security:"), "{errors:?}");
    assert!(errors[0].contains("any_of or all_of"), "{errors:?}");
}

#[test]
fn an_operations_security_replaces_the_documents() {
    let d = doc(
        json!({"/pets": {"get": {}, "put": {"security": [{"oauth": ["write:pets"]}]}}}),
        Some(json!([{"oauth": ["read:pets"]}])),
    );
    let i = imported(&d);
    let by_method = |m: &str| i.routes.iter().find(|r| r.method == m).unwrap().requirement.clone();
    assert_eq!(by_method("GET"), Requirement::AnyOf(vec!["read:pets".into()]));
    assert_eq!(by_method("PUT"), Requirement::AnyOf(vec!["write:pets".into()]));
}

#[test]
fn an_empty_security_list_is_public() {
    let d = doc(
        json!({"/inventory": {"get": {"security": []}}}),
        Some(json!([{"oauth": ["admin"]}])),
    );
    assert_eq!(
        only(&d),
        Requirement::None {
            anonymous_alternative: false
        }
    );
}

#[test]
fn an_empty_requirement_object_allows_anonymous_access_and_says_so() {
    let d = doc(
        json!({"/login": {"get": {"security": [{}, {"oauth": ["read:pets"]}]}}}),
        None,
    );
    let i = imported(&d);
    assert_eq!(
        i.routes[0].requirement,
        Requirement::None {
            anonymous_alternative: true
        }
    );
    assert!(
        i.to_toml("t.yaml")
            .contains("# an empty requirement {} allows anonymous access")
    );
    assert_eq!(i.warnings.len(), 1);
}

#[test]
fn the_scheme_with_no_scopes_is_any_authenticated_client() {
    let d = doc(json!({"/me": {"get": {"security": [{"oauth": []}]}}}), None);
    assert_eq!(only(&d), Requirement::Client);
}

#[test]
fn another_schemes_alternative_is_reported_and_left_out() {
    let d = doc(
        json!({"/pets/{id}": {"delete": {"security": [{"api_key": []}, {"oauth": ["write:pets"]}]}}}),
        None,
    );
    let i = imported(&d);
    assert_eq!(i.routes[0].requirement, Requirement::AnyOf(vec!["write:pets".into()]));
    assert!(i.warnings[0].contains("api_key"), "{:?}", i.warnings);
}

#[test]
fn an_alternative_needing_another_scheme_as_well_is_refused() {
    let d = doc(
        json!({"/pets": {"get": {"security": [{"api_key": [], "oauth": ["read:pets"]}]}}}),
        None,
    );
    let errors = refused(&d);
    assert!(errors[0].starts_with("#/paths/~1pets/get/security/0:"), "{errors:?}");
}

#[test]
fn an_operation_only_other_schemes_admit_gets_no_route_and_is_refused_at_the_gateway() {
    let d = doc(
        json!({"/inventory": {"get": {"security": [{"api_key": []}]}}, "/pets": {"get": {"security": [{"oauth": ["read:pets"]}]}}}),
        None,
    );
    let i = imported(&d);
    assert!(
        i.warnings
            .iter()
            .any(|w| w.starts_with("#/paths/~1inventory/get:") && w.contains("no route")),
        "{:?}",
        i.warnings
    );
    let toml = i.to_toml("t.yaml");
    assert!(
        toml.contains("# GET /inventory (#/paths/~1inventory/get) is not imported:"),
        "{toml}"
    );
    let policy = scopegate_core::Policy::compile("t", &toml).unwrap();
    assert_eq!(policy.routes().len(), 1);
    assert_eq!(
        policy
            .decide("GET", "/inventory", scopegate_core::Caller::Anonymous)
            .outcome(),
        "route_not_found"
    );
}

#[test]
fn an_operation_without_a_route_that_would_fall_to_a_parameter_route_is_refused() {
    let d = doc(
        json!({"/store/inventory": {"get": {"security": [{"api_key": []}]}}, "/store/{id}": {"get": {"security": []}}}),
        None,
    );
    let errors = refused(&d);
    assert!(
        errors[0].starts_with("#/paths/~1store~1inventory/get:") && errors[0].contains("would fall to GET /store/{id}"),
        "{errors:?}"
    );
}

#[test]
fn an_operation_without_any_security_is_public_with_a_warning() {
    let d = doc(json!({"/open": {"get": {}}}), None);
    let i = imported(&d);
    assert_eq!(
        i.routes[0].requirement,
        Requirement::None {
            anonymous_alternative: false
        }
    );
    assert!(i.warnings[0].contains("no security requirement"));
}

#[test]
fn undeclared_scopes_are_refused_with_their_pointer() {
    let d = doc(
        json!({"/pets": {"get": {"security": [{"oauth": ["read:cats"]}]}}}),
        None,
    );
    assert_eq!(
        refused(&d),
        ["#/paths/~1pets/get/security/0/oauth/0: scope \"read:cats\" is not declared by the scheme \"oauth\""]
    );
}

#[test]
fn external_refs_are_refused() {
    let d = doc(
        json!({"/pets": {"get": {"responses": {"200": {"$ref": "other.yaml#/x"}}}}}),
        None,
    );
    assert!(refused(&d)[0].starts_with("#/paths/~1pets/get/responses/200/$ref:"));
    // Vendor extensions are not read: what they refer to is no matter.
    let mut d = doc(json!({"/pets": {"get": {"security": []}}}), None);
    d["components"]["x-policy"] = json!({"policies": {"$ref": "policies.yaml"}});
    assert!(import(&d, &ImportOptions::default()).is_ok());
}

#[test]
fn paths_that_collide_after_joining_are_reported_with_both() {
    let d = doc(
        json!({
            "/pets/{id}": {"get": {"security": [{"oauth": ["read:pets"]}]}},
            "/pets/{petId}": {"get": {"security": [{"oauth": ["admin"]}]}},
        }),
        None,
    );
    let errors = refused(&d);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("#/paths/~1pets~1{petId}/get: "), "{errors:?}");
    assert!(
        errors[0].contains("the same route as #/paths/~1pets~1{id}/get")
            && errors[0].contains("a different requirement"),
        "{errors:?}"
    );
}

#[test]
fn paths_that_collide_with_the_same_requirement_are_one_route_and_say_so() {
    // Bitbucket's description has `/commits` and `/commits/`, alike.
    let d = doc(
        json!({
            "/pets/{id}/tags": {"get": {"security": [{"oauth": ["read:pets"]}, {"oauth": ["admin"]}]}},
            "/pets/{petId}/tags/": {"get": {"security": [{"oauth": ["admin"]}, {"oauth": ["read:pets"]}]}},
        }),
        None,
    );
    let i = imported(&d);
    assert_eq!(i.routes.len(), 1, "{i:?}");
    assert_eq!(i.routes[0].path, "/pets/{id}/tags");
    assert!(
        i.warnings[0].contains("#/paths/~1pets~1{petId}~1tags~1/get (GET /pets/{petId}/tags/) is the same route"),
        "{:?}",
        i.warnings
    );
    assert!(
        i.to_toml("t.json")
            .contains("# #/paths/~1pets~1{petId}~1tags~1/get (GET")
    );
    // Literal segments match case-insensitively: /Pets is /pets.
    let d = doc(
        json!({"/pets": {"get": {"security": [{"oauth": ["read:pets"]}]}}, "/Pets": {"get": {"security": [{"oauth": ["admin"]}]}}}),
        None,
    );
    assert!(refused(&d)[0].starts_with("#/paths/~1pets/get: GET /pets is the same route as #/paths/~1Pets/get"));
}

#[test]
fn a_template_inside_a_segment_is_refused() {
    let d = doc(json!({"/files/{name}.json": {"get": {"security": []}}}), None);
    assert!(refused(&d)[0].contains("a route parameter is a whole segment"));
}

#[test]
fn the_first_servers_path_and_the_base_path_are_prefixed() {
    let mut d = doc(json!({"/pets/{id}": {"get": {"security": []}}}), None);
    d["servers"] =
        json!([{"url": "https://{host}/api/{v}", "variables": {"host": {"default": "x"}, "v": {"default": "v3"}}}]);
    let i = import(
        &d,
        &ImportOptions {
            scheme: None,
            base_path: Some("/edge/".into()),
        },
    )
    .unwrap();
    assert_eq!(i.routes[0].path, "/api/v3/edge/pets/{id}");
}

#[test]
fn documents_that_are_not_openapi_or_swagger_2_or_have_several_schemes_are_refused() {
    assert!(refused(&json!({"swagger": "1.2"}))[0].contains("nor a Swagger 2.0 one"));
    let mut d = doc(json!({}), None);
    d["components"]["securitySchemes"]["other"] = json!({"type": "oauth2", "flows": {}});
    assert!(refused(&d)[0].contains("choose one with --scheme"));
    let chosen = import(
        &d,
        &ImportOptions {
            scheme: Some("oauth".into()),
            base_path: None,
        },
    );
    assert!(chosen.is_ok());
}

#[test]
fn the_fragment_compiles_and_each_route_requires_what_the_document_states() {
    let d = doc(
        json!({
            "/pets": {
                "put": {"summary": "Update", "security": [{"oauth": ["write:pets", "read:pets"]}]},
                "post": {"security": [{"oauth": ["write:pets"]}, {"oauth": ["admin"]}]}
            },
            "/pets/{id}": {"get": {}},
            "/me": {"get": {"security": [{"oauth": []}]}},
            "/inventory": {"get": {"security": []}}
        }),
        Some(json!([{"oauth": ["read:pets"]}])),
    );
    let toml = imported(&d).to_toml("pets.yaml");
    let policy = scopegate_core::Policy::compile("imported.toml", &toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    let held = |list: &str| policy.catalog.close(&policy.catalog.parse_list(list).unwrap());
    let allowed = |m: &str, p: &str, list: &str| {
        policy
            .decide(m, p, scopegate_core::Caller::Client(&held(list)))
            .is_allow()
    };
    assert!(allowed("PUT", "/pets", "write:pets read:pets"));
    assert!(!allowed("PUT", "/pets", "write:pets"), "all_of stays AND");
    assert!(allowed("POST", "/pets", "admin") && allowed("POST", "/pets", "write:pets"));
    assert!(!allowed("POST", "/pets", "read:pets"));
    assert!(allowed("GET", "/pets/7", "read:pets") && !allowed("GET", "/pets/7", "admin"));
    assert!(allowed("GET", "/me", ""));
    assert!(
        policy
            .decide("GET", "/inventory", scopegate_core::Caller::Anonymous)
            .is_allow()
    );
    assert!(
        !policy
            .decide("GET", "/me", scopegate_core::Caller::Anonymous)
            .is_allow()
    );
}

#[test]
fn swagger_2_documents_are_read_from_their_security_definitions_and_base_path() {
    let d = json!({
        "swagger": "2.0",
        "info": {"title": "t", "version": "1"},
        "basePath": "/v2",
        "securityDefinitions": {
            "petstore_auth": {"type": "oauth2", "flow": "implicit", "authorizationUrl": "https://x/authorize",
                "scopes": {"write:pets": "modify pets", "read:pets": "read pets"}},
            "api_key": {"type": "apiKey", "name": "api_key", "in": "header"}
        },
        "paths": {
            "/pet/{petId}": {
                "get": {"security": [{"api_key": []}, {"petstore_auth": ["read:pets"]}]},
                "post": {"security": [{"petstore_auth": ["write:pets", "read:pets"]}]}
            }
        }
    });
    let i = imported(&d);
    assert_eq!(i.scheme, "petstore_auth");
    assert_eq!(
        i.scopes,
        [
            ("read:pets".to_owned(), "read pets".to_owned()),
            ("write:pets".to_owned(), "modify pets".to_owned())
        ]
    );
    let get = i.routes.iter().find(|r| r.method == "GET").unwrap();
    assert_eq!(get.path, "/v2/pet/{petId}");
    assert_eq!(get.requirement, Requirement::AnyOf(vec!["read:pets".into()]));
    let post = i.routes.iter().find(|r| r.method == "POST").unwrap();
    assert_eq!(
        post.requirement,
        Requirement::AllOf(vec!["write:pets".into(), "read:pets".into()])
    );
    let undeclared = json!({"swagger": "2.0", "securityDefinitions": {"o": {"type": "oauth2", "flow": "application", "scopes": {}}},
        "paths": {"/x": {"get": {"security": [{"o": ["nope"]}]}}}});
    assert!(refused(&undeclared)[0].starts_with("#/paths/~1x/get/security/0/o/0:"));
    assert!(refused(&json!({"swagger": "2.0", "paths": {}}))[0].starts_with("#/securityDefinitions:"));
}

#[test]
fn a_document_without_operations_says_so_in_the_fragment_and_the_warnings() {
    // Azure's network description keeps its operations in other files.
    let i = imported(&doc(json!({}), None));
    assert!(i.routes.is_empty());
    assert_eq!(
        i.warnings,
        [
            "#/paths: the document has no operations; the fragment declares scopes but no routes, so every request is refused"
        ]
    );
    let toml = i.to_toml("empty.json");
    assert!(toml.contains("\n# #/paths: the document has no operations"), "{toml}");
    assert!(i.summary().starts_with("3 scopes, 0 routes"), "{}", i.summary());
}

#[test]
fn the_summary_counts_routes_by_kind_and_operations_left_without_one() {
    let d = doc(
        json!({
            "/a": {"get": {"security": []}, "put": {"security": [{"oauth": []}]}},
            "/b": {"get": {"security": [{"oauth": ["admin"]}]}, "put": {"security": [{"api_key": []}]}},
        }),
        None,
    );
    assert_eq!(
        imported(&d).summary(),
        "3 scopes, 3 routes (1 public, 1 any client, 1 scoped); 1 operation left without a route; 2 warnings"
    );
}

#[test]
fn a_requirement_naming_an_undeclared_scheme_is_refused_with_its_pointer() {
    let d = doc(json!({"/pets": {"get": {"security": [{"oath": ["read:pets"]}]}}}), None);
    assert_eq!(
        refused(&d),
        [
            "#/paths/~1pets/get/security/0/oath: security scheme \"oath\" is not declared (declared: [\"api_key\", \"oauth\"])"
        ]
    );
}

#[test]
fn a_problem_in_the_documents_security_is_told_once_where_it_is() {
    let d = doc(
        json!({"/a": {"get": {}}, "/b": {"get": {}}, "/c": {"get": {"security": []}}}),
        Some(json!([{"oauth": ["read:cats"]}])),
    );
    assert_eq!(
        refused(&d),
        ["#/security/0/oauth/0: scope \"read:cats\" is not declared by the scheme \"oauth\""]
    );
}

#[test]
fn an_operation_left_without_a_route_warns_that_a_catch_all_would_cover_it() {
    let d = doc(json!({"/keys": {"get": {"security": [{"api_key": []}]}}}), None);
    let i = imported(&d);
    assert!(
        i.warnings.iter().any(|w| w.starts_with("#/paths/~1keys/get: ")
            && w.contains("unless a catch-all route you add (such as \"* /*\")")),
        "{:?}",
        i.warnings
    );
    assert!(i.to_toml("t.json").contains("unless a catch-all route you add"));
}

#[test]
fn a_note_shared_by_many_operations_is_told_once_with_a_few_of_them() {
    let ops: serde_json::Map<String, Value> = (1..=5)
        .map(|i| {
            let op = json!({"get": {"security": [{"oauth": ["admin"]}, {"api_key": []}]}});
            (format!("/r{i}"), op)
        })
        .collect();
    let mut paths = Value::Object(ops);
    paths["/one"] = json!({"get": {"security": [{"api_key": []}, {"oauth": ["admin"]}]}, "put": {}});
    let i = imported(&doc(paths, None));
    let told = i.told();
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!(
        told[0],
        "the alternative [\"api_key\"] is not the oauth2 scheme \"oauth\"; scopegate does not check it, so it is left out \
         (callers it would let in are refused): at #/paths/~1one/get, #/paths/~1r1/get, #/paths/~1r2/get and 3 more operations \
         (each is marked in the fragment)"
    );
    assert_eq!(
        told[1],
        "#/paths/~1one/put: no security requirement: anyone may call it (require = \"none\")"
    );
    assert_eq!(i.warnings.len(), 7, "the count is of every note");
}

#[test]
fn a_path_or_operation_with_its_own_servers_takes_their_path() {
    let mut d = doc(
        json!({
            "/pets": {"get": {"security": []}, "put": {"security": [], "servers": [{"url": "https://x/v4"}]}},
            "/stores": {"servers": [{"url": "/shop"}], "get": {"security": []}, "put": {"security": [], "servers": []}},
        }),
        None,
    );
    d["servers"] = json!([{"url": "https://x/api/v3"}]);
    let i = imported(&d);
    let paths: Vec<String> = i.routes.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        paths,
        [
            "GET /api/v3/pets",
            "PUT /v4/pets",
            "GET /shop/stores",
            "PUT /shop/stores"
        ],
        "an empty list is no servers of its own"
    );
}

#[test]
fn a_path_item_reference_inside_the_document_is_followed() {
    let mut d = doc(
        json!({
            "/pets/{id}": {"$ref": "#/components/pathItems/pet"},
            "/cats/{id}": {"$ref": "#/components/pathItems/Pet%20Item"},
            "/dogs": {"$ref": "#/components/pathItems/none"},
            "/birds": {"$ref": "#/components/pathItems/alias"},
        }),
        None,
    );
    d["components"]["pathItems"] = json!({
        "pet": {"get": {"security": [{"oauth": ["read:pets"]}]}},
        "Pet Item": {"delete": {"security": [{"oauth": ["admin"]}]}},
        "alias": {"$ref": "#/components/pathItems/pet"},
    });
    assert_eq!(
        refused(&d),
        [
            "#/paths/~1birds/$ref: \"#/components/pathItems/alias\" names another $ref; a path item's reference is followed once",
            "#/paths/~1dogs/$ref: \"#/components/pathItems/none\" names no path item in the document",
        ]
    );
    let paths = d["paths"].as_object_mut().unwrap();
    paths.remove("/dogs");
    paths.remove("/birds");
    let i = imported(&d);
    let routes: Vec<(String, Requirement)> = i
        .routes
        .iter()
        .map(|r| (format!("{} {}", r.method, r.path), r.requirement.clone()))
        .collect();
    assert_eq!(
        routes,
        [
            ("DELETE /cats/{id}".to_owned(), Requirement::AnyOf(vec!["admin".into()])),
            (
                "GET /pets/{id}".to_owned(),
                Requirement::AnyOf(vec!["read:pets".into()])
            ),
        ]
    );
}

#[test]
fn a_scope_outside_the_rfc_6749_grammar_is_refused_with_its_pointer() {
    let mut d = doc(json!({"/pets": {"get": {"security": []}}}), None);
    d["components"]["securitySchemes"]["oauth"]["flows"]["clientCredentials"]["scopes"] =
        json!({"lesen:übung": "u", "a,b": "c", "read:pets": "r"});
    assert_eq!(
        refused(&d),
        [
            "#/components/securitySchemes/oauth/flows/clientCredentials/scopes/a,b: scope \"a,b\" cannot be a scopegate scope: \
             a comma would split it in a scope list",
            "#/components/securitySchemes/oauth/flows/clientCredentials/scopes/lesen:übung: scope \"lesen:übung\" cannot be a \
             scopegate scope: character 'ü' at position 6 is outside the RFC 6749 scope-token grammar (printable ASCII except \
             space, '\"' and '\\')",
        ]
    );
}

#[test]
fn a_literal_asterisk_in_a_path_is_refused_not_read_as_a_wildcard() {
    let d = doc(json!({"/files/*": {"get": {"security": []}}}), None);
    assert_eq!(
        refused(&d),
        [
            "#/paths/~1files~1*: segment \"*\": '*' is a wildcard in a scopegate route, where the document means the character"
        ]
    );
}

#[test]
fn what_the_policy_refuses_is_told_at_the_operation_so_the_fragment_always_checks() {
    let d = doc(
        json!({
            "/a b": {"get": {"security": []}},
            "/q?x=1": {"get": {"security": []}},
            "/{id}/{id}": {"get": {"security": []}},
            "/ok": {"get": {"security": []}},
        }),
        None,
    );
    assert_eq!(
        refused(&d),
        [
            "#/paths/~1a b/get: the policy refuses it: route \"GET /a b\": bad `match`: expected \"METHOD PATH\" such as \"GET /account/*\"",
            "#/paths/~1q?x=1/get: the policy refuses it: route \"GET /q?x=1\": bad `match`: segment \"q?x=1\" is not a canonical path \
             segment: '?' (the query starts there) at byte 2: servers disagree on what it means in a path",
            "#/paths/~1{id}~1{id}/get: the policy refuses it: route \"GET /{id}/{id}\": bad `match`: parameter `{id}` appears twice",
        ]
    );
}

#[test]
fn an_alternative_needing_more_than_another_adds_no_one_and_is_dropped() {
    // read:pets OR (read:pets AND admin) is read:pets.
    let d = doc(
        json!({"/pets": {"get": {"security": [{"oauth": ["read:pets", "admin"]}, {"oauth": ["read:pets"]}, {"oauth": ["read:pets"]}]}}}),
        None,
    );
    assert_eq!(only(&d), Requirement::AnyOf(vec!["read:pets".into()]));
}

/// Random documents against the Security Requirement Object read directly:
/// whatever the importer accepts admits exactly the callers the document
/// does, and it refuses only what the route model cannot say.
mod against_the_document {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;
    use scopegate_core::openapi::{ImportOptions, import};
    use scopegate_core::{Caller, Policy};
    use serde_json::{Value, json};

    const SCOPES: [&str; 3] = ["a", "b", "c"];
    const SEGMENTS: [&str; 4] = ["pets", "{id}", "tags", "{tag}"];

    /// One alternative: scheme name to scopes.
    type Alternative = BTreeMap<&'static str, Vec<&'static str>>;

    fn alternative() -> impl Strategy<Value = Alternative> {
        let scopes = proptest::sample::subsequence(SCOPES.to_vec(), 0..=2);
        prop_oneof![
            Just(Alternative::new()),
            scopes.clone().prop_map(|s| Alternative::from([("oauth", s)])),
            scopes.clone().prop_map(|s| Alternative::from([("oauth", s)])),
            Just(Alternative::from([("api_key", vec![])])),
            scopes.prop_map(|s| Alternative::from([("oauth", s), ("api_key", vec![])])),
        ]
    }

    fn security() -> impl Strategy<Value = Option<Vec<Alternative>>> {
        proptest::option::of(proptest::collection::vec(alternative(), 0..=3))
    }

    fn path() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(SEGMENTS.to_vec()), 1..=3)
            .prop_map(|s| format!("/{}", s.join("/")))
            .prop_filter("a parameter once per path", |p| {
                p.matches("{id}").count() < 2 && p.matches("{tag}").count() < 2
            })
    }

    type Operations = BTreeMap<(String, &'static str), Option<Vec<Alternative>>>;

    fn operations() -> impl Strategy<Value = Operations> {
        proptest::collection::btree_map(
            (path(), proptest::sample::select(vec!["get", "put"])),
            security(),
            1..=5,
        )
    }

    fn document(ops: &Operations, global: &Option<Vec<Alternative>>) -> Value {
        let mut paths = serde_json::Map::new();
        for ((path, method), security) in ops {
            let item = paths.entry(path.clone()).or_insert_with(|| json!({}));
            item[*method] = match security {
                Some(s) => json!({"security": s}),
                None => json!({}),
            };
        }
        let mut d = json!({
            "openapi": "3.1.0",
            "components": {"securitySchemes": {
                "oauth": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://x/t",
                    "scopes": {"a": "", "b": "", "c": ""}}}},
                "api_key": {"type": "apiKey", "name": "k", "in": "header"}
            }},
            "paths": paths,
        });
        if let Some(g) = global {
            d["security"] = json!(g);
        }
        d
    }

    /// Whether the document lets in a caller scopegate can recognize: one
    /// with no credentials (`None`) or an oauth2 token with these scopes.
    fn admits(security: Option<&Vec<Alternative>>, caller: Option<&BTreeSet<&str>>) -> bool {
        let Some(alternatives) = security else { return true };
        alternatives.is_empty()
            || alternatives.iter().any(|alt| {
                alt.iter().all(|(scheme, scopes)| {
                    *scheme == "oauth" && caller.is_some_and(|held| scopes.iter().all(|s| held.contains(s)))
                })
            })
    }

    /// Why the route model cannot say an operation's security, if it cannot.
    fn inexpressible(security: Option<&Vec<Alternative>>) -> bool {
        let Some(alternatives) = security else { return false };
        if alternatives.is_empty() || alternatives.iter().any(BTreeMap::is_empty) {
            return false;
        }
        let set = |a: &Alternative| -> BTreeSet<&str> { a["oauth"].iter().copied().collect() };
        let sets: Vec<BTreeSet<&str>> = alternatives
            .iter()
            .filter(|a| a.len() == 1 && a.contains_key("oauth"))
            .map(set)
            .collect();
        // oauth2 AND an API key, unless an oauth2-only alternative asking
        // less admits everyone it does.
        if alternatives
            .iter()
            .filter(|a| a.len() > 1)
            .any(|a| !sets.iter().any(|t| t.is_subset(&set(a))))
        {
            return true;
        }
        if sets.iter().any(BTreeSet::is_empty) {
            return false;
        }
        let minimal: BTreeSet<&BTreeSet<&str>> = sets
            .iter()
            .filter(|s| !sets.iter().any(|t| t.is_subset(s) && t != *s))
            .collect();
        minimal.len() > 1 && minimal.iter().any(|s| s.len() > 1)
    }

    fn shape(path: &str) -> String {
        path.split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    }

    fn sample(path: &str) -> String {
        path.split('/')
            .map(|s| if s.starts_with('{') { "x1" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    }

    fn matches(pattern: &str, request: &str) -> bool {
        let (p, r): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), request.split('/').collect());
        p.len() == r.len() && p.iter().zip(&r).all(|(p, r)| p.starts_with('{') || p == r)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn the_fragment_admits_exactly_whom_the_document_admits(ops in operations(), global in security()) {
            let d = document(&ops, &global);
            let stated = |security: &Option<Vec<Alternative>>| security.as_ref().or(global.as_ref()).cloned();
            let callers: Vec<Option<BTreeSet<&str>>> = std::iter::once(None)
                .chain((0..8u8).map(|bits| Some(SCOPES.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, s)| *s).collect())))
                .collect();
            match import(&d, &ImportOptions::default()) {
                Ok(imported) => {
                    let toml = imported.to_toml("random.json");
                    let policy = Policy::compile("random.toml", &toml).expect("the fragment checks");
                    for ((path, method), security) in &ops {
                        let security = stated(security);
                        let method = method.to_ascii_uppercase();
                        for caller in &callers {
                            let decision = match caller {
                                None => policy.decide(&method, &sample(path), Caller::Anonymous),
                                Some(held) => {
                                    let list = held.iter().copied().collect::<Vec<_>>().join(" ");
                                    let held = policy.catalog.close(&policy.catalog.parse_list(&list).unwrap());
                                    policy.decide(&method, &sample(path), Caller::Client(&held))
                                }
                            };
                            prop_assert_eq!(
                                decision.is_allow(),
                                admits(security.as_ref(), caller.as_ref()),
                                "{} {} for {:?}\n{}", method, path, caller, toml
                            );
                        }
                    }
                }
                Err(errors) => {
                    prop_assert!(errors.iter().all(|e| e.pointer.starts_with("#/")), "{:?}", errors);
                    // Refused only for what a route cannot say: security it
                    // cannot express, two operations on one route asking
                    // different things, or an operation only other schemes
                    // admit whose requests another route would take.
                    let cannot = ops.values().any(|s| inexpressible(stated(s).as_ref()));
                    let mut by_route: BTreeMap<(String, &str), Vec<&Option<Vec<Alternative>>>> = BTreeMap::new();
                    for ((path, method), security) in &ops {
                        by_route.entry((shape(path), method)).or_default().push(security);
                    }
                    let collide = by_route.values().any(|same| same.len() > 1);
                    let falls = ops.iter().any(|((path, method), security)| {
                        let security = stated(security);
                        let only_others = security.as_ref().is_some_and(|alts| {
                            !alts.is_empty() && alts.iter().all(|a| !a.is_empty() && !a.contains_key("oauth"))
                        });
                        only_others
                            && ops.keys().any(|(other, m)| m == method && other != path && matches(other, &sample(path)))
                    });
                    prop_assert!(cannot || collide || falls, "refused without cause: {:?}\n{}", errors, d);
                }
            }
        }
    }
}

#[test]
fn an_alternative_that_adds_no_one_does_not_refuse_the_document() {
    // {} lets anyone in, whatever stands beside it.
    let d = doc(
        json!({"/pets": {"get": {"security": [{"oauth": ["admin"], "api_key": []}, {}]}}}),
        None,
    );
    assert_eq!(
        only(&d),
        Requirement::None {
            anonymous_alternative: true
        }
    );
    // admin AND an API key admits a part of whom admin alone admits.
    let d = doc(
        json!({"/pets": {"get": {"security": [{"oauth": ["admin", "read:pets"], "api_key": []}, {"oauth": ["admin"]}]}}}),
        None,
    );
    assert_eq!(only(&d), Requirement::AnyOf(vec!["admin".into()]));
}

#[test]
fn a_newline_in_a_path_is_refused_not_printed_into_a_comment_that_injects_a_route() {
    let injected = "/x\n[[route]]\nmatch = \"* /*\"\nrequire = \"none\"\n#";
    let d = doc(json!({ injected: {"get": {"security": [{"oauth": ["admin"]}]}} }), None);
    let errors = refused(&d);
    assert_eq!(
        errors,
        vec![
            "#/paths/~1x%0A[[route]]%0Amatch = \"* ~1*\"%0Arequire = \"none\"%0A#: the path holds a control character (U+000A); no request path can"
        ]
    );
}

#[test]
fn what_the_document_says_reaches_the_fragment_only_inside_toml_strings_or_escaped_comments() {
    let hostile = "a\"b'c\\d\n[[route]]\nmatch = \"* /*\"\nrequire = \"none\"\u{7f}\u{2028}#";
    let mut d = doc(
        json!({"/pets": {"get": {"summary": hostile, "security": [{"oauth": ["admin"]}]}}}),
        None,
    );
    d["components"]["securitySchemes"]["oauth"]["flows"]["clientCredentials"]["scopes"]["admin"] = json!(hostile);
    let i = imported(&d);
    let toml = i.to_toml(hostile);
    let parsed: toml::Table = toml::from_str(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    assert_eq!(parsed["route"].as_array().map(Vec::len), Some(1), "{toml}");
    assert_eq!(parsed["route"][0]["description"].as_str(), Some(hostile));
    assert_eq!(parsed["scope"][0]["description"].as_str(), Some(hostile));
    assert!(toml.lines().next().unwrap().contains(r#"a"b'c\d\n[[route]]"#), "{toml}");
}

/// The fragment parsed back as a policy file reads it: routes by kind.
fn printed_routes(toml: &str) -> (usize, usize, usize) {
    let parsed: toml::Table = toml::from_str(toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    let routes = parsed
        .get("route")
        .and_then(toml::Value::as_array)
        .cloned()
        .unwrap_or_default();
    let kind = |f: &dyn Fn(&toml::Value) -> bool| routes.iter().filter(|r| f(r)).count();
    (
        kind(&|r| r.get("require").and_then(toml::Value::as_str) == Some("none")),
        kind(&|r| r.get("require").and_then(toml::Value::as_str) == Some("client")),
        kind(&|r| r.get("any_of").is_some() || r.get("all_of").is_some()),
    )
}

mod printed_as_counted {
    use proptest::prelude::*;
    use scopegate_core::openapi::{ImportOptions, import};
    use serde_json::json;

    /// Text with everything that could end a TOML string or comment.
    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            proptest::sample::select(vec![
                "a",
                "/",
                "{id}",
                "\n",
                "\r",
                "\"",
                "'",
                "\\",
                "#",
                "[[route]]",
                "=",
                "\u{7f}",
                "\u{2028}",
                "\t",
                " ",
                "require = \"none\"",
            ]),
            0..8,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn the_printed_fragment_holds_exactly_the_routes_its_summary_counts(
            paths in proptest::collection::vec(text(), 1..4),
            summary in text(),
            server in text(),
            source in text(),
        ) {
            let mut items = serde_json::Map::new();
            for (i, path) in paths.iter().enumerate() {
                let security = if i % 2 == 0 { json!([{"oauth": ["admin"]}]) } else { json!([]) };
                items.insert(format!("/{path}"), json!({"get": {"summary": summary, "security": security}}));
            }
            let mut d = super::doc(serde_json::Value::Object(items), None);
            d["servers"] = json!([{"url": format!("https://api.example.com/{server}")}]);
            if let Ok(imported) = import(&d, &ImportOptions::default()) {
                let toml = imported.to_toml(&source);
                let (public, client, scoped) = super::printed_routes(&toml);
                let counted = format!("({public} public, {client} any client, {scoped} scoped)");
                prop_assert!(imported.summary().contains(&counted), "{} vs {}\n{}", imported.summary(), counted, toml);
                prop_assert!(toml.lines().all(|l| !l.contains('\r')), "{}", toml);
            }
        }
    }
}

#[test]
fn too_many_alternatives_scopes_per_alternative_or_declared_scopes_are_refused_with_their_pointer() {
    use scopegate_core::openapi::{MAX_ALTERNATIVES, MAX_SCOPES, MAX_SCOPES_PER_ALTERNATIVE};
    let many: Vec<Value> = (0..=MAX_ALTERNATIVES).map(|_| json!({"oauth": ["admin"]})).collect();
    let d = doc(json!({"/pets": {"get": {"security": many}}}), None);
    assert_eq!(
        refused(&d),
        vec![format!(
            "#/paths/~1pets/get/security: {} alternatives; a route can say at most {MAX_ALTERNATIVES} (list the scopes once, in one alternative each)",
            MAX_ALTERNATIVES + 1
        )]
    );
    let wide: Vec<&str> = std::iter::repeat_n("admin", MAX_SCOPES_PER_ALTERNATIVE + 1).collect();
    let d = doc(
        json!({"/pets": {"get": {"security": [{"oauth": ["admin"]}, {"oauth": wide}]}}}),
        None,
    );
    assert_eq!(
        refused(&d),
        vec![format!(
            "#/paths/~1pets/get/security/1: {} scopes in one alternative; at most {MAX_SCOPES_PER_ALTERNATIVE}",
            MAX_SCOPES_PER_ALTERNATIVE + 1
        )]
    );
    let mut d = doc(json!({}), None);
    let scopes: serde_json::Map<String, Value> = (0..=MAX_SCOPES).map(|i| (format!("s{i}"), json!(""))).collect();
    d["components"]["securitySchemes"]["oauth"]["flows"]["clientCredentials"]["scopes"] = Value::Object(scopes);
    assert_eq!(
        refused(&d),
        vec![format!(
            "#/components/securitySchemes/oauth/flows/clientCredentials/scopes: {} scopes declared; scopegate imports at most {MAX_SCOPES} from one scheme",
            MAX_SCOPES + 1
        )]
    );
}
