//! The `[review]` section of `pipeline.toml`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Settings of the review web UI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewConfig {
    /// Address and port the server listens on.
    pub listen: String,
    /// Address of the Prometheus `/metrics` listener, apart from the UI's (the UI does not serve it, so a
    /// scraper or a stranger on the UI's port cannot load the server); empty serves no metrics.
    pub metrics_listen: String,
    /// The review database (accounts, sessions, login throttling, the queue index and the audit index): the
    /// path of an SQLite file, or a PostgreSQL URL (`postgres://user@host:5432/him_review`) that several
    /// review servers share.
    pub database: String,
    /// Connections to a PostgreSQL review database, per server (unused for SQLite).
    pub database_connections: usize,
    /// Marks the session cookie `Secure`; turn on whenever the UI is served over TLS (anything but localhost).
    pub secure_cookies: bool,
    /// Minutes a session lives after login, however active.
    pub session_ttl_minutes: u64,
    /// Minutes a reviewer's claim on a document holds before another reviewer may take it.
    pub claim_ttl_minutes: u64,
    /// OCR word confidence (0–100) under which a word is highlighted for checking.
    pub low_confidence: f32,
    /// Failed logins per user and address within the window before further attempts get 429.
    pub login_max_failures: u32,
    /// Length of the login throttling window, in minutes.
    pub login_window_minutes: u64,
    /// Failed logins from one address, whatever the user names, within the window before further attempts
    /// from it get 429.
    pub login_max_failures_per_address: u32,
    /// Password hashes (argon2, 19 MiB each) computed at once; logins and password changes wait for one.
    pub login_hash_concurrency: usize,
    /// Logins that may wait for a hashing slot; a login arriving when all slots and this queue are taken
    /// answers 503 at once.
    pub login_queue: usize,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed: for a request from one of them the
    /// client is the right-most forwarded address that is not itself a trusted proxy.
    pub trusted_proxies: Vec<IpAddr>,
    /// Minutes without a request after which a session ends; 0 keeps sessions until `session_ttl_minutes`.
    pub idle_timeout_minutes: u64,
    /// Seconds between two reads of the journal of filings into the queue index (what was filed since the
    /// last read), a backstop for missed events (the index follows `<prefix>.events`); 0 reads it only at
    /// start.
    pub refresh_secs: u64,
    /// Address under which EHRs and users reach this UI; DocumentReference attachment URLs start with it.
    pub public_base_url: String,
    /// `Identifier.system` of document ids in FHIR resources (`masterIdentifier`, `identifier`).
    pub document_system: String,
    /// `Identifier.system` of encounter numbers read from documents.
    pub encounter_system: String,
    /// Turnaround targets the queue colours waiting documents against (`[review.turnaround]`).
    pub turnaround: crate::clocks::TatTargets,
    /// Days after the date of service (or discharge) a chart deficiency becomes delinquent
    /// (`[review.deficiencies]`).
    pub deficiencies: crate::clocks::DeficiencyRules,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            listen: "127.0.0.1:8080".to_string(),
            metrics_listen: "127.0.0.1:9465".to_string(),
            database: "him-review.sqlite".to_string(),
            database_connections: 4,
            secure_cookies: false,
            session_ttl_minutes: 480,
            claim_ttl_minutes: 30,
            low_confidence: 60.0,
            login_max_failures: 5,
            login_window_minutes: 15,
            login_max_failures_per_address: 20,
            login_hash_concurrency: 2,
            login_queue: 16,
            trusted_proxies: Vec::new(),
            idle_timeout_minutes: 15,
            refresh_secs: 30,
            public_base_url: "http://127.0.0.1:8080".to_string(),
            document_system: "urn:him:document".to_string(),
            encounter_system: "urn:him:encounter".to_string(),
            turnaround: crate::clocks::TatTargets::default(),
            deficiencies: crate::clocks::DeficiencyRules::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_take_defaults_and_unknown_keys_are_refused() {
        let config: ReviewConfig = serde_json::from_str(r#"{"claim_ttl_minutes": 5}"#).unwrap();
        assert_eq!(config.claim_ttl_minutes, 5);
        assert_eq!(config.listen, "127.0.0.1:8080");
        assert!(serde_json::from_str::<ReviewConfig>(r#"{"listn": "x"}"#).is_err());
    }

    #[test]
    fn trusted_proxies_are_ip_addresses() {
        let config: ReviewConfig =
            serde_json::from_str(r#"{"trusted_proxies": ["10.0.0.1", "::1"]}"#).unwrap();
        assert_eq!(
            config.trusted_proxies,
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse::<IpAddr>().unwrap()
            ]
        );
        assert!(serde_json::from_str::<ReviewConfig>(r#"{"trusted_proxies": ["proxy"]}"#).is_err());
    }
}
