//! The template engine every stage uses (the compiler's reader, the plan, the run), with the
//! limits that keep a mistaken or pasted template from hanging or exhausting the machine.
//!
//! A playbook's templates are short (`{{ inputs.stack }}-db`); anything far beyond that is a
//! mistake, and must end in a diagnostic, not in a plan that prints 100 MB or a run that never
//! ends. The limits, each checked where it can be:
//!
//! - before parsing ([`check`], reported by `validate` at the template's place): the length of
//!   a template and of each `{{ }}`/`{% %}` block, and the number of filters and operators in a
//!   block (minijinja compiles long chains recursively: 10,000 chained filters overflowed the
//!   stack);
//! - while rendering ([`render`], [`eval`]): fuel (a bound on instructions, so nested loops
//!   end), a recursion depth, and the size of what is written;
//! - `range` is replaced by one that refuses huge or overflowing bounds (minijinja's own
//!   overflows in its arithmetic on extreme steps).
//!
//! Memory is bounded by taking away what lets a value grow without bound: a value can only
//! be reused by `{% set %}` (doubling it at each step) or carried across loop iterations by
//! `namespace()`, so neither exists in playbook templates (named values are `vars:`), nor do
//! macros (recursion), and a template has at most [`MAX_REPEATS`] `*` (minijinja caps one
//! repeated string at 100 MB). What is left is a few hundred MB at worst, transiently, and
//! an output of at most [`MAX_OUTPUT`].

use minijinja::value::Value;
use minijinja::value::Value as JinjaValue;

use crate::params::is_template;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use std::io::Write;

/// A whole template, in bytes.
pub const MAX_TEMPLATE_LEN: usize = 64 * 1024;
/// One `{{ }}` or `{% %}` block, in bytes.
pub const MAX_BLOCK_LEN: usize = 4 * 1024;
/// Filters (`|`) and binary operators in one block.
pub const MAX_OPERATORS: usize = 200;
/// Depth of parentheses and brackets in one block.
pub const MAX_NESTING: usize = 32;
/// What one rendering may write.
pub const MAX_OUTPUT: usize = 1 << 20;
/// Instructions one rendering may execute (a usual template takes tens).
pub const FUEL: u64 = 200_000;
/// Nesting of loops, conditions and calls while rendering.
const RECURSION_LIMIT: usize = 64;
/// `*` in a whole template (each may repeat a string up to minijinja's 100 MB cap).
pub const MAX_REPEATS: usize = 4;
/// Statements a playbook template may not use, with what to do instead.
const FORBIDDEN: &[(&str, &str)] = &[
    (
        "set",
        "declare the value under `vars:` and read it as `vars.NAME`",
    ),
    ("macro", "write the expression where it is used"),
    ("call", "write the expression where it is used"),
    ("import", "playbook templates cannot load other templates"),
    ("from", "playbook templates cannot load other templates"),
    ("include", "playbook templates cannot load other templates"),
    ("extends", "playbook templates cannot load other templates"),
    ("block", "playbook templates cannot load other templates"),
    (
        "filter",
        "apply the filter to an expression: `{{ value | upper }}`",
    ),
    ("with", "declare the value under `vars:`"),
];
/// Items of one `range(...)`.
const MAX_RANGE: i64 = 10_000;

/// The template engine, configured once per run.
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        // Strict (an undefined value is an error, never an empty string in a command line),
        // and within the limits of `crate::template`.
        Self { env: environment() }
    }
}

impl Templates {
    pub fn render(&self, text: &str, values: &JinjaValue) -> Result<String, minijinja::Error> {
        if !is_template(text) {
            return Ok(text.to_string());
        }
        render(&self.env, text, values)
    }

    pub fn condition(&self, text: &str, values: &JinjaValue) -> Result<bool, minijinja::Error> {
        let trimmed = text.trim();
        // `"{{ expr }}"` alone is the expression itself: keep its truthiness, not its text.
        let expression = trimmed
            .strip_prefix("{{")
            .and_then(|t| t.strip_suffix("}}"))
            .filter(|inner| !inner.contains("{{") && !inner.contains("}}"))
            .map(|inner| inner.trim_matches('-'));
        match expression {
            Some(expr) => self.eval(expr, values),
            None if is_template(trimmed) => {
                let rendered = self.render(trimmed, values)?;
                Ok(!matches!(
                    rendered.trim().to_ascii_lowercase().as_str(),
                    "" | "false" | "0" | "none" | "no"
                ))
            }
            None => self.eval(trimmed, values),
        }
    }

    fn eval(&self, expr: &str, values: &JinjaValue) -> Result<bool, minijinja::Error> {
        Ok(eval(&self.env, expr, values)?.is_true())
    }
}

/// The engine, configured with the limits. `strict`: an undefined value is an error (never
/// an empty string in a command line).
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.add_function("range", range);
    // With it, a loop could grow a value without bound (`{% set ns.s = ns.s ~ ns.s %}`).
    env.remove_global("namespace");
    env
}

/// The limits a template's text must keep before it is parsed; the error says which.
pub fn check(text: &str) -> Result<(), String> {
    if text.len() > MAX_TEMPLATE_LEN {
        return Err(format!(
            "the template is {} KiB; templates are limited to {} KiB",
            text.len() / 1024,
            MAX_TEMPLATE_LEN / 1024
        ));
    }
    let repeats: usize = blocks(text).into_iter().map(|b| stars(&text[b])).sum();
    if repeats > MAX_REPEATS {
        return Err(format!(
            "{repeats} multiplications (`*`); a template may have at most {MAX_REPEATS}"
        ));
    }
    for block in blocks(text) {
        if text[..block.start].ends_with("{%") {
            let statement = text[block.clone()]
                .trim_start_matches(['-', '+'])
                .trim_start();
            let keyword = statement
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .next()
                .unwrap_or("");
            if let Some((_, instead)) = FORBIDDEN.iter().find(|(k, _)| *k == keyword) {
                return Err(format!(
                    "`{{% {keyword} %}}` is not available in playbook templates; {instead}"
                ));
            }
        }
        let code = &text[block];
        if code.len() > MAX_BLOCK_LEN {
            return Err(format!(
                "a `{{{{ }}}}` or `{{% %}}` block of {} bytes; blocks are limited to {} bytes",
                code.len(),
                MAX_BLOCK_LEN
            ));
        }
        let operators = operators(code);
        if operators > MAX_OPERATORS {
            return Err(format!(
                "a block with {operators} filters and operators; at most {MAX_OPERATORS} are allowed"
            ));
        }
        let depth = nesting(code);
        if depth > MAX_NESTING {
            return Err(format!(
                "parentheses or brackets nested {depth} deep; at most {MAX_NESTING} are allowed"
            ));
        }
    }
    Ok(())
}

/// Renders `text` within the limits.
pub fn render(env: &Environment<'_>, text: &str, values: &Value) -> Result<String, Error> {
    check(text).map_err(|message| Error::new(ErrorKind::InvalidOperation, message))?;
    let template = env.template_from_str(text)?;
    let mut out = Capped::default();
    match template.render_captured_to(values, &mut out) {
        Ok(_) => Ok(String::from_utf8_lossy(&out.bytes).into_owned()),
        Err(_) if out.full => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "the template writes more than {} KiB; output is limited to that",
                MAX_OUTPUT / 1024
            ),
        )),
        Err(e) => Err(e),
    }
}

/// Evaluates a bare expression within the limits.
pub fn eval(env: &Environment<'_>, expression: &str, values: &Value) -> Result<Value, Error> {
    check(&format!("{{{{{expression}}}}}"))
        .map_err(|message| Error::new(ErrorKind::InvalidOperation, message))?;
    env.compile_expression(expression)?.eval(values)
}

/// A writer that refuses to grow past [`MAX_OUTPUT`].
#[derive(Default)]
struct Capped {
    bytes: Vec<u8>,
    full: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT {
            self.full = true;
            return Err(std::io::Error::other("template output limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `range(stop)`, `range(start, stop)`, `range(start, stop, step)` with checked arithmetic
/// and at most [`MAX_RANGE`] items.
fn range(lower: i64, upper: Option<i64>, step: Option<i64>) -> Result<Value, Error> {
    let (start, stop) = match upper {
        Some(upper) => (lower, upper),
        None => (0, lower),
    };
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "range() step must not be 0",
        ));
    }
    let span = i128::from(stop) - i128::from(start);
    let step128 = i128::from(step);
    let count = if (span > 0) == (step128 > 0) && span != 0 {
        (span.abs() + step128.abs() - 1) / step128.abs()
    } else {
        0
    };
    if count > i128::from(MAX_RANGE) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("range() of {count} items; at most {MAX_RANGE} are allowed"),
        ));
    }
    // Every item lies between start and stop, so it fits in i64; `i * step` on the way
    // may not (the fuzzer found 2 * -9223372036854775806), hence i128.
    let items: Vec<i64> = (0..count)
        .map(|i| (i128::from(start) + i * step128) as i64)
        .collect();
    Ok(Value::from(items))
}

/// Byte ranges of the code inside `{{ }}` and `{% %}` blocks (an unclosed block runs to the
/// end). A closing `}}` inside a string literal does not close the block:
/// `{{ '{{' }}.Id{{ '}}' }}` is two blocks, `'{{'` and `'}}'`.
pub fn blocks(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut regions = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find('{').map(|i| i + rest) {
        let close = match text.get(open + 1..open + 2) {
            Some("{") => "}}",
            Some("%") => "%}",
            _ => {
                rest = open + 1;
                continue;
            }
        };
        let start = open + 2;
        let end = closing(text, start, close);
        regions.push(start..end);
        rest = (end + 2).min(text.len());
    }
    regions
}

/// Where `close` ends the block whose code starts at `start`, outside string literals; the
/// end of the text if it never does.
fn closing(text: &str, start: usize, close: &str) -> usize {
    outside_strings(&text[start..])
        .find(|&(i, _)| text[start + i..].starts_with(close))
        .map_or(text.len(), |(i, _)| start + i)
}

/// The characters of template code that are not inside a string literal, with their byte
/// offsets: what every count below looks at (`'}}'` or `'|'` in quotes is text).
fn outside_strings(code: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let mut quote = None;
    code.char_indices().filter(move |&(_, c)| match quote {
        Some(q) => {
            if c == q {
                quote = None;
            }
            false
        }
        None if c == '\'' || c == '"' => {
            quote = Some(c);
            false
        }
        None => true,
    })
}

/// Filters and binary operators of a block.
fn operators(code: &str) -> usize {
    outside_strings(code)
        .filter(|(_, c)| matches!(c, '|' | '~' | '+' | '-' | '*' | '/' | '%'))
        .count()
}

/// `*` operators of a block.
fn stars(code: &str) -> usize {
    outside_strings(code).filter(|&(_, c)| c == '*').count()
}

/// The deepest nesting of `(`, `[` and `{` in a block.
fn nesting(code: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for (_, c) in outside_strings(code) {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_text(text: &str) -> Result<String, Error> {
        render(&environment(), text, &Value::from(()))
    }

    #[test]
    fn ordinary_templates_render() {
        assert_eq!(
            render_text("{% for i in range(3) %}{{ i }}{% endfor %}").unwrap(),
            "012"
        );
        assert_eq!(
            render_text("{{ range(10, 0, -3) | list }}").unwrap(),
            "[10, 7, 4, 1]"
        );
        // minijinja's own range overflowed (a panic) on extreme bounds: two items here.
        let extreme = "{% for i in range(9223372036854775807, -9223372036854775807, -9223372036854775807) %}{{ i }} {% endfor %}";
        assert_eq!(render_text(extreme).unwrap(), "9223372036854775807 0 ");
        // Found by `cargo fuzz run validate`: the third item's offset overflowed i64.
        let found = "{% for i in range(9223372036854775807, -9223372036854775807, -9223372036854775806) %}{{ i }} {% endfor %}";
        assert_eq!(
            render_text(found).unwrap(),
            "9223372036854775807 1 -9223372036854775805 "
        );
    }

    #[test]
    fn runaway_templates_end_in_an_error() {
        for (text, expected) in [
            ("{{ 'x' * 99999999 }}", "output is limited"),
            (
                "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
                "fuel",
            ),
            ("{{ range(99999999) }}", "at most 10000"),
        ] {
            let error = render_text(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
        let chained = format!("{{{{ 'x'{} }}}}", "|e".repeat(1_000));
        assert!(
            check(&chained)
                .unwrap_err()
                .contains("filters and operators")
        );
        assert!(check(&format!("{{{{ 'x'{} }}}}", "|upper".repeat(10_000))).is_err());
        assert!(check(&"x".repeat(MAX_TEMPLATE_LEN + 1)).is_err());
        for text in [
            "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "{%- macro f(s) %}{{ f(s ~ s) }}{% endmacro %}",
            "{% include 'x' %}",
        ] {
            assert!(check(text).unwrap_err().contains("not available"), "{text}");
        }
        assert!(
            check("{{ 'x' * 9 * 9 * 9 * 9 * 9 }}")
                .unwrap_err()
                .contains("multiplications")
        );
        assert!(render_text("{{ namespace() }}").is_err());
        let deep = format!("{{{{ {}1{} }}}}", "(".repeat(100), ")".repeat(100));
        assert!(check(&deep).unwrap_err().contains("nested 100 deep"));
    }

    /// What the limits allow renders on a small stack (tokio's workers have 2 MiB): the
    /// recursion of minijinja's compiler over the longest chains allowed stays well inside.
    #[test]
    fn the_longest_allowed_chains_render_on_a_small_stack() {
        let filters = format!("{{{{ 'x'{} }}}}", "|lower".repeat(MAX_OPERATORS));
        let operators = format!("{{{{ 'x'{} }}}}", " ~ 'y'".repeat(MAX_OPERATORS));
        let nested = format!(
            "{{{{ {}1{} }}}}",
            "(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                assert_eq!(render_text(&filters).unwrap(), "x");
                assert_eq!(render_text(&operators).unwrap().len(), 1 + MAX_OPERATORS);
                assert_eq!(render_text(&nested).unwrap(), "1");
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
