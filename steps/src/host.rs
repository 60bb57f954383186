//! `host.*`: the runner's own disk, memory and ports, in place of the seeds' `df -h`,
//! `free -h` and `ss -tlnp | grep` lines, with thresholds the step fails on.

use std::time::Duration as StdDuration;

use crate::prelude::*;

/// On a step's `host:`: this machine's disk, memory and ports, read from its own kernel.
const FAMILY_ON_HOSTS: bool = false;

/// A size: `1048576`, `512MiB`, `5GB`, `1.5GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "SizeText", into = "SizeText")]
pub struct Size(pub u64);

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
enum SizeText {
    Bytes(u64),
    Text(String),
}

impl TryFrom<SizeText> for Size {
    type Error = String;
    fn try_from(value: SizeText) -> Result<Self, String> {
        match value {
            SizeText::Bytes(n) => Ok(Self(n)),
            SizeText::Text(text) => parse_size(&text).map(Self),
        }
    }
}

impl From<Size> for SizeText {
    fn from(size: Size) -> Self {
        Self::Bytes(size.0)
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 512MiB, 5GB, 1048576)"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0f64.powi(4),
        other => {
            return Err(format!(
                "`{other}` is not a size unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            ));
        }
    };
    Ok((number * factor) as u64)
}

/// `12.3 GiB`
fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

fn rounded(percent: f64) -> f64 {
    (percent * 10.0).round() / 10.0
}

/// Disk use of the file system holding a path.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// A path on the file system to look at (`/var/lib/docker`, `/backups`).
    pub path: Template,
    /// Fail when more than this percent is used (as `df` counts it, without root's reserve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_percent: Option<Tpl<f64>>,
    /// Fail when less than this is free for ordinary users (`10GiB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_free: Option<Tpl<Size>>,
}
family_verb!(
    Disk,
    ReadOnly,
    "Disk use of the file system holding a path (percent, free bytes), with thresholds",
    ["percent", "free_bytes", "total_bytes", "used_bytes", "free"]
);

impl Disk {
    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let path = ctx.render(&self.path)?;
        let stats = nix::sys::statvfs::statvfs(path.as_str())
            .map_err(|e| StepError::failed(format!("{path}: {}", e.desc())))?;
        let fragment = stats.fragment_size();
        let total = stats.blocks() * fragment;
        let free_for_users = stats.blocks_available() * fragment;
        let used = total.saturating_sub(stats.blocks_free() * fragment);
        // df's Use%: used over what ordinary users can have (used + available), rounded up.
        let usable = used + free_for_users;
        let percent = if usable == 0 {
            0.0
        } else {
            used as f64 * 100.0 / usable as f64
        };
        let mut unmet = Vec::new();
        if let Some(max) = &self.max_percent {
            let max = ctx.resolve(max)?;
            if percent > max {
                unmet.push(format!("{:.1}% used (limit {max}%)", percent));
            }
        }
        if let Some(min) = &self.min_free {
            let min = ctx.resolve(min)?;
            if free_for_users < min.0 {
                unmet.push(format!(
                    "{} free (at least {} wanted)",
                    human(free_for_users),
                    human(min.0)
                ));
            }
        }
        if !unmet.is_empty() {
            return Err(StepError::failed(format!("{path}: {}", unmet.join("; "))));
        }
        Ok(outputs(serde_json::json!({
            "percent": rounded(percent),
            "free_bytes": free_for_users,
            "total_bytes": total,
            "used_bytes": used,
            "free": human(free_for_users),
        })))
    }
}

/// Memory the host has available (`MemAvailable` of /proc/meminfo, what `free` shows).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// Fail when less than this is available (`512MiB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<Tpl<Size>>,
    /// Fail when less than this percent of the total is available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available_percent: Option<Tpl<f64>>,
}
family_verb!(
    Memory,
    ReadOnly,
    "Memory available on the host (/proc/meminfo), with thresholds",
    [
        "available_bytes",
        "total_bytes",
        "available_percent",
        "available"
    ]
);

fn meminfo_kib(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

impl Memory {
    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let text = tokio::fs::read_to_string("/proc/meminfo")
            .await
            .map_err(|e| StepError::failed(format!("/proc/meminfo: {e}")))?;
        let (Some(total), Some(available)) = (
            meminfo_kib(&text, "MemTotal"),
            meminfo_kib(&text, "MemAvailable"),
        ) else {
            return Err(StepError::failed(
                "/proc/meminfo has no MemTotal/MemAvailable",
            ));
        };
        let (total, available) = (total * 1024, available * 1024);
        let percent = available as f64 * 100.0 / total.max(1) as f64;
        let mut unmet = Vec::new();
        if let Some(min) = &self.min_available {
            let min = ctx.resolve(min)?;
            if available < min.0 {
                unmet.push(format!(
                    "{} available (at least {} wanted)",
                    human(available),
                    human(min.0)
                ));
            }
        }
        if let Some(min) = &self.min_available_percent {
            let min = ctx.resolve(min)?;
            if percent < min {
                unmet.push(format!("{percent:.1}% available (at least {min}% wanted)"));
            }
        }
        if !unmet.is_empty() {
            return Err(StepError::failed(format!("memory: {}", unmet.join("; "))));
        }
        Ok(outputs(serde_json::json!({
            "available_bytes": available,
            "total_bytes": total,
            "available_percent": rounded(percent),
            "available": human(available),
        })))
    }
}

/// Whether something listens on a TCP port (a connection is accepted), or nothing does.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// Host to connect to. Default: `127.0.0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Template>,
    pub port: Tpl<u16>,
    /// `listening` (default): a connection must be accepted; `closed`: it must be refused.
    #[serde(default)]
    pub expect: PortState,
    /// How long one connection attempt may take. Default: 3s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Tpl<Duration>>,
}
family_verb!(
    Port,
    ReadOnly,
    "Check that a TCP port accepts connections (or that nothing listens on it)",
    ["listening", "connect_ms"]
);

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    #[default]
    Listening,
    Closed,
}

impl Port {
    async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let host = match &self.host {
            Some(h) => ctx.render(h)?,
            None => "127.0.0.1".into(),
        };
        let port = ctx.resolve(&self.port)?;
        let wait = match &self.connect_timeout {
            Some(t) => ctx.resolve(t)?.0,
            None => StdDuration::from_secs(3),
        };
        let started = std::time::Instant::now();
        let attempt =
            tokio::time::timeout(wait, tokio::net::TcpStream::connect((host.as_str(), port))).await;
        let ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
        let (listening, why) = match attempt {
            Ok(Ok(_)) => (true, String::new()),
            Ok(Err(e)) => (false, e.to_string()),
            Err(_) => (false, format!("no answer within {}", Duration(wait))),
        };
        match (self.expect, listening) {
            (PortState::Listening, false) => Err(StepError::failed(format!(
                "nothing accepts connections on {host}:{port} ({why})"
            ))),
            (PortState::Closed, true) => Err(StepError::failed(format!(
                "{host}:{port} accepts connections; expected nothing to listen there"
            ))),
            _ => Ok(outputs(
                serde_json::json!({ "listening": listening, "connect_ms": ms }),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(parse_size("512MiB"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_size("5GB"), Ok(5_000_000_000));
        assert_eq!(parse_size("1.5 GiB"), Ok(1_610_612_736));
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert!(parse_size("lots").is_err());
        assert!(
            parse_size("5 parsecs")
                .unwrap_err()
                .contains("not a size unit")
        );
        assert_eq!(human(1536 * 1024 * 1024), "1.5 GiB");
    }

    #[test]
    fn meminfo_lines_are_read_in_kib() {
        let text = "MemTotal:       24576000 kB\nMemFree:  100 kB\nMemAvailable:   12288000 kB\n";
        assert_eq!(meminfo_kib(text, "MemTotal"), Some(24_576_000));
        assert_eq!(meminfo_kib(text, "MemAvailable"), Some(12_288_000));
        assert_eq!(meminfo_kib(text, "Swap"), None);
    }
}
