//! Argon2id password hashes computed in working memory the caller keeps.
//!
//! A hash needs 19 MiB. Allocated afresh for each hash, that memory is kept by glibc after it is freed (its
//! mmap threshold rises to the largest chunk freed, and each thread gets its own arena), so a login flood
//! spread over the blocking pool's threads grows the process by about 19 MiB per thread and keeps it. Hashing
//! into a [`Memory`] held with each hashing permit bounds the process at one buffer per permit.

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use rand::TryRngCore;

use crate::error::{Error, Result};

/// Working memory for one hash at a time; it grows to the largest hash computed in it and stays.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::default());
        }
        &mut self.blocks[..count]
    }
}

/// Most working memory a stored hash may ask for, in 1 KiB blocks (256 MiB); larger ones never verify.
const MAX_BLOCKS: usize = 256 * 1024;

/// A well-formed argon2id hash at the cost of real ones (default parameters, zero salt, arbitrary output) that
/// no known password matches: checked for unknown names so that timing does not tell which names exist.
pub(crate) const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$NDsSXfmwZPUJBGpUWdzN2UTn6ZqJsRg5MCNpWDcd/pA";

/// An argon2id hash (default parameters: 19 MiB, 2 passes) of a password of at least 8 characters, as a PHC
/// string.
pub(crate) fn hash_password(password: &str, memory: &mut Memory) -> Result<String> {
    if password.chars().count() < 8 {
        return Err(Error::InvalidInput {
            detail: "password must have at least 8 characters".to_string(),
        });
    }
    let mut salt = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|_| Error::PasswordHash)?;
    let params = Params::default();
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut output,
            memory.blocks(params.block_count()),
        )
        .map_err(|_| Error::PasswordHash)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| Error::PasswordHash)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|_| Error::PasswordHash)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(|_| Error::PasswordHash)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches a stored PHC hash (argon2 with the parameters it names); constant-time
/// comparison. Unreadable hashes match nothing.
pub(crate) fn verify_password(password: &str, stored: &str, memory: &mut Memory) -> bool {
    matches(password, stored, memory).unwrap_or(false)
}

fn matches(password: &str, stored: &str, memory: &mut Memory) -> Option<bool> {
    let hash = PasswordHash::new(stored).ok()?;
    let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
    let version = match hash.version {
        Some(version) => Version::try_from(version).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&hash).ok()?;
    let expected = hash.hash?;
    let mut salt = [0u8; 64];
    let salt = hash.salt?.decode_b64(&mut salt).ok()?;
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return None;
    }
    let mut output = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut output,
            memory.blocks(blocks),
        )
        .ok()?;
    // `Output`'s equality is constant-time.
    Some(Output::new(&output).ok()? == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn hashes_agree_with_the_argon2_crate_both_ways() {
        let mut memory = Memory::default();
        let ours = hash_password("correct horse", &mut memory).unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password("battery staple", &theirs, &mut memory));
        assert!(!verify_password("battery stapler", &theirs, &mut memory));
        assert!(!verify_password("correct horse", "not a hash", &mut memory));
        assert!(hash_password("short", &mut memory).is_err());
        // The memory was reused, not grown per hash.
        assert_eq!(memory.blocks.len(), Params::default().block_count());
    }

    #[test]
    fn the_dummy_hash_costs_what_real_ones_do() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(
            Params::try_from(&dummy).unwrap().m_cost(),
            Params::DEFAULT_M_COST
        );
        assert_eq!(
            Params::try_from(&dummy).unwrap().t_cost(),
            Params::DEFAULT_T_COST
        );
        assert!(!verify_password(
            "password-123",
            DUMMY_HASH,
            &mut Memory::default()
        ));
    }

    #[test]
    fn hashes_asking_for_too_much_memory_never_verify() {
        let huge = "$argon2id$v=19$m=4194304,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$NDsSXfmwZPUJBGpUWdzN2UTn6ZqJsRg5MCNpWDcd/pA";
        let mut memory = Memory::default();
        assert!(!verify_password("anything", huge, &mut memory));
        assert!(memory.blocks.is_empty());
    }
}
