//! The closed set of actions. Adding a verb here makes the compiler point at every `match`
//! that must handle it; nothing else lists verbs.

use runbook_engine::action::{Effect, Verb, VerbInfo};
use runbook_engine::execute::{BoxFuture, Outputs, StepContext, StepError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    alertmanager, approval, assert, compose, docker, file, host, http, nginx, notify, postgres,
    prometheus, redis, s3, shell, tls, wait,
};

/// Every param the run takes as written, reviewed: a template there would plan one thing and
/// run another, so the compiler refuses one. `literal_tests` checks it against the schema: a
/// new plain-text param fails that test until it is a `Template` (rendered) or added here on
/// purpose.
const TAKEN_AS_WRITTEN: &[(&str, &str)] = &[
    ("alertmanager.silence", "created_by"),
    ("approval.gate", "approvers[]"),
    ("docker.exec", "expect.stdout"),
    ("docker.exec", "expect.stderr"),
    ("docker.kill", "signal"),
    ("docker.logs", "match"),
    ("docker.logs", "absent"),
    ("file.copy", "mode"),
    ("file.template", "mode"),
    ("file.write", "mode"),
    ("http.check", "expect.body"),
    ("http.request", "expect.body"),
    ("postgres.compare", "tables[]"),
    ("postgres.compare", "checksum_tables[]"),
    ("postgres.terminate_backends", "states[]"),
    ("postgres.verify_backup", "tables[]"),
    ("postgres.verify_backup", "checksum_tables[]"),
    ("postgres.verify_backup", "extensions[]"),
    ("prometheus.alerts", "firing[]"),
    ("prometheus.alerts", "not_firing[]"),
    ("prometheus.rules", "groups[]"),
    ("prometheus.rules", "alerts[]"),
    ("redis.command", "match"),
    ("shell.run", "shell"),
    ("shell.run", "expect.stdout"),
    ("shell.run", "expect.stderr"),
];

macro_rules! actions {
    ($( $verb:literal => $variant:ident($params:ty), )*) => {
        /// One action of a step: `<family>.<verb>: params`.
        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        pub enum Action {
            $( #[serde(rename = $verb)] $variant($params), )*
        }

        impl runbook_engine::action::Action for Action {
            fn verb(&self) -> &'static str {
                match self { $( Self::$variant(_) => $verb, )* }
            }

            fn effect(&self) -> Effect {
                match self { $( Self::$variant(p) => Verb::effect(p), )* }
            }

            fn validate(&self) -> Result<(), String> {
                match self { $( Self::$variant(p) => Verb::validate(p), )* }
            }

            fn irreversible(&self) -> Option<&'static str> {
                match self { $( Self::$variant(p) => Verb::irreversible(p), )* }
            }

            fn on_hosts(&self) -> bool {
                match self { $( Self::$variant(p) => Verb::on_hosts(p), )* }
            }

            fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Outputs, StepError>> {
                match self { $( Self::$variant(p) => Verb::run(p, ctx), )* }
            }

            fn preview<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<String, StepError>> {
                match self { $( Self::$variant(p) => Verb::preview(p, ctx), )* }
            }

            fn taken_as_written() -> &'static [(&'static str, &'static str)] {
                TAKEN_AS_WRITTEN
            }

            fn catalog() -> &'static [VerbInfo] {
                const CATALOG: &[VerbInfo] = &[ $(
                    VerbInfo {
                        name: $verb,
                        effect: <$params as Verb>::EFFECT,
                        summary: <$params as Verb>::SUMMARY,
                        outputs: <$params as Verb>::OUTPUTS,
                        printed: <$params as Verb>::PRINTED,
                        sensitive: <$params as Verb>::SENSITIVE,
                        shorthand: <$params as Verb>::SHORTHAND,
                        on_hosts: <$params as Verb>::ON_HOSTS,
                    },
                )* ];
                CATALOG
            }
        }
    };
}

actions! {
    "alertmanager.silence" => AlertmanagerSilence(alertmanager::Silence),
    "alertmanager.unsilence" => AlertmanagerUnsilence(alertmanager::Unsilence),
    "approval.gate" => ApprovalGate(approval::Gate),
    "assert.that" => AssertThat(assert::That),
    "compose.build" => ComposeBuild(compose::Build),
    "compose.down" => ComposeDown(compose::Down),
    "compose.ps" => ComposePs(compose::Ps),
    "compose.restore" => ComposeRestore(compose::Restore),
    "compose.up" => ComposeUp(compose::Up),
    "docker.assert" => DockerAssert(docker::Assert),
    "docker.build" => DockerBuild(docker::Build),
    "docker.copy_from" => DockerCopyFrom(docker::CopyFrom),
    "docker.copy_to" => DockerCopyTo(docker::CopyTo),
    "docker.exec" => DockerExec(docker::Exec),
    "docker.inspect" => DockerInspect(docker::Inspect),
    "docker.kill" => DockerKill(docker::Kill),
    "docker.logs" => DockerLogs(docker::Logs),
    "docker.port" => DockerPort(docker::Port),
    "docker.prune_images" => DockerPruneImages(docker::PruneImages),
    "docker.pull" => DockerPull(docker::Pull),
    "docker.recreate" => DockerRecreate(docker::Recreate),
    "docker.remove" => DockerRemove(docker::Remove),
    "docker.restart" => DockerRestart(docker::Restart),
    "docker.rolling_restart" => DockerRollingRestart(docker::RollingRestart),
    "docker.start" => DockerStart(docker::Start),
    "docker.stats" => DockerStats(docker::Stats),
    "docker.stop" => DockerStop(docker::Stop),
    "docker.tag" => DockerTag(docker::Tag),
    "docker.volume_backup" => DockerVolumeBackup(docker::VolumeBackup),
    "docker.volume_restore" => DockerVolumeRestore(docker::VolumeRestore),
    "docker.wait" => DockerWait(docker::Wait),
    "file.checksum" => FileChecksum(file::Checksum),
    "file.copy" => FileCopy(file::Copy),
    "file.exists" => FileExists(file::Exists),
    "file.latest" => FileLatest(file::Latest),
    "file.link" => FileLink(file::Link),
    "file.prune" => FilePrune(file::Prune),
    "file.restore" => FileRestore(file::Restore),
    "file.template" => FileTemplate(file::WriteTemplate),
    "file.write" => FileWrite(file::Write),
    "host.disk" => HostDisk(host::Disk),
    "host.memory" => HostMemory(host::Memory),
    "host.port" => HostPort(host::Port),
    "http.check" => HttpCheck(http::Check),
    "http.request" => HttpRequest(http::Request),
    "nginx.reload" => NginxReload(nginx::Reload),
    "nginx.test" => NginxTest(nginx::Test),
    "notify.webhook" => NotifyWebhook(notify::Webhook),
    "postgres.compare" => PostgresCompare(postgres::Compare),
    "postgres.dump" => PostgresDump(postgres::Dump),
    "postgres.exec" => PostgresExec(postgres::Exec),
    "postgres.query" => PostgresQuery(postgres::Query),
    "postgres.ready" => PostgresReady(postgres::Ready),
    "postgres.restore" => PostgresRestore(postgres::Restore),
    "postgres.terminate_backends" => PostgresTerminateBackends(postgres::TerminateBackends),
    "postgres.verify_backup" => PostgresVerifyBackup(postgres::VerifyBackup),
    "prometheus.alerts" => PrometheusAlerts(prometheus::Alerts),
    "prometheus.query" => PrometheusQuery(prometheus::Query),
    "prometheus.rules" => PrometheusRules(prometheus::Rules),
    "redis.command" => RedisCommand(redis::Command),
    "redis.flush" => RedisFlush(redis::Flush),
    "redis.info" => RedisInfo(redis::Info),
    "redis.ping" => RedisPing(redis::Ping),
    "s3.bucket" => S3Bucket(s3::Bucket),
    "s3.delete" => S3Delete(s3::Delete),
    "s3.download" => S3Download(s3::Download),
    "s3.list" => S3List(s3::List),
    "s3.mirror" => S3Mirror(s3::Mirror),
    "s3.upload" => S3Upload(s3::Upload),
    "shell.run" => ShellRun(shell::Run),
    "tls.certificate" => TlsCertificate(tls::Certificate),
    "tls.file" => TlsFile(tls::File),
    "wait.sleep" => WaitSleep(wait::Sleep),
    "wait.until" => WaitUntil(wait::Until),
}

#[cfg(test)]
mod tests {
    use super::*;
    use runbook_engine::action::Action as _;

    #[test]
    fn catalog_lists_every_verb_once_sorted() {
        let names: Vec<&str> = Action::catalog().iter().map(|v| v.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), 74);
    }

    #[test]
    fn no_verb_shadows_the_outputs_every_step_has() {
        for verb in Action::catalog() {
            for output in verb.outputs {
                assert!(
                    !runbook_engine::compile::COMMON_OUTPUTS.contains(output),
                    "`{}` declares `{output}`, which every step already has",
                    verb.name
                );
            }
        }
    }
}

#[cfg(test)]
mod literal_tests {
    use runbook_engine::action::Action as _;

    /// The compiler's fixed table is the schema's: a new plain-text param fails here until it
    /// is a `Template` (rendered) or added to `TAKEN_AS_WRITTEN` on purpose.
    #[test]
    fn params_taken_as_written_are_the_reviewed_ones() {
        let found = runbook_engine::reference::literal_params::<crate::Action>();
        let reviewed: Vec<(&str, String)> = crate::Action::taken_as_written()
            .iter()
            .map(|&(verb, path)| (verb, path.to_string()))
            .collect();
        assert_eq!(found, reviewed);
    }
}
