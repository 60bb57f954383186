//! `runbook schema`: the JSON Schema checked in as `schemas/playbook.schema.json`.

use crate::Exit;

pub fn run() -> Exit {
    let schema = runbook_engine::schema::playbook_schema::<runbook_steps::Action>();
    outln!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("schemas serialize")
    );
    Exit::Success
}
