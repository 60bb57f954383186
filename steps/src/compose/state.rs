//! What a compose project is made of right now: the services its files declare with their
//! config hashes (from the tool: `config --hash`), and its containers (from the engine:
//! the compose labels), so a preview can tell created, recreated and unchanged apart exactly
//! as the tool will.

use bollard::Docker;

use super::tool::{Project, Tool};
use crate::docker::engine::{self, Container, PROJECT_LABEL};
use crate::prelude::*;

const CONFIG_HASH_LABEL: &str = "com.docker.compose.config-hash";
const ONEOFF_LABEL: &str = "com.docker.compose.oneoff";

/// The tool, the project's flags, and its engine.
pub(super) struct Open {
    pub tool: Tool,
    pub project: Project,
    pub docker: Docker,
}

/// A container of the project, with the hash of the config it was made from.
pub(super) struct Member {
    pub container: Container,
    pub config_hash: Option<String>,
}

impl Member {
    pub fn service(&self) -> &str {
        self.container.service.as_deref().unwrap_or("?")
    }
}

impl Open {
    /// `service -> config hash` of the services the files declare (profiles applied),
    /// restricted to `services` when given.
    pub async fn declared(
        &self,
        ctx: &StepContext,
        services: &[String],
    ) -> Result<BTreeMap<String, String>, StepError> {
        let which = if services.is_empty() {
            "*".to_string()
        } else {
            services.join(",")
        };
        let ended = self
            .tool
            .run_ok(
                ctx,
                &self.project,
                &["config".into(), format!("--hash={which}")],
            )
            .await?;
        Ok(parse_hashes(&ended.stdout))
    }

    /// The project's containers (not one-off `run` containers), by service then number.
    pub async fn members(&self) -> Result<Vec<Member>, StepError> {
        let summaries = engine::list_labelled(
            &self.docker,
            vec![format!("{PROJECT_LABEL}={}", self.project.name)],
        )
        .await?;
        let mut members = Vec::new();
        for summary in summaries {
            let labels = summary.labels.unwrap_or_default();
            if labels.get(ONEOFF_LABEL).is_some_and(|v| v == "True") {
                continue;
            }
            let Some(id) = summary.id else { continue };
            members.push(Member {
                container: engine::inspect(&self.docker, &id).await?,
                config_hash: labels.get(CONFIG_HASH_LABEL).cloned(),
            });
        }
        members.sort_by(|a, b| {
            (a.service(), &a.container.name).cmp(&(b.service(), &b.container.name))
        });
        Ok(members)
    }
}

/// `api 6e06cb...` lines.
fn parse_hashes(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect()
}

/// What `up` would do to each service, from the declared hashes and the live containers.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Forecast {
    pub create: Vec<String>,
    pub recreate: Vec<String>,
    pub start: Vec<String>,
    pub unchanged: Vec<String>,
    /// Containers of services the files no longer declare.
    pub orphans: Vec<String>,
}

pub(super) fn forecast(
    declared: &BTreeMap<String, String>,
    members: &[Member],
    force_recreate: bool,
    only: &[String],
) -> Forecast {
    let mut forecast = Forecast::default();
    for (service, hash) in declared {
        let own: Vec<&Member> = members.iter().filter(|m| m.service() == service).collect();
        if own.is_empty() {
            forecast.create.push(service.clone());
        } else if force_recreate || own.iter().any(|m| m.config_hash.as_ref() != Some(hash)) {
            forecast.recreate.push(service.clone());
        } else if own.iter().any(|m| !m.container.is_running()) {
            forecast.start.push(service.clone());
        } else {
            forecast.unchanged.push(service.clone());
        }
    }
    if only.is_empty() {
        forecast.orphans = members
            .iter()
            .filter(|m| !declared.contains_key(m.service()))
            .map(|m| m.container.name.clone())
            .collect();
    }
    forecast
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(service: &str, hash: &str, state: &str) -> Member {
        Member {
            container: Container {
                id: format!("id-{service}"),
                name: format!("p_{service}_1"),
                service: Some(service.into()),
                state: state.into(),
                health: "none".into(),
                image: "img".into(),
                restarts: 0,
                started_at: String::new(),
                exit_code: 0,
                oom_killed: false,
            },
            config_hash: Some(hash.into()),
        }
    }

    #[test]
    fn the_forecast_tells_each_service_apart_as_compose_will() {
        let declared = parse_hashes("api aaa\nweb bbb\nworker ccc\nnew ddd\n");
        let members = [
            member("api", "aaa", "running"),
            member("web", "old", "running"),
            member("worker", "ccc", "exited"),
            member("gone", "eee", "running"),
        ];
        let f = forecast(&declared, &members, false, &[]);
        assert_eq!(f.create, ["new"]);
        assert_eq!(f.recreate, ["web"]);
        assert_eq!(f.start, ["worker"]);
        assert_eq!(f.unchanged, ["api"]);
        assert_eq!(f.orphans, ["p_gone_1"]);
        let forced = forecast(&declared, &members, true, &["api".into()]);
        assert_eq!(forced.recreate, ["api", "web", "worker"]);
        assert!(
            forced.orphans.is_empty(),
            "a service subset leaves orphans alone"
        );
    }
}
