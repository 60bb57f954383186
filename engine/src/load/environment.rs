//! Environment files (`environments/goodgo.yml`): the input values of one stack, so that the
//! same playbooks serve every stack of the seeds without editing them.
//!
//! ```yaml
//! description: GoodGo production on the Hetzner host
//! inputs:
//!   project: goodgo
//!   apps: [api, web, ai-services]
//!   production: true
//! ```
//! A playbook takes the values of the inputs it declares and ignores the others: one file
//! serves many playbooks. `--input` on the command line wins over the file.
//!
//! `hosts:` names the machines steps may run on (`host: app-1` on a step), each reached with
//! the system's OpenSSH client:
//!
//! ```yaml
//! hosts:
//!   app-1: { ssh: deploy@10.0.0.5, port: 22, identity_file: ~/.ssh/deploy, jump: bastion }
//! ```

use super::LoadError;
use super::node::{Node, NodeKind};
use super::parse;
use crate::source::SourceFile;

/// Keys of an environment file's top level.
pub const ENVIRONMENT_KEYS: &[&str] = &["description", "inputs", "hosts"];

/// Keys of one host of `hosts:`.
pub const HOST_KEYS: &[&str] = &[
    "ssh",
    "port",
    "user",
    "identity_file",
    "jump",
    "known_hosts",
    "docker_socket",
];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Environment {
    pub description: Option<String>,
    /// Values as `--input` text: scalars as written, lists as JSON.
    pub inputs: Vec<(String, String)>,
    /// The machines steps may name with `host:`, in the file's order.
    pub hosts: Vec<HostSpec>,
}

/// A host of the environment: how OpenSSH reaches it. Everything else (agent, ciphers,
/// `~/.ssh/config` entries) is the operator's own ssh configuration, used as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostSpec {
    pub name: String,
    /// The destination: `deploy@10.0.0.5`, or a `Host` of `~/.ssh/config`.
    pub ssh: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity_file: Option<String>,
    /// A jump host (`ssh -J`).
    pub jump: Option<String>,
    /// The known_hosts file to check the host's key against (default: ssh's own).
    pub known_hosts: Option<String>,
    /// Where the host's Docker engine listens, for `docker.*` and `compose.*` there (default:
    /// `/var/run/docker.sock`; a rootless engine's is `/run/user/UID/docker.sock`).
    pub docker_socket: Option<String>,
}

/// Reads an environment file; every problem with its place in the file.
pub fn load_environment(source: &SourceFile) -> Result<Environment, Vec<LoadError>> {
    let root = parse::parse(source).map_err(|e| {
        vec![LoadError::Syntax {
            message: e.message,
            span: e.span,
        }]
    })?;
    let NodeKind::Map(entries) = &root.kind else {
        return Err(vec![wrong_type("environment file", "a mapping", &root)]);
    };
    let mut errors = Vec::new();
    let mut environment = Environment::default();
    for (key, value) in entries {
        match key.value.as_str() {
            "description" => match &value.kind {
                NodeKind::Str(text) => environment.description = Some(text.clone()),
                _ => errors.push(wrong_type("description", "a string", value)),
            },
            "hosts" => match &value.kind {
                NodeKind::Map(hosts) => {
                    for (name, value) in hosts {
                        match host(&name.value, value) {
                            Ok(spec) => environment.hosts.push(spec),
                            Err(error) => errors.push(error),
                        }
                    }
                }
                _ => errors.push(wrong_type("hosts", "a mapping of host names", value)),
            },
            "inputs" => match &value.kind {
                NodeKind::Map(inputs) => {
                    for (name, value) in inputs {
                        match input_text(value) {
                            Some(text) => environment.inputs.push((name.value.clone(), text)),
                            None => errors.push(wrong_type(
                                &name.value,
                                "a string, number, boolean or list of them",
                                value,
                            )),
                        }
                    }
                }
                _ => errors.push(wrong_type("inputs", "a mapping", value)),
            },
            other => errors.push(LoadError::UnknownKey {
                key: other.to_string(),
                context: "the environment file",
                hint: match crate::suggest::did_you_mean(other, ENVIRONMENT_KEYS.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => "an environment file has `description`, `inputs` and `hosts`".into(),
                },
                span: key.span,
            }),
        }
    }
    if errors.is_empty() {
        Ok(environment)
    } else {
        Err(errors)
    }
}

/// One host: `{ ssh: user@address, ... }`, or just the destination as a string.
fn host(name: &str, value: &Node) -> Result<HostSpec, LoadError> {
    let mut spec = HostSpec {
        name: name.to_string(),
        ..HostSpec::default()
    };
    let entries = match &value.kind {
        NodeKind::Str(destination) => {
            spec.ssh = destination.clone();
            return Ok(spec);
        }
        NodeKind::Map(entries) => entries,
        _ => {
            return Err(wrong_type(
                name,
                "a mapping with `ssh: user@address`",
                value,
            ));
        }
    };
    for (key, value) in entries {
        let text = || {
            value
                .scalar_text()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| wrong_type(&key.value, "a string", value))
        };
        match key.value.as_str() {
            "ssh" => spec.ssh = text()?,
            "port" => {
                spec.port = Some(
                    text()?
                        .parse()
                        .map_err(|_| wrong_type("port", "a port number", value))?,
                )
            }
            "user" => spec.user = Some(text()?),
            "identity_file" => spec.identity_file = Some(text()?),
            "jump" => spec.jump = Some(text()?),
            "known_hosts" => spec.known_hosts = Some(text()?),
            "docker_socket" => spec.docker_socket = Some(text()?),
            other => {
                return Err(LoadError::UnknownKey {
                    key: other.to_string(),
                    context: "a host",
                    hint: match crate::suggest::did_you_mean(other, HOST_KEYS.iter().copied()) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => format!("a host has {}", HOST_KEYS.join(", ")),
                    },
                    span: key.span,
                });
            }
        }
    }
    if spec.ssh.is_empty() {
        return Err(LoadError::MissingKey {
            key: "ssh",
            context: "a host (its destination: `ssh: deploy@10.0.0.5`)",
            span: value.span,
        });
    }
    Ok(spec)
}

/// The value as `--input` would give it: lists as JSON so that items may hold commas.
fn input_text(value: &Node) -> Option<String> {
    match &value.kind {
        NodeKind::Seq(items) => items
            .iter()
            .all(|i| i.scalar_text().is_some())
            .then(|| value.to_json().to_string()),
        NodeKind::Map(_) | NodeKind::Null => None,
        _ => value.scalar_text(),
    }
}

fn wrong_type(key: &str, expected: &'static str, found: &Node) -> LoadError {
    LoadError::WrongType {
        key: key.to_string(),
        expected,
        found: found.kind.describe(),
        span: found.span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Environment, Vec<LoadError>> {
        load_environment(&SourceFile::new("env.yml", text))
    }

    #[test]
    fn values_become_input_text() {
        let env = load("description: demo\ninputs:\n  project: goodgo\n  port: 5432\n  production: false\n  apps: [api, \"web,2\"]\n").unwrap();
        assert_eq!(env.description.as_deref(), Some("demo"));
        assert_eq!(
            env.inputs,
            vec![
                ("project".to_string(), "goodgo".to_string()),
                ("port".to_string(), "5432".to_string()),
                ("production".to_string(), "false".to_string()),
                ("apps".to_string(), r#"["api","web,2"]"#.to_string()),
            ]
        );
    }

    #[test]
    fn hosts_are_read_with_their_ssh_settings() {
        let env = load("hosts:\n  app-1: { ssh: deploy@10.0.0.5, port: 2222, jump: bastion, docker_socket: /run/user/1000/docker.sock }\n  db-1: root@10.0.0.6\n").unwrap();
        assert_eq!(env.hosts.len(), 2);
        assert_eq!(env.hosts[0].name, "app-1");
        assert_eq!(env.hosts[0].ssh, "deploy@10.0.0.5");
        assert_eq!(env.hosts[0].port, Some(2222));
        assert_eq!(env.hosts[0].jump.as_deref(), Some("bastion"));
        assert_eq!(
            env.hosts[0].docker_socket.as_deref(),
            Some("/run/user/1000/docker.sock")
        );
        assert_eq!(env.hosts[1].ssh, "root@10.0.0.6");
        let errors = load("hosts:\n  app-1: { prot: 22 }\n").unwrap_err();
        assert!(
            matches!(&errors[0], LoadError::UnknownKey { hint, .. } if hint.contains("`port`")),
            "{errors:?}"
        );
        let errors = load("hosts:\n  app-1: { port: 22 }\n").unwrap_err();
        assert!(
            matches!(&errors[0], LoadError::MissingKey { key: "ssh", .. }),
            "{errors:?}"
        );
    }

    #[test]
    fn shape_errors_point_into_the_file() {
        let errors = load("inptus:\n  a: 1\ninputs:\n  nested: { a: 1 }\n").unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(
            matches!(&errors[0], LoadError::UnknownKey { hint, .. } if hint.contains("`inputs`"))
        );
        assert!(
            matches!(&errors[1], LoadError::WrongType { key, span, .. } if key == "nested" && span.start > 20)
        );
    }
}
