//! Any bytes through what `validate` and `plan` do: load, compile, and then either every plan
//! format or every diagnostic in both renderings. A panic, an abort or a hang is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runbook_engine::compile::CompileOptions;
use runbook_engine::plan::{Format, render};
use runbook_engine::source::SourceFile;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let source = SourceFile::new("fuzz.yml", text);
    let options = CompileOptions {
        inputs: Vec::new(),
        environment: Vec::new(),
        require_inputs: false,
    };
    match runbook_engine::check::<runbook_steps::Action>(&source, &options) {
        Ok(playbook) => {
            for format in [
                Format::Text,
                Format::Markdown,
                Format::Mermaid,
                Format::Dot,
                Format::Json,
            ] {
                let _ = render(&playbook, format);
            }
        }
        Err(diagnostics) => {
            for diagnostic in &diagnostics {
                let _ = diagnostic.render(&source);
                let _ = diagnostic.to_json(&source);
            }
        }
    }
});
