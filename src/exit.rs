//! Exit codes, documented in the README. Scripts and CI rely on them: never renumber.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: everything checked out.
    Success,
    /// 2: a playbook is invalid, an input is wrong, or the command line is (clap's own code).
    Invalid,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        match exit {
            Exit::Success => Self::from(0),
            Exit::Invalid => Self::from(2),
        }
    }
}
