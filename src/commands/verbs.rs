//! `runbook verbs [NAME]`: the verb reference (params, outputs, effect, example).

use runbook_engine::reference;

use crate::Exit;
use crate::cli::{VerbsArgs, VerbsFormat};

pub fn run(args: &VerbsArgs) -> Exit {
    let verbs = reference::verbs::<runbook_steps::Action>();
    match (&args.name, args.format) {
        (None, VerbsFormat::Markdown) => out!("{}", reference::markdown(&verbs)),
        (None, VerbsFormat::Text) => {
            for verb in &verbs {
                outln!(
                    "{:<26} {:<10} {}",
                    verb.info.name,
                    verb.info.effect.as_str(),
                    verb.info.summary
                );
            }
            outln!("\n`runbook verbs NAME` shows one with its params and outputs.");
        }
        (Some(name), format) => {
            let Some(verb) = verbs.iter().find(|v| v.info.name == name.as_str()) else {
                let names = verbs.iter().map(|v| v.info.name);
                let hint = runbook_engine::suggest::did_you_mean(name, names)
                    .map(|best| format!("; did you mean `{best}`?"))
                    .unwrap_or_default();
                sayln!("error: no verb `{name}`{hint} (`runbook verbs` lists them)");
                return Exit::Invalid;
            };
            match format {
                VerbsFormat::Text => out!("{}", reference::text(verb)),
                VerbsFormat::Markdown => {
                    out!("{}", reference::markdown(std::slice::from_ref(verb)))
                }
            }
        }
    }
    Exit::Success
}
