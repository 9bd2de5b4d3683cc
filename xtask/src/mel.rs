//! Slaney-style mel filterbank, computed as `librosa.filters.mel` does.
//!
//! Whisper's `mel_filters.npz` is `librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)`
//! (librosa defaults: `fmin = 0`, `fmax = sr / 2`, `htk = False`, `norm = "slaney"`,
//! float32 output). whisper.cpp reads the bank from the model file, so the converter
//! has to supply it.

/// Sample rate Whisper models expect, in Hz.
pub const WHISPER_SAMPLE_RATE: u32 = 16_000;
/// FFT size of Whisper's STFT (25 ms windows at 16 kHz).
pub const WHISPER_N_FFT: usize = 400;

/// Linear part of the Slaney scale: 200/3 Hz per mel below 1 kHz.
const F_SP: f64 = 200.0 / 3.0;
/// Where the Slaney scale turns logarithmic, in Hz.
const MIN_LOG_HZ: f64 = 1000.0;
/// `MIN_LOG_HZ` in mels.
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

/// Log step of the Slaney scale above 1 kHz.
fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Converts Hz to Slaney mels (`librosa.hz_to_mel(htk=False)`).
pub fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

/// Converts Slaney mels to Hz (`librosa.mel_to_hz(htk=False)`).
pub fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}

/// Computes an `n_mels × (n_fft / 2 + 1)` filterbank, row-major, spanning 0 Hz to Nyquist.
///
/// Mirrors librosa's arithmetic, including its float32 rounding: triangle weights are
/// stored as f32, then scaled in f64 by the Slaney area normalisation and stored as f32
/// again, so the result matches librosa to the last bit or so.
pub fn mel_filters(sample_rate: u32, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    let nyquist = f64::from(sample_rate) / 2.0;

    // numpy.fft.rfftfreq(n_fft, d=1/sr), operation for operation.
    let bin_width = 1.0 / (n_fft as f64 * (1.0 / f64::from(sample_rate)));
    let fft_freqs: Vec<f64> = (0..n_bins).map(|bin| bin as f64 * bin_width).collect();

    // n_mels + 2 band edges, equally spaced in mels (numpy.linspace semantics).
    let min_mel = hz_to_mel(0.0);
    let max_mel = hz_to_mel(nyquist);
    let n_edges = n_mels + 2;
    let step = (max_mel - min_mel) / (n_edges - 1) as f64;
    let mel_edges: Vec<f64> = (0..n_edges)
        .map(|index| {
            if index == n_edges - 1 {
                max_mel
            } else {
                min_mel + index as f64 * step
            }
        })
        .collect();
    let hz_edges: Vec<f64> = mel_edges.iter().map(|mel| mel_to_hz(*mel)).collect();

    let mut weights = vec![0f32; n_mels * n_bins];
    for band in 0..n_mels {
        let (left, centre, right) = (hz_edges[band], hz_edges[band + 1], hz_edges[band + 2]);
        let rising_width = centre - left;
        let falling_width = right - centre;
        let area_norm = 2.0 / (right - left);
        for (bin, freq) in fft_freqs.iter().enumerate() {
            let lower = -(left - freq) / rising_width;
            let upper = (right - freq) / falling_width;
            // numpy.maximum(0, x) keeps x when x == 0, so a -0.0 survives as in librosa.
            let rising_or_falling = lower.min(upper);
            let triangle = if rising_or_falling >= 0.0 {
                rising_or_falling
            } else {
                0.0
            } as f32;
            weights[band * n_bins + bin] = (f64::from(triangle) * area_norm) as f32;
        }
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    const N_BINS: usize = WHISPER_N_FFT / 2 + 1;

    fn whisper_filters() -> Vec<f32> {
        mel_filters(WHISPER_SAMPLE_RATE, WHISPER_N_FFT, 80)
    }

    /// Entries match `librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)` (librosa 0.11.0).
    #[test]
    fn matches_librosa_entries() {
        let filters = whisper_filters();
        assert_eq!(filters.len(), 80 * N_BINS);
        let expected: [(usize, usize, f64); 12] = [
            (0, 1, 0.024_862_595),
            (1, 1, 0.001_990_821_9),
            (1, 2, 0.022_871_772),
            (2, 3, 0.020_880_951),
            (10, 10, 0.019_908_218),
            (10, 11, 0.004_954_375),
            (39, 41, 0.011_486_922),
            (40, 43, 0.014_735_566),
            (41, 45, 0.012_277_561),
            (60, 93, 0.006_591_092_8),
            (79, 186, 0.000_366_741_67),
            (79, 199, 0.000_448_759),
        ];
        for (band, bin, want) in expected {
            let got = f64::from(filters[band * N_BINS + bin]);
            assert!(
                (got - want).abs() <= want * 1e-6,
                "filter[{band}][{bin}] = {got}, librosa has {want}"
            );
        }
    }

    /// Zeros sit where librosa has them: bin 0 and the Nyquist bin are empty, band 0 has one bin.
    #[test]
    fn matches_librosa_support() {
        let filters = whisper_filters();
        let nonzero = |band: usize| {
            (0..N_BINS)
                .filter(|bin| filters[band * N_BINS + bin] != 0.0)
                .count()
        };
        assert_eq!(nonzero(0), 1);
        assert_eq!(nonzero(1), 2);
        assert_eq!(nonzero(40), 3);
        assert_eq!(nonzero(79), 14);
        for band in 0..80 {
            assert_eq!(filters[band * N_BINS], 0.0);
            assert_eq!(filters[band * N_BINS + N_BINS - 1], 0.0);
        }
    }

    /// The Slaney scale is linear below 1 kHz, logarithmic above, and invertible.
    #[test]
    fn slaney_scale_round_trips() {
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(500.0) - 7.5).abs() < 1e-12);
        assert!((hz_to_mel(6400.0) - 42.0).abs() < 1e-9);
        for hz in [0.0, 123.0, 999.0, 1000.0, 4321.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-6);
        }
    }
}
