//! Signed checkpoints: ed25519 over `(stream, seq, hash)` of the record before
//! the checkpoint, so a trail rewritten or truncated past an exported
//! checkpoint no longer matches it.

use ed25519_dalek::{SigningKey, VerifyingKey};

/// The bytes a checkpoint signs.
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

/// A fresh signing key from the OS random source.
pub fn generate_signing_key() -> Result<SigningKey, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}
