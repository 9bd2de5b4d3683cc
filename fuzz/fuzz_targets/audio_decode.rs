//! Untrusted dictation bytes: content sniffing, then the WAV / MP3 / FLAC / OGG / M4A decoders (symphonia) and
//! the resampler, also fed as a mislabelled audio type. A `Rejection` is the expected answer; a panic, a
//! hang or memory beyond the limits is a finding.
#![no_main]

use him_asr::{decode_audio, AudioLimits};
use him_core::MediaType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Short limits keep one execution fast; the header checks they exercise are the same.
    let limits = AudioLimits {
        min_duration_ms: 100,
        max_duration_secs: 10,
    };
    if let Some(media) = MediaType::sniff(data) {
        let _ = decode_audio(data, media, &limits);
    }
    // Mislabelled: one other audio type per input (by its length), so each execution decodes twice, not six
    // times (a decode with resampling is the slow part).
    let types = [
        MediaType::Wav,
        MediaType::Mp3,
        MediaType::Flac,
        MediaType::Ogg,
        MediaType::M4a,
    ];
    let _ = decode_audio(data, types[data.len() % types.len()], &limits);
});
