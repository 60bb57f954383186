//! `nginx.*`: the seeds' `nginx -t && nginx -s reload` (or `systemctl reload nginx`), done
//! so that a broken configuration is never loaded and a reload is known to have taken: the
//! master's workers are replaced by new ones (the old workers finish their requests and
//! exit), which is what nginx does only when the new configuration loaded.

use std::path::Path;
use std::time::Duration as StdDuration;

use crate::prelude::*;
use crate::process::{self, Ended};

const POLL: StdDuration = StdDuration::from_millis(100);
const DEFAULT_RELOAD_WITHIN: StdDuration = StdDuration::from_secs(15);

macro_rules! nginx_params {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// The nginx program. Default: `nginx` on PATH, else /usr/sbin/nginx.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub nginx: Option<Template>,
            /// Main configuration file (`-c`). Default: nginx's own.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub config: Option<Template>,
            /// Prefix path (`-p`). Default: nginx's own.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub prefix: Option<Template>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            fn program(&self, ctx: &StepContext) -> Result<Nginx, StepError> {
                let render = |t: &Option<Template>| t.as_ref().map(|t| ctx.render(t)).transpose();
                Ok(Nginx {
                    program: render(&self.nginx)?.unwrap_or_else(default_program),
                    config: render(&self.config)?,
                    prefix: render(&self.prefix)?,
                })
            }
        }
    };
}

nginx_params! {
    /// Test the configuration (`nginx -t`).
    pub struct Test {}
}
nginx_params! {
    /// Test the configuration, then reload (`nginx -s reload`) and wait until new workers serve.
    pub struct Reload {
        /// How long the new workers have to replace the old. Default: 15s.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub within: Option<Tpl<Duration>>,
    }
}

impl Verb for Test {
    const EFFECT: Effect = Effect::ReadOnly;
    const SUMMARY: &'static str = "Test the nginx configuration (`nginx -t`)";
    const OUTPUTS: &'static [&'static str] = &["version", "pid_file"];
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(async move {
            let nginx = self.program(ctx)?;
            let tested = nginx.test(ctx).await?;
            Ok(outputs(serde_json::json!({
                "version": nginx.version().await,
                "pid_file": tested.pid_file,
            })))
        })
    }
}

impl Verb for Reload {
    const EFFECT: Effect = Effect::Mutating;
    const SUMMARY: &'static str =
        "Test the nginx configuration, reload it, and wait until new workers serve";
    const OUTPUTS: &'static [&'static str] = &["master_pid", "old_workers", "new_workers"];
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
        Box::pin(self.execute(ctx))
    }
    fn preview<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<String, StepError>> {
        Box::pin(async move {
            let nginx = self.program(ctx)?;
            let master = match nginx.test(ctx).await {
                Ok(tested) => tested.master()?,
                // The configuration a preview sees may be the one an earlier (previewed) step
                // would replace: that is for the run to find out.
                Err(e) => return Err(StepError::unknown(e.message)),
            };
            Ok(format!(
                "would reload nginx (master pid {master}, workers {}): the configuration tests ok now",
                join(&workers_of(master))
            ))
        })
    }
}

impl Reload {
    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let nginx = self.program(ctx)?;
        let within = match &self.within {
            Some(w) => ctx.resolve(w)?.0,
            None => DEFAULT_RELOAD_WITHIN,
        };
        // A configuration that does not test is never sent to the master.
        let tested = nginx.test(ctx).await?;
        let master = tested.master()?;
        let old = workers_of(master);
        let ended = nginx.run(ctx, &["-s", "reload"]).await?;
        if ended.exit_code != 0 {
            return Err(StepError::failed(format!(
                "`nginx -s reload` exited with {}: {}",
                ended.exit_code,
                crate::tail_lines(&ctx.redact(&ended.stderr), 6)
            )));
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let now = workers_of(master);
            if !now.is_empty() && now.iter().all(|w| !old.contains(w)) {
                return Ok(outputs(serde_json::json!({
                    "master_pid": master,
                    "old_workers": old,
                    "new_workers": now,
                })));
            }
            if tokio::time::Instant::now() + POLL > deadline {
                return Err(StepError::failed(format!(
                    "nginx (master pid {master}) did not replace its workers within {} after the reload (workers before: {}, now: {}); see its error log",
                    Duration(within),
                    join(&old),
                    join(&now)
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn default_program() -> String {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("nginx").is_file()));
    if on_path {
        "nginx".into()
    } else {
        "/usr/sbin/nginx".into()
    }
}

fn join(pids: &[u32]) -> String {
    if pids.is_empty() {
        return "none".into();
    }
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The worker processes of a master: its children (nginx's cache manager and loader are
/// children too and are replaced on reload the same way).
fn workers_of(master: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| parent_of(*pid) == Some(master))
        .collect();
    children.sort_unstable();
    children
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`: comm may hold spaces and parentheses; read after the last `)`.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Nginx {
    program: String,
    config: Option<String>,
    prefix: Option<String>,
}

/// What `nginx -T` said of the configuration it tested.
struct Tested {
    pid_file: String,
}

impl Tested {
    /// The running master's pid, from the pid file the configuration names.
    fn master(&self) -> Result<u32, StepError> {
        let text = std::fs::read_to_string(&self.pid_file).map_err(|e| {
            StepError::failed(format!(
                "nginx is not running: its pid file {} cannot be read ({e}); start it first",
                self.pid_file
            ))
        })?;
        let pid: u32 = text.trim().parse().map_err(|_| {
            StepError::failed(format!(
                "the pid file {} holds `{}`, not a pid",
                self.pid_file,
                text.trim()
            ))
        })?;
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return Err(StepError::failed(format!(
                "nginx is not running: the pid file {} names {pid}, which is gone",
                self.pid_file
            )));
        }
        Ok(pid)
    }
}

impl Nginx {
    async fn run(&self, ctx: &StepContext, args: &[&str]) -> Result<Ended, StepError> {
        let mut command = tokio::process::Command::new(&self.program);
        if let Some(prefix) = &self.prefix {
            command.args(["-p", prefix]);
        }
        if let Some(config) = &self.config {
            command.args(["-c", config]);
        }
        command.args(args);
        process::run(ctx, command, "nginx", None).await
    }

    /// `nginx -T`: tests the configuration and prints it, so the pid file it names is known.
    async fn test(&self, ctx: &StepContext) -> Result<Tested, StepError> {
        let ended = self.run(ctx, &["-T", "-q"]).await?;
        if ended.exit_code != 0 {
            // nginx names the file and line: `... in /etc/nginx/sites-enabled/app:12`.
            let said = crate::tail_lines(&ctx.redact(&ended.stderr), 6);
            return Err(StepError::failed(format!(
                "the nginx configuration does not test (nothing was reloaded):\n{said}"
            )));
        }
        Ok(Tested {
            pid_file: pid_file(&ended.stdout, self.prefix.as_deref()),
        })
    }

    async fn version(&self) -> Option<String> {
        let output = tokio::process::Command::new(&self.program)
            .arg("-v")
            .output()
            .await
            .ok()?;
        let text = String::from_utf8_lossy(&output.stderr);
        text.split('/').nth(1).map(|v| v.trim().to_string())
    }
}

/// The `pid` directive of a dumped configuration (main context), relative to the prefix.
fn pid_file(dump: &str, prefix: Option<&str>) -> String {
    let named = dump
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("pid "))
        .map(|rest| rest.trim_end_matches(';').trim().to_string());
    match named {
        Some(path) if path.starts_with('/') => path,
        Some(path) => format!(
            "{}/{path}",
            prefix.unwrap_or("/etc/nginx").trim_end_matches('/')
        ),
        None => "/run/nginx.pid".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_file_comes_from_the_dumped_configuration() {
        let dump =
            "# configuration file /etc/nginx/nginx.conf:\nuser www-data;\npid /run/nginx.pid;\n";
        assert_eq!(pid_file(dump, None), "/run/nginx.pid");
        assert_eq!(
            pid_file("  pid   logs/nginx.pid ;\n", Some("/srv/n/")),
            "/srv/n/logs/nginx.pid"
        );
        assert_eq!(pid_file("events {}\n", None), "/run/nginx.pid");
        assert_eq!(
            parent_of(std::process::id()),
            Some(nix::unistd::getppid().as_raw() as u32)
        );
    }
}
