//! The signing and verifying keys of the Jwt scheme, parsed once per [`Auth`] and checked at
//! start-up.

use std::collections::HashMap;
use std::sync::OnceLock;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use crate::error::AuthError;
use crate::state::Auth;

use super::config::JwtConfig;

/// The parsed keys of the configured algorithm.
pub(crate) struct Keys {
    pub(crate) encoding: EncodingKey,
    pub(crate) algorithm: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) default: (DecodingKey, Algorithm),
    pub(crate) by_kid: HashMap<String, (DecodingKey, Algorithm)>,
}

fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    name.parse::<Algorithm>().map_err(|_| format!("unknown JWT algorithm {name:?}"))
}

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn decoding_key(alg: Algorithm, key: &[u8]) -> Result<DecodingKey, String> {
    let r = match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => DecodingKey::from_secret(key),
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(key),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(key),
        _ => DecodingKey::from_rsa_pem(key),
    };
    r.map_err(|e| format!("invalid JWT verifying key: {e}"))
}

fn encoding_key(alg: Algorithm, key: &[u8]) -> Result<EncodingKey, String> {
    let r = match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => EncodingKey::from_secret(key),
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(key),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(key),
        _ => EncodingKey::from_rsa_pem(key),
    };
    r.map_err(|e| format!("invalid JWT signing key: {e}"))
}

impl Keys {
    fn load(config: &JwtConfig, secret: &[u8]) -> Result<Keys, String> {
        let algorithm = parse_algorithm(&config.algorithm)?;
        let signing = config.signing_key.as_deref().map_or(secret, str::as_bytes);
        let encoding = encoding_key(algorithm, signing)?;
        let verifying: &[u8] = if is_hmac(algorithm) {
            signing
        } else {
            config
                .verifying_key
                .as_deref()
                .ok_or("an asymmetric JWT algorithm needs a verifying_key (PEM public key)")?
                .as_bytes()
        };
        let default = (decoding_key(algorithm, verifying)?, algorithm);
        let mut by_kid = HashMap::new();
        for k in &config.verifying_keys {
            let alg = parse_algorithm(&k.algorithm)?;
            by_kid.insert(k.kid.clone(), (decoding_key(alg, k.key.as_bytes())?, alg));
        }
        if let Some(kid) = &config.kid {
            by_kid.insert(kid.clone(), (decoding_key(algorithm, verifying)?, algorithm));
        }
        Ok(Keys { encoding, algorithm, kid: config.kid.clone(), default, by_kid })
    }
}

/// The parsed keys, made once per [`Auth`] on first use (the state holds one, empty, from
/// [`Auth::builder`] on).
#[derive(Default)]
pub(crate) struct KeyCache(OnceLock<Result<Keys, String>>);

fn keys<'a>(auth: &'a Auth, config: &JwtConfig) -> &'a Result<Keys, String> {
    static MISSING: OnceLock<Result<Keys, String>> = OnceLock::new();
    match auth.config::<KeyCache>() {
        Some(cache) => cache.0.get_or_init(|| Keys::load(config, auth.secret_key().as_bytes())),
        None => MISSING.get_or_init(|| Err("no JWT key cache in the state".into())),
    }
}

/// The configuration and keys of the scheme in `auth`.
pub(crate) fn setup(auth: &Auth) -> Result<(&JwtConfig, &Keys), AuthError> {
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
