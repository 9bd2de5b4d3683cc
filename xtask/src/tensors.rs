//! Maps CTranslate2 `WhisperSpec` variables onto the tensors whisper.cpp loads.
//!
//! CTranslate2 fuses attention projections: self-attention `linear_0` stacks the
//! query, key and value rows; cross-attention `linear_0` is the query and `linear_1`
//! stacks key and value. whisper.cpp wants them separate and has no key bias (the
//! key projection has none in Whisper; CTranslate2 stores zeros), so the key bias is
//! checked to be zero and dropped. Large matrices are written f16; norms, biases,
//! positional embeddings and other 1-D tensors f32, as `convert-pt-to-ggml.py` does.

use anyhow::{bail, ensure, Context, Result};
use half::f16;

use crate::ct2::{Ct2Model, DType, Variable};
use crate::ggml::{GgmlTensor, Hparams, TensorData};

/// Encoder positions of every Whisper model (30 s of audio at 20 ms per frame).
const DEFAULT_AUDIO_CTX: usize = 1500;

/// Derives hyper-parameters and the ordered tensor list from a CTranslate2 Whisper model.
pub fn map_whisper(model: &Ct2Model) -> Result<(Hparams, Vec<GgmlTensor>)> {
    ensure!(
        model.spec == "WhisperSpec",
        "ct2 model spec is {}, expected WhisperSpec",
        model.spec
    );

    let embeddings = model.require("decoder/embeddings/weight")?;
    let conv1 = model.require("encoder/conv1/weight")?;
    let decoder_positions = model.require("decoder/position_encodings/encodings")?;
    ensure!(
        embeddings.shape.len() == 2,
        "decoder/embeddings/weight is not a matrix"
    );
    ensure!(conv1.shape.len() == 3, "encoder/conv1/weight is not 3-d");
    ensure!(
        decoder_positions.shape.len() == 2,
        "decoder/position_encodings/encodings is not a matrix"
    );

    let n_audio_state = conv1.shape[0];
    let n_text_state = embeddings.shape[1];
    ensure!(
        n_audio_state == n_text_state,
        "encoder width {n_audio_state} differs from decoder width {n_text_state}"
    );
    let n_audio_ctx = match model.get("encoder/position_encodings/encodings") {
        Some(positions) => positions.shape[0],
        None => DEFAULT_AUDIO_CTX,
    };
    check_tied_projection(model, embeddings)?;

    let hparams = Hparams {
        n_vocab: to_i32(embeddings.shape[0])?,
        n_audio_ctx: to_i32(n_audio_ctx)?,
        n_audio_state: to_i32(n_audio_state)?,
        n_audio_head: heads(model, "encoder/num_heads")?,
        n_audio_layer: to_i32(model.layer_count("encoder"))?,
        n_text_ctx: to_i32(decoder_positions.shape[0])?,
        n_text_state: to_i32(n_text_state)?,
        n_text_head: heads(model, "decoder/num_heads")?,
        n_text_layer: to_i32(model.layer_count("decoder"))?,
        n_mels: to_i32(conv1.shape[1])?,
        ftype: 1,
    };
    ensure!(hparams.n_audio_layer > 0, "ct2 model has no encoder layers");
    ensure!(hparams.n_text_layer > 0, "ct2 model has no decoder layers");

    let mut tensors = Vec::new();
    let encoder_positions = match model.get("encoder/position_encodings/encodings") {
        Some(positions) => f32_tensor("encoder.positional_embedding", positions)?,
        None => GgmlTensor {
            name: "encoder.positional_embedding".into(),
            shape: vec![n_audio_ctx, n_audio_state],
            data: TensorData::F32(sinusoids(n_audio_ctx, n_audio_state)),
        },
    };
    tensors.push(encoder_positions);
    for conv in ["conv1", "conv2"] {
        let weight = model.require(&format!("encoder/{conv}/weight"))?;
        tensors.push(f16_tensor(&format!("encoder.{conv}.weight"), weight)?);
        let bias = model.require(&format!("encoder/{conv}/bias"))?;
        let mut bias = f32_tensor(&format!("encoder.{conv}.bias"), bias)?;
        // whisper.cpp broadcasts the conv bias as an [n_state, 1] column.
        bias.shape = vec![n_audio_state, 1];
        tensors.push(bias);
    }
    for layer in 0..model.layer_count("encoder") {
        let from = format!("encoder/layer_{layer}");
        let to = format!("encoder.blocks.{layer}");
        self_attention(model, &mut tensors, &from, &to)?;
        feed_forward(model, &mut tensors, &from, &to)?;
    }
    layer_norm(model, &mut tensors, "encoder/layer_norm", "encoder.ln_post")?;

    tensors.push(f32_tensor(
        "decoder.positional_embedding",
        decoder_positions,
    )?);
    tensors.push(f16_tensor("decoder.token_embedding.weight", embeddings)?);
    for layer in 0..model.layer_count("decoder") {
        let from = format!("decoder/layer_{layer}");
        let to = format!("decoder.blocks.{layer}");
        self_attention(model, &mut tensors, &from, &to)?;
        cross_attention(model, &mut tensors, &from, &to)?;
        feed_forward(model, &mut tensors, &from, &to)?;
    }
    layer_norm(model, &mut tensors, "decoder/layer_norm", "decoder.ln")?;

    Ok((hparams, tensors))
}

/// whisper.cpp ties the output projection to the token embedding; refuse anything else.
fn check_tied_projection(model: &Ct2Model, embeddings: &Variable) -> Result<()> {
    if let Some(projection) = model.variables.get("decoder/projection/weight") {
        ensure!(
            projection == embeddings,
            "decoder/projection/weight is not tied to decoder/embeddings/weight, which whisper.cpp requires"
        );
    }
    Ok(())
}

fn heads(model: &Ct2Model, name: &str) -> Result<i32> {
    let heads = model
        .require(name)?
        .to_scalar_int()
        .with_context(|| format!("failed to read {name}"))?;
    i32::try_from(heads).with_context(|| format!("{name} is out of range"))
}

fn to_i32(value: usize) -> Result<i32> {
    i32::try_from(value).with_context(|| format!("dimension {value} does not fit an i32"))
}

/// Self-attention: fused q,k,v → query, key, value; `linear_1` → out.
fn self_attention(
    model: &Ct2Model,
    tensors: &mut Vec<GgmlTensor>,
    from: &str,
    to: &str,
) -> Result<()> {
    let fused_weight = model.require(&format!("{from}/self_attention/linear_0/weight"))?;
    let fused_bias = model.require(&format!("{from}/self_attention/linear_0/bias"))?;
    let [q_w, k_w, v_w] =
        split_rows::<3>(fused_weight).with_context(|| format!("failed to split {from} qkv"))?;
    let [q_b, k_b, v_b] =
        split_rows::<3>(fused_bias).with_context(|| format!("failed to split {from} qkv bias"))?;
    ensure_zero(&k_b).with_context(|| format!("{from}/self_attention key bias"))?;
    push_projections(tensors, &format!("{to}.attn"), [q_w, q_b], k_w, [v_w, v_b])?;
    linear(
        model,
        tensors,
        &format!("{from}/self_attention/linear_1"),
        &format!("{to}.attn.out"),
    )?;
    layer_norm(
        model,
        tensors,
        &format!("{from}/self_attention/layer_norm"),
        &format!("{to}.attn_ln"),
    )
}

/// Cross-attention: `linear_0` → query, fused k,v `linear_1` → key, value; `linear_2` → out.
fn cross_attention(
    model: &Ct2Model,
    tensors: &mut Vec<GgmlTensor>,
    from: &str,
    to: &str,
) -> Result<()> {
    let q_w = model
        .require(&format!("{from}/attention/linear_0/weight"))?
        .clone();
    let q_b = model
        .require(&format!("{from}/attention/linear_0/bias"))?
        .clone();
    let fused_weight = model.require(&format!("{from}/attention/linear_1/weight"))?;
    let fused_bias = model.require(&format!("{from}/attention/linear_1/bias"))?;
    let [k_w, v_w] =
        split_rows::<2>(fused_weight).with_context(|| format!("failed to split {from} kv"))?;
    let [k_b, v_b] =
        split_rows::<2>(fused_bias).with_context(|| format!("failed to split {from} kv bias"))?;
    ensure_zero(&k_b).with_context(|| format!("{from}/attention key bias"))?;
    push_projections(
        tensors,
        &format!("{to}.cross_attn"),
        [q_w, q_b],
        k_w,
        [v_w, v_b],
    )?;
    linear(
        model,
        tensors,
        &format!("{from}/attention/linear_2"),
        &format!("{to}.cross_attn.out"),
    )?;
    layer_norm(
        model,
        tensors,
        &format!("{from}/attention/layer_norm"),
        &format!("{to}.cross_attn_ln"),
    )
}

/// Feed-forward: `linear_0` → `mlp.0`, `linear_1` → `mlp.2`, norm → `mlp_ln`.
fn feed_forward(
    model: &Ct2Model,
    tensors: &mut Vec<GgmlTensor>,
    from: &str,
    to: &str,
) -> Result<()> {
    linear(
        model,
        tensors,
        &format!("{from}/ffn/linear_0"),
        &format!("{to}.mlp.0"),
    )?;
    linear(
        model,
        tensors,
        &format!("{from}/ffn/linear_1"),
        &format!("{to}.mlp.2"),
    )?;
    layer_norm(
        model,
        tensors,
        &format!("{from}/ffn/layer_norm"),
        &format!("{to}.mlp_ln"),
    )
}

fn push_projections(
    tensors: &mut Vec<GgmlTensor>,
    prefix: &str,
    [q_w, q_b]: [Variable; 2],
    k_w: Variable,
    [v_w, v_b]: [Variable; 2],
) -> Result<()> {
    tensors.push(f16_tensor(&format!("{prefix}.query.weight"), &q_w)?);
    tensors.push(f32_tensor(&format!("{prefix}.query.bias"), &q_b)?);
    tensors.push(f16_tensor(&format!("{prefix}.key.weight"), &k_w)?);
    tensors.push(f16_tensor(&format!("{prefix}.value.weight"), &v_w)?);
    tensors.push(f32_tensor(&format!("{prefix}.value.bias"), &v_b)?);
    Ok(())
}

fn linear(model: &Ct2Model, tensors: &mut Vec<GgmlTensor>, from: &str, to: &str) -> Result<()> {
    tensors.push(f16_tensor(
        &format!("{to}.weight"),
        model.require(&format!("{from}/weight"))?,
    )?);
    tensors.push(f32_tensor(
        &format!("{to}.bias"),
        model.require(&format!("{from}/bias"))?,
    )?);
    Ok(())
}

fn layer_norm(model: &Ct2Model, tensors: &mut Vec<GgmlTensor>, from: &str, to: &str) -> Result<()> {
    tensors.push(f32_tensor(
        &format!("{to}.weight"),
        model.require(&format!("{from}/gamma"))?,
    )?);
    tensors.push(f32_tensor(
        &format!("{to}.bias"),
        model.require(&format!("{from}/beta"))?,
    )?);
    Ok(())
}

/// Splits a variable into `N` equal blocks along its first dimension.
fn split_rows<const N: usize>(variable: &Variable) -> Result<[Variable; N]> {
    let Some((&rows, rest)) = variable.shape.split_first() else {
        bail!("cannot split a scalar");
    };
    ensure!(
        rows % N == 0,
        "{rows} rows do not split into {N} equal parts"
    );
    let part_rows = rows / N;
    let part_bytes = variable.data.len() / N;
    let mut shape = vec![part_rows];
    shape.extend_from_slice(rest);
    Ok(std::array::from_fn(|index| Variable {
        shape: shape.clone(),
        dtype: variable.dtype,
        data: variable.data[index * part_bytes..(index + 1) * part_bytes].to_vec(),
    }))
}

fn ensure_zero(variable: &Variable) -> Result<()> {
    let values = variable.to_f32()?;
    ensure!(
        values.iter().all(|value| *value == 0.0),
        "is not zero, but whisper.cpp has no key bias to hold it"
    );
    Ok(())
}

/// Converts a variable to an f16 tensor, passing f16 bytes through untouched.
fn f16_tensor(name: &str, variable: &Variable) -> Result<GgmlTensor> {
    let bytes = match variable.dtype {
        DType::F16 => variable.data.clone(),
        _ => variable
            .to_f32()
            .with_context(|| format!("failed to convert {name}"))?
            .into_iter()
            .flat_map(|value| f16::from_f32(value).to_le_bytes())
            .collect(),
    };
    Ok(GgmlTensor {
        name: name.into(),
        shape: variable.shape.clone(),
        data: TensorData::F16(bytes),
    })
}

/// Converts a variable to an f32 tensor.
fn f32_tensor(name: &str, variable: &Variable) -> Result<GgmlTensor> {
    let values = variable
        .to_f32()
        .with_context(|| format!("failed to convert {name}"))?;
    Ok(GgmlTensor {
        name: name.into(),
        shape: variable.shape.clone(),
        data: TensorData::F32(values),
    })
}

/// Whisper's sinusoidal encoder positions: `[sin | cos]` of `length × channels`.
pub fn sinusoids(length: usize, channels: usize) -> Vec<f32> {
    let half = channels / 2;
    let increment = 10_000f64.ln() / (half as f64 - 1.0);
    let mut values = Vec::with_capacity(length * channels);
    for position in 0..length {
        let angles = (0..half).map(|index| position as f64 * (-increment * index as f64).exp());
        let angles: Vec<f64> = angles.collect();
        values.extend(angles.iter().map(|angle| angle.sin() as f32));
        values.extend(angles.iter().map(|angle| angle.cos() as f32));
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variable(shape: Vec<usize>, values: &[f32]) -> Variable {
        let data = values
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect();
        Variable {
            shape,
            dtype: DType::F16,
            data,
        }
    }

    /// Fused rows split in order into equal blocks, keeping trailing dims.
    #[test]
    fn splits_fused_rows_in_order() {
        let fused = variable(
            vec![6, 2],
            &[0., 1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11.],
        );
        let [q, k, v] = split_rows::<3>(&fused).unwrap();
        assert_eq!(q.shape, vec![2, 2]);
        assert_eq!(q.to_f32().unwrap(), vec![0., 1., 2., 3.]);
        assert_eq!(k.to_f32().unwrap(), vec![4., 5., 6., 7.]);
        assert_eq!(v.to_f32().unwrap(), vec![8., 9., 10., 11.]);
        assert!(split_rows::<4>(&fused).is_err());
    }

    /// A non-zero key bias is refused rather than silently dropped.
    #[test]
    fn nonzero_key_bias_is_refused() {
        assert!(ensure_zero(&variable(vec![2], &[0.0, 0.0])).is_ok());
        assert!(ensure_zero(&variable(vec![2], &[0.0, 0.5])).is_err());
    }

    /// f16 sources pass through bit-exact; f32 sources round to f16.
    #[test]
    fn f16_tensor_passes_f16_through() {
        let source = variable(vec![2], &[1.5, -0.1]);
        let tensor = f16_tensor("w", &source).unwrap();
        assert_eq!(tensor.data, TensorData::F16(source.data.clone()));
        let f32_source = Variable {
            shape: vec![1],
            dtype: DType::F32,
            data: 1.0f32.to_le_bytes().to_vec(),
        };
        assert_eq!(
            f16_tensor("w", &f32_source).unwrap().data,
            TensorData::F16(vec![0x00, 0x3c])
        );
    }

    /// Sinusoids match Whisper's formula at a few points.
    #[test]
    fn sinusoids_match_whisper() {
        let values = sinusoids(3, 4);
        // channels 4 → 2 timescales: 1 and 1/10000.
        assert_eq!(&values[..4], &[0.0, 0.0, 1.0, 1.0]);
        let row2 = &values[8..12];
        assert!((row2[0] - 2f32.sin()).abs() < 1e-6);
        assert!((row2[1] - (2.0e-4f32).sin()).abs() < 1e-6);
        assert!((row2[2] - 2f32.cos()).abs() < 1e-6);
    }
}
