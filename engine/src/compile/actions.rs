//! Actions: the verb and its typed params (shorthands expanded), templates in params
//! checked (secrets where printed, templates where a verb takes text as written).

use super::*;

impl<'a, A: Action> Compiler<'a, A> {
    /// `shell.run: "script"` / `shell.run: [argv...]`: the mapping a bare value stands for.
    pub(super) fn expand_shorthand(verb: &str, params: &YamlNode) -> Option<YamlNode> {
        let shorthand = A::info(verb)?.shorthand;
        let key = match &params.kind {
            NodeKind::Str(_) => shorthand.string?,
            NodeKind::Seq(_) => shorthand.list?,
            _ => return None,
        };
        Some(YamlNode {
            kind: NodeKind::Map(vec![(
                Spanned::new(key.to_string(), params.span),
                params.clone(),
            )]),
            span: params.span,
        })
    }

    pub(super) fn parse_action(&mut self, raw: &RawAction) -> Option<A> {
        let verb = &raw.verb.value;
        if A::info(verb).is_none() {
            let names: Vec<&str> = A::catalog().iter().map(|v| v.name).collect();
            let family = verb.split('.').next().unwrap_or_default();
            let siblings: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| n.starts_with(&format!("{family}.")))
                .collect();
            let hint = match did_you_mean(verb, names.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None if !siblings.is_empty() => known_names_hint(verb, &siblings, "verbs"),
                None => {
                    let mut families: Vec<&str> =
                        names.iter().filter_map(|n| n.split('.').next()).collect();
                    families.dedup();
                    format!(
                        "actions are `<family>.<verb>`; families: {}",
                        families.join(", ")
                    )
                }
            };
            self.errors.push(CompileError::UnknownVerb {
                verb: verb.clone(),
                hint,
                span: raw.verb.span,
            });
            return None;
        }
        let params = Self::expand_shorthand(verb, &raw.params);
        match from_entry::<A>(&raw.verb, params.as_ref().unwrap_or(&raw.params)) {
            Ok(action) => match action.validate() {
                Ok(()) => Some(action),
                Err(message) => {
                    self.errors.push(CompileError::InvalidParams {
                        verb: verb.clone(),
                        message,
                        hint: None,
                        span: raw.params.span,
                    });
                    None
                }
            },
            Err(e) => {
                let hint = e.hint.or_else(|| whole_list_hint(verb, &e.message));
                self.errors.push(CompileError::InvalidParams {
                    verb: verb.clone(),
                    message: e.message,
                    hint,
                    span: e.span.unwrap_or(raw.params.span),
                });
                None
            }
        }
    }

    pub(super) fn action_spec(&mut self, raw: &RawAction) -> Option<ActionSpec<A>> {
        Some(ActionSpec {
            action: self.parse_action(raw)?,
            name: raw.name.as_ref().map(|n| n.value.clone()),
            when: raw.when.as_ref().map(|w| w.value.clone()),
            timeout: raw.timeout,
            retry: raw.retry.clone(),
            span: raw.verb.span,
        })
    }

    /// Check every template in an action's params; printed params may not hold secrets, nor
    /// may its `name` (a rollback's or handler's name is printed as a step's is).
    pub(super) fn action_templates(&mut self, raw: &RawAction, scope: &Scope) {
        if let Some(name) = &raw.name {
            let printed = Scope {
                steps: scope.steps,
                item: scope.item,
                printed_in: Some("a step name".into()),
            };
            self.check_text(&name.value, name.span, false, &printed);
        }
        if let Some(when) = &raw.when {
            let condition = Scope {
                steps: scope.steps,
                item: scope.item,
                printed_in: None,
            };
            self.check_text(&when.value, when.span, true, &condition);
        }
        let printed = A::info(&raw.verb.value).map_or(&[][..], |v| v.printed);
        let mut path = Vec::new();
        // A shorthand (`shell.run: "script"`) is checked as the mapping it stands for, so a
        // secret in it is refused as in `script:`.
        let expanded = Self::expand_shorthand(&raw.verb.value, &raw.params);
        let params = expanded.as_ref().unwrap_or(&raw.params);
        let mut literal = Vec::new();
        params.walk_strings(&mut path, &mut |path, node, text| {
            if !is_template(text) {
                return;
            }
            let field = path.first().map(String::as_str).unwrap_or_default();
            let at = literal_path(path);
            if A::taken_as_written()
                .iter()
                .any(|(verb, p)| *verb == raw.verb.value && *p == at)
            {
                literal.push((at, node.span));
                return;
            }
            let scope = Scope {
                steps: scope.steps,
                item: scope.item,
                printed_in: printed
                    .contains(&field)
                    .then(|| format!("`{}.{field}`, which is printed", raw.verb.value)),
            };
            self.check_text(text, node.span, false, &scope);
        });
        for (at, span) in literal {
            self.errors.push(CompileError::InvalidParams {
                verb: raw.verb.value.clone(),
                message: format!(
                    "`{at}` is taken as written when the step runs: a template there would be planned rendered and run as written"
                ),
                hint: Some(format!(
                    "write the value itself; `runbook verbs {}` shows which params take templates",
                    raw.verb.value
                )),
                span,
            });
        }
    }
}

/// A list param given one template (`argv: "{{ inputs.cmd }}"`): which params take a whole
/// list from one template, and what to write instead.
pub(super) fn whole_list_hint(verb: &str, message: &str) -> Option<String> {
    let template = message
        .strip_prefix("expected a sequence, found the string \"")?
        .strip_suffix('"')?;
    if !is_template(template) {
        return None;
    }
    let instead = if verb == "shell.run" {
        format!(" here, write the command line as a script: `script: \"{template}\"`")
    } else {
        " here, write the list in YAML, one template per item: `[\"{{ item }}\", ...]`".to_string()
    };
    Some(format!(
        "a whole list from one template is taken only by docker's `services` and `docker.exec`'s `command`;{instead}"
    ))
}

/// A param's path as `Action::taken_as_written` writes it: `expect.stdout`, list items as
/// `tables[]`.
pub(super) fn literal_path(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if part.chars().all(|c| c.is_ascii_digit()) {
            out.push_str("[]");
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}
