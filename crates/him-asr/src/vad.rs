//! Energy-based voice-activity detection: which stretches of a clip are silent.
//!
//! Pure arithmetic over samples, no whisper calls. The threshold adapts to the clip: a frame is speech when it is
//! `margin_db` above the noise floor (the 10th percentile of frame levels), capped so that a clip that is speech
//! from end to end does not call its own quiet syllables silence.

use him_core::ASR_SAMPLE_RATE;

/// Level given to a frame of digital silence, in dBFS.
const FLOOR_DB: f32 = -100.0;
/// A frame this far below the loud (95th percentile) level always counts as silence.
const BELOW_LOUD_DB: f32 = 30.0;
/// Frames quieter than this are silent whatever the clip's floor, in dBFS.
const ABSOLUTE_SILENCE_DB: f32 = -60.0;

/// A silent stretch, in milliseconds from the start of the clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Silence {
    pub start_ms: u64,
    pub end_ms: u64,
}

impl Silence {
    /// Whether `ms` lies inside the silence, `edge_ms` in from each end.
    pub fn contains(&self, ms: u64, edge_ms: u64) -> bool {
        ms >= self.start_ms + edge_ms && ms + edge_ms < self.end_ms
    }
}

/// Number of samples in a frame of `frame_ms`.
fn frame_len(frame_ms: u32) -> usize {
    (ASR_SAMPLE_RATE as usize * frame_ms.max(1) as usize / 1000).max(1)
}

/// RMS level of each frame, in dBFS.
pub fn frame_levels_db(samples: &[f32], frame_ms: u32) -> Vec<f32> {
    samples
        .chunks(frame_len(frame_ms))
        .map(|frame| {
            let power = frame.iter().map(|s| s * s).sum::<f32>() / frame.len() as f32;
            if power > 0.0 {
                (10.0 * power.log10()).max(FLOOR_DB)
            } else {
                FLOOR_DB
            }
        })
        .collect()
}

/// Level at percentile `p` (0–1) of a list of levels.
fn percentile(levels: &[f32], p: f32) -> f32 {
    let mut sorted = levels.to_vec();
    sorted.sort_by(f32::total_cmp);
    let index = ((sorted.len() - 1) as f32 * p).round() as usize;
    sorted[index]
}

/// Per-frame speech decision.
pub fn speech_frames(samples: &[f32], frame_ms: u32, margin_db: f32) -> Vec<bool> {
    let levels = frame_levels_db(samples, frame_ms);
    if levels.is_empty() {
        return Vec::new();
    }
    let floor = percentile(&levels, 0.10);
    let loud = percentile(&levels, 0.95);
    let threshold = (floor + margin_db)
        .min(loud - BELOW_LOUD_DB)
        .max(ABSOLUTE_SILENCE_DB);
    levels.iter().map(|&level| level > threshold).collect()
}

/// Silent stretches of at least `min_silence_ms`.
pub fn silences(
    samples: &[f32],
    frame_ms: u32,
    margin_db: f32,
    min_silence_ms: u32,
) -> Vec<Silence> {
    let frame_ms = u64::from(frame_ms.max(1));
    let total_ms = samples.len() as u64 * 1000 / u64::from(ASR_SAMPLE_RATE);
    let mut found = Vec::new();
    let mut run_start = None;
    let speech = speech_frames(samples, frame_ms as u32, margin_db);
    for (index, is_speech) in speech.iter().chain(std::iter::once(&true)).enumerate() {
        match (is_speech, run_start) {
            (false, None) => run_start = Some(index),
            (true, Some(start)) => {
                let silence = Silence {
                    start_ms: start as u64 * frame_ms,
                    end_ms: (index as u64 * frame_ms).min(total_ms),
                };
                if silence.end_ms - silence.start_ms >= u64::from(min_silence_ms) {
                    found.push(silence);
                }
                run_start = None;
            }
            _ => {}
        }
    }
    found
}

/// The windows a clip is decoded in: cut in the middle of every silence of at least `split_silence_ms`
/// ([`split_at_silences`]), then each piece at `window_samples` ([`plan_windows`]). They cover the clip.
pub fn decoding_windows(
    samples: &[f32],
    window_samples: usize,
    frame_ms: u32,
    margin_db: f32,
    split_silence_ms: u32,
) -> Vec<std::ops::Range<usize>> {
    split_at_silences(samples, frame_ms, margin_db, split_silence_ms)
        .into_iter()
        .flat_map(|piece| {
            plan_windows(&samples[piece.clone()], window_samples, frame_ms)
                .into_iter()
                .map(move |window| piece.start + window.start..piece.start + window.end)
        })
        .collect()
}

/// Cuts a clip in the middle of every silence of at least `min_silence_ms` (0: never). Nothing is dropped: the
/// pieces cover the clip. A long pause then ends one window and starts the next, so Whisper does not have to
/// decode across it (where it tends to invent text) and each window is shorter to encode.
pub fn split_at_silences(
    samples: &[f32],
    frame_ms: u32,
    margin_db: f32,
    min_silence_ms: u32,
) -> Vec<std::ops::Range<usize>> {
    let mut pieces = Vec::new();
    if min_silence_ms == 0 {
        pieces.push(0..samples.len());
        return pieces;
    }
    let sample_of = |ms: u64| (ms * u64::from(ASR_SAMPLE_RATE) / 1000) as usize;
    let mut start = 0;
    for silence in silences(samples, frame_ms, margin_db, min_silence_ms) {
        let cut = sample_of((silence.start_ms + silence.end_ms) / 2).min(samples.len());
        if cut > start && cut < samples.len() {
            pieces.push(start..cut);
            start = cut;
        }
    }
    pieces.push(start..samples.len());
    pieces
}

/// Where to cut a clip into windows of at most `window_samples`: each cut is at the quietest frame of the last
/// sixth of the window, so a word is rarely split. Returns the window ranges, covering the clip.
pub fn plan_windows(
    samples: &[f32],
    window_samples: usize,
    frame_ms: u32,
) -> Vec<std::ops::Range<usize>> {
    let window_samples = window_samples.max(frame_len(frame_ms) * 2);
    let frame = frame_len(frame_ms);
    let mut windows = Vec::new();
    let mut start = 0;
    while samples.len() - start > window_samples {
        let search_from = start + window_samples - window_samples / 6;
        let search_to = start + window_samples;
        let quietest = (search_from..search_to.saturating_sub(frame))
            .step_by(frame)
            .min_by(|&a, &b| {
                let power = |at: usize| samples[at..at + frame].iter().map(|s| s * s).sum::<f32>();
                power(a).total_cmp(&power(b))
            })
            .map_or(search_to, |at| at + frame / 2);
        windows.push(start..quietest);
        start = quietest;
    }
    windows.push(start..samples.len());
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: usize = ASR_SAMPLE_RATE as usize;

    /// A 300 Hz tone standing in for speech, over faint noise.
    fn tone(seconds: f32) -> Vec<f32> {
        (0..(seconds * RATE as f32) as usize)
            .map(|i| 0.3 * (i as f32 * 300.0 * std::f32::consts::TAU / RATE as f32).sin())
            .collect()
    }

    #[test]
    fn long_silences_split_the_clip_in_their_middle() {
        let mut samples = tone(4.0);
        samples.extend(hiss(4.0));
        samples.extend(tone(3.0));
        samples.extend(hiss(1.0));
        samples.extend(tone(2.0));
        let pieces = split_at_silences(&samples, 30, 12.0, 3000);
        // Only the 4 s gap is long enough; the cut lands near its middle (6 s).
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].start, 0);
        assert_eq!(pieces[1].end, samples.len());
        assert_eq!(pieces[0].end, pieces[1].start);
        assert!((pieces[0].end as f32 / RATE as f32 - 6.0).abs() < 0.1);
        // Decoding windows: the same cut, then the 8 s after it split at a 7 s limit; contiguous, covering.
        let windows = decoding_windows(&samples, 7 * RATE, 30, 12.0, 3000);
        assert_eq!(windows[0], pieces[0]);
        assert_eq!(windows.len(), 3);
        assert!(windows.windows(2).all(|pair| pair[0].end == pair[1].start));
        assert_eq!(windows[2].end, samples.len());
        assert_eq!(
            split_at_silences(&samples, 30, 12.0, 0),
            vec![0..samples.len()]
        );
        assert_eq!(split_at_silences(&[], 30, 12.0, 3000), vec![0..0]);
    }

    fn hiss(seconds: f32) -> Vec<f32> {
        // Deterministic low-level noise (about -66 dBFS): a linear congruential generator.
        let mut state = 12345u32;
        (0..(seconds * RATE as f32) as usize)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (f32::from((state >> 16) as u16) / 65535.0 - 0.5) * 0.002
            })
            .collect()
    }

    #[test]
    fn finds_the_pause_between_two_tones() {
        let samples = [tone(2.0), hiss(3.0), tone(2.0)].concat();
        let found = silences(&samples, 30, 12.0, 1000);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].start_ms.abs_diff(2000) <= 30, "{found:?}");
        assert!(found[0].end_ms.abs_diff(5000) <= 30, "{found:?}");
    }

    #[test]
    fn short_pauses_are_not_silences() {
        let samples = [tone(1.0), hiss(0.5), tone(1.0)].concat();
        assert!(silences(&samples, 30, 12.0, 1000).is_empty());
    }

    #[test]
    fn continuous_tone_has_no_silence() {
        assert!(silences(&tone(5.0), 30, 12.0, 1000).is_empty());
    }

    #[test]
    fn digital_silence_is_one_silence() {
        let found = silences(&vec![0.0; RATE * 2], 30, 12.0, 1000);
        assert_eq!(
            found,
            vec![Silence {
                start_ms: 0,
                end_ms: 2000
            }]
        );
    }

    #[test]
    fn empty_input_has_no_frames() {
        assert!(silences(&[], 30, 12.0, 1000).is_empty());
        assert_eq!(plan_windows(&[], RATE, 30), vec![0..0]);
    }

    #[test]
    fn silence_contains_respects_edges() {
        let silence = Silence {
            start_ms: 1000,
            end_ms: 3000,
        };
        assert!(silence.contains(2000, 250));
        assert!(!silence.contains(1100, 250));
        assert!(!silence.contains(2900, 250));
    }

    #[test]
    fn windows_cover_the_clip_and_cut_in_pauses() {
        let samples = [tone(25.0), hiss(2.0), tone(20.0)].concat();
        let windows = plan_windows(&samples, 30 * RATE, 30);
        assert_eq!(windows.first().unwrap().start, 0);
        assert_eq!(windows.last().unwrap().end, samples.len());
        for pair in windows.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        let cut = windows[0].end as f32 / RATE as f32;
        assert!((25.0..27.0).contains(&cut), "cut at {cut} s");
        assert!(windows.iter().all(|w| w.len() <= 30 * RATE));
    }
}
