//! What templates may read: declared inputs, vars and secrets; outputs of the steps a
//! step depends on, which its verb has; secrets never where text is printed.

use super::*;

impl<'a, A: Action> Compiler<'a, A> {
    /// Vars, objectives, webhooks, lock and schedule: evaluated before any step runs.
    pub(super) fn check_playbook_templates(&mut self) {
        let raw = self.raw;
        for var in &raw.vars {
            let mut path = Vec::new();
            var.value.walk_strings(&mut path, &mut |_, node, text| {
                if is_template(text) {
                    let scope = Scope {
                        steps: StepAccess::NoSteps,
                        item: false,
                        printed_in: Some(format!(
                            "var `{}` (vars are shown in plans)",
                            var.name.value
                        )),
                    };
                    self.check_text(text, node.span, false, &scope);
                }
            });
        }
        if let Some(objectives) = &raw.objectives {
            self.check_objectives(objectives);
        }
        if let Some(notify) = &raw.notify {
            // Webhooks are rendered when the run starts: inputs, vars and secrets only.
            let scope = Scope {
                steps: StepAccess::NoSteps,
                item: false,
                printed_in: None,
            };
            for spec in &notify.value {
                self.check_text(&spec.webhook, notify.span, false, &scope);
            }
        }
        if let Some(lock) = &raw.lock {
            let scope = Scope {
                steps: StepAccess::NoSteps,
                item: false,
                printed_in: Some("the lock key".into()),
            };
            self.check_text(&lock.value, lock.span, false, &scope);
        }
        let several = raw.schedules.len() > 1;
        let mut names = std::collections::HashSet::new();
        for schedule in &raw.schedules {
            // Several schedules are told apart by name, in logs, metrics and state.
            match &schedule.value.name {
                None if several => self.errors.push(CompileError::Schedule {
                    message: format!(
                        "one of {} schedules has no `name`",
                        raw.schedules.len()
                    ),
                    hint: Some(
                        "name each, e.g. `name: weekly-vacuum`: the daemon keeps what it fired per name"
                            .into(),
                    ),
                    span: schedule.span,
                }),
                Some(name) if !names.insert(name.clone()) => {
                    self.errors.push(CompileError::Schedule {
                        message: format!("two schedules are named `{name}`"),
                        hint: Some("give each schedule its own name".into()),
                        span: schedule.span,
                    })
                }
                _ => {}
            }
            if let Err((message, hint)) =
                schedule::check(&schedule.value.cron, &schedule.value.timezone)
            {
                self.errors.push(CompileError::Schedule {
                    message,
                    hint,
                    span: schedule.span,
                });
            }
            for name in schedule.value.inputs.keys() {
                if !raw.inputs.iter().any(|i| &i.name.value == name) {
                    self.errors.push(CompileError::Undeclared {
                        what: "input",
                        name: name.clone(),
                        hint: self.declared_hint(name, Root::Inputs),
                        span: schedule.span,
                    });
                }
            }
        }
    }

    /// Check one template (or bare expression); returns false if it has problems.
    pub(super) fn check_text(
        &mut self,
        text: &str,
        span: Span,
        expression: bool,
        scope: &Scope,
    ) -> bool {
        let result = if expression {
            self.reader.expression(text)
        } else {
            self.reader.template(text)
        };
        let refs = match result {
            Ok(refs) => refs,
            Err(TemplateError::Syntax { message, range }) => {
                let span = range.map_or(span, |r| self.locate(span, text, r));
                self.errors.push(CompileError::TemplateSyntax {
                    message,
                    span,
                    hint: syntax_hint(text),
                });
                return false;
            }
            Err(TemplateError::Limit(message)) => {
                self.errors
                    .push(CompileError::TemplateLimit { message, span });
                return false;
            }
            Err(TemplateError::UnknownVariable { name, range }) => {
                let span = range.map_or(span, |r| self.locate(span, text, r));
                self.errors.push(CompileError::Undeclared {
                    what: "variable",
                    hint: match did_you_mean(&name, Root::NAMES.iter().copied()) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => "templates can read inputs, vars, secrets, steps, item (in `for_each` steps) and run"
                            .into(),
                    },
                    name,
                    span,
                });
                return false;
            }
        };
        let before = self.errors.len();
        for reference in refs {
            let at = self.locate(span, text, reference.range.clone());
            self.check_reference(&reference, at, scope);
        }
        self.errors.len() == before
    }

    pub(super) fn check_reference(&mut self, reference: &Reference, span: Span, scope: &Scope) {
        let Some(name) = reference.name.as_deref() else {
            if reference.root == Root::Item && !scope.item {
                self.errors.push(CompileError::Undeclared {
                    what: "variable",
                    name: "item".into(),
                    hint: "`item` exists only in steps with `for_each`".into(),
                    span,
                });
            }
            return;
        };
        let raw = self.raw;
        match reference.root {
            Root::Inputs if !raw.inputs.iter().any(|i| i.name.value == name) => {
                self.undeclared("input", name, Root::Inputs, span)
            }
            Root::Vars if !raw.vars.iter().any(|v| v.name.value == name) => {
                self.undeclared("var", name, Root::Vars, span)
            }
            Root::Secrets if !raw.secrets.iter().any(|s| s.name.value == name) => {
                self.undeclared("secret", name, Root::Secrets, span)
            }
            Root::Secrets => {
                if let Some(place) = &scope.printed_in {
                    self.errors.push(CompileError::SecretPrinted {
                        secret: name.to_string(),
                        place: place.clone(),
                        span,
                    });
                }
            }
            Root::Steps => {
                self.check_step_reference(name, reference.member.as_deref(), span, scope)
            }
            Root::Item if !scope.item => self.errors.push(CompileError::Undeclared {
                what: "variable",
                name: "item".into(),
                hint: "`item` exists only in steps with `for_each`".into(),
                span,
            }),
            Root::Inputs | Root::Vars | Root::Item | Root::Run => {}
        }
    }

    pub(super) fn check_step_reference(
        &mut self,
        name: &str,
        member: Option<&str>,
        span: Span,
        scope: &Scope,
    ) {
        let Some(&target) = self.ids.get(name) else {
            self.undeclared("step", name, Root::Steps, span);
            return;
        };
        let allowed = match scope.steps {
            StepAccess::NoSteps => false,
            StepAccess::Any => true,
            StepAccess::Ancestors { step, itself } => {
                (itself && step == target)
                    || self
                        .ancestry
                        .as_mut()
                        .is_none_or(|ancestry| ancestry.depends_on(step, target))
            }
        };
        if !allowed {
            let step = match scope.steps {
                StepAccess::Ancestors { step, .. } => self.raw.steps[step].id.value.clone(),
                StepAccess::NoSteps | StepAccess::Any => {
                    "(none; this is read before any step runs)".into()
                }
            };
            self.errors.push(CompileError::NotAncestor {
                step,
                referenced: name.to_string(),
                span,
            });
            return;
        }
        let Some(member) = member else { return };
        let Some(verb) = self.raw.steps[target]
            .action
            .as_ref()
            .map(|a| a.verb.value.as_str())
        else {
            return;
        };
        let Some(info) = A::info(verb) else { return };
        if !info.outputs.contains(&member) && !COMMON_OUTPUTS.contains(&member) {
            let known: Vec<&str> = info.outputs.iter().chain(COMMON_OUTPUTS).copied().collect();
            self.errors.push(CompileError::UnknownOutput {
                referenced: name.to_string(),
                verb: verb.to_string(),
                output: member.to_string(),
                hint: known_names_hint(member, &known, "outputs"),
                span,
            });
        }
    }

    /// `show:` and `sensitive:` name outputs the step's verb has; a `show` template may read
    /// the step's own outputs (it is rendered after the step) and never a secret.
    pub(super) fn check_shown_outputs(&mut self, index: usize, step: &RawStep) {
        let verb = step.action.as_ref().map(|a| a.verb.value.as_str());
        let Some(info) = verb.and_then(A::info) else {
            return;
        };
        let mut named: Vec<&Spanned<String>> = step.sensitive.iter().collect();
        match &step.show {
            Some(show) if is_template(&show.value) => {
                let scope = Scope {
                    steps: StepAccess::Ancestors {
                        step: index,
                        itself: true,
                    },
                    item: step.for_each.is_some(),
                    printed_in: Some("`show`, which is printed".into()),
                };
                self.check_text(&show.value, show.span, false, &scope);
            }
            Some(show) => named.push(show),
            None => {}
        }
        for output in named {
            let name = output.value.trim();
            if !info.outputs.contains(&name) && !COMMON_OUTPUTS.contains(&name) {
                let known: Vec<&str> = info.outputs.iter().chain(COMMON_OUTPUTS).copied().collect();
                self.errors.push(CompileError::UnknownOutput {
                    referenced: step.id.value.clone(),
                    verb: info.name.to_string(),
                    output: name.to_string(),
                    hint: known_names_hint(name, &known, "outputs"),
                    span: output.span,
                });
            }
        }
    }

    /// The span of `range` (a piece of `text`) in the file, when the text is written there
    /// as is; otherwise (escapes, folded scalars) the whole value.
    pub(super) fn locate(
        &self,
        value_span: Span,
        text: &str,
        range: std::ops::Range<usize>,
    ) -> Span {
        // minijinja's ranges may fall inside a multi-byte character (`{{ ‘quoted’ }}`).
        let range = crate::source::char_range(text, range);
        let needle = &text[range.clone()];
        let window_end = (value_span.start + text.len() * 2 + 16).min(self.source.text.len());
        let window = self
            .source
            .text
            .get(value_span.start..window_end)
            .unwrap_or("");
        // Prefer the occurrence at the same offset as in the value (after an opening quote).
        let found = [range.start, range.start + 1]
            .into_iter()
            .find(|&offset| window.get(offset..offset + needle.len()) == Some(needle))
            .or_else(|| {
                if needle.is_empty() {
                    None
                } else {
                    window.find(needle)
                }
            });
        match found {
            Some(offset) => Span::new(
                value_span.start + offset,
                value_span.start + offset + needle.len().max(1),
            ),
            None => value_span,
        }
    }
}

/// A hint for the template mistakes that are not a typo of syntax: characters pasted from a
/// document or a non-ASCII name.
pub(super) fn syntax_hint(text: &str) -> Option<String> {
    use std::ops::Not;
    if text.contains(['‘', '’', '“', '”']) {
        return Some(
            "typographic quotes (‘ ’ “ ”), pasted from a document, are not quotes in templates: type ' or \""
                .into(),
        );
    }
    templates::code_is_ascii(text).not().then(|| {
        "names in templates are ASCII letters, digits and `_`; other text goes in quotes: `{{ 'café' }}`"
            .into()
    })
}
