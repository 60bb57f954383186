//! Who is running: the user, host and process journaled with every start, resume and lock,
//! and named as a run's owner in a store.

/// Who is running: journaled with every start, resume and lock.
#[derive(Debug, Clone)]
pub struct Operator {
    pub user: String,
    pub host: String,
    pub pid: u32,
}

impl Operator {
    pub fn current() -> Self {
        let user = ["RUNBOOK_USER", "USER", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(user_of_uid);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Self {
            user,
            host,
            pid: std::process::id(),
        }
    }

    /// `alice@ops1 (pid 42)`: who owns a run, for a refusal message.
    pub fn describe(&self) -> String {
        format!("{}@{} (pid {})", self.user, self.host, self.pid)
    }

    /// Whether the process `pid` of this host is gone, or is no runbook any more (its pid
    /// reused): then a run it owned is certainly not being worked on.
    pub fn is_gone_here(host: &str, pid: u32) -> bool {
        host == Self::current().host
            && !std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim().starts_with("runbook"))
    }
}

/// The account of the process's uid (`root`), or `uid 1000` if it has none: cron, systemd
/// and some SSH set-ups run without `$USER`.
fn user_of_uid() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {uid}"),
    }
}
