//! Writer for whisper.cpp's legacy ggml model file, as `convert-pt-to-ggml.py` lays it out.
//!
//! ```text
//! u32 magic 0x67676d6c ("ggml")
//! i32 hparams × 11       (see `Hparams`)
//! i32 n_mel, i32 n_fft, f32 filters[n_mel × n_fft]
//! i32 token count, then per token: i32 length, raw bytes
//! per tensor: i32 n_dims, i32 name length, i32 ftype (0 f32, 1 f16),
//!             i32 dims innermost first (ggml order), name bytes, data
//! ```
//!
//! All values little-endian. The writer hashes and counts bytes as it goes so the
//! caller gets the file's SHA-256 without reading it back.

use std::io::Write;

use anyhow::{ensure, Context, Result};
use sha2::{Digest, Sha256};

/// `GGML_FILE_MAGIC`.
pub const GGML_MAGIC: u32 = 0x6767_6d6c;

/// Model hyper-parameters, in the order whisper.cpp reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hparams {
    /// Vocabulary size including special and timestamp tokens (51864 for `.en` models, 51865 for multilingual ones).
    pub n_vocab: i32,
    /// Encoder positions (1500 frames for 30 s of audio).
    pub n_audio_ctx: i32,
    /// Encoder width.
    pub n_audio_state: i32,
    /// Encoder attention heads.
    pub n_audio_head: i32,
    /// Encoder blocks.
    pub n_audio_layer: i32,
    /// Decoder positions.
    pub n_text_ctx: i32,
    /// Decoder width (equal to the encoder's).
    pub n_text_state: i32,
    /// Decoder attention heads.
    pub n_text_head: i32,
    /// Decoder blocks.
    pub n_text_layer: i32,
    /// Mel bands of the input spectrogram.
    pub n_mels: i32,
    /// Storage type of large matrices: 0 f32, 1 f16.
    pub ftype: i32,
}

impl Hparams {
    /// Returns the fields in file order.
    pub fn to_array(self) -> [i32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }
}

/// Element storage of a tensor as written to the file.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// f32 values (`ftype` 0).
    F32(Vec<f32>),
    /// Little-endian IEEE binary16 bytes (`ftype` 1).
    F16(Vec<u8>),
    /// ggml `Q8_0` blocks of 32 values (`ftype` 8), see `quantize.rs`.
    Q8_0(Vec<u8>),
}

impl TensorData {
    /// Returns the number of elements.
    pub fn element_count(&self) -> usize {
        match self {
            Self::F32(values) => values.len(),
            Self::F16(bytes) => bytes.len() / 2,
            Self::Q8_0(bytes) => {
                bytes.len() / super::quantize::BLOCK_BYTES * super::quantize::BLOCK
            }
        }
    }

    fn ftype(&self) -> i32 {
        match self {
            Self::F32(_) => 0,
            Self::F16(_) => 1,
            Self::Q8_0(_) => 8,
        }
    }
}

/// One named tensor for the ggml file.
#[derive(Debug, Clone, PartialEq)]
pub struct GgmlTensor {
    /// whisper.cpp tensor name, e.g. `encoder.blocks.0.attn.query.weight`.
    pub name: String,
    /// Dimensions outermost first (PyTorch order); written reversed.
    pub shape: Vec<usize>,
    /// Elements in row-major order.
    pub data: TensorData,
}

/// Everything that goes into one ggml Whisper model file.
pub struct GgmlModel<'a> {
    /// Hyper-parameters.
    pub hparams: Hparams,
    /// Mel filterbank, `n_mels` rows of `n_fft` values.
    pub mel_filters: &'a [f32],
    /// Columns of the mel filterbank (`n_fft / 2 + 1`).
    pub mel_n_fft: usize,
    /// Raw bytes of the text tokens, indexed by token id.
    pub tokens: &'a [Vec<u8>],
    /// Tensors in file order.
    pub tensors: &'a [GgmlTensor],
}

/// Byte count and SHA-256 of a written file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    /// Bytes written.
    pub bytes: u64,
    /// SHA-256 of the bytes written.
    pub sha256: [u8; 32],
}

/// Passes writes through while hashing and counting them.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn put(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(data)?;
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        Ok(())
    }

    fn put_i32(&mut self, value: i32) -> std::io::Result<()> {
        self.put(&value.to_le_bytes())
    }

    fn put_len(&mut self, value: usize) -> Result<()> {
        let value =
            i32::try_from(value).with_context(|| format!("value {value} does not fit an i32"))?;
        Ok(self.put_i32(value)?)
    }
}

/// Writes `model` in ggml format to `out`, returning its size and SHA-256.
pub fn write_ggml<W: Write>(out: W, model: &GgmlModel<'_>) -> Result<WriteSummary> {
    let n_mels = usize::try_from(model.hparams.n_mels).context("negative n_mels")?;
    ensure!(
        model.mel_filters.len() == n_mels * model.mel_n_fft,
        "mel filterbank has {} values, expected {n_mels} × {}",
        model.mel_filters.len(),
        model.mel_n_fft
    );
    let mut writer = HashingWriter {
        inner: out,
        hasher: Sha256::new(),
        bytes: 0,
    };

    writer.put(&GGML_MAGIC.to_le_bytes())?;
    for value in model.hparams.to_array() {
        writer.put_i32(value)?;
    }

    writer.put_len(n_mels)?;
    writer.put_len(model.mel_n_fft)?;
    let filter_bytes: Vec<u8> = model
        .mel_filters
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    writer.put(&filter_bytes)?;

    writer.put_len(model.tokens.len())?;
    for token in model.tokens {
        writer.put_len(token.len())?;
        writer.put(token)?;
    }

    for tensor in model.tensors {
        write_tensor(&mut writer, tensor)
            .with_context(|| format!("failed to write tensor {}", tensor.name))?;
    }
    writer
        .inner
        .flush()
        .context("failed to flush ggml output")?;

    Ok(WriteSummary {
        bytes: writer.bytes,
        sha256: writer.hasher.finalize().into(),
    })
}

fn write_tensor<W: Write>(writer: &mut HashingWriter<W>, tensor: &GgmlTensor) -> Result<()> {
    let elements: usize = tensor.shape.iter().product();
    ensure!(
        elements == tensor.data.element_count(),
        "shape {:?} holds {elements} elements but data has {}",
        tensor.shape,
        tensor.data.element_count()
    );
    writer.put_len(tensor.shape.len())?;
    writer.put_len(tensor.name.len())?;
    writer.put_i32(tensor.data.ftype())?;
    for dim in tensor.shape.iter().rev() {
        writer.put_len(*dim)?;
    }
    writer.put(tensor.name.as_bytes())?;
    match &tensor.data {
        TensorData::F32(values) => {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            writer.put(&bytes)?;
        }
        TensorData::F16(bytes) | TensorData::Q8_0(bytes) => writer.put(bytes)?,
    }
    Ok(())
}

/// Formats a digest as lowercase hex.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Reads ggml files back; used by tests across the `models` module.
#[cfg(test)]
pub(crate) mod test_reader {
    /// A tensor as read back: name, ggml-order dims, ftype, data bytes.
    #[derive(Debug)]
    pub struct TensorHeader {
        pub name: String,
        pub ggml_dims: Vec<i32>,
        pub ftype: i32,
        pub data: Vec<u8>,
    }

    /// A parsed ggml Whisper file.
    #[derive(Debug)]
    pub struct ParsedGgml {
        pub hparams: Vec<i32>,
        pub n_mel: i32,
        pub n_fft: i32,
        pub filters: Vec<f32>,
        pub tokens: Vec<Vec<u8>>,
        pub tensors: Vec<TensorHeader>,
    }

    /// Parses bytes written by `write_ggml`, panicking on malformed input.
    pub fn parse(bytes: &[u8]) -> ParsedGgml {
        let mut cursor = 0usize;
        let read_i32 = |cursor: &mut usize| {
            let value = i32::from_le_bytes(bytes[*cursor..*cursor + 4].try_into().unwrap());
            *cursor += 4;
            value
        };
        assert_eq!(read_i32(&mut cursor) as u32, super::GGML_MAGIC);
        let hparams: Vec<i32> = (0..11).map(|_| read_i32(&mut cursor)).collect();
        let n_mel = read_i32(&mut cursor);
        let n_fft = read_i32(&mut cursor);
        let filters = (0..n_mel * n_fft)
            .map(|_| f32::from_bits(read_i32(&mut cursor) as u32))
            .collect();
        let n_tokens = read_i32(&mut cursor);
        let mut tokens = Vec::new();
        for _ in 0..n_tokens {
            let len = read_i32(&mut cursor) as usize;
            tokens.push(bytes[cursor..cursor + len].to_vec());
            cursor += len;
        }
        let mut tensors = Vec::new();
        while cursor < bytes.len() {
            let n_dims = read_i32(&mut cursor);
            let name_len = read_i32(&mut cursor) as usize;
            let ftype = read_i32(&mut cursor);
            let ggml_dims: Vec<i32> = (0..n_dims).map(|_| read_i32(&mut cursor)).collect();
            let name = String::from_utf8(bytes[cursor..cursor + name_len].to_vec()).unwrap();
            cursor += name_len;
            let elements: i32 = ggml_dims.iter().product();
            let len = match ftype {
                0 => elements as usize * 4,
                8 => elements as usize / 32 * 34,
                _ => elements as usize * 2,
            };
            let data = bytes[cursor..cursor + len].to_vec();
            cursor += len;
            tensors.push(TensorHeader {
                name,
                ggml_dims,
                ftype,
                data,
            });
        }
        ParsedGgml {
            hparams,
            n_mel,
            n_fft,
            filters,
            tokens,
            tensors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hparams() -> Hparams {
        Hparams {
            n_vocab: 5,
            n_audio_ctx: 6,
            n_audio_state: 4,
            n_audio_head: 2,
            n_audio_layer: 1,
            n_text_ctx: 3,
            n_text_state: 4,
            n_text_head: 2,
            n_text_layer: 1,
            n_mels: 2,
            ftype: 1,
        }
    }

    /// Header, filters, tokens and tensors land where whisper.cpp reads them, dims reversed.
    #[test]
    fn writes_layout_whisper_cpp_reads() {
        let tensors = vec![
            GgmlTensor {
                name: "a.weight".into(),
                shape: vec![2, 3],
                data: TensorData::F16([0x00, 0x3c].repeat(6)),
            },
            GgmlTensor {
                name: "a.bias".into(),
                shape: vec![2, 1],
                data: TensorData::F32(vec![1.0, 2.0]),
            },
        ];
        let tokens = vec![b"!".to_vec(), b" the".to_vec()];
        let filters = [0.5f32, 0.0, 0.25, 1.0, 0.0, 0.0];
        let model = GgmlModel {
            hparams: hparams(),
            mel_filters: &filters,
            mel_n_fft: 3,
            tokens: &tokens,
            tensors: &tensors,
        };
        let mut out = Vec::new();
        let summary = write_ggml(&mut out, &model).unwrap();
        assert_eq!(summary.bytes, out.len() as u64);
        assert_eq!(summary.sha256, <[u8; 32]>::from(Sha256::digest(&out)));
        assert_eq!(&out[..4], b"lmgg");

        let parsed = test_reader::parse(&out);
        assert_eq!(parsed.hparams, hparams().to_array().to_vec());
        assert_eq!((parsed.n_mel, parsed.n_fft), (2, 3));
        assert_eq!(parsed.filters, filters.to_vec());
        assert_eq!(parsed.tokens, tokens);
        assert_eq!(parsed.tensors.len(), 2);
        assert_eq!(parsed.tensors[0].name, "a.weight");
        assert_eq!(parsed.tensors[0].ggml_dims, vec![3, 2]);
        assert_eq!(parsed.tensors[0].ftype, 1);
        assert_eq!(parsed.tensors[1].ggml_dims, vec![1, 2]);
        assert_eq!(parsed.tensors[1].ftype, 0);
        assert_eq!(
            parsed.tensors[1].data,
            [1.0f32.to_le_bytes(), 2.0f32.to_le_bytes()].concat()
        );
    }

    /// A tensor whose data disagrees with its shape is refused, naming the tensor.
    #[test]
    fn rejects_shape_mismatch() {
        let tensors = vec![GgmlTensor {
            name: "bad".into(),
            shape: vec![3],
            data: TensorData::F32(vec![1.0]),
        }];
        let filters = [0f32; 6];
        let model = GgmlModel {
            hparams: hparams(),
            mel_filters: &filters,
            mel_n_fft: 3,
            tokens: &[],
            tensors: &tensors,
        };
        let error = format!("{:#}", write_ggml(Vec::new(), &model).unwrap_err());
        assert!(error.contains("tensor bad"), "{error}");
    }

    /// Digests format as lowercase hex.
    #[test]
    fn formats_hex() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
