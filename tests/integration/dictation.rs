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
    let bad: Vec<PathBuf> = ["awful.wav", "bad.wav", "evil.wav", "flac-comment-4gib.flac"]
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

/// The index of the sidecar tests: the dictated patient, and the patient whose MRN is one digit off hers.
const SIDECAR_INDEX: &str = "mrn,family,given,birth_date,sex\n\
    4081123,O'Keefe,Karena,1957-03-14,F\n\
    4081124,Okafor,Samuel,1981-07-02,M\n";

/// Runs `him process` over dictation-01 (O'Keefe, born 1957-03-14) copied beside a job demographics sidecar
/// with `sidecar`; returns the JSON line and the store.
fn process_with_sidecar(sidecar: &str) -> (serde_json::Value, tempfile::TempDir) {
    let config = model_config();
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("dict_001.ogg");
    std::fs::copy(fixture("dictation/dictation-01-en-us.ogg"), &audio).unwrap();
    std::fs::write(dir.path().join("dict_001.ogg.json"), sidecar).unwrap();
    let index = dir.path().join("patients.csv");
    std::fs::write(&index, SIDECAR_INDEX).unwrap();
    let store = tempfile::tempdir().unwrap();
    // The sidecar is listed too (a shell glob would): it goes with its audio, not through the pipeline.
    let run = process_with(
        store.path(),
        &[audio.clone(), dir.path().join("dict_001.ogg.json")],
        &[
            "--config",
            config.path().to_str().unwrap(),
            "--patients",
            index.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(run.lines.len(), 1, "one document: {:?}", run.lines);
    (run.line_for(&audio).clone(), store)
}

/// A keyed MRN that the spoken date of birth and name corroborate files into the keyed patient's folder, with
/// the demographics stored beside the original and in the manifest.
#[test]
fn sidecar_mrn_corroborated_by_the_spoken_header_is_filed() {
    let (line, store) = process_with_sidecar(
        r#"{"mrn": "4081123", "author": "Jane Miller", "work_type": "18842-5", "station": "dict-04"}"#,
    );
    assert_eq!(line["status"], "filed", "{line}");
    assert_eq!(line["patient"]["mrn"], "4081123", "{line}");
    assert!(
        line["patient"]["rule"]
            .as_str()
            .is_some_and(|rule| rule.starts_with("keyed_mrn+")),
        "{line}"
    );
    let location = line["location"].as_str().unwrap();
    let stored = stored_json(store.path(), &format!("{location}/demographics.json"));
    assert_eq!(stored["mrn"], "4081123");
    let manifest = stored_json(store.path(), &format!("{location}/document.json"));
    assert_eq!(manifest["demographics"]["work_type"], "18842-5");
    assert_eq!(manifest["station"], "dict-04");
}

/// The classic wrong-patient error: the MRN keyed one digit off, belonging to another patient, while the
/// physician dictates the right patient's date of birth. Filed to neither patient, flagged with the field
/// that disagrees, and the keyed patient offered first for the reviewer.
#[test]
fn one_digit_off_sidecar_mrn_contradicted_by_the_spoken_birth_date_files_to_neither() {
    let (line, store) = process_with_sidecar(r#"{"mrn": "4081124"}"#);
    assert_eq!(line["status"], "unmatched", "{line}");
    assert_eq!(line["unmatched_reason"], "demographics_mismatch", "{line}");
    assert!(
        line["risk_flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|flag| flag == "demographics_mismatch_dob"),
        "{line}"
    );
    let files = crate::support::files_under(store.path());
    assert!(
        files.iter().all(|f| !f.starts_with("patients/")),
        "nothing in a patient folder: {files:?}"
    );
    let location = line["location"].as_str().unwrap();
    let manifest = stored_json(store.path(), &format!("{location}/document.json"));
    assert_eq!(manifest["matching"]["candidates"][0]["mrn"], "4081124");
    assert_eq!(manifest["demographics"]["mrn"], "4081124");
}

/// A sidecar that is not valid job demographics stops that input with an error that names the key, not the
/// value; the audio is not processed without it.
#[test]
fn invalid_sidecar_is_an_error_that_quotes_no_value() {
    let config = model_config();
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("O'KEEFE KARENA.ogg");
    std::fs::copy(fixture("dictation/dictation-01-en-us.ogg"), &audio).unwrap();
    std::fs::write(
        dir.path().join("O'KEEFE KARENA.ogg.json"),
        r#"{"mrn": "4081123", "patient": "O'Keefe, Karena"}"#,
    )
    .unwrap();
    let store = tempfile::tempdir().unwrap();
    let run = process_with(
        store.path(),
        std::slice::from_ref(&audio),
        &["--config", config.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let line = run.line_for(&audio);
    assert_eq!(line["status"], "error", "{line}");
    assert!(line["error"].as_str().unwrap().contains("job demographics"));
    assert!(!run.stderr.contains("Karena") && !run.stderr.contains("4081123"));
    assert!(crate::support::files_under(store.path()).is_empty());
}

/// A dictation whose device sent the MRN and an encounter that an ADT A01 registered for that patient files
/// without any spoken header (`keyed_mrn+encounter`), through the real path: the ADT listener's handler
/// writes the change record, another process's live index rebuilds the link from the store, and
/// `identify_transcript` matches a transcript that names nobody. An encounter the feed registered for
/// another patient holds it unmatched; one the feed never named leaves it uncorroborated.
#[tokio::test]
async fn a_keyed_mrn_with_its_adt_encounter_files_without_a_spoken_header() {
    use him_extract::{CheckDigit, MatchConfig, PatientIndex};
    use him_interfaces::hl7::{check_ack, AckCode};
    use him_patients::LiveIndex;

    let store = him_store::Store::in_memory();
    for (control_id, mrn, name, born, visit) in [
        ("enc-1", "4081121", "Lopez^Maria", "19600303", "V-9001"),
        ("enc-2", "4081139", "Brooks^Alan", "19550101", "V-9002"),
    ] {
        let a01 = format!(
            "MSH|^~\\&|REG|HOSP|HIM|HOSP|20261201120000||ADT^A01^ADT_A01|{control_id}|P|2.5.1\r\
             PID|1||{mrn}^^^HOSP^MR||{name}||{born}|F\r\
             PV1|1|I|W^1^1||||||||||||||||{visit}^^^HOSP^VN\r"
        );
        let ack = him_interfaces::adt::handle(&store, a01.as_bytes()).await;
        assert_eq!(check_ack(&ack, control_id), Ok(AckCode::Accept));
    }
    let live = LiveIndex::new(
        store.clone(),
        std::sync::Arc::new(PatientIndex::new(CheckDigit::None)),
    );
    assert!(live.refresh().await.unwrap());
    let index = live.current();
    let segments = vec![him_core::TranscriptSegment {
        text: "Follow up visit. The wound is healing well, no signs of infection. Continue the current plan."
            .to_string(),
        start_ms: 0,
        end_ms: 6000,
        avg_logprob: -0.2,
        no_speech_prob: 0.01,
        temperature: 0.0,
        words: Vec::new(),
        flags: Vec::new(),
    }];
    let identify = |encounter: Option<&str>| {
        him::identity::identify_transcript(
            &segments,
            Some("4081121"),
            encounter,
            Some(&index),
            &him::config::PatientsConfig::default(),
            &MatchConfig::default(),
        )
    };
    let filed = identify(Some("V-9001"));
    let patient = filed.patient().expect("filed by the ADT encounter");
    assert_eq!(patient.mrn.as_str(), "4081121");
    assert_eq!(patient.rule, "keyed_mrn+encounter");
    let mismatch = identify(Some("V-9002"));
    assert!(mismatch.patient().is_none());
    assert_eq!(mismatch.unmatched_reason(), "demographics_mismatch");
    assert_eq!(
        identify(Some("V-0000")).unmatched_reason(),
        "uncorroborated"
    );
    assert_eq!(identify(None).unmatched_reason(), "uncorroborated");
}
