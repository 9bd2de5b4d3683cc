//! What every command shares: loading the configuration, opening the store, the patient index, the runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use him_extract::PatientIndex;
use him_store::Store;
use tracing::{info, warn};

use him_asr::WhisperModel;
use him_core::{AsrEngine, OcrEngine};
use him_ocr::TesseractEngine;

use crate::config::PipelineConfig;
use crate::pipeline::{AsrPool, OcrPool};
use crate::pool::CpuPool;

/// Options every service command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Configuration file (default: built-in defaults, as in the shipped pipeline.toml).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Store URL, overriding `store.url` (a folder, file:///folder or s3://bucket/prefix).
    #[arg(long, global = true)]
    pub store: Option<String>,
}

/// The loaded configuration, the store and the environment map it was read with.
pub struct Setup {
    pub config: PipelineConfig,
    pub store: Store,
    pub env: HashMap<String, String>,
}

/// How often services re-read the patient index changes received over ADT.
pub const MPI_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// Loads the configuration (interpolating the process environment) and opens the store.
pub fn load(common: &CommonArgs) -> anyhow::Result<Setup> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = load_config(common, &env)?;
    let store = Store::from_config(&config.store, &env).context("cannot open the store")?;
    Ok(Setup { config, store, env })
}

/// Loads the configuration `--config` names (the built-in defaults without it), interpolating `env`, with
/// `--store` applied.
pub fn load_config(
    common: &CommonArgs,
    env: &HashMap<String, String>,
) -> anyhow::Result<PipelineConfig> {
    let mut config = PipelineConfig::load(common.config.as_deref(), env)?;
    if let Some(url) = &common.store {
        config.store.url = url.clone();
    }
    Ok(config)
}

/// Loads the patient index named on the command line or in `[patients] index`, if any.
pub fn load_patients(
    config: &PipelineConfig,
    path: Option<&Path>,
) -> anyhow::Result<Option<Arc<PatientIndex>>> {
    let path = match path {
        Some(path) => Some(path.to_path_buf()),
        None if !config.patients.index.is_empty() => Some(PathBuf::from(&config.patients.index)),
        None => None,
    };
    let index = path
        .map(|path| {
            crate::identity::load_index(
                &path,
                config.patients.check_digit,
                config.patients.mrn_strip_leading_zeros,
            )
        })
        .transpose()?
        .map(Arc::new);
    match &index {
        Some(index) => info!(patients = index.len(), "patient index loaded"),
        None => warn!("no patient index configured; every document goes to the unmatched queue"),
    }
    Ok(index)
}

/// Starts the OCR pool: one tesseract engine per configured worker.
pub fn start_ocr_pool(config: &PipelineConfig) -> anyhow::Result<OcrPool> {
    if !him_ocr::omp_thread_limit_is_one() {
        tracing::warn!("OMP_THREAD_LIMIT is not 1; tesseract engines will compete for cores");
    }
    let ocr = config.ocr.clone();
    CpuPool::start(config.ocr_workers(), "ocr", move || {
        let engine = TesseractEngine::new(&ocr)?;
        Ok(Box::new(engine) as Box<dyn OcrEngine>)
    })
}

/// Loads the speech model once and starts the speech-to-text pool: one decoding state per worker.
pub fn start_asr_pool(config: &PipelineConfig) -> anyhow::Result<(AsrPool, String)> {
    let model = WhisperModel::load(&config.asr).with_context(|| {
        // The full path, so that a path taken relative to the config folder is not a riddle.
        let tried = std::path::absolute(&config.asr.model_path)
            .unwrap_or_else(|_| config.asr.model_path.clone());
        format!(
            "cannot load the speech model {} (run models/fetch-whisper.sh, or set [asr] model_path; a relative \
             path is taken from the config file's folder)",
            tried.display()
        )
    })?;
    let version = model.version().to_string();
    let pool = CpuPool::start(config.asr_workers(), "asr", move || {
        let engine = model.engine()?;
        Ok(Box::new(engine) as Box<dyn AsrEngine>)
    })?;
    Ok((pool, version))
}

/// The async runtime: two threads for IO; engines run on their own pools.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves when the process is asked to stop (SIGTERM or SIGINT).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    info!("shutdown requested");
}
