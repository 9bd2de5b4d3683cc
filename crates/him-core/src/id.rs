//! Content-derived identifiers.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256 as Sha256Hasher};

/// Lower-case hex SHA-256 of a document's original bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sha256(String);

impl Sha256 {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let mut hasher = ContentHasher::default();
        hasher.update(bytes);
        hasher.finish()
    }

    /// The 64 hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hashes content that arrives in pieces (a streamed upload) into the [`Sha256`] of the whole.
#[derive(Debug, Clone, Default)]
pub struct ContentHasher(Sha256Hasher);

impl ContentHasher {
    /// Adds the next piece.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The hash of every piece added, in order.
    pub fn finish(self) -> Sha256 {
        let mut hex = String::with_capacity(64);
        for byte in self.0.finalize() {
            hex.push_str(&format!("{byte:02x}"));
        }
        Sha256(hex)
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lower-case hex SHA-1 of `bytes`: what FHIR R4 `Attachment.hash` carries (in base64). Recorded in the
/// manifest when a document is filed, so that nothing later has to read the original again to attach it.
pub fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::Digest as _;
    let mut hex = String::with_capacity(40);
    for byte in sha1::Sha1::digest(bytes) {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// The identifier of a document: the first 128 bits of the SHA-256 of its original bytes, in hex.
///
/// Deriving the id from the content makes every stage idempotent: the same bytes always map to the same
/// object keys, so a redelivered job or a second `him process` run finds the earlier result.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocumentId(String);

impl DocumentId {
    /// Number of hex characters in an id.
    pub const LEN: usize = 32;

    /// The id of the document whose original bytes are `bytes`.
    pub fn for_bytes(bytes: &[u8]) -> Self {
        Self::from_sha256(&Sha256::of(bytes))
    }

    /// The id belonging to a content hash.
    pub fn from_sha256(sha: &Sha256) -> Self {
        DocumentId(sha.as_str()[..Self::LEN].to_string())
    }

    /// Parses an id given by a user or a message; only 32 lower-case hex characters are accepted, so an id
    /// can be used in an object key without escaping.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = text.len() == Self::LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| DocumentId(text.to_string()))
    }

    /// The hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_hex_matches_the_fips_180_vectors() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn sha256_of_empty_input_is_the_known_value() {
        assert_eq!(
            Sha256::of(b"").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn document_id_is_a_prefix_of_the_hash() {
        let sha = Sha256::of(b"abc");
        let id = DocumentId::from_sha256(&sha);
        assert!(sha.as_str().starts_with(id.as_str()));
        assert_eq!(DocumentId::parse(id.as_str()), Some(id));
    }

    #[test]
    fn parse_refuses_anything_that_could_escape_a_key() {
        assert!(DocumentId::parse("../../etc/passwd").is_none());
        assert!(DocumentId::parse(&"A".repeat(32)).is_none());
        assert!(DocumentId::parse(&"a".repeat(31)).is_none());
    }
}
