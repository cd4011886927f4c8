//! `scopegate import-openapi SPEC`: an OpenAPI 3 or Swagger 2.0 document (YAML or JSON) as
//! a policy fragment on stdout; warnings on stderr and as TOML comments;
//! problems with the JSON pointer of each, exit 1.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use scopegate_core::openapi::{ImportOptions, import};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(clap::Args, Debug)]
pub struct Args {
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
pub fn parse(path: &std::path::Path, text: &str) -> anyhow::Result<serde_json::Value> {
    let json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if json {
        let mut reader = serde_json::Deserializer::from_str(text);
        let value = Strict::deserialize(&mut reader)
            .and_then(|Strict(v)| reader.end().map(|()| v))
            .with_context(|| format!("{}: not valid JSON", path.display()))?;
        return Ok(value);
    }
    let mut yaml: serde_norway::Value =
        serde_norway::from_str(text).with_context(|| format!("{}: not valid YAML", path.display()))?;
    yaml.apply_merge()
        .with_context(|| format!("{}: a YAML merge key (<<) that cannot be applied", path.display()))?;
    serde_json::to_value(yaml).with_context(|| format!("{}: not an OpenAPI document", path.display()))
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

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
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
