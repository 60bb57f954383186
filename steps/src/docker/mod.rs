//! `docker.*`: containers of a Docker engine, selected the way compose names them.
//!
//! Every verb selects containers by compose `project` + `services` (the
//! `com.docker.compose.project` / `com.docker.compose.service` labels), by container name, or by
//! label. The selection fields are repeated in each struct by `docker_params!` because serde's
//! `flatten` cannot be combined with refusing unknown keys.

use crate::prelude::*;

/// On a step's `host:`: a host's engine, its socket forwarded over the SSH connection.
const FAMILY_ON_HOSTS: bool = true;

mod copy;
pub(crate) mod engine;
mod exec;
mod images;
mod lifecycle;
mod logs;
mod observe;
pub(crate) mod recreate;
mod rolling;
mod state;
mod volume;

pub use engine::{PROJECT_LABEL, SERVICE_LABEL};
pub(crate) use images::short as short_id;
pub use images::{Build, PruneImages, Pull, Tag};

macro_rules! docker_params {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Compose project of the containers (label `com.docker.compose.project`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub project: Option<Template>,
            /// Compose services to select within the project, in this order.
            #[serde(default, skip_serializing_if = "TemplateList::is_empty_list")]
            pub services: TemplateList,
            /// Containers selected by name.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub containers: Vec<Template>,
            /// Containers selected by label: `key=value` or `key`.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub labels: Vec<Template>,
            /// Selecting no container is an error unless this is true.
            #[serde(default, skip_serializing_if = "is_false")]
            pub allow_empty: bool,
            /// Docker engine: `unix:///var/run/docker.sock`, `tcp://host:2376`. Default: `DOCKER_HOST`, else the local socket.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub engine: Option<Template>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            /// The selection with templates rendered.
            fn selection(&self, ctx: &StepContext) -> Result<engine::Selection, StepError> {
                let render_all = |items: &[Template]| -> Result<Vec<String>, StepError> {
                    items.iter().map(|t| ctx.render(t)).collect()
                };
                let selection = engine::Selection {
                    project: self.project.as_ref().map(|p| ctx.render(p)).transpose()?,
                    services: ctx.render_list(&self.services)?,
                    containers: render_all(&self.containers)?,
                    labels: render_all(&self.labels)?,
                    allow_empty: self.allow_empty,
                };
                selection.check_names()?;
                Ok(selection)
            }

            /// Connects to the engine and selects the containers.
            async fn targets(
                &self,
                ctx: &StepContext,
            ) -> Result<(bollard::Docker, Vec<engine::Container>), StepError> {
                let docker = engine::connect(ctx, self.engine.as_ref()).await?;
                let containers = engine::select(&docker, &self.selection(ctx)?).await?;
                Ok((docker, containers))
            }

            fn check_selection(&self) -> Result<(), String> {
                if self.project.is_none() && self.containers.is_empty() && self.labels.is_empty() {
                    return Err("select containers with `project` (+ `services`), `containers` or `labels`".into());
                }
                if !self.services.is_empty_list() && self.project.is_none() {
                    return Err("`services` are looked up within a compose `project`; add `project`".into());
                }
                Ok(())
            }
        }
    };
}

/// A docker verb: its selection is validated by `check_selection`.
macro_rules! docker_verb {
    ($name:ident, $effect:ident, $($rest:tt)*) => {
        family_verb!($name, $effect, check_selection, $($rest)*);
    };
}

docker_params! {
    /// Read the state of the selected containers.
    pub struct Inspect {}
}
docker_verb!(
    Inspect,
    ReadOnly,
    "Read the state of the selected containers",
    ["containers", "count", "running", "healthy"]
);

docker_params! {
    /// Fail unless every selected container is in the expected state.
    pub struct Assert {
        /// Expected state: `running`, `exited`, `paused`, `restarting`, `created`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub state: Option<ContainerState>,
        /// Expected health: `healthy`, `unhealthy`, `starting`, `none` (no healthcheck).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub health: Option<Health>,
        /// Fail if a container restarted more often than this (a crash loop).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_restarts: Option<Tpl<u32>>,
        /// Expected image reference, e.g. `ghcr.io/goodgo/goodgo-api:1.4.2`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub image: Option<Template>,
    }
}
docker_verb!(
    Assert,
    ReadOnly,
    "Check that the selected containers are in the expected state",
    ["containers"]
);

docker_params! {
    /// Stop the selected containers (SIGTERM, then SIGKILL after `grace`).
    pub struct Stop {
        /// Time to exit cleanly before the engine kills the container.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub grace: Option<Tpl<Duration>>,
    }
}
docker_verb!(
    Stop,
    Mutating,
    "Stop containers (compose `stop`)",
    ["stopped", "changed"]
);

docker_params! {
    /// Start the selected containers, in the order of `services`.
    pub struct Start {}
}
docker_verb!(
    Start,
    Mutating,
    "Start containers (compose `start`)",
    ["started", "changed"]
);

docker_params! {
    /// Restart the selected containers.
    pub struct Restart {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub grace: Option<Tpl<Duration>>,
    }
}
docker_verb!(
    Restart,
    Mutating,
    "Restart containers (compose `restart`)",
    ["restarted"]
);

docker_params! {
    /// Wait until every selected container reaches a state.
    pub struct Wait {
        /// `healthy` (default), `running` or `exited`.
        #[serde(default)]
        pub until: WaitFor,
        /// What `until: healthy` means for a container without a healthcheck: `fail` (default) or `running`.
        #[serde(default)]
        pub without_healthcheck: WithoutHealthcheck,
        /// How often to look.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub interval: Option<Tpl<Duration>>,
    }
}
docker_verb!(
    Wait,
    ReadOnly,
    "Wait until containers are healthy, running or exited",
    ["waited"]
);

docker_params! {
    /// Run a command inside each selected container (`docker exec`).
    pub struct Exec {
        /// The command as argv, e.g. `[pg_isready, -U, goodgo]`.
        pub command: TemplateList,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub user: Option<Template>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub workdir: Option<Template>,
        /// Environment variables for the command (secrets allowed here, not in `command`).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub env: BTreeMap<String, Template>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub expect: Option<crate::shell::Expect>,
        /// The command only reads (e.g. `redis-cli ping`): safe in check mode and to re-run.
        #[serde(default, skip_serializing_if = "is_false")]
        pub read_only: bool,
    }
}

impl Verb for Exec {
    const EFFECT: Effect = Effect::Mutating;
    const ON_HOSTS: bool = FAMILY_ON_HOSTS;
    const SUMMARY: &'static str = "Run a command inside containers (`docker exec`)";
    const OUTPUTS: &'static [&'static str] = &["exit_code", "stdout", "stderr"];
    const PRINTED: &'static [&'static str] = &["command"];
    fn effect(&self) -> Effect {
        Effect::read_only_if(self.read_only)
    }
    fn validate(&self) -> Result<(), String> {
        if self.command.is_empty_list() {
            return Err("`command` needs at least the program to run".into());
        }
        self.check_selection()
    }
    execute_and_forecast!();
}

docker_params! {
    /// CPU and memory of each selected container, with thresholds (`docker stats --no-stream`).
    pub struct Stats {
        /// Fail when a container uses more CPU than this percent (100 = one CPU busy).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_cpu_percent: Option<Tpl<f64>>,
        /// Fail when a container uses more than this percent of its memory limit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_memory_percent: Option<Tpl<f64>>,
    }
}
docker_verb!(
    Stats,
    ReadOnly,
    "CPU and memory of containers (`docker stats --no-stream`), with thresholds",
    ["containers", "max_cpu_percent", "max_memory_percent"]
);

docker_params! {
    /// Where a container port is published on the host (`docker port`).
    pub struct Port {
        /// The port inside the container: `5432`.
        pub port: Tpl<u16>,
        /// `tcp` (default) or `udp`.
        #[serde(default)]
        pub protocol: Protocol,
    }
}
docker_verb!(
    Port,
    ReadOnly,
    "Where a container port is published on the host (`docker port`)",
    ["host_ip", "host_port", "address", "containers"]
);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

docker_params! {
    /// Copy a file or directory of this host into the selected containers (`docker cp`).
    pub struct CopyTo {
        /// A file or directory on this host.
        pub path: Template,
        /// An existing directory in the container it goes into.
        pub dest: Template,
    }
}
docker_verb!(
    CopyTo,
    Mutating,
    "Copy a file or directory into containers (`docker cp SRC CONTAINER:DIR`)",
    ["bytes", "containers"]
);

docker_params! {
    /// Copy a file or directory out of one container into a directory here (`docker cp`).
    pub struct CopyFrom {
        /// A path in the container.
        pub path: Template,
        /// A directory on this host (made if missing) the copy goes into.
        pub dest: Template,
    }
}
docker_verb!(
    CopyFrom,
    Mutating,
    "Copy a file or directory out of a container (`docker cp CONTAINER:SRC DIR`)",
    ["files", "bytes"]
);

docker_params! {
    /// Read recent logs and check them against patterns.
    pub struct Logs {
        /// Only lines newer than this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub since: Option<Tpl<Duration>>,
        /// Only the last N lines.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tail: Option<Tpl<u32>>,
        /// Fail unless some line matches this regex.
        #[serde(default, skip_serializing_if = "Option::is_none", rename = "match")]
        pub must_match: Option<Pattern>,
        /// Fail if any line matches this regex (e.g. `(?i)error|fatal`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub absent: Option<Pattern>,
    }
}
docker_verb!(
    Logs,
    ReadOnly,
    "Read container logs and check them against patterns",
    ["lines", "matches"]
);

docker_params! {
    /// Send a signal to the selected containers.
    pub struct Kill {
        /// Signal name, default `SIGKILL`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub signal: Option<String>,
    }
}
docker_verb!(
    Kill,
    Mutating,
    "Send a signal to containers",
    ["killed", "changed"]
);

docker_params! {
    /// Remove the selected containers.
    pub struct Remove {
        /// Remove running containers too.
        #[serde(default, skip_serializing_if = "is_false")]
        pub force: bool,
        /// Also remove anonymous volumes.
        #[serde(default, skip_serializing_if = "is_false")]
        pub volumes: bool,
    }
}
docker_verb!(Remove, Mutating, "Remove containers", ["removed"]);

docker_params! {
    /// Replace each selected container by one with a new image or environment, keeping the
    /// rest of its configuration. The old container is kept until the new one is healthy and
    /// is put back if it is not (a deploy with automatic rollback).
    pub struct Recreate {
        /// New image reference; default: the current one (to apply `env` changes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub image: Option<Template>,
        /// Environment variables to set or change.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub env: BTreeMap<String, Template>,
        /// Environment variables to remove.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub unset_env: Vec<Template>,
        /// The rollback of an env change: `"{{ steps.<id>.old_env }}"`, each name set back to
        /// its old value, or removed where it had none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub restore_env: Option<Template>,
        /// How long the new container has to become healthy.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub healthy_within: Option<Tpl<Duration>>,
    }
}
impl Verb for Recreate {
    const EFFECT: Effect = Effect::Mutating;
    const ON_HOSTS: bool = FAMILY_ON_HOSTS;
    const SUMMARY: &'static str =
        "Recreate containers with a new image or env; restore the old one if unhealthy";
    const OUTPUTS: &'static [&'static str] =
        &["old_image", "new_image", "container_ids", "old_env"];
    /// The values the env had may be secrets (the password being rotated).
    const SENSITIVE: &'static [&'static str] = &["old_env"];
    fn validate(&self) -> Result<(), String> {
        self.check_selection()
    }
    execute_and_forecast!();
}

docker_params! {
    /// Replace containers one batch at a time: restart, wait healthy, soak, next batch.
    /// Stops at the first batch that does not come back healthy and rolls it back.
    pub struct RollingRestart {
        /// Containers restarted together.
        #[serde(default = "one", skip_serializing_if = "is_one")]
        pub batch_size: Tpl<u32>,
        /// Wait after a batch is healthy before the next one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub soak: Option<Tpl<Duration>>,
        /// How long each batch has to become healthy.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub healthy_within: Option<Tpl<Duration>>,
    }
}
docker_verb!(
    RollingRestart,
    Mutating,
    "Restart containers batch by batch with health gates",
    ["restarted", "batches"]
);

fn one() -> Tpl<u32> {
    Tpl::Value(1)
}

fn is_one(n: &Tpl<u32>) -> bool {
    *n == Tpl::Value(1)
}

/// Back up a named volume into a tar file, through a helper container.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeBackup {
    pub volume: Template,
    /// Path of the tar file to write on the host.
    pub to: Template,
    /// A locally present image with `tar` (nothing is pulled).
    pub helper_image: Template,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Template>,
}

impl Verb for VolumeBackup {
    const EFFECT: Effect = Effect::Mutating;
    const ON_HOSTS: bool = FAMILY_ON_HOSTS;
    const SUMMARY: &'static str = "Archive a named volume to a tar file";
    const OUTPUTS: &'static [&'static str] = &["path", "size"];
    execute_and_forecast!();
}

/// Restore a named volume from a tar file, through a helper container.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeRestore {
    pub volume: Template,
    /// Path of the tar file on the host.
    pub from: Template,
    pub helper_image: Template,
    /// Empty the volume before extracting.
    #[serde(default, skip_serializing_if = "is_false")]
    pub clean: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Template>,
}

impl Verb for VolumeRestore {
    const EFFECT: Effect = Effect::Mutating;
    const ON_HOSTS: bool = FAMILY_ON_HOSTS;
    const SUMMARY: &'static str = "Restore a named volume from a tar file";
    const OUTPUTS: &'static [&'static str] = &["size"];
    execute_and_forecast!();
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Running,
    Exited,
    Paused,
    Restarting,
    Created,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Unhealthy,
    Starting,
    None,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WaitFor {
    #[default]
    Healthy,
    Running,
    Exited,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WithoutHealthcheck {
    /// Waiting for health on a container that has no healthcheck is a mistake.
    #[default]
    Fail,
    /// Treat running as healthy.
    Running,
}
