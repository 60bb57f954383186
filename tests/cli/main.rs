//! Integration tests: the real `runbook` binary against fixture playbooks.
//! One test binary (one link) for every command; one file per command.

mod alerting;
mod audio_tai_loc;
mod car_rental;
mod compose;
mod daemon;
mod database;
mod diff;
mod docker;
mod docker_images;
mod host_checks;
mod hosts;
mod liyaqa;
mod nginx;
mod notify;
mod plan;
mod postgres;
mod redis;
mod remote;
mod report;
mod resume;
mod run;
mod s3;
mod schema;
mod shipped;
mod store;
mod support;
mod tls;
mod validate;
