//! Exit codes, documented in the README. Scripts and CI rely on them: never renumber.

use runbook_engine::journal::RunStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: everything checked out, or the run succeeded.
    Success,
    /// 1: the run failed; what ran was rolled back (or `--no-rollback` said not to).
    Failed,
    /// 2: a playbook is invalid, an input or secret is missing, or the command line is wrong.
    Invalid,
    /// 3: a compensation failed during rollback: the systems are half-way, a person must look.
    RollbackFailed,
    /// 4: a precondition failed before anything changed.
    PreconditionFailed,
    /// 5: refused: a lock is held, or the run cannot be resumed as asked.
    Refused,
    /// 6: every step succeeded but the run missed its RTO or RPO objective (not rolled back).
    ObjectivesMissed,
    /// 7: this runner lost the run to another (a shared store: its lease could not be
    /// renewed, or another runner took the run over). Nothing was rolled back; the run goes
    /// on with its next owner (`runbook resume RUN` from any host).
    Abandoned,
    /// 130: interrupted by a signal (and rolled back unless `--no-rollback`).
    Interrupted,
}

impl From<RunStatus> for Exit {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Succeeded | RunStatus::Checked => Self::Success,
            RunStatus::RolledBack | RunStatus::Failed => Self::Failed,
            RunStatus::RollbackFailed => Self::RollbackFailed,
            RunStatus::PreconditionFailed => Self::PreconditionFailed,
            RunStatus::ObjectivesMissed => Self::ObjectivesMissed,
            RunStatus::Interrupted => Self::Interrupted,
            RunStatus::Abandoned => Self::Abandoned,
        }
    }
}

impl Exit {
    /// The process's exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Invalid => 2,
            Exit::RollbackFailed => 3,
            Exit::PreconditionFailed => 4,
            Exit::Refused => 5,
            Exit::ObjectivesMissed => 6,
            Exit::Abandoned => 7,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_statuses_map_to_the_journaled_exit_codes() {
        for status in [
            RunStatus::Succeeded,
            RunStatus::Checked,
            RunStatus::RolledBack,
            RunStatus::Failed,
            RunStatus::RollbackFailed,
            RunStatus::PreconditionFailed,
            RunStatus::Interrupted,
            RunStatus::ObjectivesMissed,
            RunStatus::Abandoned,
        ] {
            let code = std::process::ExitCode::from(Exit::from(status));
            assert_eq!(
                code,
                std::process::ExitCode::from(status.exit_code() as u8),
                "{status:?}"
            );
        }
    }
}
