//! Static reading of templates: which inputs, vars, secrets and step outputs a template uses.
//!
//! minijinja checks the syntax and names the top-level variables a template reads. It does not
//! follow subscripts, and step ids contain dashes (`steps['latest-backup'].path`), so the
//! members are read by a small scanner over the template's code regions.

use minijinja::Environment;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

/// The variables templates can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Inputs,
    Vars,
    Secrets,
    Steps,
    /// The current element of a `for_each` step.
    Item,
    /// Facts about the run itself (`run.id`, `run.started_at`).
    Run,
}

impl Root {
    pub const NAMES: &'static [&'static str] =
        &["inputs", "vars", "secrets", "steps", "item", "run"];

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "inputs" => Self::Inputs,
            "vars" => Self::Vars,
            "secrets" => Self::Secrets,
            "steps" => Self::Steps,
            "item" => Self::Item,
            "run" => Self::Run,
            _ => return None,
        })
    }
}

/// Functions minijinja provides; reading them is not reading an undeclared variable.
const BUILTINS: &[&str] = &["range", "dict", "debug", "loop"];

/// One use of a variable: `steps['restore'].duration` is root `Steps`, name `restore`, member
/// `duration`, at `range` inside the template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub root: Root,
    pub name: Option<String>,
    pub member: Option<String>,
    pub range: Range<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    Syntax {
        message: String,
        range: Option<Range<usize>>,
    },
    UnknownVariable {
        name: String,
        range: Option<Range<usize>>,
    },
    /// Beyond the limits of [`crate::template`] (length, operators).
    Limit(String),
}

pub struct TemplateReader {
    env: Environment<'static>,
    /// What each template text was found to read. Playbooks repeat their templates
    /// (`{{ inputs.project }}` on every step, the steps of a `for_each`), and a template's
    /// references depend on its text alone, so each text is parsed once per compile.
    read: RefCell<HashMap<String, Result<Vec<Reference>, TemplateError>>>,
}

impl Default for TemplateReader {
    fn default() -> Self {
        Self::new()
    }
}

impl TemplateReader {
    pub fn new() -> Self {
        Self {
            env: crate::template::environment(),
            read: RefCell::default(),
        }
    }

    /// References of a string that may hold `{{ }}` / `{% %}` blocks.
    pub fn template(&self, text: &str) -> Result<Vec<Reference>, TemplateError> {
        if let Some(known) = self.read.borrow().get(text) {
            return known.clone();
        }
        let read = self.parse(text);
        self.read
            .borrow_mut()
            .insert(text.to_string(), read.clone());
        read
    }

    fn parse(&self, text: &str) -> Result<Vec<Reference>, TemplateError> {
        crate::template::check(text).map_err(TemplateError::Limit)?;
        let template = self.env.template_from_str(text).map_err(syntax)?;
        check_roots(text, template.undeclared_variables(false))?;
        let mut refs = Vec::new();
        for region in crate::template::blocks(text) {
            scan(text, region, &mut refs);
        }
        Ok(refs)
    }

    /// References of a bare expression (`when: inputs.flush_cache and steps.x.changed`).
    pub fn expression(&self, text: &str) -> Result<Vec<Reference>, TemplateError> {
        crate::template::check(&format!("{{{{{text}}}}}")).map_err(TemplateError::Limit)?;
        let expr = self.env.compile_expression(text).map_err(syntax)?;
        check_roots(text, expr.undeclared_variables(false))?;
        let mut refs = Vec::new();
        scan(text, 0..text.len(), &mut refs);
        Ok(refs)
    }
}

fn syntax(e: minijinja::Error) -> TemplateError {
    TemplateError::Syntax {
        message: e.detail().unwrap_or("invalid template").to_string(),
        range: e.range(),
    }
}

fn check_roots(text: &str, names: std::collections::HashSet<String>) -> Result<(), TemplateError> {
    let mut unknown: Vec<String> = names
        .into_iter()
        .filter(|n| Root::parse(n).is_none() && !BUILTINS.contains(&n.as_str()))
        .collect();
    unknown.sort();
    match unknown.into_iter().next() {
        None => Ok(()),
        Some(name) => Err(TemplateError::UnknownVariable {
            range: find_word(text, &name),
            name,
        }),
    }
}

fn find_word(text: &str, word: &str) -> Option<Range<usize>> {
    text.match_indices(word)
        .find(|(i, _)| {
            !text[..*i].ends_with(is_ident_char)
                && !text[i + word.len()..].starts_with(is_ident_char)
        })
        .map(|(i, _)| i..i + word.len())
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether the code of every `{{ }}` / `{% %}` block is ASCII (text around it may be anything).
pub fn code_is_ascii(text: &str) -> bool {
    crate::template::blocks(text)
        .into_iter()
        .all(|r| text[r].is_ascii())
}

/// Finds `root`, `root.name`, `root['name']`, `root.name.member`, `root['name']['member']`...
fn scan(text: &str, region: Range<usize>, refs: &mut Vec<Reference>) {
    let bytes = text.as_bytes();
    let mut i = region.start;
    while i < region.end {
        let c = bytes[i];
        // Skip string literals so that `'steps'` in quotes is not a reference.
        if c == b'\'' || c == b'"' {
            i = text[i + 1..region.end]
                .find(c as char)
                .map_or(region.end, |j| i + 1 + j + 1);
            continue;
        }
        let starts_word =
            (c.is_ascii_alphabetic() || c == b'_') && (i == 0 || !is_word_or_dot(bytes[i - 1]));
        if !starts_word {
            i += 1;
            continue;
        }
        let word_end = ident_end(text, i, region.end);
        let Some(root) = Root::parse(&text[i..word_end]) else {
            i = word_end;
            continue;
        };
        let mut end = word_end;
        let mut parts = Vec::new();
        while parts.len() < 2 {
            match accessor(text, end, region.end) {
                Some((name, next)) => {
                    parts.push(name);
                    end = next;
                }
                None => break,
            }
        }
        let mut parts = parts.into_iter();
        refs.push(Reference {
            root,
            name: parts.next(),
            member: parts.next(),
            range: i..end,
        });
        i = end;
    }
}

fn is_word_or_dot(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

fn ident_end(text: &str, start: usize, limit: usize) -> usize {
    text[start..limit]
        .find(|c: char| !is_ident_char(c))
        .map_or(limit, |j| start + j)
}

/// `.name` or `['name']` / `["name"]` at `at`; returns the name and where it ends.
fn accessor(text: &str, at: usize, limit: usize) -> Option<(String, usize)> {
    let rest = &text[at..limit];
    if let Some(after) = rest.strip_prefix('.') {
        let len = after
            .find(|c: char| !is_ident_char(c))
            .unwrap_or(after.len());
        return (len > 0).then(|| (after[..len].to_string(), at + 1 + len));
    }
    let inner = rest.strip_prefix('[')?;
    let trimmed = inner.trim_start();
    let quote = trimmed.chars().next().filter(|q| *q == '\'' || *q == '"')?;
    let body = &trimmed[1..];
    let close = body.find(quote)?;
    let after_quote = &body[close + 1..];
    let after_bracket = after_quote.trim_start().strip_prefix(']')?;
    let consumed = rest.len() - after_bracket.len();
    Some((body[..close].to_string(), at + consumed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(text: &str) -> Vec<(Root, Option<String>, Option<String>, String)> {
        TemplateReader::new()
            .template(text)
            .unwrap()
            .into_iter()
            .map(|r| (r.root, r.name, r.member, text[r.range].to_string()))
            .collect()
    }

    #[test]
    fn reads_dotted_and_subscripted_references() {
        let found =
            refs("{{ inputs.glob }} and {{ steps['latest-backup'].path }}/{{ steps.b[\"rows\"] }}");
        assert_eq!(
            found,
            vec![
                (
                    Root::Inputs,
                    Some("glob".into()),
                    None,
                    "inputs.glob".into()
                ),
                (
                    Root::Steps,
                    Some("latest-backup".into()),
                    Some("path".into()),
                    "steps['latest-backup'].path".into()
                ),
                (
                    Root::Steps,
                    Some("b".into()),
                    Some("rows".into()),
                    "steps.b[\"rows\"]".into()
                ),
            ]
        );
    }

    #[test]
    fn ignores_text_outside_blocks_and_inside_string_literals() {
        assert!(refs("inputs.x is plain text {{ 'steps.x' }}").is_empty());
    }

    #[test]
    fn reads_expressions_and_loops() {
        let reader = TemplateReader::new();
        let found = reader
            .expression("inputs.flush and steps['restore'].ok")
            .unwrap();
        assert_eq!(found.len(), 2);
        let found = refs("{% for s in vars.services %}{{ s }}{% endfor %}");
        assert_eq!(
            found,
            vec![(
                Root::Vars,
                Some("services".into()),
                None,
                "vars.services".into()
            )]
        );
    }

    #[test]
    fn reports_unknown_roots_and_syntax_errors() {
        let reader = TemplateReader::new();
        assert_eq!(
            reader.template("{{ input.x }}"),
            Err(TemplateError::UnknownVariable {
                name: "input".into(),
                range: Some(3..8)
            })
        );
        assert!(matches!(
            reader.template("{{ oops"),
            Err(TemplateError::Syntax { .. })
        ));
    }
}
