//! `file.*`: backups and artefacts on the runner's filesystem.

use crate::prelude::*;

/// Fail unless a file exists (and is big enough).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exists {
    pub path: Template,
    /// Minimum size in bytes (an empty backup is no backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<Tpl<u64>>,
}

impl Verb for Exists {
    const EFFECT: Effect = Effect::ReadOnly;
    const SUMMARY: &'static str = "Check that a file exists";
    const OUTPUTS: &'static [&'static str] = &["path", "size", "modified"];
}

/// The newest file matching a glob, optionally no older than `max_age`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Latest {
    /// e.g. `/backups/goodgo_*.sql.gz`
    pub glob: Template,
    /// Fail if the newest match is older than this (a stale backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Tpl<Duration>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<Tpl<u64>>,
}

impl Verb for Latest {
    const EFFECT: Effect = Effect::ReadOnly;
    const SUMMARY: &'static str = "Find the newest file matching a glob";
    const OUTPUTS: &'static [&'static str] = &["path", "size", "modified", "age"];
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    #[default]
    Sha256,
    Md5,
}

/// Checksum a file, optionally against an expected value.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checksum {
    pub path: Template,
    #[serde(default)]
    pub algorithm: Algorithm,
    /// Hex digest the file must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Template>,
}

impl Verb for Checksum {
    const EFFECT: Effect = Effect::ReadOnly;
    const SUMMARY: &'static str = "Compute a file's checksum";
    const OUTPUTS: &'static [&'static str] = &["path", "checksum"];
}
