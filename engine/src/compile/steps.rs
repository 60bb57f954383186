//! One step as written: its name, `when`, `for_each`, action, preconditions and rollback
//! checked, and its typed parts gathered for the graph.

use super::*;

impl<'a, A: Action> Compiler<'a, A> {
    pub(super) fn step(
        &mut self,
        index: usize,
        step: &RawStep,
        input_values: &Map<String, Value>,
    ) -> Option<CompiledGroup<A>> {
        let item = step.for_each.is_some();
        let own = |printed: Option<String>| Scope {
            steps: StepAccess::Ancestors {
                step: index,
                itself: false,
            },
            item,
            printed_in: printed,
        };
        if let Some(name) = &step.name {
            self.check_text(
                &name.value,
                name.span,
                false,
                &own(Some("a step name".into())),
            );
        }
        if let Some(when) = &step.when {
            let expression = !is_template(&when.value);
            self.check_text(
                &when.value,
                when.span,
                expression,
                &own(Some("a `when` condition".into())),
            );
        }
        if let Some(host) = &step.host {
            self.check_text(
                &host.value,
                host.span,
                false,
                &own(Some("a step's `host`".into())),
            );
            if let Some(declared) = self.hosts
                && !is_template(&host.value)
                && !declared.iter().any(|h| h == host.value.trim())
            {
                self.errors.push(CompileError::UnknownHost {
                    host: host.value.clone(),
                    hint: match crate::suggest::did_you_mean(
                        &host.value,
                        declared.iter().map(String::as_str),
                    ) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None if declared.is_empty() => {
                            "the environment file declares no `hosts:`".into()
                        }
                        None => format!("the environment declares {}", declared.join(", ")),
                    },
                    span: host.span,
                });
            }
        }
        let items = step
            .for_each
            .as_ref()
            .and_then(|node| self.for_each(node, input_values));
        if step.for_each.is_none()
            && let Some(serial) = &step.serial
        {
            self.errors.push(CompileError::ForEach {
                message: "`serial` only applies to steps with `for_each`".into(),
                hint: Some("add `for_each: [...]` or remove `serial`".into()),
                span: serial.span,
            });
        }

        let action = step.action.as_ref().and_then(|raw| {
            self.action_templates(raw, &own(None));
            let action = self.parse_action(raw)?;
            self.check_on_hosts(&action, raw, step.host.as_ref());
            Some(action)
        });
        self.check_shown_outputs(index, step);
        let mut requires = Vec::new();
        for raw in &step.requires {
            self.action_templates(raw, &own(None));
            if let Some(spec) = self.action_spec(raw) {
                self.check_on_hosts(&spec.action, raw, step.host.as_ref());
                if spec.action.effect() == Effect::Mutating {
                    self.errors.push(CompileError::MutatingPrecondition {
                        verb: raw.verb.value.clone(),
                        span: raw.verb.span,
                    });
                }
                requires.push(spec);
            }
        }
        let mut rollback = Vec::new();
        for raw in &step.rollback {
            let scope = Scope {
                steps: StepAccess::Ancestors {
                    step: index,
                    itself: true,
                },
                item,
                printed_in: None,
            };
            self.action_templates(raw, &scope);
            if let Some(spec) = self.action_spec(raw) {
                self.check_on_hosts(&spec.action, raw, step.host.as_ref());
                rollback.push(spec);
            }
        }
        Some(CompiledGroup {
            items: if step.for_each.is_some() {
                Some(items?)
            } else {
                None
            },
            serial: step.serial.as_ref().map(|s| s.value.0),
            action: action?,
            requires,
            rollback,
        })
    }

    /// A verb that cannot act on a host must not be given one: it would act on the runner
    /// while the playbook says otherwise (an `http.check` of `localhost` checking the bastion).
    fn check_on_hosts(&mut self, action: &A, raw: &RawAction, host: Option<&Spanned<String>>) {
        let Some(host) = host else { return };
        if action.on_hosts() {
            return;
        }
        self.errors.push(CompileError::NotOnHost {
            verb: raw.verb.value.clone(),
            host: host.value.clone(),
            hint: format!(
                "verbs that run on a step's host: {}; give this action a step without `host:` (it runs on this machine, and can reach the host's address)",
                on_hosts_summary(A::catalog())
            ),
            span: raw.verb.span,
        });
    }
}

/// `shell.run, file.checksum, docker.*, …`: whole families as `family.*`.
fn on_hosts_summary(catalog: &[crate::action::VerbInfo]) -> String {
    let mut families: Vec<(&str, Vec<&crate::action::VerbInfo>)> = Vec::new();
    for info in catalog {
        let family = info.name.split('.').next().unwrap_or(info.name);
        match families.iter_mut().find(|(f, _)| *f == family) {
            Some((_, verbs)) => verbs.push(info),
            None => families.push((family, vec![info])),
        }
    }
    let mut named = Vec::new();
    for (family, verbs) in families {
        if verbs.iter().all(|v| v.on_hosts) {
            named.push(format!("{family}.*"));
        } else {
            named.extend(
                verbs
                    .iter()
                    .filter(|v| v.on_hosts)
                    .map(|v| v.name.to_string()),
            );
        }
    }
    named.join(", ")
}
