//! Every load-time error (docs/policy.md): each names the file and the
//! line of the offending key, and says what would be valid.

use scopegate_core::Policy;

/// Compiles `source` and returns its one-line errors as `test.toml:LINE: message`.
fn errors(source: &str) -> Vec<String> {
    match Policy::compile("test.toml", source) {
        Ok(_) => panic!("policy should be refused:\n{source}"),
        Err(e) => e.to_string().lines().map(str::to_owned).collect(),
    }
}

/// Asserts exactly one error, on `line`, containing every fragment.
fn assert_error(source: &str, line: usize, fragments: &[&str]) {
    let errs = errors(source);
    assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
    let prefix = format!("test.toml:{line}: ");
    assert!(errs[0].starts_with(&prefix), "expected {prefix}..., got {}", errs[0]);
    for f in fragments {
        assert!(errs[0].contains(f), "{:?} should contain {f:?}", errs[0]);
    }
}

const SCOPES: &str = "[[scope]]\nname = \"products\"\nlevels = [\"read\", \"write\"]\n\n[[scope]]\nname = \"orders\"\n";

#[test]
fn unknown_key_is_refused() {
    assert_error(
        "issuer = \"http://x\"\nlisten_on = \"1\"\n",
        2,
        &["unknown field `listen_on`", "expected one of"],
    );
    assert_error(
        &format!("{SCOPES}[[route]]\nmatch = \"GET /\"\nrequire = \"client\"\nscopes = [\"a\"]\n"),
        10,
        &["unknown field `scopes`"],
    );
}

#[test]
fn wrong_type_is_refused() {
    assert_error("[gateway]\nbasic_auth = \"yes\"\n", 2, &["invalid type"]);
}

#[test]
fn undeclared_scope_in_a_route_is_refused() {
    let src = format!("{SCOPES}[[route]]\nmatch = \"GET /x\"\nany_of = [\"products\"]\n");
    assert_error(
        &src,
        9,
        &[
            "route \"GET /x\"",
            "`any_of`",
            "undeclared scope \"products\"",
            "did you mean products:read or products:write?",
        ],
    );
    let src = format!("{SCOPES}[[route]]\nmatch = \"GET /x\"\nall_of = [\"orders\", \"nope\"]\n");
    assert_error(&src, 9, &["`all_of`", "undeclared scope \"nope\""]);
}

#[test]
fn undeclared_scope_in_implies_is_refused() {
    assert_error(
        "[[scope]]\nname = \"orders\"\nimplies = [\"read_orders\"]\n",
        3,
        &["scope \"orders\"", "`implies`", "undeclared scope \"read_orders\""],
    );
}

#[test]
fn implies_cycle_is_refused() {
    let src = "[[scope]]\nname = \"a\"\nimplies = [\"b\"]\n\n[[scope]]\nname = \"b\"\nimplies = [\"c\"]\n\n[[scope]]\nname = \"c\"\nimplies = [\"a\"]\n";
    assert_error(src, 2, &["cycle", "a -> b -> c -> a"]);
    assert_error(
        "[[scope]]\nname = \"a\"\nimplies = [\"a\"]\n",
        3,
        &["names the scope itself"],
    );
}

#[test]
fn duplicate_levels_are_refused() {
    assert_error(
        "[[scope]]\nname = \"p\"\nlevels = [\"read\", \"write\", \"read\"]\n",
        3,
        &["level \"read\" is listed twice"],
    );
    assert_error(
        "[[scope]]\nname = \"p\"\nlevels = []\n",
        3,
        &["`levels` may not be empty"],
    );
}

#[test]
fn duplicate_scope_is_refused() {
    let src = "[[scope]]\nname = \"p\"\nlevels = [\"read\"]\n\n[[scope]]\nname = \"p:read\"\n";
    assert_error(src, 6, &["\"p:read\" is declared twice (first at line 2)"]);
}

#[test]
fn overlapping_routes_with_equal_specificity_are_refused() {
    let src = format!(
        "{SCOPES}[[route]]\nmatch = \"POST /reviews/*/response\"\nrequire = \"client\"\n\n[[route]]\nmatch = \"POST /reviews/{{id}}/response/\"\nrequire = \"client\"\n"
    );
    assert_error(
        &src,
        12,
        &[
            "route \"POST /reviews/{id}/response/\"",
            "route \"POST /reviews/*/response\" (line 8)",
            "same specificity",
        ],
    );
    let src = format!(
        "{SCOPES}[[route]]\nmatch = \"* /a\"\nrequire = \"client\"\n\n[[route]]\nmatch = \"* /A\"\nrequire = \"none\"\n"
    );
    assert_error(&src, 12, &["(line 8)"]);
}

#[test]
fn bad_match_string_is_refused() {
    for (m, fragment) in [
        ("GET", "expected \\\"METHOD PATH\\\""),
        ("get /x", "must be `*` or an upper-case HTTP method"),
        ("GET x", "must start with '/'"),
        ("GET /a//b", "empty segment"),
        ("GET /a*", "mixes a wildcard"),
        ("GET /{1a}", "parameter name"),
        ("GET /{id}/{id}", "appears twice"),
        ("GET /a%2Fb", "not a canonical path segment"),
        ("GET /a/../b", "not a canonical path segment"),
    ] {
        let src = format!("\n[[route]]\nmatch = \"{m}\"\nrequire = \"client\"\n");
        let errs = errors(&src);
        assert_eq!(errs.len(), 1, "{m}: {errs:?}");
        assert!(
            errs[0].starts_with("test.toml:3: ") && errs[0].contains("bad `match`"),
            "{m}: {}",
            errs[0]
        );
        assert!(
            errs[0].contains(fragment.trim_matches('\\').replace("\\\"", "\"").as_str()) || errs[0].contains(fragment),
            "{m}: {} lacks {fragment}",
            errs[0]
        );
    }
}

#[test]
fn bad_require_is_refused() {
    assert_error(
        "[[route]]\nmatch = \"GET /\"\nrequire = \"admin\"\n",
        3,
        &["`require` is \"admin\"", "\"none\"", "\"client\""],
    );
    assert_error("[[route]]\nmatch = \"GET /\"\n", 2, &["says nothing about access"]);
    assert_error(
        &format!("{SCOPES}[[route]]\nmatch = \"GET /\"\nrequire = \"client\"\nany_of = [\"orders\"]\n"),
        8,
        &["exactly one of"],
    );
    assert_error(
        "[[route]]\nmatch = \"GET /\"\nany_of = []\n",
        3,
        &["`any_of` may not be empty"],
    );
}

#[test]
fn bad_duration_is_refused() {
    assert_error(
        "[tokens]\naccess_ttl = \"1 hour\"\n",
        2,
        &["`tokens.access_ttl`", "\"1 hour\"", "\"90s\""],
    );
    assert_error(
        "[[scope]]\nname = \"decrypt\"\nmax_lifetime = \"90days\"\n",
        3,
        &["`max_lifetime`", "not a duration"],
    );
}

#[test]
fn unknown_grant_is_refused() {
    assert_error(
        "[[scope]]\nname = \"x\"\ngrants = [\"password\"]\n",
        3,
        &["unknown grant \"password\"", "client_credentials", "authorization_code"],
    );
    assert_error(
        "[[scope]]\nname = \"x\"\ngrants = []\n",
        3,
        &["`grants` may not be empty"],
    );
}

#[test]
fn unknown_environment_is_refused() {
    let src = "environments = [\"sandbox\", \"production\"]\n\n[[scope]]\nname = \"x\"\nenvironments = [\"staging\"]\n";
    assert_error(src, 5, &["\"staging\"", "not declared", "sandbox, production"]);
    assert_error(
        "environments = [\"sandbox\"]\n[gateway]\nenvironment = \"production\"\n",
        3,
        &["`gateway.environment`", "not declared"],
    );
    assert_error("environments = [\"a\", \"a\"]\n", 1, &["listed twice"]);
}

#[test]
fn scope_outside_the_rfc6749_grammar_is_refused() {
    assert_error(
        "[[scope]]\nname = \"read orders\"\n",
        2,
        &["not a valid scope", "RFC 6749"],
    );
    assert_error("[[scope]]\nname = \"say\\\"hi\"\n", 2, &["RFC 6749"]);
    assert_error(
        "[[scope]]\nname = \"a,b\"\n",
        2,
        &["may not contain ','", "X-OAuth-Scope"],
    );
    assert_error(
        "[[scope]]\nname = \"p\"\nlevels = [\"re ad\"]\n",
        3,
        &["does not make a valid scope"],
    );
}

#[test]
fn bad_settings_are_refused() {
    assert_error("listen = \"localhost\"\n", 1, &["`listen`", "127.0.0.1:8080"]);
    assert_error("issuer = \"ftp://x\"\n", 1, &["`issuer`", "RFC 8414"]);
    assert_error("database = \"mysql://x\"\n", 1, &["`database`", "sqlite://"]);
    assert_error("log_format = \"xml\"\n", 1, &["`log_format`", "\"text\" or \"json\""]);
    assert_error(
        "database_password_file = \"pw\"\n",
        1,
        &["`database_password_file`", "only a postgres://"],
    );
    assert_error(
        "[tokens]\nformat = \"paseto\"\n",
        2,
        &["`tokens.format`", "\"opaque\" or \"jwt\""],
    );
    assert_error(
        "[tokens]\nformat = \"jwt\"\nalgorithm = \"HS256\"\n",
        3,
        &["`tokens.algorithm`", "\"HS256\"", "\"ES256\", \"RS256\" or \"EdDSA\""],
    );
    assert_error(
        "[tokens]\nscope_claim = \"full\"\n",
        2,
        &["`tokens.scope_claim`", "\"full\"", "\"normalized\" or \"expanded\""],
    );
    assert_error(
        "[gateway]\nupstream = \"127.0.0.1:9000\"\n",
        2,
        &["`gateway.upstream`", "\"echo\""],
    );
    assert_error(
        "[gateway]\nresponse_timeout = \"soon\"\n",
        2,
        &["`gateway.response_timeout`", "500ms"],
    );
    assert_error(
        "[gateway]\nmax_header_bytes = 10\n",
        2,
        &["`gateway.max_header_bytes`", "at least 1024"],
    );
    assert_error("[gateway]\nmax_body_bytes = -1\n", 2, &["`gateway.max_body_bytes`"]);
    assert_error("[gateway]\ncache_ttl = \"0s\"\n", 2, &["`gateway.cache_ttl`"]);
}

#[test]
fn limits_are_rates_or_off_and_trusted_proxies_are_networks() {
    assert_error(
        "[limits]\ntoken_per_client = \"fast\"\n",
        2,
        &["`limits.token_per_client`", "COUNT/DURATION"],
    );
    assert_error(
        "[limits]\nsign_in_failures = \"0/15m\"\n",
        2,
        &["`limits.sign_in_failures`", "positive whole number"],
    );
    assert_error(
        "[limits]\nadmin_api_per_token = \"10/soon\"\n",
        2,
        &["`limits.admin_api_per_token`", "not a duration"],
    );
    assert_error(
        "[limits]\nlogin_attempts = \"5/1m\"\n",
        2,
        &["unknown field `login_attempts`"],
    );
    assert_error(
        "trusted_proxies = [\"10.0.0.0/8\", \"proxy.internal\"]\n",
        1,
        &["`trusted_proxies`", "\"proxy.internal\""],
    );
    let policy = scopegate_core::Policy::compile(
        "t.toml",
        "trusted_proxies = [\"10.1.2.3/8\", \"::1\"]\n[limits]\ngateway_failures_per_address = \"off\"\nsign_in_failures = \"3/1h\"\n",
    )
    .unwrap();
    let settings = &policy.settings;
    assert_eq!(
        settings.trusted_proxies,
        vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]
    );
    assert_eq!(settings.limits.gateway_failures_per_address, None);
    assert_eq!(settings.limits.sign_in_failures.unwrap().to_string(), "3/1h");
    // What is not said keeps its default: limits are on unless turned off.
    assert_eq!(settings.limits.token_per_client.unwrap().to_string(), "600/1m");
}

#[test]
fn implies_with_levels_is_refused() {
    let src = "[[scope]]\nname = \"a\"\n\n[[scope]]\nname = \"p\"\nlevels = [\"read\"]\nimplies = [\"a\"]\n";
    assert_error(src, 7, &["`implies` cannot be combined with `levels`"]);
}

#[test]
fn toml_syntax_error_names_its_line() {
    assert_error("issuer = \"http://x\"\n\n[[route]\nmatch = 1\n", 3, &[]);
}

#[test]
fn every_problem_is_reported_in_line_order() {
    let src = "[[scope]]\nname = \"a b\"\n\n[[scope]]\nname = \"x\"\ngrants = [\"password\"]\n\n[[route]]\nmatch = \"GET /\"\nrequire = \"maybe\"\n";
    let errs = errors(src);
    let lines: Vec<&str> = errs.iter().map(|e| e.split(':').nth(1).unwrap_or("")).collect();
    assert_eq!(lines, ["2", "6", "10"], "{errs:#?}");
}

#[test]
fn shipped_examples_pass_check() {
    for name in ["app-analytics", "marketplace", "storefront"] {
        crate::example(name);
    }
}

#[test]
fn tokens_algorithm_defaults_to_es256_and_takes_rs256_and_eddsa() {
    use scopegate_core::SigningAlgorithm;
    let default = Policy::compile("test.toml", "[tokens]\nformat = \"jwt\"\n").unwrap();
    assert_eq!(default.settings.tokens.algorithm, SigningAlgorithm::ES256);
    for (name, alg) in [("RS256", SigningAlgorithm::RS256), ("EdDSA", SigningAlgorithm::EdDSA)] {
        let p = Policy::compile(
            "test.toml",
            &format!("[tokens]\nformat = \"jwt\"\nalgorithm = \"{name}\"\n"),
        )
        .unwrap();
        assert_eq!(p.settings.tokens.algorithm, alg);
    }
}

#[test]
fn gateway_idle_timeout_defaults_to_30s_and_is_a_duration() {
    let default = Policy::compile("test.toml", "").unwrap();
    assert_eq!(
        default.settings.gateway.idle_timeout,
        std::time::Duration::from_secs(30)
    );
    let set = Policy::compile("test.toml", "[gateway]\nidle_timeout = \"1500ms\"\n").unwrap();
    assert_eq!(
        set.settings.gateway.idle_timeout,
        std::time::Duration::from_millis(1500)
    );
    assert_error(
        "[gateway]\nidle_timeout = \"forever\"\n",
        2,
        &["`gateway.idle_timeout`"],
    );
}

const IDP: &str =
    "[[identity_provider]]\nname = \"corp\"\nissuer = \"https://login.example.com\"\nclient_id = \"scopegate\"\n";

#[test]
fn identity_provider_tables_compile_with_their_defaults() {
    let src = format!(
        "{IDP}login_claim = \"preferred_username\"\npermissions_max_age = \"12h\"\n\n[[identity_provider.permissions]]\nclaim = \"groups\"\nvalue = \"store-admins\"\ngrant = [\"Orders\", \"admin\"]\n"
    );
    let policy = Policy::compile("test.toml", &src).unwrap();
    let p = &policy.settings.sign_in.providers[0];
    assert_eq!(p.label, "corp", "the label defaults to the name");
    assert_eq!(p.scopes, ["openid"]);
    assert_eq!(p.users, scopegate_core::sign_in::Admission::Create);
    assert_eq!(p.rules[0].grant, ["Orders", "admin"]);
    assert_eq!(p.line, 2);
    assert!(policy.settings.sign_in.passwords);
}

#[test]
fn identity_provider_errors_name_their_line() {
    assert_error(
        &IDP.replace("\"corp\"", "\"Corp SSO\""),
        2,
        &["`identity_provider.name`", "\"Corp SSO\"", "lowercase letters"],
    );
    assert_error(
        &IDP.replace("https://login.example.com", "http://login.example.com"),
        3,
        &[
            "identity_provider \"corp\"",
            "`issuer`",
            "http:// only to a loopback host",
        ],
    );
    assert_error(
        &format!("{IDP}client_secret = \"s3cret\"\n"),
        5,
        &["never goes in the policy file", "client_secret_env"],
    );
    assert_error(
        &format!("{IDP}client_secret_env = \"A\"\nclient_secret_file = \"/f\"\n"),
        6,
        &["not both"],
    );
    assert_error(
        &format!("{IDP}scopes = [\"profile\"]\n"),
        5,
        &["`scopes` must include \"openid\""],
    );
    assert_error(
        &format!("{IDP}users = \"all\"\n"),
        5,
        &["`users`", "\"create\" or \"existing\""],
    );
    assert_error(
        &format!("{IDP}permissions_max_age = \"soon\"\n"),
        5,
        &["permissions_max_age", "is not a duration"],
    );
    assert_error(
        &format!(
            "{IDP}\n[[identity_provider.permissions]]\nclaim = \"groups\"\nvalue = \"x\"\ngrant = [\"bad name\"]\n"
        ),
        9,
        &["`permissions.grant`", "\"bad name\""],
    );
    assert_error(
        &format!("{IDP}\n[[identity_provider.permissions]]\nclaim = \"groups\"\nvalue = \"x\"\ngrnat = [\"A\"]\n"),
        9,
        &["unknown field `grnat`"],
    );
    assert_error(
        &format!("{IDP}{IDP}"),
        6,
        &["identity_provider \"corp\" is declared twice"],
    );
}

#[test]
fn sign_in_table_errors_name_their_line() {
    assert_error("[sign_in]\npasswords = false\n", 2, &["leaves nobody a way to sign in"]);
    assert_error(
        "[sign_in]\ndelegate_to = \"http://app.example.com/login\"\n",
        2,
        &["`sign_in.delegate_to`", "https://"],
    );
    assert_error(
        "[sign_in]\ndelegate_to = \"https://app.example.com/login?x=1\"\n",
        2,
        &["may not have a query"],
    );
    assert_error(
        "[sign_in]\npermissions_max_age = \"1h\"\n",
        2,
        &["applies to delegated sign-ins"],
    );
    assert_error("[sign_in]\npassword = true\n", 2, &["unknown field `password`"]);
}
