//! Integration tests: the real `runbook` binary against fixture playbooks.
//! One test binary (one link) for every command; one file per command.

mod database;
mod docker;
mod plan;
mod postgres;
mod resume;
mod run;
mod schema;
mod support;
mod validate;
