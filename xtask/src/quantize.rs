//! ggml `Q8_0` quantization of the weight matrices, as whisper.cpp's `quantize` tool writes it.
//!
//! Each row is cut into blocks of 32 values stored as one f16 scale `d = max|x| / 127` and 32 signed bytes
//! `round(x / d)`. Only the matrices whisper.cpp loads in the file's weight type are quantized: every 2-D
//! `*.weight` except the convolutions (always f16) and the positional embeddings and biases (f32).

use anyhow::{ensure, Result};
use half::f16;

use crate::ggml::{GgmlTensor, Hparams, TensorData};

/// Values per `Q8_0` block.
pub const BLOCK: usize = 32;
/// Bytes per `Q8_0` block: f16 scale and 32 quants.
pub const BLOCK_BYTES: usize = 2 + BLOCK;
/// `GGML_FTYPE_MOSTLY_Q8_0` plus `GGML_QNT_VERSION` (2) × `GGML_QNT_VERSION_FACTOR` (1000).
const FTYPE_Q8_0: i32 = 7 + 2 * 1000;

/// Quantizes the weight matrices of `tensors` in place and marks the file type in `hparams`.
pub fn quantize_q8_0(hparams: &mut Hparams, tensors: &mut [GgmlTensor]) -> Result<usize> {
    let mut quantized = 0;
    for tensor in tensors.iter_mut() {
        let TensorData::F16(bytes) = &tensor.data else {
            continue;
        };
        if tensor.shape.len() != 2
            || !tensor.name.ends_with(".weight")
            || tensor.name.starts_with("encoder.conv")
        {
            continue;
        }
        let row = tensor.shape[1];
        ensure!(
            row % BLOCK == 0,
            "{}: rows of {row} values do not split into blocks of {BLOCK}",
            tensor.name
        );
        let values: Vec<f32> = bytes
            .chunks_exact(2)
            .map(|pair| f16::from_le_bytes([pair[0], pair[1]]).to_f32())
            .collect();
        tensor.data = TensorData::Q8_0(quantize_blocks(&values));
        quantized += 1;
    }
    hparams.ftype = FTYPE_Q8_0;
    Ok(quantized)
}

/// `quantize_row_q8_0_ref` of ggml: `values.len()` must be a multiple of 32.
pub fn quantize_blocks(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / BLOCK * BLOCK_BYTES);
    for block in values.chunks_exact(BLOCK) {
        let amax = block.iter().fold(0.0f32, |max, v| max.max(v.abs()));
        let d = amax / 127.0;
        let inverse = if d == 0.0 { 0.0 } else { 1.0 / d };
        out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
        // `as` saturates; |x * inverse| ≤ 127 anyway.
        out.extend(block.iter().map(|v| (v * inverse).round() as i8 as u8));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_hold_a_scale_and_rounded_quants() {
        let mut values = vec![0.0f32; 32];
        values[0] = 1.27;
        values[1] = -0.635;
        values[2] = 0.005; // 0.5 of a step: rounds away from zero, as C's roundf
        let bytes = quantize_blocks(&values);
        assert_eq!(bytes.len(), BLOCK_BYTES);
        let d = f16::from_le_bytes([bytes[0], bytes[1]]).to_f32();
        assert!((d - 0.01).abs() < 1e-5, "{d}");
        assert_eq!(bytes[2] as i8, 127);
        assert_eq!(bytes[3] as i8, -64);
        assert_eq!(bytes[4] as i8, 1);
        assert!(bytes[5..].iter().all(|&q| q == 0));
        // An all-zero block has scale 0 and zero quants.
        assert!(quantize_blocks(&[0.0; 32]).iter().all(|&b| b == 0));
    }

    #[test]
    fn only_weight_matrices_are_quantized() {
        let f16_data = |n: usize| TensorData::F16(f16::from_f32(0.5).to_le_bytes().repeat(n));
        let tensor = |name: &str, shape: Vec<usize>| GgmlTensor {
            name: name.into(),
            data: f16_data(shape.iter().product()),
            shape,
        };
        let mut tensors = vec![
            tensor("encoder.blocks.0.attn.query.weight", vec![2, 64]),
            tensor("decoder.token_embedding.weight", vec![3, 32]),
            tensor("encoder.conv1.weight", vec![2, 32]),
            tensor("encoder.conv1.bias", vec![64, 1]),
            tensor("encoder.blocks.0.attn_ln.weight", vec![64]),
        ];
        let mut hparams = Hparams::default();
        assert_eq!(quantize_q8_0(&mut hparams, &mut tensors).unwrap(), 2);
        assert_eq!(hparams.ftype, 2007);
        assert!(matches!(&tensors[0].data, TensorData::Q8_0(b) if b.len() == 4 * BLOCK_BYTES));
        assert_eq!(tensors[0].data.element_count(), 128);
        assert!(matches!(tensors[1].data, TensorData::Q8_0(_)));
        assert!(tensors[2..]
            .iter()
            .all(|t| matches!(t.data, TensorData::F16(_))));

        let mut odd = vec![tensor("decoder.blocks.0.mlp.0.weight", vec![1, 40])];
        assert!(quantize_q8_0(&mut hparams, &mut odd).is_err());
    }
}
