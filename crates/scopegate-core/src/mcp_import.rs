//! `scopegate import-mcp`: `[[mcp_route]]` rows from what an MCP server
//! lists (its `tools/list`, `prompts/list`, `resources/list` and
//! `resources/templates/list` answers), one per tool, prompt and resource,
//! each with its description and an `any_of` left for the provider to fill
//! in: the scope is a decision only the provider can make, and a row left
//! as it is fails `scopegate check` rather than open anything.

use serde_json::Value;

use crate::policy::Policy;

/// What `any_of` holds until the provider names a scope.
pub const TO_FILL: &str = "TODO";

/// One row to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedRoute {
    /// The `match` string.
    pub operation: String,
    pub description: Option<String>,
}

/// The operations the lists in `document` name, in their order. `document`
/// is one list answer (a JSON-RPC response or its `result`), or an array of
/// them. Operations `policy` already routes are left out, so that the output
/// is what is missing.
pub fn imported_routes(document: &Value, policy: Option<&Policy>) -> Result<Vec<ImportedRoute>, String> {
    let answers: Vec<&Value> = match document {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    let mut out: Vec<ImportedRoute> = Vec::new();
    let mut found_a_list = false;
    for answer in answers {
        let result = answer.get("result").unwrap_or(answer);
        for (key, method, member) in [
            ("tools", "tools/call", "name"),
            ("prompts", "prompts/get", "name"),
            ("resources", "resources/read", "uri"),
            ("resourceTemplates", "resources/read", "uriTemplate"),
        ] {
            let Some(entries) = result.get(key) else { continue };
            let entries = entries.as_array().ok_or_else(|| format!("`{key}` is not an array"))?;
            found_a_list = true;
            for (i, entry) in entries.iter().enumerate() {
                let name = entry
                    .get(member)
                    .and_then(Value::as_str)
                    .filter(|n| !n.trim().is_empty() && !n.contains(char::is_whitespace))
                    .ok_or_else(|| {
                        format!("{key}[{i}] has no `{member}` that can be routed (a string without spaces)")
                    })?;
                // A template is routed by its text up to the first expression.
                let pattern = match member {
                    "uriTemplate" => match name.find('{') {
                        Some(at) => format!("{}*", &name[..at]),
                        None => name.to_owned(),
                    },
                    _ if name.ends_with('*') => {
                        return Err(format!(
                            "{key}[{i}]: the name {name:?} ends in `*`, which a match reads as a prefix"
                        ));
                    }
                    _ => name.to_owned(),
                };
                let operation = format!("{method} {pattern}");
                let routed = policy.is_some_and(|p| {
                    let example = pattern.trim_end_matches('*');
                    p.match_mcp(method, Some(example)).is_some()
                });
                if routed || out.iter().any(|r| r.operation == operation) {
                    continue;
                }
                let description = ["title", "description"]
                    .iter()
                    .find_map(|k| entry.get(*k).and_then(Value::as_str))
                    .and_then(|d| d.lines().next())
                    .map(|d| d.trim().to_owned())
                    .filter(|d| !d.is_empty());
                out.push(ImportedRoute { operation, description });
            }
        }
    }
    if !found_a_list {
        return Err(
            "no list found: give the answer to tools/list (or prompts/list, resources/list, resources/templates/list), \
             as the JSON-RPC response or its result"
                .into(),
        );
    }
    Ok(out)
}

/// The rows as TOML, to paste below `[mcp]`.
pub fn to_toml(routes: &[ImportedRoute]) -> String {
    let quoted = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut out = String::new();
    for r in routes {
        out.push_str("\n[[mcp_route]]\n");
        out.push_str(&format!("match       = {}\n", quoted(&r.operation)));
        if let Some(d) = &r.description {
            out.push_str(&format!("description = {}\n", quoted(d)));
        }
        out.push_str(&format!("any_of      = [\"{TO_FILL}\"]\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_tool_prompt_and_resource_becomes_a_row_to_fill_in() {
        let doc = serde_json::json!([
            {"jsonrpc": "2.0", "id": 1, "result": {"tools": [
                {"name": "create_order", "description": "Create an order.\nMore text."},
                {"name": "list_orders", "title": "List orders"}
            ]}},
            {"prompts": [{"name": "summarize"}]},
            {"resourceTemplates": [{"uriTemplate": "orders://{id}", "name": "order"}]}
        ]);
        let routes = imported_routes(&doc, None).unwrap();
        let ops: Vec<&str> = routes.iter().map(|r| r.operation.as_str()).collect();
        assert_eq!(
            ops,
            [
                "tools/call create_order",
                "tools/call list_orders",
                "prompts/get summarize",
                "resources/read orders://*"
            ]
        );
        assert_eq!(routes[0].description.as_deref(), Some("Create an order."));
        let text = to_toml(&routes);
        assert!(text.contains("match       = \"tools/call create_order\"\ndescription = \"Create an order.\"\nany_of      = [\"TODO\"]"), "{text}");
        // Left as it is, the fragment does not compile: nothing opens by accident.
        let policy = format!("[[scope]]\nname = \"a\"\n\n[mcp]\npath = \"/mcp\"\n{text}");
        assert!(
            Policy::compile("p.toml", &policy)
                .unwrap_err()
                .to_string()
                .contains("undeclared scope \"TODO\"")
        );
    }

    #[test]
    fn what_is_not_a_list_is_refused_with_where() {
        assert!(
            imported_routes(&serde_json::json!({"x": 1}), None)
                .unwrap_err()
                .contains("no list found")
        );
        let unnamed = serde_json::json!({"tools": [{"name": "has space"}]});
        assert!(imported_routes(&unnamed, None).unwrap_err().contains("tools[0]"));
    }

    #[test]
    fn operations_the_policy_routes_are_left_out() {
        let policy = Policy::compile(
            "p.toml",
            "[[scope]]\nname = \"a\"\n\n[mcp]\npath = \"/mcp\"\n\n[[mcp_route]]\nmatch = \"tools/call list_*\"\nany_of = [\"a\"]\n",
        )
        .unwrap();
        let doc = serde_json::json!({"tools": [{"name": "list_orders"}, {"name": "create_order"}]});
        let routes = imported_routes(&doc, Some(&policy)).unwrap();
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].operation, "tools/call create_order");
    }
}
