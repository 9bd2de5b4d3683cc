//! `pipeline.toml`: read the file, interpolate `${VAR}` / `${VAR:-default}` from the environment map given,
//! deserialize with unknown keys refused, then validate.
//!
//! The sections of the crates live in each crate's `config.rs` (`[store]`, `[limits]`, `[ocr]`, `[asr]`,
//! `[queue]`, `[review]`, …); the sections of the app itself live here: `[render]`, `[patients]`,
//! `[worker]`, `[intake]`, `[watch]`, `[batch]`, `[hl7]`, `[fhir]` and `[deliver]`. A build without the
//! feature `review` reads the `[review]` section and ignores it.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, ensure, Context};
use him_asr::{AsrConfig, AudioLimits};
use him_extract::{CheckDigit, LeadingZeros, MatchConfig};
pub use him_interfaces::{DeliverConfig, FhirConfig, Hl7Config};
use him_ocr::OcrConfig;
use him_queue::QueueConfig;
#[cfg(feature = "review")]
use him_review::ReviewConfig;
use him_store::StoreConfig;
use serde::Deserialize;

use crate::intake::valid_station;
use him_decode::LimitsConfig;

/// The whole pipeline configuration. Every section and key is optional; defaults are shown in the shipped
/// `pipeline.toml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    pub store: StoreConfig,
    pub limits: LimitsConfig,
    pub ocr: OcrConfig,
    pub render: RenderConfig,
    pub patients: PatientsConfig,
    pub matching: MatchConfig,
    pub audio: AudioLimits,
    pub asr: AsrConfig,
    pub queue: QueueConfig,
    pub worker: WorkerConfig,
    pub intake: IntakeConfig,
    pub watch: WatchConfig,
    #[cfg(feature = "review")]
    pub review: ReviewConfig,
    /// A worker-only build (without the feature `review`) has no review to configure: it accepts the section
    /// of a `pipeline.toml` shared with the review server and ignores it, unchecked.
    #[cfg(not(feature = "review"))]
    pub review: serde::de::IgnoredAny,
    pub batch: BatchConfig,
    pub hl7: Hl7Config,
    pub fhir: FhirConfig,
    pub deliver: DeliverConfig,
}

/// The `[batch]` section: splitting a scanned stack at cover sheets and patient labels.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Read barcodes on every chart page and split batches. `false`: every upload is one document.
    pub enabled: bool,
    /// Symbologies read: `data_matrix`, `qr`, `pdf417`, `code128`, `code39`.
    pub symbologies: Vec<him_decode::barcode::Symbology>,
    /// Regular expression a patient-label barcode's text must match; its first capture group is the MRN.
    /// Empty: patient labels are not read.
    pub label_pattern: String,
    /// The assigning authority cover sheets must name; empty accepts any.
    pub authority: String,
    /// A page is blank (a duplex back side) when under this share of it is ink …
    pub blank_max_coverage: f32,
    /// … and it has at most this many character-sized marks.
    pub blank_max_marks: u32,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            enabled: true,
            symbologies: him_decode::barcode::Symbology::ALL.to_vec(),
            label_pattern: "^MRN[:= ]?([A-Za-z0-9-]{4,20})$".to_string(),
            authority: String::new(),
            blank_max_coverage: 0.003,
            blank_max_marks: 6,
        }
    }
}

/// The `[render]` section: the `pdftoppm` fallback for PDF pages with images `him` cannot decode itself.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RenderConfig {
    /// Use poppler's `pdftoppm` when it is installed.
    pub enabled: bool,
    /// Resolution of rendered pages.
    pub dpi: u32,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig {
            enabled: true,
            dpi: 300,
        }
    }
}

impl PipelineConfig {
    /// Loads a configuration file, or the defaults when `path` is `None`. Relative paths in a file are
    /// taken relative to the file's folder (see [`PipelineConfig::resolve_paths`]); the defaults' relative
    /// paths stay relative to the working directory.
    pub fn load(path: Option<&Path>, env: &HashMap<String, String>) -> anyhow::Result<Self> {
        let config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read config file {}", path.display()))?;
                let mut config = Self::parse(&text, env)
                    .with_context(|| format!("invalid config file {}", path.display()))?;
                if let Some(folder) = path.parent() {
                    config.resolve_paths(folder);
                }
                config
            }
            None => PipelineConfig::default(),
        };
        config.validate()?;
        Ok(config)
    }

    /// Parses configuration text after interpolating variables.
    pub fn parse(text: &str, env: &HashMap<String, String>) -> anyhow::Result<Self> {
        let interpolated = interpolate(text, env)?;
        Ok(toml::from_str(&interpolated)?)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.limits.max_pages == 0 {
            bail!("limits.max_pages must be at least 1");
        }
        if self.limits.max_page_pixels == 0 || self.limits.max_file_bytes == 0 {
            bail!("limits.max_page_pixels and limits.max_file_bytes must be positive");
        }
        if !(0.0..=45.0).contains(&self.ocr.max_deskew_degrees) {
            bail!("ocr.max_deskew_degrees must be between 0 and 45");
        }
        self.intake.validate()?;
        self.watch.validate()?;
        if !(50..=1200).contains(&self.render.dpi) {
            bail!("render.dpi must be between 50 and 1200");
        }
        crate::batch::label_regex(&self.batch.label_pattern)?;
        ensure!(
            (0.0..1.0).contains(&self.batch.blank_max_coverage),
            "batch.blank_max_coverage must be at least 0 and under 1"
        );
        ensure!(
            self.hl7.ack_timeout_s > 0.0 && self.fhir.timeout_s > 0.0,
            "hl7.ack_timeout_s and fhir.timeout_s must be positive"
        );
        ensure!(
            self.deliver.poll_interval_s > 0.0
                && self.deliver.retry_initial_s > 0.0
                && self.deliver.retry_max_s >= self.deliver.retry_initial_s,
            "deliver.poll_interval_s and retry_initial_s must be positive, retry_max_s at least retry_initial_s"
        );
        ensure!(
            self.hl7.max_frame_bytes >= 1024,
            "hl7.max_frame_bytes must be at least 1024"
        );
        Ok(())
    }

    /// Engines in the OCR pool: the configured number, or one per core.
    pub fn ocr_workers(&self) -> usize {
        workers_or_cores(self.ocr.workers)
    }

    /// Engines in the speech-to-text pool: the configured number, or one per core.
    pub fn asr_workers(&self) -> usize {
        workers_or_cores(self.asr.workers)
    }
}

fn workers_or_cores(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl PipelineConfig {
    /// Takes a relative `[asr] model_path` relative to `base`, the folder of the config file it was read
    /// from, whatever the working directory is: `him --config /etc/him/pipeline.toml` finds
    /// `/etc/him/models/…` from any folder, and a file of the same name in the working directory is never
    /// picked instead.
    pub fn resolve_paths(&mut self, base: &Path) {
        if self.asr.model_path.is_relative() {
            self.asr.model_path = base.join(&self.asr.model_path);
        }
    }
}

/// Replaces `${NAME}` and `${NAME:-default}` outside comment lines; a variable that is unset and has no
/// default is an error.
pub fn interpolate(text: &str, env: &HashMap<String, String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
        } else {
            out.push_str(&interpolate_line(line, env)?);
        }
    }
    Ok(out)
}

fn interpolate_line(text: &str, env: &HashMap<String, String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            bail!("unterminated ${{ in config");
        };
        let expression = &after[..end];
        let (name, default) = match expression.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (expression, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("invalid variable name {name:?} in config");
        }
        match (env.get(name), default) {
            (Some(value), _) if !value.is_empty() => out.push_str(value),
            (_, Some(default)) => out.push_str(default),
            (Some(value), None) => out.push_str(value),
            (None, None) => bail!("config refers to ${{{name}}}, which is not set"),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The `[worker]` section of `pipeline.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// A job still running after this many seconds is abandoned and requeued (bounded by the delivery limit,
    /// after which it is dead-lettered).
    pub job_timeout_secs: u64,
    /// How long a job that met a store outage (S3 down, 5xx, disk full) is retried in place, holding its
    /// delivery, before it is requeued; requeues count against the queue's delivery limit.
    pub outage_retry_secs: u64,
    /// Address of the Prometheus `/metrics`, `/healthz` and `/readyz` endpoints; empty disables them.
    pub metrics_listen: String,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            job_timeout_secs: 600,
            outage_retry_secs: 900,
            metrics_listen: "127.0.0.1:9464".to_string(),
        }
    }
}

/// The `[intake]` section: the scanning-station API of `him serve`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// Address and port the API listens on, e.g. `"0.0.0.0:8081"` behind a TLS-terminating proxy.
    pub listen: String,
    /// Largest accepted upload in bytes (256 MiB, like `limits.max_file_bytes`); larger uploads get 413.
    pub max_upload_bytes: u64,
    /// Name of the environment variable holding the station tokens as
    /// `station_id:token,station_id:token`; tokens are never written in the file.
    pub station_tokens_env: String,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig {
            listen: "127.0.0.1:8081".to_string(),
            max_upload_bytes: 256 * 1024 * 1024,
            station_tokens_env: "HIM_STATION_TOKENS".to_string(),
        }
    }
}

impl IntakeConfig {
    /// Checks the values deserialization cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            !self.listen.trim().is_empty(),
            "intake.listen must not be empty"
        );
        ensure!(
            self.max_upload_bytes > 0,
            "intake.max_upload_bytes must be positive"
        );
        ensure!(
            !self.station_tokens_env.trim().is_empty(),
            "intake.station_tokens_env must name an environment variable"
        );
        Ok(())
    }
}

/// The `[watch]` section: how `him watch DIR` takes files from a drop folder.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchConfig {
    /// Seconds between two scans of the folder.
    pub poll_secs: u64,
    /// Seconds a file must keep the same size and modification time before it is taken; 0 takes files at
    /// first sight (only for folders that files enter by an atomic rename).
    pub stable_secs: u64,
    /// Station id recorded on the jobs of this folder (a device id, never a person's name).
    pub station: String,
    /// Queue the files of this folder as urgent (STAT) work.
    pub stat: bool,
    /// Largest file taken in bytes (256 MiB, like `limits.max_file_bytes`); larger files go to `failed/`.
    pub max_file_bytes: u64,
    /// Seconds a complete audio file waits for its job demographics sidecar (`<audio file name>.json`) before
    /// it is submitted without one; a device may write the sidecar after the audio.
    pub sidecar_grace_secs: u64,
    /// Seconds a sidecar whose audio never arrived stays before it is moved to `failed/`.
    pub orphan_sidecar_secs: u64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            poll_secs: 2,
            stable_secs: 5,
            station: "drop-1".to_string(),
            stat: false,
            max_file_bytes: 256 * 1024 * 1024,
            sidecar_grace_secs: 10,
            orphan_sidecar_secs: 600,
        }
    }
}

impl WatchConfig {
    /// Checks the values deserialization cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.poll_secs >= 1, "watch.poll_secs must be at least 1");
        ensure!(
            valid_station(&self.station),
            "watch.station must be letters, digits, - _ . (at most 64)"
        );
        ensure!(
            self.max_file_bytes > 0,
            "watch.max_file_bytes must be positive"
        );
        Ok(())
    }
}

/// The `[patients]` section of `pipeline.toml`: the hospital's patient index (MPI) export.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PatientsConfig {
    /// Path of a FHIR R4 Patient NDJSON export or a CSV (`mrn,family,given,birth_date,sex`); empty means no index,
    /// and every document goes to the unmatched queue.
    pub index: String,
    /// MRN check-digit scheme of this hospital: `none` or `luhn`.
    pub check_digit: CheckDigit,
    /// Whether the leading zeros of an MRN read from a document count: `true` (never: `0021562756` is
    /// `21562756`), `false` (always) or `"auto"` (derived from the index's MRNs).
    pub mrn_strip_leading_zeros: LeadingZeros,
    /// `Identifier.system` of this hospital's MRNs in FHIR resources (the review's DocumentReferences name
    /// the patient by it when the index is not FHIR).
    pub mrn_system: String,
}

impl Default for PatientsConfig {
    fn default() -> Self {
        PatientsConfig {
            index: String::new(),
            check_digit: CheckDigit::default(),
            mrn_strip_leading_zeros: LeadingZeros::default(),
            mrn_system: "urn:him:mrn".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn variables_and_defaults_are_interpolated() {
        let text = "a = \"${A}\"\nb = \"${B:-fallback}\"";
        let out = interpolate(text, &env(&[("A", "x")])).unwrap();
        assert_eq!(out, "a = \"x\"\nb = \"fallback\"");
    }

    #[test]
    fn comments_are_not_interpolated() {
        assert_eq!(
            interpolate("# ${NOPE}\n", &env(&[])).unwrap(),
            "# ${NOPE}\n"
        );
    }

    #[test]
    fn unset_variable_without_default_is_an_error() {
        assert!(interpolate("${NOPE}", &env(&[])).is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = PipelineConfig::parse("[store]\nurll = \"x\"", &env(&[])).unwrap_err();
        assert!(format!("{error:#}").contains("unknown field"));
    }

    /// A relative model path means "next to the config file", even when the working directory holds a file
    /// of the same relative name.
    #[test]
    fn relative_model_path_is_relative_to_the_config_folder() {
        // Unit tests run in the package root, where models/README.md exists.
        assert!(Path::new("models/README.md").exists());
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("pipeline.toml");
        std::fs::write(&file, "[asr]\nmodel_path = \"models/README.md\"\n").unwrap();
        let config = PipelineConfig::load(Some(&file), &env(&[])).unwrap();
        assert_eq!(
            config.asr.model_path,
            folder.path().join("models").join("README.md")
        );

        std::fs::write(&file, "[asr]\nmodel_path = \"models/x.bin\"\n").unwrap();
        let config = PipelineConfig::load(Some(&file), &env(&[])).unwrap();
        assert_eq!(config.asr.model_path, folder.path().join("models/x.bin"));
    }

    /// An absolute model path is kept; without a config file the default stays relative to the working
    /// directory.
    #[test]
    fn absolute_and_default_model_paths_are_kept() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("pipeline.toml");
        std::fs::write(&file, "[asr]\nmodel_path = \"/opt/him/x.bin\"\n").unwrap();
        let config = PipelineConfig::load(Some(&file), &env(&[])).unwrap();
        assert_eq!(config.asr.model_path, Path::new("/opt/him/x.bin"));
        let defaults = PipelineConfig::load(None, &env(&[])).unwrap();
        assert_eq!(
            defaults.asr.model_path,
            Path::new("models/ggml-base-q8_0.bin")
        );
    }

    #[test]
    fn shipped_pipeline_toml_equals_the_defaults() {
        let text = include_str!("../pipeline.toml");
        let parsed = PipelineConfig::parse(text, &env(&[])).unwrap();
        assert_eq!(parsed, PipelineConfig::default());
    }
}
