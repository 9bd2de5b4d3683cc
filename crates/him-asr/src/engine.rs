//! The whisper.cpp engine: one shared model per process, one decoding state per pool thread.

use std::path::Path;
use std::sync::{Arc, Once};

use him_core::{AsrEngine, AudioClip, Transcript, TranscriptSegment, ASR_SAMPLE_RATE};
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use crate::config::{AsrConfig, Strategy};
use crate::error::{Error, Result};
use crate::words::{self, Token};
use crate::{risk, vad};

/// Hottest temperature a fallback pass may use.
const MAX_TEMPERATURE: f32 = 1.0;
/// whisper.cpp reports times in centiseconds.
const MS_PER_TICK: i64 = 10;

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

/// The segments of one window decoded at one temperature.
struct Pass {
    segments: Vec<TranscriptSegment>,
    tokens: Vec<Token>,
    no_speech_prob: f32,
}

impl WhisperEngine {
    /// Transcribes a clip; the same as [`AsrEngine::transcribe`] with this crate's error type.
    pub fn transcribe_clip(&mut self, clip: &AudioClip) -> Result<Transcript> {
        let config = Arc::clone(&self.model.config);
        let window_samples = config.window_secs as usize * ASR_SAMPLE_RATE as usize;
        let mut segments = Vec::new();
        for window in vad::plan_windows(&clip.samples, window_samples, config.risk.vad_frame_ms) {
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

    /// Decodes one window, hotter each time the result looks like a loop or is improbable, as OpenAI's
    /// reference decoder does. whisper.cpp's own fallback is turned off so the kept temperature is known.
    fn decode_window(
        &mut self,
        samples: &[f32],
        offset_ms: u64,
        config: &AsrConfig,
    ) -> Result<Vec<TranscriptSegment>> {
        let mut temperature = config.temperature;
        loop {
            let pass = self.decode_pass(samples, offset_ms, temperature, config)?;
            let average = words::average_logprob(&pass.tokens);
            let looping =
                words::tail_entropy(&pass.tokens).is_some_and(|e| e < config.entropy_threshold);
            let silent = pass.no_speech_prob > config.no_speech_threshold;
            let improbable = average < config.logprob_threshold && !silent;
            let next = temperature + config.temperature_increment;
            if !(looping || improbable)
                || config.temperature_increment <= 0.0
                || next > MAX_TEMPERATURE + 1e-3
            {
                return Ok(pass.segments);
            }
            tracing::debug!(
                offset_ms,
                temperature = next,
                "whisper temperature fallback"
            );
            temperature = next;
        }
    }

    fn decode_pass(
        &mut self,
        samples: &[f32],
        offset_ms: u64,
        temperature: f32,
        config: &AsrConfig,
    ) -> Result<Pass> {
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
        params.set_temperature(temperature);
        params.set_temperature_inc(0.0);
        params.set_entropy_thold(config.entropy_threshold);
        params.set_logprob_thold(config.logprob_threshold);
        params.set_no_speech_thold(config.no_speech_threshold);

        self.state
            .full(params, samples)
            .map_err(|error| Error::Decode {
                offset_ms,
                detail: error.to_string(),
            })?;

        let eot = self.model.context.token_eot();
        let at = |ticks: i64| offset_ms + (ticks.max(0) * MS_PER_TICK) as u64;
        let mut pass = Pass {
            segments: Vec::new(),
            tokens: Vec::new(),
            no_speech_prob: 0.0,
        };
        for segment in self.state.as_iter() {
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
            let no_speech_prob = segment.no_speech_probability();
            pass.no_speech_prob = pass.no_speech_prob.max(no_speech_prob);
            pass.segments.push(TranscriptSegment {
                text: segment
                    .to_str_lossy()
                    .map(|t| t.into_owned())
                    .unwrap_or_default(),
                start_ms: at(segment.start_timestamp()),
                end_ms: at(segment.end_timestamp()),
                avg_logprob: words::average_logprob(&tokens),
                no_speech_prob,
                temperature,
                words: words::words_from_tokens(&tokens),
                flags: Vec::new(),
            });
            pass.tokens.extend(tokens);
        }
        Ok(pass)
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
