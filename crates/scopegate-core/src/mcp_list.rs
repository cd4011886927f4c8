//! Filtering an MCP server's list answers (`tools/list`, `prompts/list`,
//! `resources/list`, `resources/templates/list`) to the entries the caller
//! may call, as docs/mcp.md describes. The answer is a JSON-RPC response,
//! as JSON or as a `text/event-stream` whose events carry JSON-RPC messages;
//! only the response (a message with `result`) is rewritten, and its
//! `cacheScope` becomes `"private"`: what it lists depends on who asked.
//! Everything else (`nextCursor`, notifications, other events) passes as is.

use serde_json::Value;

use crate::decision::Caller;
use crate::mcp::LISTS;
use crate::policy::Policy;

/// The list method's entry key, the operation an entry stands for, and the
/// entry member naming it; `None` for a method that is not a list.
pub fn list_of(method: &str) -> Option<(&'static str, &'static str, &'static str)> {
    LISTS
        .iter()
        .find(|(m, ..)| *m == method)
        .map(|&(_, key, operation, member)| (key, operation, member))
}

/// Why an answer could not be filtered (then it must not reach the caller).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("the MCP server's answer to {method} is not {expected}")]
pub struct Unreadable {
    pub method: String,
    pub expected: &'static str,
}

impl Policy {
    /// Whether `caller` may call the operation an entry of `list` names.
    fn may_call(&self, operation: &str, name: &str, caller: Caller<'_>) -> bool {
        self.decide_route(self.match_mcp(operation, Some(name)), caller)
            .is_allow()
    }

    /// Keeps the entries of one JSON-RPC message's `result` that `caller`
    /// may call, and marks the result private. A message without `result`
    /// (a notification, an error) is left alone. Returns how many entries
    /// were removed.
    pub fn filter_list_message(&self, list: &str, message: &mut Value, caller: Caller<'_>) -> usize {
        let Some((key, operation, member)) = list_of(list) else {
            return 0;
        };
        let Some(result) = message.get_mut("result").and_then(Value::as_object_mut) else {
            return 0;
        };
        let mut removed = 0;
        if let Some(entries) = result.get_mut(key).and_then(Value::as_array_mut) {
            entries.retain(|entry| {
                let name = entry.get(member).and_then(Value::as_str).map(|n| {
                    // A template stands for the URIs it expands to: each
                    // variable read as one plain value.
                    if member == "uriTemplate" {
                        expand_template(n)
                    } else {
                        n.to_owned()
                    }
                });
                let keep = name.is_some_and(|n| self.may_call(operation, &n, caller));
                removed += usize::from(!keep);
                keep
            });
        }
        result.insert("cacheScope".into(), Value::from("private"));
        removed
    }

    /// Filters a whole list answer: a JSON document, or the text of an event
    /// stream (`event_stream`). The rewritten bytes, or why they could not be read.
    pub fn filter_list_answer(
        &self,
        list: &str,
        body: &[u8],
        event_stream: bool,
        caller: Caller<'_>,
    ) -> Result<Vec<u8>, Unreadable> {
        let unreadable = |expected| Unreadable {
            method: list.to_owned(),
            expected,
        };
        if !event_stream {
            let mut message: Value = serde_json::from_slice(body).map_err(|_| unreadable("JSON"))?;
            self.filter_list_message(list, &mut message, caller);
            return Ok(message.to_string().into_bytes());
        }
        let text = std::str::from_utf8(body).map_err(|_| unreadable("an event stream of UTF-8 text"))?;
        let mut out = String::with_capacity(text.len());
        for (event, end) in events(text) {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            let parsed = (!data.is_empty())
                .then(|| serde_json::from_str::<Value>(&data.join("\n")).ok())
                .flatten();
            match parsed {
                Some(mut message) if message.get("result").is_some() => {
                    self.filter_list_message(list, &mut message, caller);
                    for line in event.lines().filter(|l| !l.starts_with("data:")) {
                        out.push_str(line);
                        out.push('\n');
                    }
                    out.push_str("data: ");
                    out.push_str(&message.to_string());
                    out.push('\n');
                    out.push_str(if end.is_empty() { "" } else { "\n" });
                }
                Some(_) => {
                    out.push_str(event);
                    out.push_str(end);
                }
                // An event whose data is not JSON cannot be a list answer,
                // but it could smuggle one in pieces: refused.
                None if !data.is_empty() => return Err(unreadable("an event stream of JSON-RPC messages")),
                None => {
                    out.push_str(event);
                    out.push_str(end);
                }
            }
        }
        Ok(out.into_bytes())
    }
}

/// The events of an event stream and the blank line ending each (empty for
/// a last event without one). Lines may end in CRLF, LF or CR.
fn events(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let ends = ["\r\n\r\n", "\n\n", "\r\r"];
        let found = ends
            .iter()
            .filter_map(|e| rest.find(e).map(|at| (at, *e)))
            .min_by_key(|(at, _)| *at);
        match found {
            Some((at, end)) => {
                out.push((&rest[..at], end));
                rest = &rest[at + end.len()..];
            }
            None => {
                out.push((rest, ""));
                rest = "";
            }
        }
    }
    out
}

/// A URI template (RFC 6570) with each expression replaced by `x`.
fn expand_template(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut inside = false;
    for c in template.chars() {
        match (c, inside) {
            ('{', false) => {
                inside = true;
                out.push('x');
            }
            ('}', true) => inside = false,
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_each_expression_to_one_value() {
        assert_eq!(expand_template("orders://{id}"), "orders://x");
        assert_eq!(expand_template("files://{+path}/{name}.txt"), "files://x/x.txt");
    }

    #[test]
    fn events_split_on_blank_lines_in_any_line_ending() {
        assert_eq!(
            events("data: a\n\nid: 2\r\ndata: b\r\n\r\ndata: c"),
            vec![("data: a", "\n\n"), ("id: 2\r\ndata: b", "\r\n\r\n"), ("data: c", "")]
        );
    }
}
