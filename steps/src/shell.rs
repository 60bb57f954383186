//! `shell.run`: the escape hatch for what no typed verb covers yet.

use crate::prelude::*;

/// Run a program (argv) or a script, in its own process group so a timeout kills it all.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// Program and arguments, run without a shell: `[pg_isready, -h, localhost]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<Template>>,
    /// A script run by `shell` (default `sh -eu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// Environment variables; the place for secrets (they would show in `ps` as arguments).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    /// The command only reads: safe in check mode and to re-run after a crash.
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
}

/// What a finished command must look like.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Accepted exit codes (default `[0]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exit_codes: Vec<i32>,
    /// Regex stdout must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// Regex stderr must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
}

impl Verb for Run {
    const EFFECT: Effect = Effect::Mutating;
    const SUMMARY: &'static str = "Run a command or script";
    const OUTPUTS: &'static [&'static str] = &["exit_code", "stdout", "stderr"];
    const PRINTED: &'static [&'static str] = &["argv", "script"];
    fn effect(&self) -> Effect {
        if self.read_only {
            Effect::ReadOnly
        } else {
            Effect::Mutating
        }
    }
    fn validate(&self) -> Result<(), String> {
        match (&self.argv, &self.script) {
            (Some(argv), None) if argv.is_empty() => {
                Err("`argv` needs at least the program to run".into())
            }
            (Some(_), None) | (None, Some(_)) => Ok(()),
            _ => Err("give exactly one of `argv` or `script`".into()),
        }
    }
}
