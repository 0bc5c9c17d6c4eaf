//! The one place this crate draws randomness: the operating system's CSPRNG via `ring`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};

use crate::ids::RandomnessUnavailable;

/// `N` bytes from the OS CSPRNG.
pub(crate) fn bytes<const N: usize>() -> Result<[u8; N], RandomnessUnavailable> {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).map_err(|_| RandomnessUnavailable)?;
    Ok(out)
}

/// Unpadded base64url, the alphabet of [`SessionId`](crate::SessionId).
pub(crate) fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
