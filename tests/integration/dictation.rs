//! Dictations: decoded, transcribed with the real converted Whisper model, flagged, filed with their audio.

use std::path::PathBuf;

use crate::support::{fixture, process_with, sha256_file, stored_json, stored_text};

/// The converted model the tests use; its absence fails the test with the command that fetches it.
fn model_config() -> tempfile::NamedTempFile {
    let model = crate::support::repo().join("models/ggml-tiny.en.bin");
    assert!(
        model.exists(),
        "{} is missing: run models/fetch-whisper.sh (scripts/test does)",
        model.display()
    );
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!("[asr]\nmodel_path = {:?}\n", model.display().to_string()),
    )
    .unwrap();
    config
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Word error rate after normalising case and punctuation.
fn wer(reference: &str, hypothesis: &str) -> f64 {
    let (r, h) = (words(reference), words(hypothesis));
    let mut previous: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut current = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(rw != hw))
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        previous = current;
    }
    previous[h.len()] as f64 / r.len().max(1) as f64
}

/// jfk.wav is transcribed to the known sentence (WER ≤ 5 %) and filed with its audio, word timings and
/// probabilities; malformed audio beside it is rejected with reasons and the run carries on.
#[test]
fn dictation_is_transcribed_and_filed_with_its_audio() {
    let config = model_config();
    let jfk = fixture("audio/jfk.wav");
    let mut files = vec![jfk.clone()];
    let bad: Vec<PathBuf> = ["awful.wav", "bad.wav", "evil.wav"]
        .iter()
        .map(|f| fixture(&format!("audio/bad-input/{f}")))
        .collect();
    files.extend(bad.iter().cloned());
    let store = tempfile::tempdir().unwrap();
    let run = process_with(
        store.path(),
        &files,
        &["--config", config.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);

    let line = run.line_for(&jfk);
    assert_eq!(line["kind"], "dictation");
    assert_eq!(line["status"], "unmatched");
    assert_eq!(line["duration_ms"], 11000);
    let location = line["location"].as_str().unwrap().to_string();
    let text = stored_text(store.path(), &format!("{location}/text.txt"));
    let expected = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
    let rate = wer(expected, &text);
    assert!(rate <= 0.05, "WER {:.1} %: {text}", rate * 100.0);
    let transcript = stored_json(store.path(), &format!("{location}/transcript.json"));
    let first_word = &transcript["segments"][0]["words"][0];
    assert!(first_word["probability"].as_f64().unwrap() > 0.0);
    assert!(first_word["end_ms"].as_u64().unwrap() > first_word["start_ms"].as_u64().unwrap());
    let manifest = stored_json(store.path(), &format!("{location}/document.json"));
    assert_eq!(manifest["kind"], "dictation");
    assert!(manifest["engines"]["asr"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));
    assert_eq!(
        sha256_file(&store.path().join(&location).join("original.wav")),
        sha256_file(&jfk)
    );

    for file in &bad {
        let line = run.line_for(file);
        assert_eq!(line["status"], "rejected", "{}: {line}", file.display());
        assert!(
            line["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("audio")
                    || r == "empty"
                    || r == "unsupported_codec"
                    || r == "mislabelled"),
            "{line}"
        );
    }
}

/// A synthetic dictation's spoken header yields the author, patient name and date of birth; matched against
/// an index, nothing is ever filed to a wrong patient.
#[test]
fn dictation_header_yields_fields_and_never_a_wrong_patient() {
    let config = model_config();
    let file = fixture("dictation/dictation-01-en-us.ogg");
    let index = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        index.path(),
        "mrn,family,given,birth_date,sex\n4081123,O'Keefe,Karena,1957-03-14,F\n4081124,O'Keefe,Karen,1990-01-01,F\n",
    )
    .unwrap();
    let store = tempfile::tempdir().unwrap();
    let run = process_with(
        store.path(),
        std::slice::from_ref(&file),
        &[
            "--config",
            config.path().to_str().unwrap(),
            "--patients",
            index.path().to_str().unwrap(),
        ],
        &[],
    );
    let line = run.line_for(&file);
    assert_eq!(line["fields"]["author"]["value"], "Jane Miller", "{line}");
    assert_eq!(
        line["fields"]["date_of_birth"]["value"], "1957-03-14",
        "{line}"
    );
    assert_eq!(
        line["fields"]["patient_family"]["value"], "O'Keefe",
        "{line}"
    );
    if line["status"] == "filed" {
        assert_eq!(
            line["patient"]["mrn"], "4081123",
            "filed to the wrong patient: {line}"
        );
    }
    assert!(
        !line["risk_flags"].as_array().unwrap().is_empty(),
        "synthetic speech is flagged for review"
    );
}

/// A relative `[asr] model_path` is taken from the config file's folder, never from the working directory
/// (which holds a model of that name); when it is not there, the error names the full path tried.
#[test]
fn relative_model_path_is_looked_up_next_to_the_config() {
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("pipeline.toml");
    std::fs::write(&config, "[asr]\nmodel_path = \"models/ggml-tiny.en.bin\"\n").unwrap();
    let store = tempfile::tempdir().unwrap();
    let run = process_with(
        store.path(),
        &[fixture("audio/jfk.wav")],
        &["--config", config.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let tried = folder.path().join("models/ggml-tiny.en.bin");
    assert!(
        run.stderr.contains(&tried.display().to_string()),
        "{}",
        run.stderr
    );
}
