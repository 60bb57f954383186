//! The JSON Schema of playbooks, for editors (`# yaml-language-server: $schema=...`).
//!
//! Typed sections and every verb's params come from their Rust types through schemars, so the
//! schema cannot drift from what the loader accepts. The top level and the step envelope are
//! decoded by hand (to collect all errors), so their shape is written here, next to the key
//! lists the loader uses.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::action::Action;
use crate::load::{
    ACTION_KEYS, Defaults, InputSpec, Objectives, PLAYBOOK_KEYS, Retry, STEP_KEYS, Schedule,
    SecretSpec,
};
use crate::params::Duration;

pub fn playbook_schema<A: Action>() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let sub = |schema: schemars::Schema| schema.to_value();
    let input = sub(generator.subschema_for::<InputSpec>());
    let secret = sub(generator.subschema_for::<SecretSpec>());
    let objectives = sub(generator.subschema_for::<Objectives>());
    let notify = sub(generator.subschema_for::<crate::load::NotifySpec>());
    let defaults = sub(generator.subschema_for::<Defaults>());
    let schedule = sub(generator.subschema_for::<Schedule>());
    let retry = sub(generator.subschema_for::<Retry>());
    let duration = sub(generator.subschema_for::<Duration>());
    generator.subschema_for::<A>();
    let mut defs: Map<String, Value> = generator.take_definitions(true).into_iter().collect();

    // Each verb becomes a property of steps and actions; `oneOf` makes exactly one required.
    let mut verbs = Map::new();
    for (verb, params) in A::catalog()
        .iter()
        .filter_map(|info| verb_params(&defs, info.name).map(|p| (info, p)))
    {
        let mut params = params;
        if let Value::Object(obj) = &mut params {
            obj.insert(
                "description".into(),
                Value::String(format!("{} ({}).", verb.summary, verb.effect.as_str())),
            );
        }
        // `shell.run: "script"`, `shell.run: [argv...]`: the shorthands the compiler accepts.
        let mut forms = vec![params];
        if let Some(param) = verb.shorthand.string {
            forms.push(
                json!({ "type": "string", "description": format!("Shorthand for `{param}:`.") }),
            );
        }
        if let Some(param) = verb.shorthand.list {
            forms.push(json!({ "type": "array", "items": { "type": "string" }, "description": format!("Shorthand for `{param}:`.") }));
        }
        let params = if forms.len() == 1 {
            forms.remove(0)
        } else {
            json!({ "anyOf": forms })
        };
        verbs.insert(verb.name.to_string(), params);
    }
    let exactly_one_verb: Vec<Value> = verbs.keys().map(|v| json!({ "required": [v] })).collect();

    let action_envelope = json!({
        "name": { "type": "string", "description": "What this action is for, shown in plans and reports." },
        "when": { "type": "string", "description": "minijinja expression; the action runs only when it is true, e.g. `inputs.slack_configured`." },
        "timeout": with_description(&duration, "Time limit of this action."),
        "retry": retry.clone(),
    });
    let step_envelope = json!({
        "id": { "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]*$", "description": "Unique id; other steps name it in `needs` and read its outputs as `steps['id'].output`." },
        "name": { "type": "string", "description": "Human title shown in plans and reports (may use templates, never secrets)." },
        "needs": { "oneOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }], "description": "Steps that must succeed before this one starts." },
        "when": { "type": "string", "description": "minijinja expression; the step is skipped when it is false, e.g. `inputs.flush_cache`." },
        "host": { "type": "string", "description": "A host of the environment file's `hosts:` the step acts on, over SSH (`app-1`, `\"{{ item }}\"`); its rollback runs there too. Without it: this machine." },
        "show": { "type": "string", "description": "What the step found, shown on the console and in every report once it succeeded: an output's name (`stdout`) or a template (`\"{{ steps.disk.stdout }}\"`); never secrets." },
        "severity": { "enum": ["error", "warning"], "description": "`warning`: a failure is a warning (⚠ everywhere, the run goes on, the exit code is unchanged); default `error`." },
        "sensitive": { "type": "array", "items": { "type": "string" }, "description": "Outputs that are secrets made during the run (a rotated password, a token): redacted everywhere from the moment the step returns them." },
        "requires": { "type": "array", "items": { "$ref": "#/$defs/ActionItem" }, "description": "Read-only preconditions checked before the action; the step fails without changing anything if one fails." },
        "timeout": with_description(&duration, "Time limit of the action, all retries included."),
        "retry": retry,
        "rollback": { "oneOf": [{ "$ref": "#/$defs/ActionItem" }, { "type": "array", "items": { "$ref": "#/$defs/ActionItem" } }], "description": "Actions that undo this step, run (newest step first) when a later step fails." },
        "for_each": { "oneOf": [{ "type": "array" }, { "type": "string" }], "description": "Run the step once per item (`{{ item }}`); a list or a template over inputs/vars giving one." },
        "serial": { "oneOf": [{ "type": "boolean" }, { "type": "integer", "minimum": 1 }], "description": "Run `for_each` items one at a time (`true`) or N at a time." },
        "idempotent": { "type": "boolean", "description": "Safe to run again if a crash interrupted it (read-only actions are)." },
        "continue_on_error": { "type": "boolean", "description": "A failure of this step neither stops the run nor triggers rollback." },
    });

    defs.insert(
        "ActionItem".into(),
        object_with_verbs(action_envelope, &verbs, &exactly_one_verb, &[]),
    );
    defs.insert(
        "Step".into(),
        object_with_verbs(step_envelope, &verbs, &exactly_one_verb, &["id"]),
    );
    debug_assert_eq!(
        defs["Step"]["properties"].as_object().map(|p| p.len()),
        Some(STEP_KEYS.len() + verbs.len())
    );
    debug_assert!(
        ACTION_KEYS
            .iter()
            .all(|k| defs["ActionItem"]["properties"].get(k).is_some())
    );

    let properties = json!({
        "version": { "const": 1, "description": "Playbook language version." },
        "name": { "type": "string", "description": "Name of the playbook, shown in plans, journals and reports." },
        "description": { "type": "string", "description": "What the playbook does and which runbook section it implements." },
        "inputs": { "type": "object", "additionalProperties": input, "description": "Values given with `--input name=value`." },
        "secrets": { "type": "object", "additionalProperties": secret, "description": "Credentials read at run time, never printed." },
        "vars": { "type": "object", "description": "Named values (may use inputs), read as `{{ vars.name }}`." },
        "objectives": objectives,
        "notify": { "type": "array", "items": notify, "description": "Webhooks told when the run starts, succeeds, fails or cannot roll back (Slack-compatible)." },
        "lock": { "type": "string", "description": "Runs with the same lock key never overlap." },
        "defaults": defaults,
        "schedule": { "oneOf": [{ "type": "string" }, schedule, { "type": "array", "items": schedule, "description": "Several schedules, each with its `name` and inputs." }], "description": "When `runbook daemon` runs the playbook: one schedule, or a list of named ones." },
        "steps": { "type": "array", "items": { "$ref": "#/$defs/Step" }, "description": "The steps; they run in the order their `needs` allow." },
        "on_failure": { "type": "array", "items": { "$ref": "#/$defs/ActionItem" }, "description": "Run after the rollback when the run fails (e.g. notify)." },
    });
    debug_assert_eq!(
        properties.as_object().map(Map::len),
        Some(PLAYBOOK_KEYS.len())
    );

    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://runbook.dev/schemas/playbook.schema.json",
        "title": "runbook playbook",
        "description": "A declarative operations runbook: steps, their dependencies, preconditions and rollbacks.",
        "type": "object",
        "required": ["version", "name", "steps"],
        "additionalProperties": false,
        "properties": properties,
        "$defs": defs,
    })
}

/// The params schema of one verb, from the `Action` enum's variant `{ verb: params }`.
fn verb_params(defs: &Map<String, Value>, verb: &str) -> Option<Value> {
    defs.values()
        .filter_map(|def| def.get("oneOf").and_then(Value::as_array))
        .flatten()
        .find_map(|variant| variant.get("properties")?.get(verb).cloned())
}

fn object_with_verbs(
    envelope: Value,
    verbs: &Map<String, Value>,
    one_of: &[Value],
    required: &[&str],
) -> Value {
    let mut properties = match envelope {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    properties.extend(verbs.clone());
    json!({
        "type": "object",
        "required": required,
        "additionalProperties": false,
        "properties": properties,
        "oneOf": one_of,
    })
}

fn with_description(schema: &Value, description: &str) -> Value {
    json!({ "allOf": [schema], "description": description })
}
