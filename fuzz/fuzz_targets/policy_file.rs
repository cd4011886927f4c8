//! The policy file loader: any text compiles or is refused with errors that
//! name a line inside the file, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(errors) = scopegate_core::Policy::compile("fuzz.toml", text) {
        let lines = text.lines().count().max(1);
        for e in &errors.errors {
            assert!(e.line <= lines + 1, "error on line {} of a {lines}-line file", e.line);
        }
    }
});
