//! Signed checkpoints: ed25519 over `(stream, seq, hash)` of the record before
//! the checkpoint, so a trail rewritten or truncated past an exported
//! checkpoint no longer matches it.
//!
//! Key files (written by `signoff audit keygen`) hold one line: the key as 64
//! hex characters. A secret key file holds the 32-byte ed25519 seed; a public
//! key file (`KEYFILE.pub`) the 32-byte public key, which is what
//! `signoff audit verify --pubkey` reads. An environment variable named by
//! [`CheckpointKeySource::Env`] holds the same 64 hex characters as a secret
//! key file. Whitespace around the hex is ignored.
//!
//! The checkpoint record, the signed message and the key files are specified
//! in `docs/audit-trail.md` §8.

use std::path::PathBuf;

use ed25519_dalek::{SigningKey, VerifyingKey};

/// The bytes a checkpoint signs: the stream, then the `seq` and `hash` of the
/// record before the checkpoint (`docs/audit-trail.md` §8).
pub fn checkpoint_message(stream: &str, seq: u64, hash: &str) -> Vec<u8> {
    format!("signoff-checkpoint\n{stream}\n{seq}\n{hash}").into_bytes()
}

/// Reads a signing key: 64 hex characters (the 32-byte seed), whitespace ignored.
pub fn signing_key_from_hex(text: &str) -> Result<SigningKey, String> {
    let bytes = hex::decode(text.trim()).map_err(|e| format!("signing key is not hex: {e}"))?;
    let seed: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "signing key must be 32 bytes (64 hex characters)".to_owned())?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads a public key: 64 hex characters.
pub fn verifying_key_from_hex(text: &str) -> Result<VerifyingKey, String> {
    let bytes = hex::decode(text.trim()).map_err(|e| format!("public key is not hex: {e}"))?;
    let raw: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "public key must be 32 bytes (64 hex characters)".to_owned())?;
    VerifyingKey::from_bytes(&raw).map_err(|e| format!("not an ed25519 public key: {e}"))
}

/// A signing key as a key file holds it: 64 hex characters and a newline.
pub fn signing_key_to_hex(key: &SigningKey) -> String {
    format!("{}\n", hex::encode(key.to_bytes()))
}

/// A public key as a `.pub` file holds it: 64 hex characters and a newline.
pub fn verifying_key_to_hex(key: &VerifyingKey) -> String {
    format!("{}\n", hex::encode(key.to_bytes()))
}

/// A fresh signing key from the OS random source.
pub fn generate_signing_key() -> Result<SigningKey, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Where a gate's checkpoint signing key comes from: a file or an environment
/// variable, never the key itself in a config. Loading fails (and a gate
/// configured with it must not start) when the file or variable is missing.
///
/// ```
/// use signoff::audit::CheckpointKeySource;
/// let source = CheckpointKeySource::Env("SIGNOFF_DOCTEST_UNSET_KEY".into());
/// let err = source.load().unwrap_err();
/// assert!(err.contains("`SIGNOFF_DOCTEST_UNSET_KEY` is not set"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointKeySource {
    /// A secret key file (64 hex characters, as `signoff audit keygen` writes).
    File(PathBuf),
    /// The name of an environment variable holding the 64 hex characters.
    Env(String),
}

impl CheckpointKeySource {
    /// Reads the key now; the error names the file or variable.
    pub fn load(&self) -> Result<SigningKey, String> {
        match self {
            CheckpointKeySource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("checkpoint key file `{}`: cannot read: {e}", path.display())
                })?;
                signing_key_from_hex(&text)
                    .map_err(|e| format!("checkpoint key file `{}`: {e}", path.display()))
            }
            CheckpointKeySource::Env(var) => {
                let text = match std::env::var(var) {
                    Ok(t) if !t.trim().is_empty() => t,
                    Ok(_) => return Err(format!("checkpoint key variable `{var}` is empty")),
                    Err(std::env::VarError::NotPresent) => {
                        return Err(format!("checkpoint key variable `{var}` is not set"));
                    }
                    Err(std::env::VarError::NotUnicode(_)) => {
                        return Err(format!("checkpoint key variable `{var}` is not UTF-8"));
                    }
                };
                signing_key_from_hex(&text)
                    .map_err(|e| format!("checkpoint key variable `{var}`: {e}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn a_key_written_as_hex_reads_back_from_a_file_and_its_public_half_parses() {
        let key = generate_signing_key().unwrap();
        let dir = std::env::temp_dir().join(format!("signoff-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoint.key");
        std::fs::write(&path, signing_key_to_hex(&key)).unwrap();
        let loaded = CheckpointKeySource::File(path.clone()).load().unwrap();
        assert_eq!(loaded.to_bytes(), key.to_bytes());
        let public = verifying_key_from_hex(&verifying_key_to_hex(&key.verifying_key())).unwrap();
        assert_eq!(public, key.verifying_key());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_or_malformed_key_file_is_an_error_naming_the_file() {
        let missing = CheckpointKeySource::File("/no/such/dir/checkpoint.key".into());
        let err = missing.load().unwrap_err();
        assert!(
            err.contains("`/no/such/dir/checkpoint.key`") && err.contains("cannot read"),
            "{err}"
        );
        let dir = std::env::temp_dir().join(format!("signoff-badkey-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("short.key");
        std::fs::write(&path, "abcd\n").unwrap();
        let err = CheckpointKeySource::File(path.clone()).load().unwrap_err();
        assert!(
            err.contains("short.key") && err.contains("32 bytes"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
