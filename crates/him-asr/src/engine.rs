//! The whisper.cpp engine: one shared model per process, one decoding state per pool thread.

use std::path::Path;
use std::sync::{Arc, Once};

use him_core::{AsrEngine, AudioClip, Transcript, TranscriptSegment, ASR_SAMPLE_RATE};
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use crate::config::{AsrConfig, EncoderContext, Strategy};
use crate::error::{Error, Result};
use crate::words::{self, Token};
use crate::{risk, vad};

/// Hottest temperature a fallback pass may use.
const MAX_TEMPERATURE: f32 = 1.0;
/// whisper.cpp reports times in centiseconds.
const MS_PER_TICK: i64 = 10;
/// Encoder frames per second of audio (one per 20 ms), and the frames of Whisper's full 30 s context.
const ENCODER_FRAMES_PER_SEC: usize = 50;
const FULL_ENCODER_FRAMES: usize = 1500;

static SILENCE_NATIVE_LOGS: Once = Once::new();

/// Routes whisper.cpp's and ggml's own log output away from stderr.
///
/// whisper-rs installs a callback that forwards to `log`/`tracing` only when built with a backend feature; this
/// crate builds it without one, so the messages (model loading, timings) are dropped and every log line the
/// process writes is ours.
fn silence_native_logs() {
    SILENCE_NATIVE_LOGS.call_once(whisper_rs::install_logging_hooks);
}

/// A loaded Whisper model, shared by every engine of the process (cheap to clone).
#[derive(Clone)]
pub struct WhisperModel {
    context: Arc<WhisperContext>,
    config: Arc<AsrConfig>,
    version: Arc<str>,
}

impl std::fmt::Debug for WhisperModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperModel")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl WhisperModel {
    /// Loads the model named by `config.model_path` after checking the settings.
    pub fn load(config: &AsrConfig) -> Result<WhisperModel> {
        validate(config)?;
        silence_native_logs();
        let path = &config.model_path;
        let model_load = |detail: String| Error::ModelLoad {
            path: path.clone(),
            detail,
        };
        let metadata = std::fs::metadata(path).map_err(|error| model_load(error.to_string()))?;
        let mut parameters = WhisperContextParameters::default();
        parameters.use_gpu(false);
        let context = WhisperContext::new_with_params(path, parameters)
            .map_err(|error| model_load(format!("whisper.cpp refused the file: {error}")))?;
        let model_type = context
            .model_type_readable_str_lossy()
            .unwrap_or_default()
            .into_owned();
        let version = format!(
            "whisper.cpp {} ({model_type}, {}, {} bytes)",
            whisper_rs::WHISPER_CPP_VERSION,
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            metadata.len(),
        );
        tracing::info!(version = %version, "loaded whisper model");
        Ok(WhisperModel {
            context: Arc::new(context),
            config: Arc::new(config.clone()),
            version: version.into(),
        })
    }

    /// Creates an engine with its own decoding state, for one pool thread.
    pub fn engine(&self) -> Result<WhisperEngine> {
        let state = self.context.create_state().map_err(|error| Error::State {
            detail: error.to_string(),
        })?;
        Ok(WhisperEngine {
            model: self.clone(),
            state,
        })
    }

    /// The engine, model and version string recorded in manifests.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The path the model was loaded from.
    pub fn path(&self) -> &Path {
        &self.config.model_path
    }
}

/// Encoder frames for a window of `samples`: 0 (the model's full context) unless the context is fitted.
fn encoder_frames(samples: usize, config: &AsrConfig) -> usize {
    match config.encoder_context {
        EncoderContext::Full => 0,
        EncoderContext::Fit => {
            let margin = config.fit_margin_ms as usize * ASR_SAMPLE_RATE as usize / 1000;
            let frames = (samples + margin)
                .div_ceil(ASR_SAMPLE_RATE as usize / ENCODER_FRAMES_PER_SEC)
                .max(config.fit_min_secs as usize * ENCODER_FRAMES_PER_SEC);
            if frames >= FULL_ENCODER_FRAMES {
                0
            } else {
                frames
            }
        }
    }
}

fn validate(config: &AsrConfig) -> Result<()> {
    let invalid = |name, detail: &str| {
        Err(Error::InvalidSetting {
            name,
            detail: detail.to_string(),
        })
    };
    if config.language.len() != 2 || !config.language.chars().all(|c| c.is_ascii_lowercase()) {
        return invalid("language", "expected a two-letter code such as \"en\"");
    }
    if config.threads == 0 {
        return invalid("threads", "must be at least 1");
    }
    if config.window_secs < 5 {
        return invalid("window_secs", "must be at least 5");
    }
    if !(0.0..=MAX_TEMPERATURE).contains(&config.temperature) || config.temperature_increment < 0.0
    {
        return invalid(
            "temperature",
            "temperature must be in 0..=1 and its increment not negative",
        );
    }
    if config.beam_size == 0 || config.best_of == 0 {
        return invalid("beam_size", "beam_size and best_of must be at least 1");
    }
    Ok(())
}

/// A Whisper decoder bound to one thread of the pool; implements [`AsrEngine`].
pub struct WhisperEngine {
    model: WhisperModel,
    state: WhisperState,
}

impl std::fmt::Debug for WhisperEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperEngine")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl WhisperEngine {
    /// Transcribes a clip; the same as [`AsrEngine::transcribe`] with this crate's error type.
    pub fn transcribe_clip(&mut self, clip: &AudioClip) -> Result<Transcript> {
        let config = Arc::clone(&self.model.config);
        let window_samples = config.window_secs as usize * ASR_SAMPLE_RATE as usize;
        let mut segments = Vec::new();
        let windows = vad::decoding_windows(
            &clip.samples,
            window_samples,
            config.risk.vad_frame_ms,
            config.risk.vad_margin_db,
            config.split_silence_ms,
        );
        for window in windows {
            let offset_ms = window.start as u64 * 1000 / u64::from(ASR_SAMPLE_RATE);
            let samples = &clip.samples[window];
            if samples.is_empty() {
                continue;
            }
            segments.extend(self.decode_window(samples, offset_ms, &config)?);
        }
        risk::flag_segments(
            &mut segments,
            &clip.samples,
            &config.risk,
            config.temperature,
        );
        Ok(Transcript {
            language: config.language.clone(),
            segments,
        })
    }

    /// Decodes one window. whisper.cpp encodes it once and decodes it again hotter, up to 1.0, while the result
    /// fails its checks (tail entropy below `entropy_threshold`: a loop; average log-probability below
    /// `logprob_threshold` unless the window is silent), as OpenAI's reference decoder does. Three callbacks
    /// count the passes of each encoder run, so every segment records the temperature that produced it.
    fn decode_window(
        &mut self,
        samples: &[f32],
        offset_ms: u64,
        config: &AsrConfig,
    ) -> Result<Vec<TranscriptSegment>> {
        let strategy = match config.strategy {
            Strategy::Greedy => SamplingStrategy::Greedy {
                best_of: config.best_of as i32,
            },
            Strategy::Beam => SamplingStrategy::BeamSearch {
                beam_size: config.beam_size as i32,
                patience: -1.0,
            },
        };
        let mut params = FullParams::new(strategy);
        params.set_n_threads(config.threads as i32);
        params.set_language(Some(&config.language));
        params.set_detect_language(false);
        params.set_translate(false);
        // Each window stands alone: conditioning on earlier text spreads one hallucination into the next.
        params.set_no_context(true);
        params.set_token_timestamps(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        params.set_temperature(config.temperature);
        params.set_temperature_inc(config.temperature_increment);
        params.set_entropy_thold(config.entropy_threshold);
        params.set_logprob_thold(config.logprob_threshold);
        params.set_no_speech_thold(config.no_speech_threshold);
        params.set_audio_ctx(encoder_frames(samples.len(), config) as i32);
        if !config.initial_prompt.trim().is_empty() {
            params.set_initial_prompt(config.initial_prompt.trim());
        }

        let passes =
            pass_log::full(&mut self.state, params, samples).map_err(|error| Error::Decode {
                offset_ms,
                detail: error.to_string(),
            })?;

        let eot = self.model.context.token_eot();
        let at = |ticks: i64| offset_ms + (ticks.max(0) * MS_PER_TICK) as u64;
        let mut segments = Vec::new();
        for (index, segment) in self.state.as_iter().enumerate() {
            let mut tokens = Vec::new();
            for index in 0..segment.n_tokens() {
                let Some(token) = segment.get_token(index) else {
                    continue;
                };
                let data = token.token_data();
                if data.id >= eot {
                    continue;
                }
                tokens.push(Token {
                    id: data.id,
                    bytes: token.to_bytes().map(<[u8]>::to_vec).unwrap_or_default(),
                    probability: data.p,
                    logprob: data.plog,
                    start_ms: at(data.t0),
                    end_ms: at(data.t1),
                });
            }
            let fallbacks = passes.fallbacks_of_segment(index);
            segments.push(TranscriptSegment {
                text: segment
                    .to_str_lossy()
                    .map(|t| t.into_owned())
                    .unwrap_or_default(),
                start_ms: at(segment.start_timestamp()),
                end_ms: at(segment.end_timestamp()),
                avg_logprob: words::average_logprob(&tokens),
                no_speech_prob: segment.no_speech_probability(),
                temperature: (config.temperature + fallbacks as f32 * config.temperature_increment)
                    .min(MAX_TEMPERATURE),
                words: words::words_from_tokens(&tokens),
                flags: Vec::new(),
            });
        }
        if passes.encoder_runs() > 0 {
            tracing::debug!(
                offset_ms,
                encoder_runs = passes.encoder_runs(),
                fallbacks = passes.fallbacks(),
                "whisper window decoded"
            );
        }
        Ok(segments)
    }
}

/// What whisper.cpp did inside one `full` call: per encoder run (one per 30 s seek), how many decoding passes
/// it needed and how many segments it produced.
#[derive(Debug, Default)]
struct PassLog {
    runs: Vec<EncoderRun>,
}

#[derive(Debug, Default, Clone, Copy)]
struct EncoderRun {
    passes: u32,
    segments: usize,
}

impl PassLog {
    fn encoder_runs(&self) -> usize {
        self.runs.len()
    }

    /// Fallback passes over all encoder runs.
    fn fallbacks(&self) -> u32 {
        self.runs
            .iter()
            .map(|run| run.passes.saturating_sub(1))
            .sum()
    }

    /// Fallback passes of the encoder run that produced segment `index` (0 if unknown).
    fn fallbacks_of_segment(&self, index: usize) -> u32 {
        let mut first = 0;
        for run in &self.runs {
            if index < first + run.segments {
                return run.passes.saturating_sub(1);
            }
            first += run.segments;
        }
        0
    }
}

/// whisper.cpp callbacks feeding a [`PassLog`]. They run inside `whisper_full`, on the calling thread, and must
/// not panic. The only unsafe code of the crate: C callbacks and the pointer they share.
#[allow(unsafe_code)]
mod pass_log {
    use std::ffi::{c_int, c_void};

    use whisper_rs::whisper_rs_sys::{whisper_context, whisper_state, whisper_token_data};
    use whisper_rs::{FullParams, WhisperError, WhisperState};

    use super::{EncoderRun, PassLog};

    /// Runs `whisper_full` with the callbacks registered and returns what they logged.
    pub(super) fn full(
        state: &mut WhisperState,
        mut params: FullParams<'_, '_>,
        samples: &[f32],
    ) -> Result<PassLog, WhisperError> {
        let mut passes = PassLog::default();
        let log = std::ptr::from_mut(&mut passes).cast::<c_void>();
        // SAFETY: the callbacks only touch the `PassLog` behind `log`, which outlives `params`: `full` consumes
        // `params`, and whisper.cpp calls the callbacks only inside it, on this thread.
        unsafe {
            params.set_start_encoder_callback(Some(on_encoder_begin));
            params.set_start_encoder_callback_user_data(log);
            params.set_filter_logits_callback(Some(on_logits));
            params.set_filter_logits_callback_user_data(log);
            params.set_new_segment_callback(Some(on_new_segments));
            params.set_new_segment_callback_user_data(log);
        }
        state.full(params, samples)?;
        Ok(passes)
    }

    /// # Safety
    /// `user_data` is the `PassLog` the engine registered, alive for the whole `whisper_full` call.
    unsafe fn log<'a>(user_data: *mut c_void) -> Option<&'a mut PassLog> {
        // SAFETY: see the function's contract.
        unsafe { user_data.cast::<PassLog>().as_mut() }
    }

    /// Called before each encoder run.
    pub(super) unsafe extern "C" fn on_encoder_begin(
        _context: *mut whisper_context,
        _state: *mut whisper_state,
        user_data: *mut c_void,
    ) -> bool {
        // SAFETY: registered together with its `PassLog`.
        if let Some(log) = unsafe { log(user_data) } {
            log.runs.push(EncoderRun::default());
        }
        true
    }

    /// Called at every decoding step; a step with no tokens yet is the start of a pass (whisper.cpp runs the
    /// first step once per pass, on the calling thread, and copies it to the other candidates). Later steps may
    /// run on several threads at once: they hold at least one token and return before touching the log.
    pub(super) unsafe extern "C" fn on_logits(
        _context: *mut whisper_context,
        _state: *mut whisper_state,
        _tokens: *const whisper_token_data,
        n_tokens: c_int,
        _logits: *mut f32,
        user_data: *mut c_void,
    ) {
        if n_tokens != 0 {
            return;
        }
        // SAFETY: registered together with its `PassLog`.
        if let Some(run) = unsafe { log(user_data) }.and_then(|log| log.runs.last_mut()) {
            run.passes += 1;
        }
    }

    /// Called once an encoder run's segments are final.
    pub(super) unsafe extern "C" fn on_new_segments(
        _context: *mut whisper_context,
        _state: *mut whisper_state,
        n_new: c_int,
        user_data: *mut c_void,
    ) {
        // SAFETY: registered together with its `PassLog`.
        if let Some(run) = unsafe { log(user_data) }.and_then(|log| log.runs.last_mut()) {
            run.segments += usize::try_from(n_new).unwrap_or(0);
        }
    }
}

impl AsrEngine for WhisperEngine {
    fn version(&self) -> String {
        self.model.version.to_string()
    }

    fn transcribe(&mut self, clip: &AudioClip) -> him_core::Result<Transcript> {
        self.transcribe_clip(clip).map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_before_loading() {
        let bad_language = AsrConfig {
            language: "english".into(),
            ..AsrConfig::default()
        };
        assert!(matches!(
            WhisperModel::load(&bad_language),
            Err(Error::InvalidSetting {
                name: "language",
                ..
            })
        ));
        let no_threads = AsrConfig {
            threads: 0,
            ..AsrConfig::default()
        };
        assert!(matches!(
            WhisperModel::load(&no_threads),
            Err(Error::InvalidSetting { .. })
        ));
    }

    #[test]
    fn fitted_encoder_context_covers_the_window_and_a_margin() {
        let secs = |s: f32| (s * ASR_SAMPLE_RATE as f32) as usize;
        let fit = AsrConfig::default();
        assert_eq!(fit.encoder_context, EncoderContext::Fit);
        // 17 s of speech and 1 s of margin: 18 s at 50 frames per second.
        assert_eq!(encoder_frames(secs(17.0), &fit), 900);
        // A 2 s clip still gets the 10 s floor.
        assert_eq!(encoder_frames(secs(2.0), &fit), 500);
        // 29.5 s and the margin pass 30 s: whisper.cpp's full context (0).
        assert_eq!(encoder_frames(secs(29.5), &fit), 0);
        let full = AsrConfig {
            encoder_context: EncoderContext::Full,
            ..AsrConfig::default()
        };
        assert_eq!(encoder_frames(secs(17.0), &full), 0);
    }

    #[test]
    fn missing_model_is_a_transient_load_error() {
        let config = AsrConfig {
            model_path: "/nonexistent/ggml-none.bin".into(),
            ..AsrConfig::default()
        };
        let error = WhisperModel::load(&config).unwrap_err();
        assert!(matches!(error, Error::ModelLoad { .. }));
        assert!(error.is_transient());
    }
}
