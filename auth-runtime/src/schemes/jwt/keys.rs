//! The Jwt scheme's signing keys ([`crate::keys::SigningKeys`]), parsed once per [`Auth`]
//! from its settings and checked at start-up.

use std::sync::OnceLock;

use crate::error::AuthError;
use crate::keys::{KeySpec, SigningKeys};
use crate::state::Auth;

use super::config::JwtConfig;

/// The parsed keys, made once per [`Auth`] on first use (the state holds one, empty, from
/// [`Auth::builder`] on).
#[derive(Default)]
pub(crate) struct KeyCache(OnceLock<Result<SigningKeys, String>>);

fn keys<'a>(auth: &'a Auth, config: &JwtConfig) -> &'a Result<SigningKeys, String> {
    static MISSING: OnceLock<Result<SigningKeys, String>> = OnceLock::new();
    let spec = KeySpec {
        algorithm: &config.algorithm,
        signing_key: config.signing_key.as_deref(),
        verifying_key: config.verifying_key.as_deref(),
        kid: config.kid.as_deref(),
        rotated: &config.verifying_keys,
    };
    match auth.config::<KeyCache>() {
        Some(cache) => cache.0.get_or_init(|| SigningKeys::load(&spec, auth.secret_key().as_bytes())),
        None => MISSING.get_or_init(|| Err("no JWT key cache in the state".into())),
    }
}

/// The configuration and keys of the scheme in `auth`.
pub(crate) fn setup(auth: &Auth) -> Result<(&JwtConfig, &SigningKeys), AuthError> {
    let config = auth.required_config::<JwtConfig>()?;
    match keys(auth, config) {
        Ok(keys) => Ok((config, keys)),
        Err(e) => {
            tracing::error!(error = %e, "JWT keys are misconfigured");
            Err(AuthError::ImproperlyConfigured("the JWT keys are misconfigured"))
        }
    }
}

/// Checks the JWT configuration of `auth` (algorithm and keys) once, at start-up.
///
/// # Errors
/// A message naming what is wrong (unknown algorithm, bad PEM, missing verifying key).
pub fn check_config(auth: &Auth) -> Result<(), String> {
    let Some(config) = auth.config::<JwtConfig>() else {
        return Ok(());
    };
    match keys(auth, config) {
        Ok(_) => Ok(()),
        Err(e) => Err(e.clone()),
    }
}
