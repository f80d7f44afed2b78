//! Signing keys, a service of their own: the key a token issuer signs with and the keys its
//! verifiers accept, selected by the `kid` header for rotation (RFC 7515 section 4.1.4).
//! The Jwt scheme holds one set, parsed once per [`crate::Auth`] from its settings and checked
//! at start-up; an OpenID provider's ID tokens (CONTRACT section 5) will sign with a set of
//! their own and publish its public half.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

/// A verifying key selected by the `kid` header, for key rotation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct VerifyingKey {
    /// The `kid` header value that selects this key.
    pub kid: String,
    /// Its algorithm, e.g. `"RS256"`; a token signed with another one is refused.
    pub algorithm: String,
    /// The HS secret, or the PEM public key.
    pub key: String,
}

/// What a set of signing keys is made of, as settings give it.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec<'a> {
    /// The signing algorithm's JOSE name (`"HS256"`, `"RS256"`, `"ES256"`, `"EdDSA"`, ...).
    pub algorithm: &'a str,
    /// The signing key: a PEM private key, or an HS secret; `None` signs HS tokens with the
    /// app's secret key.
    pub signing_key: Option<&'a str>,
    /// The PEM public key of an asymmetric algorithm (required for one).
    pub verifying_key: Option<&'a str>,
    /// The `kid` of the signing key, put in every token's header.
    pub kid: Option<&'a str>,
    /// Earlier keys still accepted, by `kid`.
    pub rotated: &'a [VerifyingKey],
}

/// Parsed signing and verifying keys.
pub struct SigningKeys {
    encoding: EncodingKey,
    algorithm: Algorithm,
    kid: Option<String>,
    default: (DecodingKey, Algorithm),
    by_kid: HashMap<String, (DecodingKey, Algorithm)>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
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

impl SigningKeys {
    /// Parses `spec`; `secret` is the HS key when the spec names none (the app's secret key).
    ///
    /// # Errors
    /// A message naming what is wrong: an unknown algorithm, a bad PEM, an asymmetric
    /// algorithm without its verifying key.
    pub fn load(spec: &KeySpec<'_>, secret: &[u8]) -> Result<SigningKeys, String> {
        let algorithm = parse_algorithm(spec.algorithm)?;
        let signing = spec.signing_key.map_or(secret, str::as_bytes);
        let encoding = encoding_key(algorithm, signing)?;
        let verifying: &[u8] = if is_hmac(algorithm) {
            signing
        } else {
            spec.verifying_key.ok_or("an asymmetric JWT algorithm needs a verifying_key (PEM public key)")?.as_bytes()
        };
        let default = (decoding_key(algorithm, verifying)?, algorithm);
        let mut by_kid = HashMap::new();
        for k in spec.rotated {
            let alg = parse_algorithm(&k.algorithm)?;
            by_kid.insert(k.kid.clone(), (decoding_key(alg, k.key.as_bytes())?, alg));
        }
        if let Some(kid) = spec.kid {
            by_kid.insert(kid.to_owned(), (decoding_key(algorithm, verifying)?, algorithm));
        }
        Ok(SigningKeys { encoding, algorithm, kid: spec.kid.map(str::to_owned), default, by_kid })
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The signing key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key to sign with.
    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The key that verifies a token whose header names `kid` (`None`: the current key), with
    /// its algorithm; `None` for an unknown `kid`.
    pub fn verifying(&self, kid: Option<&str>) -> Option<&(DecodingKey, Algorithm)> {
        match kid {
            Some(kid) => self.by_kid.get(kid),
            None => Some(&self.default),
        }
    }
}
