//! `s3.*`: off-site backups in an S3-compatible object store (MinIO in the seeds), in place of
//! `mc ls`, `mc cp` and `mc mirror`: buckets checked, objects listed with age and size
//! checks, uploaded, downloaded with the object's own time (so an RPO measured on the copy is
//! the backup's age, not the download's), deleted, and mirrored with counts. Keys are secrets.

use crate::prelude::*;

/// On a step's `host:`: a bucket the runner reaches.
const FAMILY_ON_HOSTS: bool = false;

mod mirror;
mod objects;
mod store;

macro_rules! s3_params {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// The server: `http://minio:9000`. Default: AWS S3 of `region`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub endpoint: Option<Template>,
            /// Default: `us-east-1` (what MinIO and most S3-compatible servers expect).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub region: Option<Template>,
            pub bucket: Template,
            /// `"{{ secrets.s3_access_key }}"`; without both keys, requests are anonymous.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub access_key: Option<Template>,
            /// `"{{ secrets.s3_secret_key }}"`: never printed, never in an error.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub secret_key: Option<Template>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            fn bucket(&self, ctx: &StepContext) -> Result<store::Bucket, StepError> {
                let render = |t: &Option<Template>| t.as_ref().map(|t| ctx.render(t)).transpose();
                store::Target {
                    endpoint: render(&self.endpoint)?,
                    region: render(&self.region)?.unwrap_or_else(|| "us-east-1".into()),
                    bucket: ctx.render(&self.bucket)?,
                    access_key: render(&self.access_key)?,
                    secret_key: render(&self.secret_key)?,
                }
                .open(ctx)
            }
        }
    };
}

s3_params! {
    /// Check that a bucket exists and can be listed with these keys.
    pub struct Bucket {}
}
family_verb!(
    Bucket,
    ReadOnly,
    "Check that an S3 bucket exists and can be listed",
    ["exists"]
);

s3_params! {
    /// The objects under a prefix: count, total size, the newest, with age and size checks.
    pub struct List {
        /// Only keys under this prefix (`goodgo/daily/`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub prefix: Option<Template>,
        /// Fail if the newest object is older than this (a stale off-site backup).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub max_age: Option<Tpl<Duration>>,
        /// Fail if the newest object is smaller than this many bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub min_size: Option<Tpl<u64>>,
        /// Fail with fewer objects than this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub min_count: Option<Tpl<u64>>,
    }
}
family_verb!(
    List,
    ReadOnly,
    "List the objects under a prefix, with checks on the newest one's age and size",
    ["count", "total_bytes", "newest", "objects"]
);

s3_params! {
    /// Upload a file as an object (streamed; multipart when large).
    pub struct Upload {
        pub file: Template,
        pub key: Template,
        /// Replace an object already at `key`. Default: refuse, so that the rollback
        /// (`s3.delete` of `key`) removes only what this step put there.
        #[serde(default, skip_serializing_if = "is_false")]
        pub overwrite: bool,
    }
}
family_verb!(
    Upload,
    Mutating,
    "Upload a file to an S3 bucket (undo it with `s3.delete` of its key)",
    ["key", "size", "etag"]
);

s3_params! {
    /// Download an object to a file, which gets the object's time as its modification time.
    pub struct Download {
        pub key: Template,
        pub file: Template,
    }
}
family_verb!(
    Download,
    Mutating,
    "Download an S3 object to a file, keeping the object's time (so its age is the backup's)",
    ["path", "size", "modified", "age"]
);

s3_params! {
    /// Delete one object.
    pub struct Delete {
        pub key: Template,
    }
}

impl Verb for Delete {
    const EFFECT: Effect = Effect::Mutating;
    const SUMMARY: &'static str = "Delete an S3 object";
    const OUTPUTS: &'static [&'static str] = &["deleted"];
    fn irreversible(&self) -> Option<&'static str> {
        Some("the object is deleted (unless the bucket keeps versions)")
    }
    execute_and_forecast!();
}

s3_params! {
    /// Copy every object under a prefix to another bucket or prefix, or to a directory,
    /// skipping those already there with the same size.
    pub struct Mirror {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub prefix: Option<Template>,
        /// Destination bucket (on the same server and keys unless `to_endpoint`...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub to_bucket: Option<Template>,
        /// Prefix the copies get in `to_bucket` (default: the same keys).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub to_prefix: Option<Template>,
        /// Destination server of `to_bucket`. Default: `endpoint`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub to_endpoint: Option<Template>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub to_access_key: Option<Template>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub to_secret_key: Option<Template>,
        /// Or a local directory: keys become paths under it, with the objects' times.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub to_dir: Option<Template>,
        /// Also delete what the destination has that the source does not (`mc mirror --remove`).
        #[serde(default, skip_serializing_if = "is_false")]
        pub delete_extra: bool,
    }
}

impl Verb for Mirror {
    const EFFECT: Effect = Effect::Mutating;
    const SUMMARY: &'static str =
        "Mirror the objects under a prefix to another bucket or a directory, with counts";
    const OUTPUTS: &'static [&'static str] = &["copied", "skipped", "deleted", "bytes_copied"];
    fn validate(&self) -> Result<(), String> {
        match (&self.to_bucket, &self.to_dir) {
            (Some(_), Some(_)) => Err("give `to_bucket` or `to_dir`, not both".into()),
            (None, None) => Err("give the destination: `to_bucket` or `to_dir`".into()),
            _ => Ok(()),
        }
    }
    fn irreversible(&self) -> Option<&'static str> {
        self.delete_extra
            .then_some("`delete_extra` deletes objects or files the source does not have")
    }
    execute_and_forecast!();
}
