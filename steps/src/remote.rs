//! Hosts of the environment file reached with the system's OpenSSH client: the operator's
//! own `~/.ssh/config`, agent, jump hosts and known_hosts, with strict host-key checking and
//! one multiplexed master connection per host (`ControlMaster`), so a step costs a round
//! trip, not a handshake.
//!
//! A remote command gets nothing secret on its command line: the fixed wrapper below is the
//! only argument ssh sends; the environment and the command come on its standard input, read
//! into a shell variable of the remote shell. That shell leads the session sshd made for the
//! channel; the wrapper kills its whole process group when its standard input closes, that is
//! when runbook's ssh goes away (a timeout, a cancellation, runbook killed), so that nothing is
//! left running on the host.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use runbook_engine::action::{CopyDirection, Hosts, RemoteCommand, Transport};
use runbook_engine::load::HostSpec;
use tokio::sync::OnceCell;

use crate::prelude::*;

/// The hosts of one environment file.
pub struct SshHosts {
    hosts: BTreeMap<String, Arc<SshTransport>>,
}

impl SshHosts {
    pub fn new(specs: Vec<HostSpec>) -> Self {
        let control_dir = control_dir();
        let hosts = specs
            .into_iter()
            .map(|spec| {
                let transport = SshTransport {
                    control_path: control_dir.join("%C"),
                    spec: spec.clone(),
                    connected: OnceCell::new(),
                    forwards: Default::default(),
                };
                (spec.name, Arc::new(transport))
            })
            .collect();
        Self { hosts }
    }
}

impl Hosts for SshHosts {
    fn transport(&self, host: &str) -> Result<Arc<dyn Transport>, String> {
        match self.hosts.get(host) {
            Some(transport) => Ok(transport.clone()),
            None => Err(format!(
                "host `{host}` is not in the environment file's `hosts:` ({})",
                self.hosts.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

/// Where the master connections' sockets live: a directory only this user can enter (a
/// socket there lets anyone who can reach it run commands as the operator on the host).
fn control_dir() -> PathBuf {
    use std::os::unix::fs::DirBuilderExt;
    let uid = nix::unistd::getuid();
    let dir = std::env::var_os("RUNBOOK_SSH_CONTROL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("runbook-ssh-{uid}")));
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir);
    dir
}

pub struct SshTransport {
    spec: HostSpec,
    /// `ControlPath`: `%C` is ssh's hash of host, port and user (a short socket path).
    control_path: PathBuf,
    /// The master connection, made once; its error is every step's on that host.
    connected: OnceCell<Result<(), String>>,
    /// Endpoints forwarded over it: remote endpoint -> local one.
    forwards: tokio::sync::Mutex<BTreeMap<String, String>>,
}

/// How long a master connection outlives its last use: the next run within that time
/// reuses it; after it, the connection closes by itself.
const CONTROL_PERSIST: &str = "120";

impl SshTransport {
    /// `ssh` with the host's settings and the multiplexing options, up to the destination.
    fn ssh(&self, master: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ssh");
        command.args(self.options(master)).kill_on_drop(true);
        command
    }

    /// The host's settings and the multiplexing options as `-o` options, which `ssh` and
    /// `scp` both take (scp's `-P` is ssh's `-p`; `-o Port=` is the same for both).
    fn options(&self, master: &str) -> Vec<String> {
        let spec = &self.spec;
        let mut options = vec![
            "BatchMode=yes".to_string(),
            "StrictHostKeyChecking=yes".into(),
            "ConnectTimeout=10".into(),
            // A host that stops answering (its network cut) is noticed within ~15 s.
            "ServerAliveInterval=5".into(),
            "ServerAliveCountMax=3".into(),
            format!("ControlMaster={master}"),
            format!("ControlPath={}", self.control_path.display()),
            format!("ControlPersist={CONTROL_PERSIST}"),
        ];
        if let Some(port) = spec.port {
            options.push(format!("Port={port}"));
        }
        if let Some(user) = &spec.user {
            options.push(format!("User={user}"));
        }
        if let Some(identity) = &spec.identity_file {
            options.push(format!("IdentityFile={}", expand_home(identity)));
            options.push("IdentitiesOnly=yes".into());
        }
        if let Some(jump) = &spec.jump {
            options.push(format!("ProxyJump={jump}"));
        }
        if let Some(known) = &spec.known_hosts {
            options.push(format!("UserKnownHostsFile={}", expand_home(known)));
        }
        options
            .into_iter()
            .flat_map(|option| ["-o".to_string(), option])
            .collect()
    }

    /// The master connection: reused if one is up, else started in a process group of its
    /// own (a step's group is killed when the step ends; the master serves the whole run).
    async fn connect(&self) -> Result<(), String> {
        let mut check = self.ssh("no");
        check
            .args(["-O", "check", &self.spec.ssh])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if check.status().await.is_ok_and(|s| s.success()) {
            return Ok(());
        }
        let mut master = self.ssh("yes");
        master
            .args(["-N", "-f", &self.spec.ssh])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        let output = master
            .output()
            .await
            .map_err(|e| format!("cannot start `ssh`: {e} (is OpenSSH's client installed?)"))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        Err(self
            .explain_failure(&stderr)
            .await
            .unwrap_or_else(|| format!("cannot connect to {}: {}", self.place(), stderr.trim())))
    }

    async fn ensure_connected(&self) -> Result<(), StepError> {
        self.connected
            .get_or_init(|| self.connect())
            .await
            .clone()
            .map_err(StepError::failed)
    }

    /// `deploy@10.0.0.5:2222 (app-1)`, for messages.
    fn place(&self) -> String {
        let port = self.spec.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}{port} (host `{}`)", self.spec.ssh, self.spec.name)
    }

    /// ssh's own failures, said with what to do; an unknown host key with its fingerprint.
    async fn explain_failure(&self, stderr: &str) -> Option<String> {
        let place = self.place();
        if stderr.contains("Host key verification failed")
            || stderr.contains("host key is known")
            || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        {
            let changed = stderr.contains("HAS CHANGED");
            let fingerprints = self.scan_fingerprints().await;
            let known = self
                .spec
                .known_hosts
                .as_deref()
                .unwrap_or("~/.ssh/known_hosts");
            let address = self.spec.ssh.rsplit('@').next().unwrap_or(&self.spec.ssh);
            let port = self
                .spec
                .port
                .map(|p| format!("-p {p} "))
                .unwrap_or_default();
            return Some(format!(
                "the host key of {place} is {}: {}. runbook never accepts a host key by itself.\nhint: check the fingerprint with the host's owner (on the host: `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), then add it: `ssh-keyscan {port}{address} >> {known}`",
                if changed {
                    "not the one known_hosts has (it CHANGED)"
                } else {
                    "unknown"
                },
                if fingerprints.is_empty() {
                    "its fingerprint could not be read".to_string()
                } else {
                    fingerprints.join(", ")
                },
            ));
        }
        if stderr.contains("Permission denied") {
            return Some(format!(
                "{place} refused the login: {}\nhint: check the user, `identity_file`, and that the key is in the host's authorized_keys (ssh-agent keys count too)",
                stderr.trim()
            ));
        }
        if stderr.contains("Connection timed out")
            || stderr.contains("Connection refused")
            || stderr.contains("No route to host")
            || stderr.contains("Could not resolve hostname")
            || stderr.contains("Timeout, server")
            || stderr.contains("Broken pipe")
            || stderr.contains("Connection closed")
        {
            return Some(format!("cannot reach {place}: {}", stderr.trim()));
        }
        None
    }

    /// The host's key fingerprints as the network shows them (`ssh-keyscan | ssh-keygen -l`).
    async fn scan_fingerprints(&self) -> Vec<String> {
        let address = self.spec.ssh.rsplit('@').next().unwrap_or(&self.spec.ssh);
        let mut scan = tokio::process::Command::new("ssh-keyscan");
        scan.args(["-T", "5"]);
        if let Some(port) = self.spec.port {
            scan.args(["-p", &port.to_string()]);
        }
        scan.arg(address).stderr(Stdio::null()).kill_on_drop(true);
        let Ok(keys) = scan.output().await else {
            return Vec::new();
        };
        let Ok(mut keygen) = tokio::process::Command::new("ssh-keygen")
            .args(["-l", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
        else {
            return Vec::new();
        };
        if let Some(mut stdin) = keygen.stdin.take() {
            use tokio::io::AsyncWriteExt;
            let _ = stdin.write_all(&keys.stdout).await;
        }
        let Ok(listed) = keygen.wait_with_output().await else {
            return Vec::new();
        };
        // `256 SHA256:abc... [host]:port (ED25519)` -> `ED25519 SHA256:abc...`
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let kind = fields.last()?.trim_matches(|c| c == '(' || c == ')');
                Some(format!("{kind} {}", fields.get(1)?))
            })
            .collect()
    }
}

/// The remote side: a fixed text (the only thing on the remote command line). It reads the
/// command up to the end marker into a shell variable (never an argument, never a file) and
/// runs it in a subshell with no input. sshd made this shell the leader of a session and
/// process group of its own; a watcher kills that group when the channel's input (kept as fd 3:
/// an asynchronous list's stdin is /dev/null) closes, that is when runbook's ssh is gone. As few
/// programs as can be (a watcher `cat`, then the command): each exec costs milliseconds.
fn wrapper(marker: &str) -> String {
    format!(
        concat!(
            "exec 3<&0; p=''; ",
            "while IFS= read -r l && [ \"$l\" != {m} ]; do p=\"$p$l\n\"; done; ",
            "{{ cat <&3 >/dev/null; kill -TERM 0; sleep 1; kill -KILL 0; }} >/dev/null 2>&1 & w=$!; ",
            "( eval \"$p\" ) </dev/null 3<&-; c=$?; kill $w 2>/dev/null; exit $c"
        ),
        m = marker
    )
}

/// Runs a short script on a host and returns its standard output; a non-zero exit is an
/// error carrying its standard error (the file verbs' stat, checksum, rename on a host).
pub(crate) async fn output(
    ctx: &StepContext,
    transport: &dyn Transport,
    script: &str,
    env: &[(String, String)],
) -> Result<String, StepError> {
    let remote = transport.shell(script, env).await?;
    let ended = crate::process::run_remote(ctx, remote).await?;
    if let Some(why) = transport.explain(ended.exit_code, &ended.stderr).await {
        return Err(StepError::failed(why));
    }
    if ended.exit_code != 0 {
        return Err(StepError::failed(format!(
            "on host `{}`: {}",
            transport.host(),
            ctx.redact(ended.stderr.trim())
        )));
    }
    Ok(ended.stdout)
}

/// `'text'` for sh, whatever the text holds.
pub(crate) fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}

impl Transport for SshTransport {
    fn host(&self) -> &str {
        &self.spec.name
    }

    fn shell<'a>(
        &'a self,
        script: &'a str,
        env: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<RemoteCommand, StepError>> {
        Box::pin(async move {
            self.ensure_connected().await?;
            let mut payload = String::new();
            for (name, value) in env {
                payload.push_str(&format!("export {name}={}\n", sh_quote(value)));
            }
            payload.push_str(script);
            payload.push('\n');
            // The end marker is derived from the payload, so the payload cannot hold it.
            use sha2::Digest;
            let digest = sha2::Sha256::digest(payload.as_bytes());
            let marker: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            let marker = format!("__RUNBOOK_END_{marker}__");
            payload.push_str(&marker);
            payload.push('\n');
            let mut command = self.ssh("no");
            command.args(["-T", &self.spec.ssh, "--", &wrapper(&marker)]);
            Ok(RemoteCommand {
                command,
                program: format!("ssh {}", self.spec.name),
                stdin: payload.into_bytes(),
            })
        })
    }

    fn forward<'a>(&'a self, remote: &'a str) -> BoxFuture<'a, Result<String, StepError>> {
        Box::pin(async move {
            self.ensure_connected().await?;
            let mut forwards = self.forwards.lock().await;
            if let Some(local) = forwards.get(remote) {
                return Ok(local.clone());
            }
            let local = if remote.starts_with('/') {
                // A socket beside the master's, in the directory only this user enters.
                use sha2::Digest;
                let digest = sha2::Sha256::digest(format!("{}{remote}", self.spec.name));
                let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                let dir = self
                    .control_path
                    .parent()
                    .unwrap_or(std::path::Path::new("/tmp"));
                let path = dir.join(format!("fwd-{name}.sock"));
                let _ = std::fs::remove_file(&path);
                path.display().to_string()
            } else {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map_err(|e| StepError::failed(format!("no local port to forward: {e}")))?
                    .port();
                format!("127.0.0.1:{port}")
            };
            let mut forward = self.ssh("no");
            forward
                .args([
                    "-O",
                    "forward",
                    "-L",
                    &format!("{local}:{remote}"),
                    &self.spec.ssh,
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let output = forward
                .output()
                .await
                .map_err(|e| StepError::failed(format!("cannot start `ssh`: {e}")))?;
            if !output.status.success() {
                return Err(StepError::failed(format!(
                    "cannot forward {remote} from {}: {}",
                    self.place(),
                    String::from_utf8_lossy(&output.stderr).trim()
                )));
            }
            forwards.insert(remote.to_string(), local.clone());
            Ok(local)
        })
    }

    fn copy<'a>(
        &'a self,
        direction: CopyDirection,
        from: &'a str,
        to: &'a str,
    ) -> BoxFuture<'a, Result<RemoteCommand, StepError>> {
        Box::pin(async move {
            self.ensure_connected().await?;
            // scp over the master connection (OpenSSH's scp speaks SFTP: the remote path is
            // not read by a shell). `-r` for trees, `-p` keeps times (file.latest) and modes.
            let mut command = tokio::process::Command::new("scp");
            command.args(["-q", "-r", "-p"]).args(self.options("no"));
            let remote = |path: &str| format!("{}:{path}", self.spec.ssh);
            match direction {
                CopyDirection::Upload => command.arg("--").arg(from).arg(remote(to)),
                CopyDirection::Download => command.arg("--").arg(remote(from)).arg(to),
            };
            Ok(RemoteCommand {
                command,
                program: format!("scp {}", self.spec.name),
                stdin: Vec::new(),
            })
        })
    }

    fn docker_socket(&self) -> &str {
        self.spec
            .docker_socket
            .as_deref()
            .unwrap_or("/var/run/docker.sock")
    }

    fn explain<'a>(&'a self, exit_code: i32, stderr: &'a str) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            // 255 is ssh's own failure; anything else is the remote command's exit code.
            if exit_code != 255 {
                return None;
            }
            self.explain_failure(stderr).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_every_character() {
        assert_eq!(sh_quote("it's $HOME"), r"'it'\''s $HOME'");
    }

    #[test]
    fn the_wrapper_holds_no_payload() {
        let text = wrapper("__RUNBOOK_END_1__");
        assert!(text.contains("__RUNBOOK_END_1__") && !text.contains("export"));
    }
}
