//! Reading an MCP operation from a request: by its `Mcp-Method` and
//! `Mcp-Name` headers alone (forward-auth), or from its JSON-RPC body
//! checked against those headers (the gateway and the tower layer), as
//! docs/mcp.md describes.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use serde::Deserialize as _;

use crate::enforce::Refusal;
use crate::mcp::name_key;

/// One MCP operation, as a request names it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct McpCall<'a> {
    pub method: Cow<'a, str>,
    /// The name, for the methods that carry one ([`NAME_BEARING`]).
    pub name: Option<Cow<'a, str>>,
}

impl fmt::Display for McpCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            None => f.write_str(&self.method),
            Some(name) => write!(f, "{} {name}", self.method),
        }
    }
}

impl<'a> McpCall<'a> {
    /// An operation written as in `[[mcp_route]]` (`tools/call create_order`),
    /// for `explain` and `scopes-for`.
    pub fn parse(text: &'a str) -> Result<McpCall<'a>, String> {
        let mut parts = text.split_whitespace();
        let (Some(method), name, None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "{text:?} is not an MCP operation such as \"tools/call create_order\" or \"tools/list\""
            ));
        };
        match (name_key(method), name) {
            (Some(key), None) => Err(format!("{method} needs its {key}, as in \"{method} <{key}>\"")),
            (None, Some(_)) => Err(format!("{method} carries no name")),
            _ => Ok(McpCall {
                method: method.into(),
                name: name.map(Cow::Borrowed),
            }),
        }
    }

    /// The operation named by an MCP request's headers alone (forward-auth):
    /// every `Mcp-Method` and `Mcp-Name` value it carries.
    pub fn from_headers<'h: 'a>(
        methods: impl Iterator<Item = &'h [u8]>,
        names: impl Iterator<Item = &'h [u8]>,
    ) -> Result<McpCall<'a>, Refusal> {
        let method = one_header(methods, "Mcp-Method")?
            .ok_or_else(|| bad("an MCP request must name its JSON-RPC method in Mcp-Method"))?;
        let method = std::str::from_utf8(method)
            .ok()
            .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| bad("Mcp-Method is not a JSON-RPC method name"))?;
        let name = one_header(names, "Mcp-Name")?;
        let name = match (name_key(method), name) {
            (None, _) => None,
            (Some(key), None) => return Err(bad(format!("{method} must name its {key} in Mcp-Name"))),
            (Some(_), Some(value)) => Some(decode_name(value)?),
        };
        Ok(McpCall {
            method: Cow::Borrowed(method),
            name,
        })
    }

    /// The operation of an MCP request, read from its JSON-RPC body and
    /// checked against its headers: both must name the same method and
    /// name. A batch, a response, or a body that is not one JSON-RPC 2.0
    /// request or notification is refused.
    pub fn from_body<'h>(
        body: &'a [u8],
        methods: impl Iterator<Item = &'h [u8]>,
        names: impl Iterator<Item = &'h [u8]>,
    ) -> Result<McpCall<'a>, Refusal> {
        let from_headers = McpCall::from_headers(methods, names)?;
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'[') {
            return Err(bad("JSON-RPC batches are not accepted: send one request per POST"));
        }
        let message: Message<'a> =
            serde_json::from_slice(body).map_err(|e| bad(format!("the body is not a JSON-RPC request: {e}")))?;
        if message.jsonrpc.as_deref() != Some("2.0") {
            return Err(bad("the body is not a JSON-RPC 2.0 request (\"jsonrpc\": \"2.0\")"));
        }
        let Some(method) = message.method else {
            return Err(bad(
                "the body is a JSON-RPC response, not a request: there is no method to decide",
            ));
        };
        if method != from_headers.method {
            return Err(bad(format!(
                "Mcp-Method ({}) does not match the body's method ({method})",
                from_headers.method
            )));
        }
        let name = match name_key(&method) {
            None => None,
            Some(key) => {
                let name = message
                    .params
                    .as_ref()
                    .and_then(|p| if key == "uri" { p.uri.clone() } else { p.name.clone() })
                    .ok_or_else(|| bad(format!("{method} must carry params.{key}, a string")))?;
                if from_headers.name.as_deref() != Some(&*name) {
                    return Err(bad(format!("Mcp-Name does not match the body's params.{key}")));
                }
                Some(name)
            }
        };
        Ok(McpCall { method, name })
    }
}

#[derive(serde::Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<Params<'a>>,
}

#[derive(serde::Deserialize)]
struct Params<'a> {
    #[serde(borrow, default, deserialize_with = "string_or_absent")]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "string_or_absent")]
    uri: Option<Cow<'a, str>>,
}

/// A member that is a string, or anything else read as absent (then the
/// operation lacks its name and is refused for that, with a clear message).
fn string_or_absent<'de, D>(deserializer: D) -> Result<Option<Cow<'de, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Value<'a> {
        Text(#[serde(borrow)] Cow<'a, str>),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Value::deserialize(deserializer)? {
        Value::Text(text) => Some(text),
        Value::Other(_) => None,
    })
}

fn bad(why: impl Into<String>) -> Refusal {
    Refusal::InvalidRequest(why.into())
}

fn one_header<'h>(mut values: impl Iterator<Item = &'h [u8]>, name: &str) -> Result<Option<&'h [u8]>, Refusal> {
    let first = values.next();
    if values.next().is_some() {
        return Err(bad(format!("{name} is repeated")));
    }
    Ok(first)
}

/// An `Mcp-Name` value: as sent, or the UTF-8 text of its `=?base64?…?=`
/// form (canonical base64 only, so that one name has one spelling).
pub fn decode_name(value: &[u8]) -> Result<Cow<'_, str>, Refusal> {
    let text = std::str::from_utf8(value).map_err(|_| bad("Mcp-Name is not ASCII: send =?base64?…?="))?;
    match text.strip_prefix("=?base64?").and_then(|t| t.strip_suffix("?=")) {
        None => Ok(Cow::Borrowed(text)),
        Some(payload) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(payload)
                .map_err(|_| bad("Mcp-Name: the =?base64?…?= form holds no valid base64"))?;
            String::from_utf8(bytes)
                .map(Cow::Owned)
                .map_err(|_| bad("Mcp-Name: the =?base64?…?= form does not decode to UTF-8"))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn mcp_name_base64_form_is_decoded() {
        assert_eq!(decode_name(b"plain").unwrap(), "plain");
        assert_eq!(decode_name(b"=?base64?w6lsw6hu?=").unwrap(), "\u{e9}l\u{e8}n");
        assert!(decode_name(b"=?base64?***?=").is_err());
    }
}
