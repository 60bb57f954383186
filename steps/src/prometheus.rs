//! `prometheus.*`: queries with thresholds, rules loaded, alerts firing.

use crate::prelude::*;

/// Run an instant PromQL query and compare its value with thresholds.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// Prometheus base URL, e.g. `http://localhost:9090`.
    pub url: Template,
    pub query: Template,
    /// Fail if any series is below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Tpl<f64>>,
    /// Fail if any series is above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Tpl<f64>>,
    /// Fail if the query returns no series.
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_data: bool,
}

impl Verb for Query {
    const EFFECT: Effect = Effect::ReadOnly;
    const SUMMARY: &'static str = "Run a PromQL query and check it against thresholds";
    const OUTPUTS: &'static [&'static str] = &["value", "series"];
    fn run<'a>(&'a self, _: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        not_built_yet("prometheus")
    }
}

/// Check that alerting rules are loaded.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub url: Template,
    /// Rule groups that must be loaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Alert names that must be defined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
    /// At least this many rules in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rules: Option<Tpl<u32>>,
}

impl Verb for Rules {
    const EFFECT: Effect = Effect::ReadOnly;
    const SUMMARY: &'static str = "Check that alerting rules are loaded";
    const OUTPUTS: &'static [&'static str] = &["groups", "rule_count"];
    fn run<'a>(&'a self, _: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        not_built_yet("prometheus")
    }
}

/// Check which alerts are firing.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    pub url: Template,
    /// Alerts that must be firing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub firing: Vec<String>,
    /// Alerts that must not be firing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_firing: Vec<String>,
    /// Fail if any alert at all is firing.
    #[serde(default, skip_serializing_if = "is_false")]
    pub none_firing: bool,
}

impl Verb for Alerts {
    const EFFECT: Effect = Effect::ReadOnly;
    const SUMMARY: &'static str = "Check which alerts are firing";
    const OUTPUTS: &'static [&'static str] = &["firing"];
    fn run<'a>(&'a self, _: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        not_built_yet("prometheus")
    }
}
