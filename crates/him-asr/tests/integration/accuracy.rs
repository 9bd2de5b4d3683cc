//! Accuracy of the converted tiny.en model on real recordings.

use him_asr::{AsrConfig, WhisperModel};
use him_core::AsrEngine;

use crate::support::{clip, engine, repo_root, wer, word_errors};

/// The JFK sample transcribes with at most 5 % word errors.
#[test]
fn jfk_word_error_rate_is_at_most_5_percent() {
    let reference = "And so my fellow Americans, ask not what your country can do for you, \
                     ask what you can do for your country.";
    let transcript = engine().transcribe(&clip("audio/jfk.wav")).unwrap();
    let rate = wer(reference, &transcript.text());
    println!("jfk.wav WER {:.1} %", rate * 100.0);
    assert!(rate <= 0.05, "WER {rate:.3}");
}

/// The MP3 copy of the same speech decodes and transcribes as well.
#[test]
fn jfk_mp3_transcribes() {
    let reference = "And so my fellow Americans, ask not what your country can do for you, \
                     ask what you can do for your country.";
    let transcript = engine().transcribe(&clip("audio/jfk.mp3")).unwrap();
    assert!(wer(reference, &transcript.text()) <= 0.10);
}

/// The LJ Speech clips transcribe with at most 15 % word errors overall (a table is printed).
#[test]
fn ljspeech_word_error_rate_is_at_most_15_percent() {
    let transcripts =
        std::fs::read_to_string(repo_root().join("fixtures/audio/ljspeech/transcripts.psv"))
            .unwrap();
    let (mut errors, mut words) = (0, 0);
    println!("{:<14} {:>6} {:>6} {:>7}", "clip", "words", "errors", "WER");
    for line in transcripts.lines() {
        let (id, reference) = line.split_once('|').unwrap();
        let transcript = engine()
            .transcribe(&clip(&format!("audio/ljspeech/{id}.flac")))
            .unwrap();
        let (clip_errors, clip_words) = word_errors(reference, &transcript.text());
        println!(
            "{id:<14} {clip_words:>6} {clip_errors:>6} {:>6.1}%",
            clip_errors as f64 * 100.0 / clip_words as f64
        );
        errors += clip_errors;
        words += clip_words;
    }
    let rate = errors as f64 / words as f64;
    println!(
        "{:<14} {words:>6} {errors:>6} {:>6.1}%",
        "total",
        rate * 100.0
    );
    assert!(rate <= 0.15, "WER {rate:.3}");
}

/// The converted model loads, names itself, and gives words timings inside the clip and probabilities in 0–1.
#[test]
fn converted_model_gives_timed_words() {
    let mut engine = engine();
    assert!(
        engine.version().starts_with("whisper.cpp 1.8"),
        "{}",
        engine.version()
    );
    let clip = clip("audio/jfk.wav");
    let transcript = engine.transcribe(&clip).unwrap();
    assert_eq!(transcript.language, "en");
    let words: Vec<_> = transcript.segments.iter().flat_map(|s| &s.words).collect();
    assert!(words.len() >= 20, "{} words", words.len());
    for word in &words {
        assert!(word.start_ms <= word.end_ms && word.end_ms <= clip.duration_ms() + 500);
        assert!((0.0..=1.0).contains(&word.probability));
    }
    assert!(words
        .windows(2)
        .all(|pair| pair[0].start_ms <= pair[1].start_ms));
}

/// A window whose every pass fails whisper.cpp's checks is decoded at each temperature up to 1.0, and its
/// segments record the last one (flagged for review); without fallback they record the first.
#[test]
fn fallback_passes_record_their_temperature() {
    let clip = clip("audio/ljspeech/LJ001-0002.flac");
    let transcribe = |temperature_increment: f32| {
        let config = AsrConfig {
            // No pass can reach an average log-probability of 0, so every pass falls back.
            logprob_threshold: 0.0,
            temperature_increment,
            best_of: 1,
            ..crate::support::config()
        };
        let model = WhisperModel::load(&config).unwrap();
        model.engine().unwrap().transcribe_clip(&clip).unwrap()
    };
    let hottest = transcribe(0.5);
    assert!(!hottest.segments.is_empty());
    assert!(hottest
        .segments
        .iter()
        .all(|segment| (segment.temperature - 1.0).abs() < 1e-6));
    assert!(him_asr::needs_review(&hottest));
    let first = transcribe(0.0);
    assert!(first
        .segments
        .iter()
        .all(|segment| segment.temperature == 0.0));
}

/// The 8-bit (Q8_0) conversion loads and transcribes the JFK sample with at most 5 % word errors.
#[test]
fn q8_0_model_transcribes_jfk() {
    let config = AsrConfig {
        model_path: repo_root().join("models/ggml-tiny.en-q8_0.bin"),
        ..crate::support::config()
    };
    assert!(
        config.model_path.is_file(),
        "{} is missing: run models/fetch-whisper.sh",
        config.model_path.display()
    );
    let model = WhisperModel::load(&config).unwrap();
    assert!(model.version().contains("q8_0"), "{}", model.version());
    let transcript = model
        .engine()
        .unwrap()
        .transcribe_clip(&clip("audio/jfk.wav"))
        .unwrap();
    let reference = "And so my fellow Americans, ask not what your country can do for you, \
                     ask what you can do for your country.";
    let rate = wer(reference, &transcript.text());
    println!("jfk.wav WER with q8_0 weights {:.1} %", rate * 100.0);
    assert!(rate <= 0.05, "WER {rate:.3}");
}
