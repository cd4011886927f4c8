//! `scopegate import-openapi SPEC`: an OpenAPI 3 or Swagger 2.0 document (YAML or JSON) as
//! a policy fragment on stdout; warnings on stderr and as TOML comments;
//! problems with the JSON pointer of each, exit 1.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use scopegate_core::openapi::{ImportOptions, import};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The OpenAPI document (`.yaml`, `.yml` or `.json`).
    #[arg(value_name = "SPEC")]
    spec: PathBuf,
    /// The oauth2 security scheme whose scopes to use (needed if there are several).
    #[arg(long, value_name = "NAME")]
    scheme: Option<String>,
    /// A path prefixed to every route, after the first server URL's path.
    #[arg(long, value_name = "P")]
    base_path: Option<String>,
}

/// The document as JSON values, whichever of the two it is written in. A
/// key written twice in one object is refused, not resolved to the last
/// one (which would drop an operation without a word); YAML merge keys
/// (`<<: *anchor`) are applied.
pub(crate) fn parse(path: &std::path::Path, text: &str) -> anyhow::Result<serde_json::Value> {
    if text.len() > MAX_DOCUMENT_BYTES {
        anyhow::bail!(
            "{}: not read: {} bytes; scopegate reads OpenAPI documents of at most {} MB",
            path.display(),
            text.len(),
            MAX_DOCUMENT_BYTES >> 20
        );
    }
    let json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if json {
        let mut reader = serde_json::Deserializer::from_str(text);
        let value = Strict::deserialize(&mut reader)
            .and_then(|Strict(v)| reader.end().map(|()| v))
            .with_context(|| format!("{}: not valid JSON", path.display()))?;
        return Ok(value);
    }
    if let Some((line, column)) = flow_nesting_beyond(text, MAX_FLOW_DEPTH) {
        anyhow::bail!(
            "{}: not read: brackets nested deeper than {MAX_FLOW_DEPTH} levels at line {line} column {column}",
            path.display()
        );
    }
    let mut yaml: serde_norway::Value =
        serde_norway::from_str(text).with_context(|| format!("{}: not valid YAML", path.display()))?;
    yaml.apply_merge()
        .with_context(|| format!("{}: a YAML merge key (<<) that cannot be applied", path.display()))?;
    serde_json::to_value(yaml).with_context(|| format!("{}: not an OpenAPI document", path.display()))
}

/// The largest document read (the largest public API description we know of,
/// Azure's, is a few megabytes).
const MAX_DOCUMENT_BYTES: usize = 32 << 20;

/// Deepest nesting of YAML flow collections (`[`, `{`) read. The YAML
/// parser takes time that grows with the square of the nesting before it
/// refuses it (200 KB of `[` took a minute), so it is measured first.
const MAX_FLOW_DEPTH: usize = 64;

/// Where YAML flow collections first nest deeper than `limit` (line and
/// column, from 1), if they do. A bracket counts where YAML reads it as one:
/// anywhere inside a flow collection, and outside one only where a value
/// starts (a line's first character, or after `: `, `- ` or `? `); quoted
/// text, comments and block scalars (`|`, `>`) are skipped.
fn flow_nesting_beyond(text: &str, limit: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    // A block scalar's lines: those indented more than its key's line.
    let mut block_scalar_above: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(key_indent) = block_scalar_above {
            if line.trim().is_empty() || indent > key_indent {
                continue;
            }
            block_scalar_above = None;
        }
        let bytes = line.as_bytes();
        let mut quote: Option<u8> = None;
        let mut value_starts = true;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(b'"') if b == b'\\' => i += 1,
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None => match b {
                    b'\'' | b'"' => quote = Some(b),
                    b'#' if i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t' => break,
                    b'[' | b'{' if depth > 0 || value_starts => {
                        depth += 1;
                        if depth > limit {
                            return Some((n + 1, i + 1));
                        }
                    }
                    b']' | b'}' if depth > 0 => depth -= 1,
                    b' ' | b'\t' => {}
                    b':' | b'-' | b'?' if bytes.get(i + 1).is_none_or(|c| *c == b' ') => value_starts = true,
                    b'|' | b'>' if depth == 0 && value_starts => {
                        block_scalar_above = Some(indent);
                        break;
                    }
                    _ => value_starts = false,
                },
            }
            i += 1;
        }
    }
    None
}

/// A JSON value whose objects have no key twice.
struct Strict(serde_json::Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(items.into())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key {key:?} is written twice in one object"
                )));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(object.into())
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    // A document that cannot be read is refused like any other problem in it.
    let doc = std::fs::read_to_string(&args.spec)
        .with_context(|| format!("cannot read {}", args.spec.display()))
        .and_then(|text| parse(&args.spec, &text));
    let doc = match doc {
        Ok(doc) => doc,
        Err(e) => {
            eprintln!("{e:#}");
            return Ok(ExitCode::from(1));
        }
    };
    let options = ImportOptions {
        scheme: args.scheme.clone(),
        base_path: args.base_path.clone(),
    };
    match import(&doc, &options) {
        Ok(imported) => {
            for line in imported.told() {
                let joint = if line.starts_with('#') { "" } else { ": " };
                eprintln!("warning: {}{joint}{line}", args.spec.display());
            }
            print!("{}", imported.to_toml(&args.spec.display().to_string()));
            eprintln!("{}: imported {}", args.spec.display(), imported.summary());
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{}{e}", args.spec.display());
            }
            eprintln!(
                "{}: not imported ({} problem(s) above)",
                args.spec.display(),
                errors.len()
            );
            Ok(ExitCode::from(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_nesting_is_found_before_the_yaml_parser_sees_it() {
        let deep = format!("openapi: 3.0.0\nx: {}{}\n", "[".repeat(65), "]".repeat(65));
        assert_eq!(flow_nesting_beyond(&deep, 64), Some((2, 68)));
        let fine = format!("x: {}{}\n", "[".repeat(64), "]".repeat(64));
        assert_eq!(flow_nesting_beyond(&fine, 64), None);
        // Brackets that are text: inside a plain scalar, quotes, comments and block scalars.
        let text = format!(
            "a: see [1 and {{2\nb: '{0}'\nc: \"{0}\"\n# {0}\nd: |\n  {0}\n  more\ne: >-\n  {0}\nf: [ok, {{g: 1}}]\n",
            "[".repeat(100)
        );
        assert_eq!(flow_nesting_beyond(&(text.clone() + &text.repeat(70)), 64), None);
    }
}
