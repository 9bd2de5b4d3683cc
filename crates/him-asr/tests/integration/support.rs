//! Shared helpers: the model, fixtures, word error rate.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use him_asr::{AsrConfig, WhisperEngine, WhisperModel};
use him_core::{AudioClip, MediaType};

use him_asr::{decode_audio, AudioLimits};

pub use crate::word_errors::{normalize, word_errors};

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The configuration the tests run with: the default, with the model path made absolute.
pub fn config() -> AsrConfig {
    AsrConfig {
        model_path: repo_root().join("models/ggml-tiny.en.bin"),
        threads: 2,
        ..AsrConfig::default()
    }
}

/// One engine shared by the tests of this binary (loading the model once).
pub fn engine() -> std::sync::MutexGuard<'static, WhisperEngine> {
    static ENGINE: OnceLock<Mutex<WhisperEngine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let config = config();
            assert!(
                config.model_path.is_file(),
                "{} is missing: run models/fetch-whisper.sh",
                config.model_path.display()
            );
            let model = WhisperModel::load(&config).expect("the converted model loads");
            Mutex::new(model.engine().expect("a decoding state"))
        })
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Decodes a fixture (path relative to `fixtures/`) with the app's decoder.
pub fn clip(relative: &str) -> AudioClip {
    let bytes = std::fs::read(repo_root().join("fixtures").join(relative)).expect(relative);
    let media = MediaType::sniff(&bytes).expect("an audio media type");
    decode_audio(&bytes, media, &AudioLimits::default()).expect(relative)
}

/// Word error rate of a hypothesis.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let (errors, words) = word_errors(reference, hypothesis);
    errors as f64 / words.max(1) as f64
}

/// Splits one CSV line with double-quoted fields.
pub fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// One row of `fixtures/dictation/manifest.csv`.
#[derive(Debug, Clone)]
pub struct Dictation {
    pub file: String,
    pub voice: String,
    pub author: String,
    pub document_type: String,
    pub patient_name: String,
    pub mrn: String,
    pub dob: String,
    pub silence: Option<(u64, u64)>,
    pub text: String,
}

/// The synthetic dictations and their ground truth.
pub fn dictations() -> Vec<Dictation> {
    let manifest = std::fs::read_to_string(repo_root().join("fixtures/dictation/manifest.csv"))
        .expect("fixtures/dictation/manifest.csv (scripts/make-dictation-fixtures)");
    manifest
        .lines()
        .skip(1)
        .map(|line| {
            let f = csv_fields(line);
            Dictation {
                file: f[0].clone(),
                voice: f[1].clone(),
                author: f[4].clone(),
                document_type: f[5].clone(),
                patient_name: f[6].clone(),
                mrn: f[7].clone(),
                dob: f[8].clone(),
                silence: f[9].parse().ok().zip(f[10].parse().ok()),
                text: f[11].clone(),
            }
        })
        .collect()
}

#[test]
fn word_error_rate_counts_edits() {
    assert_eq!(word_errors("Ask not, what", "ask NOT what"), (0, 3));
    assert_eq!(word_errors("a b c d", "a x c"), (2, 4));
    assert_eq!(
        csv_fields(r#""a,b","O'Keefe ""x""",,3"#),
        ["a,b", "O'Keefe \"x\"", "", "3"]
    );
}
