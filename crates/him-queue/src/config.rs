//! The `[queue]` section of `pipeline.toml`.

use std::time::Duration;

use serde::Deserialize;

/// How `him` reaches its work queue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// AMQP URL of the broker, e.g. `amqp://user:password@host:5672/%2f`; usually `${HIM_AMQP_URL}` so the
    /// password stays out of the file. Never logged as is: see [`QueueConfig::redacted_url`].
    pub url: String,
    /// Prefix of every queue and exchange name (`<prefix>.charts`, `<prefix>.dlx`, ...).
    pub prefix: String,
    /// Unacknowledged deliveries per consumed queue (basic.qos); 0 means "the worker pool size", resolved by
    /// the caller with [`QueueConfig::prefetch_for`].
    pub prefetch: u16,
    /// Deliveries that end in a requeue before the broker dead-letters a job (`x-delivery-limit`).
    pub delivery_limit: u32,
    /// Published messages awaiting a broker confirm at once, per process.
    pub confirm_window: usize,
    /// First wait in milliseconds before reconnecting after the broker was lost; doubled on each failure.
    pub reconnect_min_ms: u64,
    /// Longest wait in milliseconds between two reconnection attempts.
    pub reconnect_max_ms: u64,
    /// AMQP heartbeat in seconds, used unless the URL sets `?heartbeat=`; 0 disables heartbeats.
    pub heartbeat_secs: u16,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".to_string(),
            prefix: "him".to_string(),
            prefetch: 0,
            delivery_limit: 5,
            confirm_window: 64,
            reconnect_min_ms: 200,
            reconnect_max_ms: 10_000,
            heartbeat_secs: 30,
        }
    }
}

impl QueueConfig {
    /// The URL with its password replaced by `***`, safe to log.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// The prefetch to use with a worker pool of `pool_size` threads: the configured value, or the pool size
    /// when it is 0 (at least 1).
    pub fn prefetch_for(&self, pool_size: usize) -> u16 {
        if self.prefetch > 0 {
            return self.prefetch;
        }
        u16::try_from(pool_size.max(1)).unwrap_or(u16::MAX)
    }

    /// The wait before reconnection attempt number `attempt` (0-based): exponential from `reconnect_min_ms`,
    /// capped at `reconnect_max_ms`, with up to 10% jitter so a fleet of workers does not reconnect in step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let min = self.reconnect_min_ms.max(1);
        let max = self.reconnect_max_ms.max(min);
        let base = min.saturating_mul(1u64 << attempt.min(20)).min(max);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::from(d.subsec_nanos()))
            .unwrap_or(0);
        let jitter = if base >= 10 { nanos % (base / 10) } else { 0 };
        Duration::from_millis(base - jitter)
    }
}

/// Replaces the password of an AMQP URL with `***`; a URL that cannot be read is hidden whole.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    format!("{scheme}://{user}:***@{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_url_hides_the_password() {
        let config = QueueConfig {
            url: "amqp://worker:s3cr%2Ft@mq.example:5672/%2f?heartbeat=10".to_string(),
            ..QueueConfig::default()
        };
        assert_eq!(
            config.redacted_url(),
            "amqp://worker:***@mq.example:5672/%2f?heartbeat=10"
        );
        assert!(!config.redacted_url().contains("s3cr"));
    }

    #[test]
    fn redacted_url_without_credentials_is_unchanged() {
        assert_eq!(redact_url("amqp://127.0.0.1:5672"), "amqp://127.0.0.1:5672");
        assert_eq!(redact_url("not a url"), "***");
        assert_eq!(redact_url("amqps://user@h/v"), "amqps://user:***@h/v");
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let config: QueueConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, QueueConfig::default());
        assert_eq!(config.delivery_limit, 5);
        assert_eq!(config.confirm_window, 64);
        assert!(serde_json::from_str::<QueueConfig>(r#"{"prefech": 3}"#).is_err());
    }

    #[test]
    fn prefetch_zero_means_pool_size() {
        let config = QueueConfig::default();
        assert_eq!(config.prefetch_for(8), 8);
        assert_eq!(config.prefetch_for(0), 1);
        let fixed = QueueConfig {
            prefetch: 3,
            ..QueueConfig::default()
        };
        assert_eq!(fixed.prefetch_for(8), 3);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let config = QueueConfig::default();
        assert!(config.backoff(0) <= Duration::from_millis(200));
        assert!(config.backoff(0) >= Duration::from_millis(180));
        assert!(config.backoff(3) >= Duration::from_millis(1440));
        assert!(config.backoff(30) <= Duration::from_millis(10_000));
        assert!(config.backoff(30) >= Duration::from_millis(9_000));
    }
}
