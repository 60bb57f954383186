//! `docker.stats` (CPU and memory per container, with thresholds: the seeds' `docker stats
//! --no-stream`) and `docker.port` (where a service's port is published: `docker port`).

use bollard::query_parameters::{InspectContainerOptions, StatsOptions};
use futures_util::StreamExt;
use serde_json::json;

use super::{Port, Stats};
use crate::prelude::*;

/// CPU percent as `docker stats` computes it: the container's share of the host between two
/// samples, times the CPUs it may use (so 200% is two CPUs busy).
fn cpu_percent(stats: &bollard::models::ContainerStatsResponse) -> f64 {
    let usage = |s: &Option<bollard::models::ContainerCpuStats>| {
        let s = s.as_ref();
        (
            s.and_then(|c| c.cpu_usage.as_ref())
                .and_then(|u| u.total_usage)
                .unwrap_or(0),
            s.and_then(|c| c.system_cpu_usage).unwrap_or(0),
        )
    };
    let (cpu, system) = usage(&stats.cpu_stats);
    let (pre_cpu, pre_system) = usage(&stats.precpu_stats);
    let cpus = stats
        .cpu_stats
        .as_ref()
        .and_then(|c| c.online_cpus)
        .unwrap_or(1)
        .max(1);
    let cpu_delta = cpu.saturating_sub(pre_cpu) as f64;
    let system_delta = system.saturating_sub(pre_system) as f64;
    if system_delta <= 0.0 {
        return 0.0;
    }
    (cpu_delta / system_delta * f64::from(cpus) * 100.0 * 100.0).round() / 100.0
}

/// Memory as `docker stats` shows it: usage without the page cache it could drop.
fn memory(stats: &bollard::models::ContainerStatsResponse) -> (u64, u64) {
    let Some(m) = stats.memory_stats.as_ref() else {
        return (0, 0);
    };
    let cache = m
        .stats
        .as_ref()
        .and_then(|s| {
            s.get("inactive_file")
                .or_else(|| s.get("total_inactive_file"))
                .copied()
        })
        .unwrap_or(0);
    (
        m.usage.unwrap_or(0).saturating_sub(cache),
        m.limit.unwrap_or(0),
    )
}

impl Stats {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, containers) = self.targets(ctx).await?;
        let max_cpu = self
            .max_cpu_percent
            .as_ref()
            .map(|m| ctx.resolve(m))
            .transpose()?;
        let max_memory = self
            .max_memory_percent
            .as_ref()
            .map(|m| ctx.resolve(m))
            .transpose()?;
        // One sample takes the engine about a second (it needs two readings for CPU): ask for
        // every container at once.
        let samples = futures_util::future::join_all(containers.iter().map(|c| {
            let docker = docker.clone();
            async move {
                let mut stream = docker.stats(
                    &c.id,
                    Some(StatsOptions {
                        stream: false,
                        one_shot: false,
                    }),
                );
                stream.next().await
            }
        }))
        .await;
        let mut seen = Vec::new();
        let mut over = Vec::new();
        for (container, sample) in containers.iter().zip(samples) {
            let stats = match sample {
                Some(Ok(stats)) => stats,
                Some(Err(e)) => {
                    return Err(StepError::failed(format!(
                        "stats of {}: {e}",
                        container.name
                    )));
                }
                None => {
                    return Err(StepError::failed(format!(
                        "the engine sent no stats for {}",
                        container.name
                    )));
                }
            };
            let cpu = cpu_percent(&stats);
            let (used, limit) = memory(&stats);
            let memory_percent = if limit == 0 {
                0.0
            } else {
                (used as f64 * 100.0 / limit as f64 * 100.0).round() / 100.0
            };
            if let Some(max) = max_cpu
                && cpu > max
            {
                over.push(format!("{} uses {cpu}% CPU (limit {max}%)", container.name));
            }
            if let Some(max) = max_memory
                && memory_percent > max
            {
                over.push(format!(
                    "{} uses {memory_percent}% of its memory limit ({used} of {limit} bytes; limit {max}%)",
                    container.name
                ));
            }
            seen.push(json!({
                "name": container.name,
                "cpu_percent": cpu,
                "memory_bytes": used,
                "memory_limit": limit,
                "memory_percent": memory_percent,
            }));
        }
        if !over.is_empty() {
            return Err(StepError::failed(over.join("; ")));
        }
        let top = |key: &str| {
            seen.iter()
                .filter_map(|s| s[key].as_f64())
                .fold(0.0, f64::max)
        };
        Ok(outputs(json!({
            "max_cpu_percent": top("cpu_percent"),
            "max_memory_percent": top("memory_percent"),
            "containers": seen,
        })))
    }
}

impl Port {
    pub(super) async fn execute(&self, ctx: &StepContext) -> Result<Outputs, StepError> {
        let (docker, containers) = self.targets(ctx).await?;
        let port = ctx.resolve(&self.port)?;
        let protocol = match self.protocol {
            super::Protocol::Tcp => "tcp",
            super::Protocol::Udp => "udp",
        };
        let key = format!("{port}/{protocol}");
        let mut published = Vec::new();
        for container in &containers {
            let inspected = docker
                .inspect_container(&container.id, None::<InspectContainerOptions>)
                .await
                .map_err(|e| StepError::failed(format!("inspecting {}: {e}", container.name)))?;
            let bindings = inspected
                .network_settings
                .and_then(|n| n.ports)
                .and_then(|ports| ports.get(&key).cloned().flatten())
                .unwrap_or_default();
            let binding = bindings.first().ok_or_else(|| {
                StepError::failed(format!(
                    "{} does not publish {key} (is it running, with `ports:` for it?)",
                    container.name
                ))
            })?;
            let ip = binding
                .host_ip
                .clone()
                .filter(|ip| !ip.is_empty())
                .unwrap_or_else(|| "0.0.0.0".into());
            let host_port: u16 = binding
                .host_port
                .as_deref()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0);
            published.push(json!({
                "name": container.name,
                "host_ip": ip,
                "host_port": host_port,
                // 0.0.0.0 is every address; a client on this host reaches it on loopback.
                "address": format!("{}:{host_port}", if ip == "0.0.0.0" { "127.0.0.1" } else { &ip }),
            }));
        }
        let first = published.first().cloned().unwrap_or_default();
        Ok(outputs(json!({
            "host_ip": first["host_ip"],
            "host_port": first["host_port"],
            "address": first["address"],
            "containers": published,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_the_share_between_two_samples_times_the_cpus() {
        let stats: bollard::models::ContainerStatsResponse = serde_json::from_value(json!({
            "cpu_stats": { "cpu_usage": { "total_usage": 3_000 }, "system_cpu_usage": 20_000, "online_cpus": 2 },
            "precpu_stats": { "cpu_usage": { "total_usage": 1_000 }, "system_cpu_usage": 10_000 },
            "memory_stats": { "usage": 600, "limit": 1000, "stats": { "inactive_file": 100 } }
        }))
        .unwrap();
        assert_eq!(cpu_percent(&stats), 40.0);
        assert_eq!(memory(&stats), (500, 1000));
    }
}
