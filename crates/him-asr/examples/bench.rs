//! Real-time factor and word error rates of the whisper engine over audio files, with `POOL` engines of `THREADS`
//! whisper threads each (production: 2 × 1).
//!
//! Usage: `bench POOL THREADS ROUNDS MANIFEST` (run by `scripts/bench-asr`). `MANIFEST` has one line per file:
//! `path<TAB>group<TAB>name<TAB>reference text`. Every file is decoded and transcribed `ROUNDS` times by the
//! pool, as the service does (decoding included, so peak RSS holds one clip per engine, not the whole set); the
//! first round's transcripts give the word error rate of each group, as scored by the accuracy tests and with
//! numbers ignored (`without_numbers`). Prints one line: `pool threads audio_secs wall_secs rtf group=wer...
//! group:norm=wer...` (rtf = wall / audio over every file of every round).
//!
//! Environment: `HIM_ASR_MODEL` (default `models/ggml-tiny.en.bin`); `HIM_BENCH_ENCODER_CONTEXT` (`fit`, the
//! default, or `full`); `HIM_BENCH_TRANSCRIPTS=DIR` with `HIM_BENCH_LABEL=LABEL` writes each first-round transcript
//! to `DIR/LABEL/<group>/<name>.json` as `{"segments":[{"text":..,"start_ms":..,"end_ms":..}]}`. Never prints
//! transcript text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use him_asr::{decode_audio, AsrConfig, AudioLimits, EncoderContext, WhisperModel};
use him_core::{AsrEngine, MediaType, Transcript};

#[path = "../tests/integration/word_errors.rs"]
mod word_errors;
use word_errors::{normalize, word_errors};

/// Number words (cardinal and ordinal) that a normalised score drops, like tokens with digits.
const NUMBER_WORDS: &[&str] = &[
    "zero",
    "oh",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
    "hundred",
    "thousand",
    "million",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "thirtieth",
];

/// The words a normalised word error rate compares: numbers dropped (spoken `four zero eight` against written
/// `408` is formatting, not recognition; the numbers themselves are scored as fields from the transcripts), and
/// `Dr.`/`Mr.`/`Mrs.` spelled out as the references spell them.
fn without_numbers(text: &str) -> String {
    normalize(text)
        .into_iter()
        .filter(|w| !w.chars().any(|c| c.is_ascii_digit()) && !NUMBER_WORDS.contains(&w.as_str()))
        .map(|w| match w.as_str() {
            "dr" => "doctor".to_string(),
            "mr" => "mister".to_string(),
            "mrs" => "missus".to_string(),
            _ => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One manifest line.
struct Entry {
    path: String,
    group: String,
    name: String,
    reference: String,
}

fn parse_manifest(text: &str) -> Vec<Entry> {
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut fields = line.splitn(4, '\t');
            let mut next = |what: &str| {
                fields
                    .next()
                    .unwrap_or_else(|| panic!("manifest line without {what}"))
                    .to_string()
            };
            Entry {
                path: next("path"),
                group: next("group"),
                name: next("name"),
                reference: next("reference"),
            }
        })
        .collect()
}

/// Writes a transcript's segments (text and times only) where the field scorer reads them.
fn write_transcript(dir: &Path, entry: &Entry, transcript: &Transcript) {
    let path = dir.join(&entry.group).join(format!("{}.json", entry.name));
    let segments: Vec<serde_json::Value> = transcript
        .segments
        .iter()
        .map(|s| serde_json::json!({"text": s.text, "start_ms": s.start_ms, "end_ms": s.end_ms}))
        .collect();
    std::fs::create_dir_all(path.parent().expect("transcript folder")).expect("transcript folder");
    std::fs::write(
        &path,
        serde_json::json!({ "segments": segments }).to_string(),
    )
    .unwrap_or_else(|error| panic!("failed to write {}: {error}", path.display()));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert!(args.len() == 4, "usage: bench POOL THREADS ROUNDS MANIFEST");
    let pool: usize = args[0].parse().expect("POOL");
    let threads: u32 = args[1].parse().expect("THREADS");
    let rounds: usize = args[2].parse().expect("ROUNDS");
    assert!(pool > 0 && rounds > 0, "POOL and ROUNDS must be at least 1");
    let entries = parse_manifest(&std::fs::read_to_string(&args[3]).expect("readable manifest"));
    let encoder_context = match std::env::var("HIM_BENCH_ENCODER_CONTEXT").as_deref() {
        Ok("full") => EncoderContext::Full,
        Ok("fit") | Err(_) => EncoderContext::Fit,
        Ok(other) => panic!("HIM_BENCH_ENCODER_CONTEXT={other}: expected fit or full"),
    };
    let transcripts_dir: Option<PathBuf> = std::env::var_os("HIM_BENCH_TRANSCRIPTS").map(|dir| {
        let label = std::env::var("HIM_BENCH_LABEL").unwrap_or_else(|_| "whisper.cpp".into());
        PathBuf::from(dir).join(label)
    });
    let config = AsrConfig {
        threads,
        encoder_context,
        model_path: std::env::var("HIM_ASR_MODEL")
            .unwrap_or_else(|_| "models/ggml-tiny.en.bin".into())
            .into(),
        ..AsrConfig::default()
    };
    let model = WhisperModel::load(&config).expect("model (run models/fetch-whisper.sh)");

    // Jobs are taken in manifest order, round after round; each engine decodes its file itself.
    let jobs = entries.len() * rounds;
    let next = AtomicUsize::new(0);
    let audio_ms = AtomicUsize::new(0);
    let first_round: Mutex<Vec<Option<Transcript>>> = Mutex::new(vec![None; entries.len()]);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..pool {
            let mut engine = model.engine().expect("state");
            let (next, audio_ms, first_round, entries) = (&next, &audio_ms, &first_round, &entries);
            scope.spawn(move || loop {
                let job = next.fetch_add(1, Ordering::Relaxed);
                if job >= jobs {
                    break;
                }
                let index = job % entries.len();
                let entry = &entries[index];
                let bytes = std::fs::read(&entry.path)
                    .unwrap_or_else(|error| panic!("failed to read {}: {error}", entry.path));
                let media = MediaType::sniff(&bytes).expect("audio");
                let clip =
                    decode_audio(&bytes, media, &AudioLimits::default()).expect("decodable audio");
                audio_ms.fetch_add(clip.duration_ms() as usize, Ordering::Relaxed);
                let transcript = engine.transcribe(&clip).expect("transcription");
                if job < entries.len() {
                    first_round.lock().unwrap()[index] = Some(transcript);
                }
            });
        }
    });
    let wall = started.elapsed().as_secs_f64();
    let audio_secs = audio_ms.load(Ordering::Relaxed) as f64 / 1000.0;

    let mut errors: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let transcripts = first_round.into_inner().unwrap();
    for (entry, transcript) in entries.iter().zip(&transcripts) {
        let transcript = transcript.as_ref().expect("every file transcribed");
        let text = transcript.text();
        let scores = [
            (entry.group.clone(), word_errors(&entry.reference, &text)),
            (
                format!("{}:norm", entry.group),
                word_errors(&without_numbers(&entry.reference), &without_numbers(&text)),
            ),
        ];
        for (group, (e, w)) in scores {
            let total = errors.entry(group).or_default();
            total.0 += e;
            total.1 += w;
        }
        if let Some(dir) = &transcripts_dir {
            write_transcript(dir, entry, transcript);
        }
    }
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
