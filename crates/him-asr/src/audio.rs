//! Decoding dictations into 16 kHz mono clips: `decode` in `intake → queue → decode → asr`.
//!
//! WAV (PCM, float, ADPCM), MP3, FLAC, OGG/Vorbis and M4A/AAC are decoded with symphonia, down-mixed to mono by
//! averaging the channels, and resampled with rubato. Every failure is a [`Rejection`] with a stable reason code;
//! nothing here panics on input (decoder panics are caught) and no clip with zero samples is returned.

use std::io::{Cursor, ErrorKind};
use std::panic::{self, AssertUnwindSafe};

use him_core::{AudioClip, MediaType, RejectReason, Rejection, ASR_SAMPLE_RATE};
use rubato::{
    Resampler, SincFixedIn, SincInterpolationParameters, SincInterpolationType, WindowFunction,
};
use serde::Deserialize;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CodecType, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::codecs::{CODEC_TYPE_AAC, CODEC_TYPE_ALAC, CODEC_TYPE_FLAC, CODEC_TYPE_MP1};
use symphonia::core::codecs::{CODEC_TYPE_MP2, CODEC_TYPE_MP3, CODEC_TYPE_OPUS, CODEC_TYPE_VORBIS};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Lowest and highest sample rates accepted; anything else is a corrupt header.
const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 4_000..=384_000;
/// Most channels accepted.
const MAX_CHANNELS: usize = 32;
/// Consecutive undecodable packets tolerated before the stream counts as corrupt.
const MAX_BAD_PACKETS: usize = 16;
/// Input frames per resampler call.
const RESAMPLE_CHUNK: usize = 4096;

/// The `[audio]` section of `pipeline.toml`: what a dictation must be to be transcribed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioLimits {
    /// Shortest accepted dictation, in milliseconds (shorter clips hold no usable speech).
    pub min_duration_ms: u64,
    /// Longest accepted dictation, in seconds; checked from the header before decoding, and again while decoding.
    pub max_duration_secs: u64,
}

impl Default for AudioLimits {
    fn default() -> Self {
        AudioLimits {
            min_duration_ms: 500,
            max_duration_secs: 3600,
        }
    }
}

/// Decodes a dictation's bytes, recognised as `media`, into a 16 kHz mono clip.
pub fn decode_audio(
    bytes: &[u8],
    media: MediaType,
    limits: &AudioLimits,
) -> Result<AudioClip, Rejection> {
    if bytes.is_empty() {
        return Err(Rejection::new(RejectReason::Empty, "file is empty"));
    }
    if media.kind() != him_core::Kind::Dictation {
        return Err(Rejection::new(
            RejectReason::UnsupportedType,
            format!("{media} is not an audio media type"),
        ));
    }
    match MediaType::sniff(bytes) {
        Some(found) if found != media => {
            return Err(Rejection::new(
                RejectReason::Mislabelled,
                format!("labelled {media} but the content is {found}"),
            ))
        }
        _ => {}
    }
    // Forged metadata lengths would make the demuxer allocate them (gigabytes) before reading.
    crate::lengths::check(bytes, media).map_err(corrupt)?;
    let (rate, mono) = panic::catch_unwind(AssertUnwindSafe(|| decode_mono(bytes, media, limits)))
        .unwrap_or_else(|_| Err(corrupt("the decoder failed on malformed data")))?;
    let samples = if rate == ASR_SAMPLE_RATE {
        mono
    } else {
        resample(&mono, rate)?
    };
    let clip = AudioClip { samples };
    if clip.samples.is_empty() || clip.duration_ms() < limits.min_duration_ms {
        return Err(Rejection::new(
            RejectReason::AudioTooShort,
            format!(
                "{} ms of audio, at least {} ms needed",
                clip.duration_ms(),
                limits.min_duration_ms
            ),
        ));
    }
    Ok(clip)
}

fn corrupt(detail: impl Into<String>) -> Rejection {
    Rejection::new(RejectReason::AudioCorrupt, detail)
}

fn too_long(limits: &AudioLimits) -> Rejection {
    Rejection::new(
        RejectReason::AudioTooLong,
        format!("longer than {} s", limits.max_duration_secs),
    )
}

/// Maps a symphonia error: an unsupported feature is an unsupported codec, anything else corruption.
fn from_symphonia(error: &SymphoniaError, what: &str) -> Rejection {
    match error {
        SymphoniaError::Unsupported(feature) => Rejection::new(
            RejectReason::UnsupportedCodec,
            format!("{what}: unsupported {feature}"),
        ),
        other => corrupt(format!("{what}: {other}")),
    }
}

/// Whether a codec belongs in the container the bytes announce.
fn codec_fits(media: MediaType, codec: CodecType) -> bool {
    match media {
        // PCM and ADPCM: anything but the codecs of the other containers.
        MediaType::Wav => ![
            CODEC_TYPE_MP1,
            CODEC_TYPE_MP2,
            CODEC_TYPE_MP3,
            CODEC_TYPE_AAC,
            CODEC_TYPE_ALAC,
            CODEC_TYPE_VORBIS,
            CODEC_TYPE_OPUS,
            CODEC_TYPE_FLAC,
        ]
        .contains(&codec),
        MediaType::Mp3 => [CODEC_TYPE_MP1, CODEC_TYPE_MP2, CODEC_TYPE_MP3].contains(&codec),
        MediaType::Flac => codec == CODEC_TYPE_FLAC,
        MediaType::Ogg => [CODEC_TYPE_VORBIS, CODEC_TYPE_OPUS, CODEC_TYPE_FLAC].contains(&codec),
        MediaType::M4a => [CODEC_TYPE_AAC, CODEC_TYPE_ALAC].contains(&codec),
        _ => false,
    }
}

/// Decodes the first audio track and down-mixes it; returns its sample rate and mono samples.
fn decode_mono(
    bytes: &[u8],
    media: MediaType,
    limits: &AudioLimits,
) -> Result<(u32, Vec<f32>), Rejection> {
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(media.extension());
    let format_options = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, source, &format_options, &MetadataOptions::default())
        .map_err(|error| from_symphonia(&error, "unreadable header"))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|track| track.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| corrupt("no audio track"))?
        .clone();
    let params = &track.codec_params;
    if !codec_fits(media, params.codec) {
        return Err(Rejection::new(
            RejectReason::Mislabelled,
            format!("a {media} container holding an unexpected codec"),
        ));
    }
    let rate = params
        .sample_rate
        .ok_or_else(|| corrupt("no sample rate"))?;
    if !SAMPLE_RATES.contains(&rate) {
        return Err(corrupt(format!("implausible sample rate {rate} Hz")));
    }
    let max_frames = limits.max_duration_secs.saturating_mul(u64::from(rate));
    if params.n_frames.is_some_and(|frames| frames > max_frames) {
        return Err(too_long(limits));
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(params, &DecoderOptions::default())
        .map_err(|error| from_symphonia(&error, "no decoder"))?;

    let mut mono = Vec::new();
    let mut bad_packets = 0;
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(SymphoniaError::IoError(error)) if error.kind() == ErrorKind::UnexpectedEof => {
                break
            }
            Err(SymphoniaError::ResetRequired) => break,
            // A stream cut short mid-way keeps what came before it; with nothing before, it is corrupt.
            Err(error) if !mono.is_empty() => {
                tracing::debug!(error = %error, "audio stream ends early");
                break;
            }
            Err(error) => return Err(from_symphonia(&error, "unreadable stream")),
        };
        if packet.track_id() != track.id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            Err(SymphoniaError::DecodeError(_) | SymphoniaError::IoError(_)) => {
                bad_packets += 1;
                if bad_packets > MAX_BAD_PACKETS {
                    return Err(corrupt("too many undecodable packets"));
                }
                continue;
            }
            Err(error) => return Err(from_symphonia(&error, "undecodable stream")),
        };
        bad_packets = 0;
        let spec = *decoded.spec();
        if spec.rate != rate {
            return Err(corrupt("sample rate changes mid-stream"));
        }
        let channels = spec.channels.count();
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(corrupt(format!("{channels} channels")));
        }
        if decoded.frames() == 0 {
            continue;
        }
        let mut buffer = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        buffer.copy_interleaved_ref(decoded);
        mono.extend(buffer.samples().chunks_exact(channels).map(|frame| {
            let sum: f32 = frame.iter().sum();
            let average = sum / channels as f32;
            if average.is_finite() {
                average.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        }));
        if mono.len() as u64 > max_frames {
            return Err(too_long(limits));
        }
    }
    Ok((rate, mono))
}

/// Resamples mono audio from `rate` to 16 kHz with a windowed-sinc filter, trimming the filter delay.
fn resample(input: &[f32], rate: u32) -> Result<Vec<f32>, Rejection> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let ratio = f64::from(ASR_SAMPLE_RATE) / f64::from(rate);
    let parameters = SincInterpolationParameters {
        sinc_len: 64,
        f_cutoff: 0.91,
        interpolation: SincInterpolationType::Linear,
        oversampling_factor: 128,
        window: WindowFunction::BlackmanHarris2,
    };
    let failed =
        |error: &dyn std::fmt::Display| corrupt(format!("cannot resample from {rate} Hz: {error}"));
    let mut resampler = SincFixedIn::<f32>::new(ratio, 1.0, parameters, RESAMPLE_CHUNK, 1)
        .map_err(|e| failed(&e))?;
    let expected = (input.len() as f64 * ratio).round() as usize;
    let delay = resampler.output_delay();
    let mut output = Vec::with_capacity(expected + delay + RESAMPLE_CHUNK);
    let mut chunks = input.chunks_exact(RESAMPLE_CHUNK);
    for chunk in chunks.by_ref() {
        let out = resampler.process(&[chunk], None).map_err(|e| failed(&e))?;
        output.extend_from_slice(&out[0]);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let out = resampler
            .process_partial(Some(&[rest]), None)
            .map_err(|e| failed(&e))?;
        output.extend_from_slice(&out[0]);
    }
    while output.len() < expected + delay {
        let out = resampler
            .process_partial(None::<&[&[f32]]>, None)
            .map_err(|e| failed(&e))?;
        output.extend_from_slice(&out[0]);
    }
    output.drain(..delay);
    output.truncate(expected);
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture from `fixtures/` at the repository root.
    fn fixture(relative: &str) -> Vec<u8> {
        let start = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let root = start
            .ancestors()
            .find(|dir| dir.join("fixtures/audio").is_dir())
            .expect("fixtures/audio above the crate");
        std::fs::read(root.join("fixtures").join(relative)).expect(relative)
    }

    /// A 16-bit PCM WAV of a 440 Hz tone.
    fn wav(rate: u32, channels: u16, seconds: f32) -> Vec<u8> {
        let frames = (rate as f32 * seconds) as u32;
        let data_len = frames * u32::from(channels) * 2;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
        out.extend_from_slice(&(channels * 2).to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for i in 0..frames {
            let value = (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 16_000.0;
            for _ in 0..channels {
                out.extend_from_slice(&(value as i16).to_le_bytes());
            }
        }
        out
    }

    fn reason(bytes: &[u8], media: MediaType) -> RejectReason {
        decode_audio(bytes, media, &AudioLimits::default())
            .unwrap_err()
            .reason
    }

    #[test]
    fn stereo_44k_becomes_mono_16k() {
        let clip = decode_audio(
            &wav(44_100, 2, 2.0),
            MediaType::Wav,
            &AudioLimits::default(),
        )
        .unwrap();
        assert_eq!(clip.samples.len(), 32_000);
        let peak = clip.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((0.4..0.55).contains(&peak), "peak {peak}");
    }

    #[test]
    fn sixteen_khz_passes_through() {
        let clip = decode_audio(
            &wav(16_000, 1, 1.0),
            MediaType::Wav,
            &AudioLimits::default(),
        )
        .unwrap();
        assert_eq!(clip.samples.len(), 16_000);
    }

    #[test]
    fn length_limits_are_enforced() {
        assert_eq!(
            reason(&wav(16_000, 1, 0.3), MediaType::Wav),
            RejectReason::AudioTooShort
        );
        assert_eq!(
            reason(&wav(16_000, 1, 0.0), MediaType::Wav),
            RejectReason::AudioTooShort
        );
        let limits = AudioLimits {
            max_duration_secs: 1,
            ..AudioLimits::default()
        };
        let error = decode_audio(&wav(8_000, 1, 2.0), MediaType::Wav, &limits).unwrap_err();
        assert_eq!(error.reason, RejectReason::AudioTooLong);
    }

    #[test]
    fn empty_and_non_audio_are_refused() {
        assert_eq!(reason(b"", MediaType::Wav), RejectReason::Empty);
        assert_eq!(
            reason(b"%PDF-1.7", MediaType::Pdf),
            RejectReason::UnsupportedType
        );
    }

    #[test]
    fn mislabelled_content_is_refused() {
        assert_eq!(
            reason(&wav(16_000, 1, 1.0), MediaType::Mp3),
            RejectReason::Mislabelled
        );
        assert_eq!(
            reason(&fixture("audio/jfk.wav"), MediaType::Flac),
            RejectReason::Mislabelled
        );
    }

    #[test]
    fn implausible_sample_rate_is_corrupt() {
        let mut bytes = wav(16_000, 1, 1.0);
        bytes[24..28].copy_from_slice(&1_090_000u32.to_le_bytes());
        assert_eq!(reason(&bytes, MediaType::Wav), RejectReason::AudioCorrupt);
    }

    #[test]
    fn malformed_corpus_files_are_rejected_with_a_reason() {
        for name in ["awful.wav", "bad.wav", "evil.wav", "flac-comment-4gib.flac"] {
            let bytes = fixture(&format!("audio/bad-input/{name}"));
            let media = MediaType::sniff(&bytes).unwrap_or(MediaType::Wav);
            let rejection = decode_audio(&bytes, media, &AudioLimits::default()).expect_err(name);
            assert!(!rejection.detail.is_empty(), "{name}");
        }
        // The fuzzer's finding: refused for its forged length, before the demuxer could allocate it.
        let bytes = fixture("audio/bad-input/flac-comment-4gib.flac");
        let rejection = decode_audio(&bytes, MediaType::Flac, &AudioLimits::default()).unwrap_err();
        assert_eq!(rejection.reason, RejectReason::AudioCorrupt);
        assert!(
            rejection.detail.contains("runs past"),
            "{}",
            rejection.detail
        );
    }

    #[test]
    fn every_fixture_format_decodes() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let root = root
            .ancestors()
            .find(|d| d.join("fixtures/dictation").is_dir())
            .unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(root.join("fixtures/dictation")).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let Some(media) =
                MediaType::sniff(&bytes).filter(|m| m.kind() == him_core::Kind::Dictation)
            else {
                continue;
            };
            let clip = decode_audio(&bytes, media, &AudioLimits::default()).unwrap();
            assert!(clip.duration_ms() > 1000);
            seen.insert(media.extension());
        }
        assert!(
            seen.contains("ogg") && seen.contains("flac") && seen.contains("wav"),
            "{seen:?}"
        );
    }

    /// Truncations and corruptions of real files never panic and never yield an empty clip.
    #[test]
    fn truncated_and_damaged_files_never_panic() {
        let mut inputs = vec![fixture("audio/jfk.wav"), fixture("audio/jfk.mp3")];
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let root = root
            .ancestors()
            .find(|d| d.join("fixtures/dictation").is_dir())
            .unwrap();
        for entry in std::fs::read_dir(root.join("fixtures/dictation")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "ogg" || e == "flac") {
                inputs.push(std::fs::read(path).unwrap());
                if inputs.len() >= 4 {
                    break;
                }
            }
        }
        for bytes in inputs {
            let media = MediaType::sniff(&bytes).unwrap();
            for cut in [
                1,
                4,
                12,
                44,
                100,
                1000,
                5000,
                bytes.len() / 3,
                bytes.len() - 1,
            ] {
                let cut = cut.min(bytes.len());
                if let Ok(clip) = decode_audio(&bytes[..cut], media, &AudioLimits::default()) {
                    assert!(!clip.samples.is_empty());
                }
            }
            let mut damaged = bytes.clone();
            let mut state = 7u32;
            for _ in 0..64 {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let at = 4 + (state as usize >> 8) % (damaged.len() - 4);
                damaged[at] ^= (state >> 3) as u8 | 1;
            }
            if let Ok(clip) = decode_audio(&damaged, media, &AudioLimits::default()) {
                assert!(!clip.samples.is_empty());
            }
        }
    }
}
