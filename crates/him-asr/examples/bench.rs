//! Real-time factor of the whisper engine over audio files, with `POOL` engines of `THREADS` whisper threads.
//!
//! Usage: `bench POOL THREADS ROUNDS MANIFEST` (run by `scripts/bench-asr`). `MANIFEST` has one line per file:
//! `path<TAB>group<TAB>reference text`. Files of group `dictation` are timed over `ROUNDS` passes; every file is
//! transcribed once for the word error rate of its group. Prints one line:
//! `pool threads audio_secs wall_secs rtf group=wer...`. `HIM_BENCH_ENCODER_CONTEXT` (`fit` or `full`) and
//! `HIM_ASR_MODEL` override the defaults. Never prints transcript text.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use him_asr::{decode_audio, AsrConfig, AudioLimits, EncoderContext, WhisperModel};
use him_core::{AsrEngine, AudioClip, MediaType};

#[path = "../tests/integration/word_errors.rs"]
mod word_errors;
use word_errors::word_errors;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert!(args.len() == 4, "usage: bench POOL THREADS ROUNDS MANIFEST");
    let pool: usize = args[0].parse().expect("POOL");
    let threads: u32 = args[1].parse().expect("THREADS");
    let rounds: usize = args[2].parse().expect("ROUNDS");
    let manifest = std::fs::read_to_string(&args[3]).expect("readable manifest");
    let entries: Vec<(AudioClip, &str, &str)> = manifest
        .lines()
        .map(|line| {
            let mut fields = line.splitn(3, '\t');
            let (path, group, reference) = (
                fields.next().expect("path"),
                fields.next().expect("group"),
                fields.next().expect("reference"),
            );
            let bytes = std::fs::read(path).expect("readable file");
            let media = MediaType::sniff(&bytes).expect("audio");
            let clip =
                decode_audio(&bytes, media, &AudioLimits::default()).expect("decodable audio");
            (clip, group, reference)
        })
        .collect();
    let encoder_context = match std::env::var("HIM_BENCH_ENCODER_CONTEXT").as_deref() {
        Ok("full") => EncoderContext::Full,
        Ok("fit") | Err(_) => EncoderContext::Fit,
        Ok(other) => panic!("HIM_BENCH_ENCODER_CONTEXT={other}: expected fit or full"),
    };
    let config = AsrConfig {
        threads,
        encoder_context,
        model_path: std::env::var("HIM_ASR_MODEL")
            .unwrap_or_else(|_| "models/ggml-tiny.en.bin".into())
            .into(),
        ..AsrConfig::default()
    };
    let model = WhisperModel::load(&config).expect("model (run models/fetch-whisper.sh)");

    let mut errors: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut engine = model.engine().expect("state");
    for (clip, group, reference) in &entries {
        let text = engine.transcribe(clip).expect("transcription").text();
        let (e, w) = word_errors(reference, &text);
        let total = errors.entry(group).or_default();
        total.0 += e;
        total.1 += w;
    }
    drop(engine);

    let jobs: Vec<&AudioClip> = (0..rounds)
        .flat_map(|_| entries.iter().filter(|(_, group, _)| *group == "dictation"))
        .map(|(clip, _, _)| clip)
        .collect();
    let audio_secs: f64 = jobs.iter().map(|c| c.duration_ms() as f64 / 1000.0).sum();
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
    let rates: Vec<String> = errors
        .iter()
        .map(|(group, (e, w))| format!("{group}={:.3}", *e as f64 / (*w).max(1) as f64))
        .collect();
    println!(
        "{pool} {threads} {audio_secs:.1} {wall:.2} {:.3} {}",
        wall / audio_secs,
        rates.join(" ")
    );
}
