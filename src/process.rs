//! `him process`: the pipeline in-process over files, one JSON line per input on stdout.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use him_core::{JobContext, Kind, MediaType, Status};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::{error, info};

use crate::cli::ProcessArgs;
use crate::pipeline::{Engines, Pipeline};

/// Runs `him process`. Exit 0 when no input was rejected, 1 when any was (or failed), 2 for usage or
/// configuration errors.
pub fn run(args: ProcessArgs) -> ExitCode {
    let setup = || -> anyhow::Result<_> {
        let mut setup = crate::startup::load(&args.common)?;
        if let Some(workers) = args.workers {
            setup.config.ocr.workers = workers;
        }
        let patients = crate::startup::load_patients(&setup.config, args.patients.as_deref())?;
        Ok((setup.config, setup.store, patients))
    };
    let (config, store, patients) = match setup() {
        Ok(setup) => setup,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match crate::startup::runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let pool = match crate::startup::start_ocr_pool(&config) {
        Ok(pool) => Arc::new(pool),
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    // The speech model is loaded only when a dictation is among the inputs.
    let asr = if args.files.iter().any(|path| is_audio(path)) {
        match crate::startup::start_asr_pool(&config) {
            Ok((pool, version)) => Some((Arc::new(pool), version)),
            Err(error) => {
                eprintln!("error: {error:#}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let engines = Engines {
        ocr: Arc::clone(&pool),
        ocr_version: him_ocr::tesseract_version(),
        asr_version: asr.as_ref().map(|(_, version)| version.clone()),
        asr: asr.as_ref().map(|(pool, _)| Arc::clone(pool)),
    };
    let pipeline = Pipeline::new(config, store, engines, patients);
    // Patient index changes received over ADT (merges, new patients) apply here too.
    if let Err(error) = runtime.block_on(pipeline.follow_patient_changes(None)) {
        eprintln!("error: cannot read the patient index changes: {error:#}");
        return ExitCode::from(2);
    }
    let all_accepted = runtime.block_on(process_files(&pipeline, args.files, pool.size()));
    pool.shutdown();
    if let Some((pool, _)) = asr {
        pool.shutdown();
    }
    if all_accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Whether a file's content is audio (its first bytes; the name is never consulted).
fn is_audio(path: &std::path::Path) -> bool {
    let mut head = [0u8; 64];
    let read = std::fs::File::open(path)
        .and_then(|mut file| std::io::Read::read(&mut file, &mut head))
        .unwrap_or(0);
    MediaType::sniff(&head[..read]).is_some_and(|media| media.kind() == Kind::Dictation)
}

/// What the progress bar shows: counts and times only. Never a file name: names can hold patient names.
const PROGRESS_TEMPLATE: &str =
    "{wide_bar} {pos}/{len} files  {elapsed_precise} elapsed  ETA {eta}";

/// The progress bar over `total` inputs: drawn on stderr when stderr is a terminal, hidden otherwise (a log
/// file or a pipe gets log lines only).
fn progress_bar(total: usize, stderr_is_terminal: bool) -> ProgressBar {
    if !stderr_is_terminal {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(PROGRESS_TEMPLATE)
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bar = ProgressBar::with_draw_target(
        Some(u64::try_from(total).unwrap_or(u64::MAX)),
        ProgressDrawTarget::stderr(),
    )
    .with_style(style);
    // Elapsed time and ETA move while one long file is processed.
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// Processes the files `concurrency` at a time, printing results in input order. Returns whether every input
/// was accepted.
async fn process_files(pipeline: &Pipeline, files: Vec<PathBuf>, concurrency: usize) -> bool {
    // Job demographics sidecars (`a.wav.json` listed with `a.wav`) go with their document.
    let documents = crate::intake::documents(&files);
    let total = documents.len();
    let progress = progress_bar(total, std::io::stderr().is_terminal());
    // Log lines are written around the bar, not through it.
    crate::launcher::set_progress_bar(Some(progress.clone()));
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut all_accepted = true;
    let mut results = futures::stream::iter(documents)
        .map(|path| async move {
            let outcome = match crate::intake::read_sidecar(&path) {
                Ok(demographics) => match tokio::fs::read(&path).await {
                    Ok(bytes) => {
                        let job = JobContext {
                            stat: demographics.as_ref().and_then(|d| d.stat).unwrap_or(false),
                            station: demographics.as_ref().and_then(|d| d.station.clone()),
                            demographics,
                            ..JobContext::default()
                        };
                        pipeline.process(Bytes::from(bytes), &job).await
                    }
                    Err(error) => Err(anyhow::Error::new(error).context("cannot read input")),
                },
                Err(error) => Err(error),
            };
            (path, outcome)
        })
        .buffered(concurrency.max(1));
    let stdout = std::io::stdout();
    while let Some((path, outcome)) = results.next().await {
        let lines = match outcome {
            Ok(outcome) => {
                if outcome.status == Status::Rejected {
                    all_accepted = false;
                }
                // A scanned batch prints one line per document split out of it.
                let documents = if outcome.documents.is_empty() {
                    vec![outcome]
                } else {
                    outcome.documents
                };
                documents
                    .into_iter()
                    .map(|outcome| {
                        *counts.entry(outcome.status.to_string()).or_default() += 1;
                        let mut value = serde_json::to_value(&outcome).unwrap_or_default();
                        if let Some(object) = value.as_object_mut() {
                            object.insert("input".to_string(), path.display().to_string().into());
                        }
                        value
                    })
                    .collect()
            }
            Err(failure) => {
                all_accepted = false;
                *counts.entry("error".to_string()).or_default() += 1;
                // Only the outermost context is logged: deeper causes can quote object keys, and a patient
                // folder's key holds the MRN. The whole chain and the input path go to stdout only.
                error!(error = %failure, "input could not be processed");
                vec![
                    serde_json::json!({ "input": path.display().to_string(), "status": "error", "error": format!("{failure:#}") }),
                ]
            }
        };
        // stdout can be the same terminal as the bar: the bar is cleared while the line is written.
        progress.suspend(|| {
            let mut out = stdout.lock();
            for line in &lines {
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
        });
        progress.inc(1);
    }
    progress.finish();
    crate::launcher::set_progress_bar(None);
    info!(total, counts = ?counts, store = pipeline.store().location(), "run finished");
    all_accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When stderr is a file or a pipe, the bar draws nothing.
    #[test]
    fn no_bar_when_stderr_is_not_a_terminal() {
        let bar = progress_bar(3, false);
        assert!(bar.is_hidden());
        bar.inc(3);
        bar.finish();
    }

    /// The template parses and shows counts and times, with no place for a message or prefix (which could
    /// carry a file name).
    #[test]
    fn bar_shows_counts_and_times_only() {
        assert!(ProgressStyle::with_template(PROGRESS_TEMPLATE).is_ok());
        for key in ["{pos}", "{len}", "{elapsed_precise}", "{eta}"] {
            assert!(PROGRESS_TEMPLATE.contains(key), "{key}");
        }
        assert!(!PROGRESS_TEMPLATE.contains("msg") && !PROGRESS_TEMPLATE.contains("prefix"));
    }
}
