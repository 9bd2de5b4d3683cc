//! The engines' checks: tesseract with its language data, its OpenMP thread limit, the speech model on disk.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use him_ocr::{OcrConfig, TesseractEngine};
use sha2::{Digest, Sha256};

use super::Finding;

/// The first four bytes of a ggml Whisper model (`GGML_FILE_MAGIC`, 0x67676d6c little-endian).
const GGML_MAGIC: &[u8; 4] = b"lmgg";

/// Starts tesseract as an OCR pool thread does, with the orientation data when detection is on.
pub(super) fn check_tesseract(config: &OcrConfig, env: &HashMap<String, String>) -> Finding {
    let subject = him_ocr::tesseract_version();
    let mut engine = match TesseractEngine::new(config) {
        Ok(engine) => engine,
        Err(him_ocr::Error::LanguageData { language, .. }) => {
            return missing_language_data(subject, &language, config, env)
        }
        Err(error) => {
            return Finding::fail(
                subject,
                error.to_string(),
                "correct [ocr] language and tessdata_dir",
            )
        }
    };
    let mut languages = engine.languages();
    match engine.load_orientation_data() {
        Ok(true) => languages.push("osd".to_string()),
        Ok(false) => {}
        Err(him_ocr::Error::LanguageData { .. }) => {
            return missing_language_data(subject, "osd", config, env)
        }
        Err(error) => {
            return Finding::fail(subject, error.to_string(), "correct [ocr] tessdata_dir")
        }
    }
    Finding::ok(
        subject,
        format!("languages {} ({})", languages.join("+"), engine.data_path()),
    )
}

/// The failure for language data tesseract did not find: where it looked, and how to get the data there.
fn missing_language_data(
    subject: String,
    language: &str,
    config: &OcrConfig,
    env: &HashMap<String, String>,
) -> Finding {
    let packages: Vec<String> = language
        .split('+')
        .map(|language| {
            format!(
                "tesseract-ocr-{}",
                language.to_lowercase().replace('_', "-")
            )
        })
        .collect();
    let install = format!("apt-get install {}", packages.join(" "));
    let files: Vec<String> = language
        .split('+')
        .map(|l| format!("{l}.traineddata"))
        .collect();
    let (place, mut fix) = if !config.tessdata_dir.is_empty() {
        (
            format!("[ocr] tessdata_dir {}", config.tessdata_dir),
            format!(
                "put {} there, or empty [ocr] tessdata_dir to use the packaged data ({install})",
                files.join(" and ")
            ),
        )
    } else if let Some(prefix) = env.get("TESSDATA_PREFIX").filter(|p| !p.is_empty()) {
        (
            format!("TESSDATA_PREFIX {prefix}"),
            format!(
                "put {} there, or unset TESSDATA_PREFIX to use the packaged data ({install})",
                files.join(" and ")
            ),
        )
    } else {
        ("tesseract's default folder".to_string(), install)
    };
    if language == "osd" {
        fix.push_str(", or set [ocr] detect_orientation = false");
    }
    Finding::fail(
        subject,
        format!("no language data {language} in {place}"),
        fix,
    )
}

/// Tesseract's OpenMP must run one thread per engine; `him` sets `OMP_THREAD_LIMIT=1` itself when unset.
pub(super) fn check_thread_limit(env: &HashMap<String, String>) -> Finding {
    let fix = "unset it (him then starts with 1) or set it to 1 in the service's environment";
    match env.get("OMP_THREAD_LIMIT").map(|value| value.trim()) {
        Some("1") => Finding::ok("OMP_THREAD_LIMIT", "1"),
        Some(other) => Finding::warn(
            "OMP_THREAD_LIMIT",
            format!(
                "{other}, so each tesseract engine may start {other} threads, competing for cores"
            ),
            fix,
        ),
        None => Finding::warn("OMP_THREAD_LIMIT", "not set: OCR may be slow", fix),
    }
}

/// The speech model on disk: present, a ggml file, and the checksum `SHA256SUMS` beside it records.
pub(super) fn check_speech_model(path: &Path) -> Finding {
    let subject = format!("speech model {}", path.display());
    let fetch = fetch_command(path);
    let fetch_fix = match &fetch {
        Some(command) => {
            format!("run {command}, or point [asr] model_path at another ggml Whisper model")
        }
        None => {
            "put a ggml Whisper model there or point [asr] model_path at one (models/README.md)"
                .to_string()
        }
    };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Finding::fail(subject, "missing", fetch_fix)
        }
        Err(error) => {
            return Finding::fail(
                subject,
                format!("cannot be read: {error}"),
                "give the service's user read access",
            )
        }
    };
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || &magic != GGML_MAGIC {
        return Finding::fail(subject, "not a ggml Whisper model", fetch_fix);
    }
    let size = file.metadata().map_or(0, |meta| meta.len());
    let size = format!("{:.1} MB", size as f64 / 1e6);
    let Some(expected) = listed_checksum(path) else {
        return Finding::ok(
            subject,
            format!("{size}; not listed in a SHA256SUMS beside it, checksum not checked"),
        );
    };
    let actual = match sha256_file(path) {
        Ok(actual) => actual,
        Err(error) => {
            return Finding::fail(
                subject,
                format!("cannot be read: {error}"),
                "give the service's user read access",
            )
        }
    };
    if actual != expected {
        let refetch = match &fetch {
            Some(command) => format!("delete it and run {command}"),
            None => "delete it and fetch it again".to_string(),
        };
        return Finding::fail(
            subject,
            format!(
                "checksum mismatch (sha256 {}…, SHA256SUMS records {}…)",
                &actual[..16],
                &expected[..16]
            ),
            refetch,
        );
    }
    Finding::ok(subject, format!("{size}, sha256 as SHA256SUMS records"))
}

/// The `models/fetch-whisper.sh` call that makes a model of this file name, if it makes one: run where the
/// model belongs when that is the script's own folder, else in the him checkout, the file then copied over.
fn fetch_command(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let model = match name {
        "ggml-tiny.en.bin" | "ggml-tiny.en-q8_0.bin" => "tiny.en",
        "ggml-base.bin" | "ggml-base-q8_0.bin" => "base",
        _ => return None,
    };
    let command = format!("models/fetch-whisper.sh {model}");
    if path.with_file_name("fetch-whisper.sh").is_file() {
        Some(command)
    } else {
        Some(format!(
            "{command} in the him checkout and copy its models/{name} here"
        ))
    }
}

/// The checksum the `SHA256SUMS` in the model's folder records for it (`<hex>  <name>` or `<hex> *<name>`).
fn listed_checksum(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let sums = std::fs::read_to_string(path.with_file_name("SHA256SUMS")).ok()?;
    sums.lines().find_map(|line| {
        let (sum, listed) = line.trim().split_once(char::is_whitespace)?;
        let listed = listed.trim_start();
        let listed = listed.strip_prefix('*').unwrap_or(listed);
        (listed == name && sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| sum.to_ascii_lowercase())
    })
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(format!("{:x}", hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Verdict;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    /// Missing language data names the language, where tesseract looked and how to get it there.
    #[test]
    fn missing_language_data_says_where_and_how() {
        let config = OcrConfig::default();
        let default = missing_language_data("t".into(), "eng", &config, &env(&[]));
        assert_eq!(default.verdict, Verdict::Fail);
        assert!(
            default.detail.contains("eng in tesseract's default folder"),
            "{default}"
        );
        assert_eq!(
            default.fix.as_deref(),
            Some("apt-get install tesseract-ocr-eng")
        );
        let prefixed = missing_language_data(
            "t".into(),
            "chi_sim+spa",
            &config,
            &env(&[("TESSDATA_PREFIX", "/x")]),
        );
        assert!(prefixed.detail.contains("TESSDATA_PREFIX /x"), "{prefixed}");
        let fix = prefixed.fix.unwrap();
        assert!(
            fix.contains("chi_sim.traineddata and spa.traineddata"),
            "{fix}"
        );
        assert!(fix.contains("unset TESSDATA_PREFIX"), "{fix}");
        assert!(
            fix.contains("tesseract-ocr-chi-sim tesseract-ocr-spa"),
            "{fix}"
        );
        let configured = OcrConfig {
            tessdata_dir: "/data".to_string(),
            ..OcrConfig::default()
        };
        let osd = missing_language_data(
            "t".into(),
            "osd",
            &configured,
            &env(&[("TESSDATA_PREFIX", "/x")]),
        );
        assert!(osd.detail.contains("[ocr] tessdata_dir /data"), "{osd}");
        assert!(osd
            .fix
            .unwrap()
            .ends_with("or set [ocr] detect_orientation = false"));
    }

    #[test]
    fn a_thread_limit_other_than_one_is_a_warning() {
        assert_eq!(
            check_thread_limit(&env(&[("OMP_THREAD_LIMIT", "1")])).verdict,
            Verdict::Ok
        );
        assert_eq!(
            check_thread_limit(&env(&[("OMP_THREAD_LIMIT", "4")])).verdict,
            Verdict::Warn
        );
        assert_eq!(check_thread_limit(&env(&[])).verdict, Verdict::Warn);
    }

    /// Missing, not ggml, unlisted, matching and mismatching models, with the fetch command of their name.
    #[test]
    fn speech_model_is_checked_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("ggml-base-q8_0.bin");
        let missing = check_speech_model(&model);
        assert_eq!(missing.verdict, Verdict::Fail);
        assert_eq!(missing.detail, "missing");
        assert_eq!(
            missing.fix.as_deref(),
            Some(
                "run models/fetch-whisper.sh base in the him checkout and copy its \
                 models/ggml-base-q8_0.bin here, or point [asr] model_path at another ggml Whisper model"
            )
        );
        std::fs::write(dir.path().join("fetch-whisper.sh"), "").unwrap();

        let bytes = b"lmgg and the rest of a model";
        std::fs::write(&model, bytes).unwrap();
        let unlisted = check_speech_model(&model);
        assert_eq!(unlisted.verdict, Verdict::Ok, "{unlisted}");
        assert!(unlisted.detail.contains("not listed"), "{unlisted}");

        let sum = format!("{:x}", Sha256::digest(bytes));
        std::fs::write(
            dir.path().join("SHA256SUMS"),
            format!("{}  other.bin\n{sum} *ggml-base-q8_0.bin\n", "0".repeat(64)),
        )
        .unwrap();
        let listed = check_speech_model(&model);
        assert_eq!(listed.verdict, Verdict::Ok, "{listed}");
        assert!(
            listed.detail.contains("sha256 as SHA256SUMS records"),
            "{listed}"
        );

        std::fs::write(&model, b"lmgg but changed").unwrap();
        let changed = check_speech_model(&model);
        assert_eq!(changed.verdict, Verdict::Fail);
        assert!(changed.detail.starts_with("checksum mismatch"), "{changed}");
        assert_eq!(
            changed.fix.as_deref(),
            Some("delete it and run models/fetch-whisper.sh base")
        );

        let other = dir.path().join("my-model.bin");
        std::fs::write(&other, b"RIFF....").unwrap();
        let foreign = check_speech_model(&other);
        assert_eq!(foreign.detail, "not a ggml Whisper model");
        assert!(foreign.fix.unwrap().contains("point [asr] model_path"));
        assert_eq!(
            fetch_command(&dir.path().join("ggml-tiny.en-q8_0.bin")).as_deref(),
            Some("models/fetch-whisper.sh tiny.en")
        );
    }
}
