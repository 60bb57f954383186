//! One bucket of an S3-compatible server (MinIO, AWS, s3s...) through object_store, the
//! Apache Arrow project's client: path-style requests, an endpoint of the step's choosing,
//! few retries (a runbook wants to know now, not after three minutes of backoff), and
//! errors that name the endpoint and bucket, never the keys.

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use std::time::Duration as StdDuration;

use crate::prelude::*;

/// The rendered connection params of one bucket.
pub(super) struct Target {
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
}

/// A bucket and how to name it in messages.
pub(super) struct Bucket {
    pub store: std::sync::Arc<AmazonS3>,
    /// `s3://backups at http://127.0.0.1:9000`
    pub name: String,
}

impl Target {
    pub fn open(&self, ctx: &StepContext) -> Result<Bucket, StepError> {
        if self.bucket.trim().is_empty() {
            return Err(StepError::failed(
                "`bucket` rendered to nothing; give the input it reads a value",
            ));
        }
        let name = match &self.endpoint {
            Some(endpoint) => format!("s3://{} at {endpoint}", self.bucket),
            None => format!("s3://{} ({})", self.bucket, self.region),
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: StdDuration::from_millis(100),
                    max_backoff: StdDuration::from_secs(2),
                    base: 2.0,
                },
                max_retries: 2,
                retry_timeout: StdDuration::from_secs(10),
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(StdDuration::from_secs(5))
                    .with_timeout(StdDuration::from_secs(300)),
            );
        if let Some(endpoint) = &self.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        match (&self.access_key, &self.secret_key) {
            (Some(access), Some(secret)) => {
                builder = builder
                    .with_access_key_id(access)
                    .with_secret_access_key(secret);
            }
            (None, None) => builder = builder.with_skip_signature(true),
            _ => {
                return Err(StepError::failed(
                    "give both `access_key` and `secret_key`, or neither (anonymous)",
                ));
            }
        }
        let store = builder
            .build()
            .map_err(|e| StepError::failed(format!("{name}: {}", ctx.redact(&e.to_string()))))?;
        Ok(Bucket {
            store: std::sync::Arc::new(store),
            name,
        })
    }
}

impl Bucket {
    /// An error of the client, with the bucket named and the secrets hidden.
    pub fn error(&self, ctx: &StepContext, what: &str, e: &object_store::Error) -> StepError {
        let said = ctx.redact(&e.to_string());
        let hint = if said.contains("NoSuchBucket") || said.contains("bucket does not exist") {
            " (the bucket does not exist: check `bucket` and `endpoint`)"
        } else if said.contains("SignatureDoesNotMatch")
            || said.contains("InvalidAccessKeyId")
            || said.contains("403")
        {
            " (access refused: check `access_key` and `secret_key`)"
        } else {
            ""
        };
        StepError::failed(format!("{}: {what}: {said}{hint}", self.name))
    }
}
