//! Reader for CTranslate2 `model.bin` files (binary format version 6).
//!
//! Layout, all integers little-endian:
//!
//! ```text
//! u32 version            (6)
//! str spec name          ("WhisperSpec")
//! u32 spec revision
//! u32 variable count
//!   per variable: str name, u8 rank, u32 dims[rank], u8 dtype, u32 byte count, bytes
//! u32 alias count
//!   per alias: str alias, str target
//! ```
//!
//! A `str` is a u16 byte length followed by that many bytes; CTranslate2 counts a
//! trailing NUL in the length, which the reader strips.

use std::collections::BTreeMap;

use anyhow::{bail, ensure, Context, Result};
use half::f16;

/// The only `model.bin` format version the reader understands.
pub const SUPPORTED_VERSION: u32 = 6;

/// Element type of a CTranslate2 variable, as numbered by `ctranslate2::DataType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// IEEE 754 binary32.
    F32,
    /// Signed 8-bit integer (scalars, or weights of int8-quantized models).
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// IEEE 754 binary16.
    F16,
    /// bfloat16.
    BF16,
}

impl DType {
    /// Maps the on-disk dtype code to a `DType`.
    pub fn from_code(code: u8) -> Result<Self> {
        Ok(match code {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::BF16,
            other => bail!("unknown ct2 dtype code {other}"),
        })
    }

    /// Returns the size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::BF16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

/// One named variable of a CTranslate2 model.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// Dimensions, outermost first (row-major, as PyTorch orders them).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Raw little-endian element bytes.
    pub data: Vec<u8>,
}

impl Variable {
    /// Returns the number of elements.
    pub fn element_count(&self) -> usize {
        self.shape.iter().product()
    }

    /// Decodes the elements as f32 (floating-point dtypes only).
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        let values = match self.dtype {
            DType::F32 => self
                .data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            DType::F16 => self
                .data
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            DType::BF16 => self
                .data
                .chunks_exact(2)
                .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
                .collect(),
            other => bail!(
                "cannot read {other:?} variable as floats (quantized models are not supported)"
            ),
        };
        Ok(values)
    }

    /// Reads a scalar integer variable such as `encoder/num_heads`.
    pub fn to_scalar_int(&self) -> Result<i64> {
        ensure!(
            self.element_count() == 1,
            "expected a scalar, found shape {:?}",
            self.shape
        );
        let b = &self.data;
        Ok(match self.dtype {
            DType::I8 => i64::from(b[0] as i8),
            DType::I16 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            DType::I32 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            other => bail!("expected an integer scalar, found {other:?}"),
        })
    }
}

/// A parsed CTranslate2 model: spec header, variables and aliases.
#[derive(Debug, Clone, PartialEq)]
pub struct Ct2Model {
    /// Spec name, e.g. `WhisperSpec`.
    pub spec: String,
    /// Spec revision.
    pub revision: u32,
    /// Variables by name (`encoder/conv1/weight`, ...), in name order.
    pub variables: BTreeMap<String, Variable>,
    /// Alias name to target variable name.
    pub aliases: BTreeMap<String, String>,
}

impl Ct2Model {
    /// Parses a whole `model.bin` held in memory.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut cursor = Cursor { bytes, pos: 0 };
        let version = cursor.u32().context("failed to read ct2 format version")?;
        ensure!(
            version == SUPPORTED_VERSION,
            "unsupported ct2 model.bin version {version} (expected {SUPPORTED_VERSION})"
        );
        let spec = cursor.string().context("failed to read ct2 spec name")?;
        let revision = cursor.u32().context("failed to read ct2 spec revision")?;
        let count = cursor.u32().context("failed to read ct2 variable count")?;

        let mut variables = BTreeMap::new();
        for index in 0..count {
            let name = cursor
                .string()
                .with_context(|| format!("failed to read name of ct2 variable {index}"))?;
            let variable = cursor
                .variable()
                .with_context(|| format!("failed to read ct2 variable {name}"))?;
            if variables.insert(name.clone(), variable).is_some() {
                bail!("duplicate ct2 variable {name}");
            }
        }

        let mut aliases = BTreeMap::new();
        // Older writers may end the file before the alias table.
        if !cursor.at_end() {
            let alias_count = cursor.u32().context("failed to read ct2 alias count")?;
            for _ in 0..alias_count {
                let alias = cursor.string().context("failed to read ct2 alias name")?;
                let target = cursor
                    .string()
                    .with_context(|| format!("failed to read target of ct2 alias {alias}"))?;
                aliases.insert(alias, target);
            }
        }
        ensure!(
            cursor.at_end(),
            "ct2 model.bin has {} trailing bytes",
            bytes.len() - cursor.pos
        );

        Ok(Self {
            spec,
            revision,
            variables,
            aliases,
        })
    }

    /// Looks a variable up by name, following aliases.
    pub fn get(&self, name: &str) -> Option<&Variable> {
        self.variables.get(name).or_else(|| {
            self.aliases
                .get(name)
                .and_then(|target| self.variables.get(target))
        })
    }

    /// Looks a variable up by name, failing with the name when it is missing.
    pub fn require(&self, name: &str) -> Result<&Variable> {
        self.get(name)
            .with_context(|| format!("ct2 model has no variable {name}"))
    }

    /// Counts consecutive `{prefix}/layer_N/` blocks starting at 0.
    pub fn layer_count(&self, prefix: &str) -> usize {
        (0..)
            .take_while(|index| {
                let start = format!("{prefix}/layer_{index}/");
                self.variables
                    .range(start.clone()..)
                    .next()
                    .is_some_and(|(name, _)| name.starts_with(&start))
            })
            .count()
    }
}

/// Bounds-checked little-endian reader over a byte slice.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .with_context(|| {
                format!(
                    "unexpected end of ct2 model.bin at byte {} (wanted {len} more)",
                    self.pos
                )
            })?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<String> {
        let len = usize::from(self.u16()?);
        let raw = self.take(len)?;
        let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
        String::from_utf8(raw.to_vec()).context("ct2 string is not valid utf-8")
    }

    fn variable(&mut self) -> Result<Variable> {
        let rank = self.u8()?;
        let shape = (0..rank)
            .map(|_| self.u32().map(|dim| dim as usize))
            .collect::<Result<Vec<_>>>()?;
        let dtype = DType::from_code(self.u8()?)?;
        let byte_count = self.u32()? as usize;
        let elements: usize = shape.iter().product();
        ensure!(
            elements.checked_mul(dtype.size()) == Some(byte_count),
            "byte count {byte_count} does not match shape {shape:?} of {dtype:?}"
        );
        let data = self.take(byte_count)?.to_vec();
        Ok(Variable { shape, dtype, data })
    }
}

/// Builds `model.bin` bytes; used by tests across the `models` module.
#[cfg(test)]
pub(crate) mod test_writer {
    use super::DType;

    /// Encodes a string the way CTranslate2 does (length includes a trailing NUL).
    fn put_string(out: &mut Vec<u8>, text: &str) {
        out.extend_from_slice(&(text.len() as u16 + 1).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
        out.push(0);
    }

    /// Serialises variables `(name, shape, dtype, bytes)` and aliases into `model.bin` bytes.
    pub fn model_bin(
        variables: &[(String, Vec<usize>, DType, Vec<u8>)],
        aliases: &[(&str, &str)],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&6u32.to_le_bytes());
        put_string(&mut out, "WhisperSpec");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(variables.len() as u32).to_le_bytes());
        for (name, shape, dtype, data) in variables {
            put_string(&mut out, name);
            out.push(shape.len() as u8);
            for dim in shape {
                out.extend_from_slice(&(*dim as u32).to_le_bytes());
            }
            let code = match dtype {
                DType::F32 => 0u8,
                DType::I8 => 1,
                DType::I16 => 2,
                DType::I32 => 3,
                DType::F16 => 4,
                DType::BF16 => 5,
            };
            out.push(code);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
        }
        out.extend_from_slice(&(aliases.len() as u32).to_le_bytes());
        for (alias, target) in aliases {
            put_string(&mut out, alias);
            put_string(&mut out, target);
        }
        out
    }

    /// Encodes f32 values as little-endian f16 bytes.
    pub fn f16_bytes(values: &[f32]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_writer::{f16_bytes, model_bin};
    use super::*;

    fn sample() -> Vec<u8> {
        model_bin(
            &[
                (
                    "encoder/num_heads".into(),
                    vec![],
                    DType::I16,
                    6i16.to_le_bytes().to_vec(),
                ),
                (
                    "decoder/embeddings/weight".into(),
                    vec![2, 3],
                    DType::F16,
                    f16_bytes(&[1.0, -2.0, 0.5, 0.0, 3.0, 65504.0]),
                ),
                (
                    "decoder/layer_0/ffn/linear_0/bias".into(),
                    vec![2],
                    DType::F32,
                    [1.5f32.to_le_bytes(), (-0.25f32).to_le_bytes()].concat(),
                ),
                (
                    "decoder/layer_1/ffn/linear_0/bias".into(),
                    vec![1],
                    DType::BF16,
                    vec![0x80, 0x3f],
                ),
            ],
            &[("decoder/projection/weight", "decoder/embeddings/weight")],
        )
    }

    /// A synthetic model.bin round-trips names, shapes, values and aliases.
    #[test]
    fn parses_synthetic_model() {
        let model = Ct2Model::parse(&sample()).unwrap();
        assert_eq!(model.spec, "WhisperSpec");
        assert_eq!(model.revision, 3);
        assert_eq!(model.variables.len(), 4);
        assert_eq!(
            model
                .require("encoder/num_heads")
                .unwrap()
                .to_scalar_int()
                .unwrap(),
            6
        );
        let embeddings = model.require("decoder/embeddings/weight").unwrap();
        assert_eq!(embeddings.shape, vec![2, 3]);
        assert_eq!(
            embeddings.to_f32().unwrap(),
            vec![1.0, -2.0, 0.5, 0.0, 3.0, 65504.0]
        );
        assert_eq!(
            model.require("decoder/projection/weight").unwrap(),
            embeddings
        );
        let bias = model.require("decoder/layer_0/ffn/linear_0/bias").unwrap();
        assert_eq!(bias.to_f32().unwrap(), vec![1.5, -0.25]);
        let bf16 = model.require("decoder/layer_1/ffn/linear_0/bias").unwrap();
        assert_eq!(bf16.to_f32().unwrap(), vec![1.0]);
        assert_eq!(model.layer_count("decoder"), 2);
        assert_eq!(model.layer_count("encoder"), 0);
    }

    /// A missing variable is reported by name.
    #[test]
    fn missing_variable_names_it() {
        let model = Ct2Model::parse(&sample()).unwrap();
        let error = model
            .require("encoder/conv1/weight")
            .unwrap_err()
            .to_string();
        assert!(error.contains("encoder/conv1/weight"), "{error}");
    }

    /// Truncated files and wrong versions are rejected rather than misread.
    #[test]
    fn rejects_truncated_and_wrong_version() {
        let bytes = sample();
        assert!(Ct2Model::parse(&bytes[..bytes.len() - 3]).is_err());
        let mut wrong_version = bytes.clone();
        wrong_version[0] = 5;
        let error = Ct2Model::parse(&wrong_version).unwrap_err().to_string();
        assert!(error.contains("version 5"), "{error}");
    }

    /// Int8 weights (quantized models) are refused when read as floats.
    #[test]
    fn refuses_quantized_weights_as_floats() {
        let variable = Variable {
            shape: vec![2],
            dtype: DType::I8,
            data: vec![1, 2],
        };
        assert!(variable.to_f32().is_err());
    }
}
