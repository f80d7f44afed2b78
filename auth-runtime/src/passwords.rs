//! Password hashing: argon2id in PHC strings, run on the blocking pool with a concurrency
//! bound, with dummy verification for unknown users and re-hashing of weak stored hashes.

use std::sync::{Arc, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::error::AuthError;

/// Argon2id cost parameters. The defaults are OWASP's minimum (19 MiB, 2 iterations, 1
/// lane); smaller values are raised to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct PasswordConfig {
    /// Memory cost in KiB (at least 19456 = 19 MiB).
    pub memory_kib: u32,
    /// Number of passes (at least 2).
    pub iterations: u32,
    /// Degree of parallelism (at least 1).
    pub lanes: u32,
    /// At most this many hashes are computed at once (each needs `memory_kib` of memory);
    /// further logins wait. Default: the number of CPUs.
    pub max_concurrent: usize,
}

/// OWASP's minimum argon2id memory cost, in KiB.
pub const MIN_MEMORY_KIB: u32 = 19 * 1024;
/// OWASP's minimum argon2id iterations.
pub const MIN_ITERATIONS: u32 = 2;

impl Default for PasswordConfig {
    fn default() -> Self {
        PasswordConfig {
            memory_kib: MIN_MEMORY_KIB,
            iterations: MIN_ITERATIONS,
            lanes: 1,
            max_concurrent: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// The result of a password verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The password matches the stored hash.
    pub valid: bool,
    /// A new hash to store, when the password was valid and the stored hash was weaker than
    /// the current parameters (or not argon2id).
    pub rehashed: Option<String>,
}

/// The password hasher of an [`crate::Auth`].
#[derive(Debug)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    dummy: Arc<OnceLock<String>>,
}

impl Passwords {
    /// A hasher with `config`, raised to OWASP's minimum where it is below.
    pub fn new(config: PasswordConfig) -> Self {
        let params = Params::new(
            config.memory_kib.max(MIN_MEMORY_KIB),
            config.iterations.max(MIN_ITERATIONS),
            config.lanes.max(1),
            None,
        )
        .unwrap_or(Params::DEFAULT);
        Passwords {
            params,
            permits: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            dummy: Arc::new(OnceLock::new()),
        }
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Runs `f` on the blocking pool once a permit is free, so hashing never blocks the
    /// async workers and at most `max_concurrent` hashes run at once.
    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, AuthError> {
        let _permit = self.permits.acquire().await.map_err(AuthError::store)?;
        tokio::task::spawn_blocking(f).await.map_err(AuthError::store)
    }

    /// Hashes `password` into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
    ///
    /// # Errors
    /// 503 if the blocking pool fails (never for any password).
    pub async fn hash(&self, password: &str) -> Result<String, AuthError> {
        let password = password.to_owned();
        let params = self.params.clone();
        self.blocking(move || hash_with(params, &password)).await?
    }

    /// Verifies `password` against `stored`; with `stored == None` (unknown user) a dummy
    /// hash is verified instead and the answer is "invalid", so both cost the same time.
    ///
    /// # Errors
    /// 503 if the blocking pool fails. A malformed stored hash is "invalid", not an error.
    pub async fn verify(&self, password: &str, stored: Option<String>) -> Result<Verdict, AuthError> {
        let password = password.to_owned();
        let params = self.params.clone();
        let dummy = self.dummy.clone();
        self.blocking(move || {
            let Some(stored) = stored else {
                let dummy = dummy.get_or_init(|| hash_with(params.clone(), "dummy password").unwrap_or_default());
                let _ = verify_with(&password, dummy);
                return Verdict { valid: false, rehashed: None };
            };
            if !verify_with(&password, &stored) {
                return Verdict { valid: false, rehashed: None };
            }
            let rehashed = if needs_rehash(&stored, &params) { hash_with(params, &password).ok() } else { None };
            Verdict { valid: true, rehashed }
        })
        .await
    }
}

fn hash_with(params: Params, password: &str) -> Result<String, AuthError> {
    Passwords::argon2(params).hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(AuthError::store)
}

fn verify_with(password: &str, stored: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        // Still spend the time of one verification, so a broken row does not stand out.
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    Argon2::new(algorithm, Version::V0x13, params).verify_password(password.as_bytes(), &hash).is_ok()
}

/// True when `stored` is not argon2id v19 or any of its costs is below `current`'s.
pub fn needs_rehash(stored: &str, current: &Params) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return true;
    };
    if hash.algorithm.as_str() != "argon2id" || hash.version != Some(0x13) {
        return true;
    }
    let Ok(p) = Params::try_from(&hash) else {
        return true;
    };
    p.m_cost() < current.m_cost() || p.t_cost() < current.t_cost() || p.p_cost() < current.p_cost()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let pw = Passwords::new(PasswordConfig::default());
        let h = pw.hash("s3cret").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_eq!(pw.verify("s3cret", Some(h.clone())).await.unwrap(), Verdict { valid: true, rehashed: None });
        assert!(!pw.verify("wrong", Some(h)).await.unwrap().valid);
        assert!(!pw.verify("s3cret", None).await.unwrap().valid);
        assert!(!pw.verify("s3cret", Some("garbage".into())).await.unwrap().valid);
    }

    #[tokio::test]
    async fn weak_hash_is_rehashed() {
        let weak = hash_with(Params::new(1024, 1, 1, None).unwrap(), "pw").unwrap();
        let pw = Passwords::new(PasswordConfig::default());
        let v = pw.verify("pw", Some(weak)).await.unwrap();
        assert!(v.valid);
        let new = v.rehashed.expect("rehashed");
        assert!(new.contains("m=19456,t=2,p=1"));
        assert!(!needs_rehash(&new, &Params::DEFAULT));
    }

    #[test]
    fn config_is_raised_to_owasp_minimum() {
        let pw = Passwords::new(PasswordConfig { memory_kib: 8, iterations: 1, lanes: 0, max_concurrent: 0 });
        assert_eq!((pw.params.m_cost(), pw.params.t_cost(), pw.params.p_cost()), (19456, 2, 1));
    }
}
