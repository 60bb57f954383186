//! `compose.*`: a Docker Compose project driven through the Compose tool the host has (the
//! `docker compose` plugin or `docker-compose`), its state read back from the engine through
//! the compose labels rather than from the tool's text.
//!
//! `compose.up` keeps a stopped copy of every container it replaces or removes ("the previous
//! containers", one generation per container), so `compose.restore`, its rollback, can bring
//! back exactly what ran before: same image (by id, whatever a tag points at now), same
//! config. The project name is required: the name compose would derive depends on the
//! directory the command runs from, and a wrong one acts on nothing, or on another stack.

use crate::prelude::*;

/// On a step's `host:`: a host's engine, over its SSH connection; the Compose tool and its files stay on the runner.
const FAMILY_ON_HOSTS: bool = true;

mod build;
mod down;
mod previous;
mod ps;
mod restore;
mod state;
mod tool;
mod up;

macro_rules! compose_params {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Compose project name (`-p`): the `com.docker.compose.project` label of its containers.
            pub project: Template,
            /// Compose files (`-f`), in order; default: the tool's own (`docker-compose.yml` in `project_dir`).
            #[serde(default, skip_serializing_if = "TemplateList::is_empty_list")]
            pub files: TemplateList,
            /// Directory the files' relative paths are read from (`--project-directory`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub project_dir: Option<Template>,
            /// Environment file for interpolation (`--env-file`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub env_file: Option<Template>,
            /// Profiles to enable (`--profile`).
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub profiles: Vec<Template>,
            /// Variables the files interpolate (`${TAG}`), passed in the tool's environment,
            /// never on its command line: secrets are allowed here.
            #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
            pub env: BTreeMap<String, Template>,
            /// Docker engine for the tool and the state read back (`DOCKER_HOST`). Default: `DOCKER_HOST`, else the local socket.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub engine: Option<Template>,
            /// The Compose program: a path to `docker` (plugin) or `docker-compose`. Default: found on PATH.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub tool: Option<Template>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            /// The project's global flags and environment, rendered.
            fn project(&self, ctx: &StepContext) -> Result<tool::Project, StepError> {
                let name = ctx.render(&self.project)?;
                if name.trim().is_empty() {
                    return Err(StepError::failed("`project` rendered to nothing; give the input it reads a value"));
                }
                Ok(tool::Project {
                    name,
                    files: ctx.render_list(&self.files)?,
                    project_dir: self.project_dir.as_ref().map(|d| ctx.render(d)).transpose()?,
                    env_file: self.env_file.as_ref().map(|f| ctx.render(f)).transpose()?,
                    profiles: self.profiles.iter().map(|p| ctx.render(p)).collect::<Result<_, _>>()?,
                    env: self
                        .env
                        .iter()
                        .map(|(k, v)| Ok((k.clone(), ctx.render(v)?)))
                        .collect::<Result<_, StepError>>()?,
                    engine: self.engine.as_ref().map(|e| ctx.render(e)).transpose()?,
                })
            }

            /// The Compose tool, the project, and a connection to its engine.
            async fn open(&self, ctx: &StepContext) -> Result<state::Open, StepError> {
                let mut project = self.project(ctx)?;
                if project.engine.is_none() && ctx.transport()?.is_some() {
                    // On a step's `host:`: that host's engine, over the SSH connection.
                    project.engine = Some(crate::docker::engine::engine_address(ctx, None).await?);
                }
                let tool_path = self.tool.as_ref().map(|t| ctx.render(t)).transpose()?;
                let tool = tool::Tool::find(tool_path.as_deref()).await?;
                let docker = crate::docker::engine::connect(ctx, self.engine.as_ref()).await?;
                Ok(state::Open { tool, project, docker })
            }

            fn check_env_names(&self) -> Result<(), String> {
                check_env_names(self.env.keys())
            }
        }
    };
}

/// Environment variable names the tool can be given.
fn check_env_names<'a>(names: impl IntoIterator<Item = &'a String>) -> Result<(), String> {
    for name in names {
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "`{name}` is not an environment variable name (letters, digits and `_`, not starting with a digit)"
            ));
        }
    }
    Ok(())
}

compose_params! {
    /// Create or update the project's containers (`up -d`), keep a stopped copy of each one it
    /// replaces, and wait for the new ones to be healthy.
    pub struct Up {
        /// Services to bring up (and, unless `no_deps`, what they depend on). Default: all.
        #[serde(default, skip_serializing_if = "TemplateList::is_empty_list")]
        pub services: TemplateList,
        /// Build images before starting (`--build`).
        #[serde(default, skip_serializing_if = "is_false")]
        pub build: bool,
        /// Recreate containers even if their config is unchanged (`--force-recreate`).
        #[serde(default, skip_serializing_if = "is_false")]
        pub force_recreate: bool,
        /// Do not start linked services (`--no-deps`).
        #[serde(default, skip_serializing_if = "is_false")]
        pub no_deps: bool,
        /// Remove containers of services no longer in the files (`--remove-orphans`).
        #[serde(default, skip_serializing_if = "is_false")]
        pub remove_orphans: bool,
        /// How long the new containers have to become healthy (running, without a healthcheck). Default: 60s.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub healthy_within: Option<Tpl<Duration>>,
    }
}
family_verb!(
    Up,
    Mutating,
    check_env_names,
    "Create or update a compose project's containers (`up -d`), keeping the previous ones for `compose.restore`",
    [
        "created",
        "recreated",
        "unchanged",
        "removed",
        "previous",
        "containers",
        "tool"
    ]
);

compose_params! {
    /// The rollback of `compose.up`: put back the containers it replaced and remove the ones it
    /// created.
    pub struct Restore {
        /// The copies `compose.up` kept: `"{{ steps.<up>.previous }}"`.
        #[serde(default, skip_serializing_if = "TemplateList::is_empty_list")]
        pub previous: TemplateList,
        /// Services `compose.up` created that did not exist before: `"{{ steps.<up>.created }}"`.
        #[serde(default, skip_serializing_if = "TemplateList::is_empty_list")]
        pub created: TemplateList,
        /// How long the containers put back have to become healthy. Default: 60s.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub healthy_within: Option<Tpl<Duration>>,
    }
}
family_verb!(
    Restore,
    Mutating,
    check_env_names,
    "Put back the containers a `compose.up` replaced (same image and config) and remove those it created",
    ["restored", "removed"]
);

compose_params! {
    /// Stop and remove the project's containers and networks (`down`), and the copies
    /// `compose.up` kept.
    pub struct Down {
        /// Also remove named volumes (`--volumes`): the data is gone; this cannot be undone.
        #[serde(default, skip_serializing_if = "is_false")]
        pub volumes: bool,
        /// Also remove containers of services no longer in the files (`--remove-orphans`).
        #[serde(default, skip_serializing_if = "is_false")]
        pub remove_orphans: bool,
        /// Time to exit cleanly before the engine kills a container (`--timeout`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub grace: Option<Tpl<Duration>>,
    }
}
impl Verb for Down {
    const EFFECT: Effect = Effect::Mutating;
    const ON_HOSTS: bool = FAMILY_ON_HOSTS;
    const SUMMARY: &'static str =
        "Stop and remove a compose project's containers and networks (`down`)";
    const OUTPUTS: &'static [&'static str] = &["removed", "volumes_removed"];
    fn validate(&self) -> Result<(), String> {
        self.check_env_names()
    }
    fn irreversible(&self) -> Option<&'static str> {
        self.volumes
            .then_some("`volumes: true` deletes the project's named volumes and their data")
    }
    execute_and_forecast!();
}

compose_params! {
    /// Build the images of services that have a `build:` section, from their local context.
    pub struct Build {
        /// Services to build. Default: every service with a `build:` section.
        #[serde(default, skip_serializing_if = "TemplateList::is_empty_list")]
        pub services: TemplateList,
        /// Build args (`--build-arg NAME`); the values go through the environment, so a secret is allowed.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub build_args: BTreeMap<String, Template>,
        /// Do not use the build cache (`--no-cache`).
        #[serde(default, skip_serializing_if = "is_false")]
        pub no_cache: bool,
    }
}
family_verb!(
    Build,
    Mutating,
    check_build_args,
    "Build the images of a compose project's services from their local build context",
    ["images", "previous_images"]
);

impl Build {
    fn check_build_args(&self) -> Result<(), String> {
        self.check_env_names()?;
        check_env_names(self.build_args.keys())
    }
}

compose_params! {
    /// The project's services as the engine sees them: containers, state, health, image; the
    /// services the files declare that have no container are `missing`.
    pub struct Ps {
        /// Services to look at. Default: every service the files declare.
        #[serde(default, skip_serializing_if = "TemplateList::is_empty_list")]
        pub services: TemplateList,
        /// Fail unless every service looked at has a container that is running (and healthy where it has a healthcheck).
        #[serde(default, skip_serializing_if = "is_false")]
        pub expect_healthy: bool,
    }
}
family_verb!(
    Ps,
    ReadOnly,
    check_env_names,
    "The services of a compose project as the engine sees them (state, health, image); `missing` ones",
    ["services", "running", "missing", "unhealthy", "containers"]
);
