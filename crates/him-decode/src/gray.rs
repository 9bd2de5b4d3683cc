//! Conversions of decoded samples to 8-bit gray.

/// Unpacks rows of `bits`-per-sample, `components`-per-pixel samples (rows padded to whole bytes) into 8-bit
/// samples scaled to 0–255. Returns `None` when the buffer is too short.
pub(crate) fn unpack_samples(
    data: &[u8],
    width: usize,
    height: usize,
    components: usize,
    bits: usize,
) -> Option<Vec<u8>> {
    let samples_per_row = width.checked_mul(components)?;
    if bits == 8 {
        let needed = samples_per_row.checked_mul(height)?;
        return (data.len() >= needed).then(|| data[..needed].to_vec());
    }
    if bits == 16 {
        let needed = samples_per_row.checked_mul(height)?.checked_mul(2)?;
        return (data.len() >= needed)
            .then(|| data[..needed].chunks_exact(2).map(|pair| pair[0]).collect());
    }
    if !matches!(bits, 1 | 2 | 4) {
        return None;
    }
    let row_bytes = (samples_per_row * bits).div_ceil(8);
    if data.len() < row_bytes.checked_mul(height)? {
        return None;
    }
    let max = (1u16 << bits) - 1;
    let mut out = Vec::with_capacity(samples_per_row * height);
    for row in data.chunks_exact(row_bytes).take(height) {
        for index in 0..samples_per_row {
            let bit = index * bits;
            let byte = row[bit / 8];
            let shift = 8 - bits - (bit % 8);
            let value = u16::from((byte >> shift) & (max as u8));
            out.push((value * 255 / max) as u8);
        }
    }
    Some(out)
}

/// Converts interleaved samples of `components` channels to luminance.
pub(crate) fn to_luma(samples: &[u8], components: usize) -> Vec<u8> {
    match components {
        1 => samples.to_vec(),
        3 => samples
            .chunks_exact(3)
            .map(|p| {
                ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000)
                    as u8
            })
            .collect(),
        4 => samples
            .chunks_exact(4)
            .map(|p| {
                // CMYK: each ink darkens the page.
                let ink = |c: u8| 255 - u32::from(c);
                let k = ink(p[3]);
                let r = ink(p[0]) * k / 255;
                let g = ink(p[1]) * k / 255;
                let b = ink(p[2]) * k / 255;
                ((r * 299 + g * 587 + b * 114) / 1000) as u8
            })
            .collect(),
        n => samples.chunks_exact(n.max(1)).map(|p| p[0]).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bit_rows_are_unpacked_with_padding() {
        // Width 3: row bits 101xxxxx, 010xxxxx.
        let out = unpack_samples(&[0b1010_0000, 0b0100_0000], 3, 2, 1, 1).unwrap();
        assert_eq!(out, vec![255, 0, 255, 0, 255, 0]);
    }

    #[test]
    fn short_buffers_are_refused() {
        assert!(unpack_samples(&[0; 5], 3, 2, 1, 8).is_none());
    }

    #[test]
    fn rgb_white_stays_white() {
        assert_eq!(to_luma(&[255, 255, 255, 0, 0, 0], 3), vec![255, 0]);
        assert_eq!(to_luma(&[0, 0, 0, 0], 4), vec![255]);
    }
}
