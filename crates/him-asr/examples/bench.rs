//! Real-time factor of the whisper engine over audio files, with `POOL` engines of `THREADS` whisper threads.
//!
//! Usage: `bench POOL THREADS ROUNDS FILE...` (run by `scripts/bench-asr`). Prints one line:
//! `pool threads audio_secs wall_secs rtf wer`, where `wer` is the word error rate of the first round against
//! `HIM_BENCH_REFERENCES` (a file with one reference text per line, in FILE order), or `-`. Never prints
//! transcript text.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use him_asr::{decode_audio, AsrConfig, AudioLimits, WhisperModel};
use him_core::{AsrEngine, AudioClip, MediaType};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert!(args.len() >= 4, "usage: bench POOL THREADS ROUNDS FILE...");
    let pool: usize = args[0].parse().expect("POOL");
    let threads: u32 = args[1].parse().expect("THREADS");
    let rounds: usize = args[2].parse().expect("ROUNDS");
    let clips: Vec<AudioClip> = args[3..]
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).expect("readable file");
            let media = MediaType::sniff(&bytes).expect("audio");
            decode_audio(&bytes, media, &AudioLimits::default()).expect("decodable audio")
        })
        .collect();
    let config = AsrConfig {
        threads,
        model_path: std::env::var("HIM_ASR_MODEL")
            .unwrap_or_else(|_| "models/ggml-tiny.en.bin".into())
            .into(),
        ..AsrConfig::default()
    };
    let model = WhisperModel::load(&config).expect("model (run models/fetch-whisper.sh)");
    let jobs: Vec<&AudioClip> = (0..rounds).flat_map(|_| clips.iter()).collect();
    let audio_secs: f64 = jobs.iter().map(|c| c.duration_ms() as f64 / 1000.0).sum();
    let references: Option<Vec<String>> = std::env::var("HIM_BENCH_REFERENCES").ok().map(|path| {
        std::fs::read_to_string(path)
            .expect("references")
            .lines()
            .map(String::from)
            .collect()
    });
    let word_error_rate = references.map_or_else(
        || "-".to_string(),
        |references| {
            let mut engine = model.engine().expect("state");
            let (mut errors, mut words) = (0, 0);
            for (clip, reference) in clips.iter().zip(&references) {
                let text = engine.transcribe(clip).expect("transcription").text();
                let (e, w) = word_errors(reference, &text);
                errors += e;
                words += w;
            }
            format!("{:.3}", errors as f64 / words.max(1) as f64)
        },
    );
    let queue = Arc::new(Mutex::new(jobs));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..pool {
            let mut engine = model.engine().expect("state");
            let queue = Arc::clone(&queue);
            scope.spawn(move || loop {
                let Some(clip) = queue.lock().unwrap().pop() else {
                    break;
                };
                engine.transcribe(clip).expect("transcription");
            });
        }
    });
    let wall = started.elapsed().as_secs_f64();
    println!(
        "{pool} {threads} {audio_secs:.1} {wall:.2} {:.3} {word_error_rate}",
        wall / audio_secs
    );
}

/// Lower-case words without punctuation (the same normalisation as the tests and the Python side).
fn normalize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace('-', " ")
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word-level edit distance and reference length.
fn word_errors(reference: &str, hypothesis: &str) -> (usize, usize) {
    let (reference, hypothesis) = (normalize(reference), normalize(hypothesis));
    let mut row: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            let substitution = previous + usize::from(r != h);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    (row[hypothesis.len()], reference.len())
}
