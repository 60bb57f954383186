//! Step ids and `needs`: duplicates, unknown needs (with suggestions), the steps the
//! objectives name, and what to say about any name that is not declared.

use super::*;

impl<'a, A: Action> Compiler<'a, A> {
    pub(super) fn check_ids(&mut self) {
        for (index, step) in self.raw.steps.iter().enumerate() {
            match self.ids.get(step.id.value.as_str()) {
                Some(&first) => self.errors.push(CompileError::DuplicateId {
                    id: step.id.value.clone(),
                    first: self.raw.steps[first].id.span,
                    span: step.id.span,
                }),
                None => {
                    self.ids.insert(&step.id.value, index);
                }
            }
        }
    }

    /// For each step, the indices of the steps it needs and where each is written.
    pub(super) fn resolve_needs(&mut self) -> Vec<Vec<(usize, usize)>> {
        let mut all = Vec::with_capacity(self.raw.steps.len());
        for step in &self.raw.steps {
            let mut needs = Vec::with_capacity(step.needs.len());
            for (position, need) in step.needs.iter().enumerate() {
                match self.ids.get(need.value.as_str()) {
                    Some(&index) => needs.push((index, position)),
                    None => self.errors.push(CompileError::UnknownNeed {
                        step: step.id.value.clone(),
                        need: need.value.clone(),
                        hint: self
                            .suggest_step(&need.value)
                            .map(|best| format!("did you mean `{best}`?")),
                        span: need.span,
                    }),
                }
            }
            all.push(needs);
        }
        all
    }

    /// The steps that bound the RTO clock exist; `data_as_of` reads what a run leaves.
    pub(super) fn check_objectives(&mut self, objectives: &Spanned<Objectives>) {
        let o = &objectives.value;
        for name in [&o.measure_from, &o.measure_to].into_iter().flatten() {
            if !self.raw.steps.iter().any(|s| &s.id.value == name) {
                self.errors.push(CompileError::Undeclared {
                    what: "step",
                    name: name.clone(),
                    hint: match self.suggest_step(name) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => {
                            "`measure_from` and `measure_to` name steps of this playbook".into()
                        }
                    },
                    span: objectives.span,
                });
            }
        }
        if let Some(text) = &o.data_as_of {
            self.check_text(text, objectives.span, false, &Scope::after_run());
        }
    }

    pub(super) fn undeclared(&mut self, what: &'static str, name: &str, root: Root, span: Span) {
        // Declared, with a spec the loader could not read and has already reported.
        if root != Root::Steps && self.raw.unreadable.iter().any(|n| n == name) {
            return;
        }
        let hint = self.declared_hint(name, root);
        self.errors.push(CompileError::Undeclared {
            what,
            name: name.to_string(),
            hint,
            span,
        });
    }

    /// The step id closest to a misspelled one.
    pub(super) fn suggest_step(&self, given: &str) -> Option<&'a str> {
        let raw = self.raw;
        self.step_ids
            .get_or_init(|| Suggester::new(raw.steps.iter().map(|s| s.id.value.as_str())))
            .suggest(given)
    }

    pub(super) fn declared_hint(&self, name: &str, root: Root) -> String {
        let raw = self.raw;
        if root == Root::Steps {
            return match self.suggest_step(name) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "no step has this id".to_string(),
            };
        }
        let (names, section): (Vec<&str>, &str) = match root {
            Root::Inputs => (
                raw.inputs.iter().map(|i| i.name.value.as_str()).collect(),
                "inputs",
            ),
            Root::Vars => (
                raw.vars.iter().map(|v| v.name.value.as_str()).collect(),
                "vars",
            ),
            Root::Secrets => (
                raw.secrets.iter().map(|s| s.name.value.as_str()).collect(),
                "secrets",
            ),
            Root::Steps | Root::Item | Root::Run => (
                raw.steps.iter().map(|s| s.id.value.as_str()).collect(),
                "steps",
            ),
        };
        match did_you_mean(name, names.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("declare it under `{section}:`"),
        }
    }
}
