//! The configuration sections of the interfaces: `[hl7]`, `[fhir]` and `[deliver]`.

use serde::Deserialize;

/// The `[hl7]` section: HL7 v2.5.1 MDM out over MLLP (`him deliver`), ADT in (`him adt`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hl7Config {
    /// `host:port` of the interface engine receiving MDM messages; empty: no HL7 destination.
    pub send_to: String,
    /// `host:port` to listen on for ADT messages (`him adt`); empty: no listener.
    pub listen: String,
    /// MSH-3 / MSH-4 of the messages sent, MSH-5 / MSH-6 of their receiver.
    pub sending_application: String,
    pub sending_facility: String,
    pub receiving_application: String,
    pub receiving_facility: String,
    /// PID-3.4: the assigning authority of the hospital's MRNs.
    pub assigning_authority: String,
    /// Seconds to wait for an acknowledgement (connect, send and ACK together).
    pub ack_timeout_s: f64,
    /// Largest MLLP frame accepted, in bytes.
    pub max_frame_bytes: usize,
    /// Add the original as a base64 PDF in an OBX of type ED (PDF originals only).
    pub embed_original: bool,
}

impl Default for Hl7Config {
    fn default() -> Self {
        Hl7Config {
            send_to: String::new(),
            listen: String::new(),
            sending_application: "HIM".to_string(),
            sending_facility: "HOSPITAL".to_string(),
            receiving_application: "EHR".to_string(),
            receiving_facility: "HOSPITAL".to_string(),
            assigning_authority: "HOSP".to_string(),
            ack_timeout_s: 10.0,
            max_frame_bytes: 16 * 1024 * 1024,
            embed_original: false,
        }
    }
}

/// The `[fhir]` section: FHIR R4 push of approved documents (`him deliver`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FhirConfig {
    /// Base URL of the FHIR R4 server (`https://ehr.example.org/fhir/R4`); empty: no FHIR destination.
    pub base_url: String,
    /// Environment variable holding the bearer token; unset or empty: no `Authorization` header.
    pub token_env: String,
    /// Seconds allowed per request.
    pub timeout_s: f64,
}

impl Default for FhirConfig {
    fn default() -> Self {
        FhirConfig {
            base_url: String::new(),
            token_env: "HIM_FHIR_TOKEN".to_string(),
            timeout_s: 30.0,
        }
    }
}

/// The `[deliver]` section: how `him deliver` works through the outbox.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverConfig {
    /// Seconds between two looks at the outbox when there is nothing to do.
    pub poll_interval_s: f64,
    /// First wait after a transient failure (connection refused, timeout, AR, HTTP 5xx); doubled each
    /// failure up to `retry_max_s`.
    pub retry_initial_s: f64,
    pub retry_max_s: f64,
}

impl Default for DeliverConfig {
    fn default() -> Self {
        DeliverConfig {
            poll_interval_s: 2.0,
            retry_initial_s: 1.0,
            retry_max_s: 60.0,
        }
    }
}
