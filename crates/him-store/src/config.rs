//! The `[store]` section of `pipeline.toml`.

use serde::Deserialize;

/// Where filed documents live.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `file:///absolute/folder`, a plain folder path, `s3://bucket/prefix`, or `memory://` (tests only).
    pub url: String,
    /// S3 endpoint for S3-compatible servers (MinIO, Ceph, moto); empty means AWS.
    pub endpoint: String,
    /// S3 region.
    pub region: String,
    /// Address buckets as `endpoint/bucket` rather than `bucket.endpoint` (MinIO and most on-site servers).
    pub path_style: bool,
    /// Allow plain-HTTP endpoints (loopback test servers only).
    pub allow_http: bool,
    /// Server-side encryption: empty (none), `AES256`, or `aws:kms`.
    pub server_side_encryption: String,
    /// KMS key id when `server_side_encryption = "aws:kms"`.
    pub kms_key_id: String,
    /// Seconds before one request to the store times out.
    pub request_timeout_secs: u64,
    /// Retries of one request on transient errors, with backoff, before the job is requeued.
    pub max_retries: usize,
    /// Take S3 credentials from the cloud instance metadata service (an EC2 role) when none are in the
    /// environment. Off: without `AWS_ACCESS_KEY_ID` the store refuses to start rather than probe the network.
    pub instance_credentials: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "him-data".to_string(),
            endpoint: String::new(),
            region: "us-east-1".to_string(),
            path_style: true,
            allow_http: false,
            server_side_encryption: String::new(),
            kms_key_id: String::new(),
            request_timeout_secs: 30,
            max_retries: 3,
            instance_credentials: false,
        }
    }
}
