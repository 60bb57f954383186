//! `prometheus.*`: queries with thresholds, rules loaded, alerts firing.

use crate::http::{Body, Method, api_url, call_json_api};
use crate::prelude::*;
use serde_json::{Value, json};

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
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(self.execute(ctx))
    }
}

impl Query {
    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let query = ctx.render(&self.query)?;
        let url = api_url(
            &ctx.render(&self.url)?,
            "/api/v1/query",
            &[("query", &query)],
        )?;
        let data = prometheus_data(call_json_api(Method::Get, url, Body::None).await?)?;
        let series = series_of(&data);
        if series.is_empty() && self.require_data {
            return Err(StepError::failed(format!("`{query}` returned no data")));
        }
        let min = self.min.as_ref().map(|m| ctx.resolve(m)).transpose()?;
        let max = self.max.as_ref().map(|m| ctx.resolve(m)).transpose()?;
        for (labels, value) in &series {
            let shown = || format!("`{query}` is {value} for {labels}");
            if let Some(min) = min.filter(|min| value < min) {
                return Err(StepError::failed(format!(
                    "{}, below the minimum {min}",
                    shown()
                )));
            }
            if let Some(max) = max.filter(|max| value > max) {
                return Err(StepError::failed(format!(
                    "{}, above the maximum {max}",
                    shown()
                )));
            }
        }
        Ok(outputs(json!({
            "value": series.first().map(|(_, v)| *v),
            "series": series.iter().map(|(labels, value)| json!({ "labels": labels, "value": value })).collect::<Vec<_>>(),
        })))
    }
}

/// The `data` of a Prometheus API answer, or its error.
fn prometheus_data(answer: Value) -> Result<Value, StepError> {
    match answer.get("status").and_then(Value::as_str) {
        Some("success") => Ok(answer.get("data").cloned().unwrap_or(Value::Null)),
        _ => Err(StepError::failed(format!(
            "Prometheus refused: {}",
            answer
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no error text")
        ))),
    }
}

/// `(labels, value)` of each series of an instant query (a scalar is one series without
/// labels); values that are not numbers (`NaN` included) are left out.
fn series_of(data: &Value) -> Vec<(Value, f64)> {
    let number = |pair: &Value| {
        pair.get(1)
            .and_then(Value::as_str)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| !v.is_nan())
    };
    match data.get("resultType").and_then(Value::as_str) {
        Some("scalar") => number(&data["result"])
            .map(|v| (json!({}), v))
            .into_iter()
            .collect(),
        _ => data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some((
                    s.get("metric").cloned().unwrap_or(json!({})),
                    number(&s["value"])?,
                ))
            })
            .collect(),
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
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(self.execute(ctx))
    }
}

impl Rules {
    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let url = api_url(&ctx.render(&self.url)?, "/api/v1/rules", &[])?;
        let data = prometheus_data(call_json_api(Method::Get, url, Body::None).await?)?;
        let groups: Vec<&Value> = data["groups"].as_array().into_iter().flatten().collect();
        let group_names: Vec<&str> = groups.iter().filter_map(|g| g["name"].as_str()).collect();
        let rules: Vec<&Value> = groups
            .iter()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        let mut problems = Vec::new();
        for wanted in &self.groups {
            if !group_names.contains(&wanted.as_str()) {
                problems.push(format!("rule group `{wanted}` is not loaded"));
            }
        }
        for wanted in &self.alerts {
            let rule = rules
                .iter()
                .find(|r| r["type"] == "alerting" && r["name"].as_str() == Some(wanted));
            match rule {
                None => problems.push(format!("alert `{wanted}` is not defined")),
                Some(r) if r["health"].as_str().is_some_and(|h| h == "err") => {
                    problems.push(format!(
                        "alert `{wanted}` fails to evaluate: {}",
                        r["lastError"].as_str().unwrap_or("?")
                    ))
                }
                Some(_) => {}
            }
        }
        if let Some(min) = self
            .min_rules
            .as_ref()
            .map(|m| ctx.resolve(m))
            .transpose()?
            && rules.len() < min as usize
        {
            problems.push(format!("{} rules loaded, fewer than {min}", rules.len()));
        }
        if !problems.is_empty() {
            return Err(StepError::failed(format!(
                "{}; loaded groups: {}",
                problems.join("; "),
                if group_names.is_empty() {
                    "none".to_string()
                } else {
                    group_names.join(", ")
                }
            )));
        }
        Ok(outputs(
            json!({ "groups": group_names, "rule_count": rules.len() }),
        ))
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
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(self.execute(ctx))
    }
}

impl Alerts {
    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let url = api_url(&ctx.render(&self.url)?, "/api/v1/alerts", &[])?;
        let data = prometheus_data(call_json_api(Method::Get, url, Body::None).await?)?;
        let mut firing: Vec<String> = data["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["state"] == "firing")
            .filter_map(|a| a["labels"]["alertname"].as_str().map(String::from))
            .collect();
        firing.sort();
        firing.dedup();
        let mut problems = Vec::new();
        for wanted in &self.firing {
            if !firing.contains(wanted) {
                problems.push(format!("`{wanted}` is not firing"));
            }
        }
        for unwanted in &self.not_firing {
            if firing.contains(unwanted) {
                problems.push(format!("`{unwanted}` is firing"));
            }
        }
        if self.none_firing && !firing.is_empty() {
            problems.push("alerts are firing".to_string());
        }
        if !problems.is_empty() {
            return Err(StepError::failed(format!(
                "{} (firing: {})",
                problems.join("; "),
                if firing.is_empty() {
                    "none".to_string()
                } else {
                    firing.join(", ")
                }
            )));
        }
        Ok(outputs(json!({ "firing": firing })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_and_scalars_become_series() {
        let vector = json!({"resultType": "vector", "result": [
            {"metric": {"instance": "a"}, "value": [1.0, "3"]},
            {"metric": {"instance": "b"}, "value": [1.0, "NaN"]}
        ]});
        assert_eq!(series_of(&vector), vec![(json!({"instance": "a"}), 3.0)]);
        let scalar = json!({"resultType": "scalar", "result": [1.0, "0.5"]});
        assert_eq!(series_of(&scalar), vec![(json!({}), 0.5)]);
    }
}
