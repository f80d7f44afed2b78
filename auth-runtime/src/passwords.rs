//! Password hashing: argon2id in PHC strings, run on the blocking pool with a concurrency
//! bound, with dummy verification for unknown users and re-hashing of weak stored hashes.
//!
//! Load shedding: a password check first takes a place in a bounded queue
//! ([`Passwords::admit`]): at most [`PasswordConfig::max_concurrent`] hashes run and
//! [`PasswordConfig::max_waiting`] wait; past that the check is refused at once with 503
//! `service_unavailable` and `Retry-After`, so a flood cannot make a real login wait
//! behind an unbounded queue. One client address holds at most
//! [`PasswordConfig::max_per_client`] places (running or waiting); past that it gets 429
//! `throttled` with `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::error::AuthError;

/// Argon2id cost parameters. The defaults are OWASP's minimum (19 MiB, 2 iterations, 1
/// lane); smaller values are raised to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
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
    /// Password checks allowed to wait for a hashing slot (beyond the `max_concurrent`
    /// running ones); a check past it is refused at once with 503 `service_unavailable` and
    /// `Retry-After: 1` (seconds). Default 32: with the default costs (about 20-50 ms a hash
    /// per core), a check that is admitted waits well under a second.
    pub max_waiting: usize,
    /// Password checks one client address (the throttles' client IP, see
    /// `throttle.num_proxies`) may have running or waiting at once; one more is refused at
    /// once with 429 `throttled` and `Retry-After: 1` (seconds). Default 4; 0 turns the
    /// bound off.
    pub max_per_client: usize,
}

/// OWASP's minimum argon2id memory cost, in KiB.
pub const MIN_MEMORY_KIB: u32 = 19 * 1024;
/// OWASP's minimum argon2id iterations.
pub const MIN_ITERATIONS: u32 = 2;
/// The default of [`PasswordConfig::max_waiting`].
pub const DEFAULT_MAX_WAITING: usize = 32;
/// The default of [`PasswordConfig::max_per_client`].
pub const DEFAULT_MAX_PER_CLIENT: usize = 4;
/// The `Retry-After` (seconds) of a check refused by load shedding: the queue is sized to
/// drain in well under that.
pub const SHED_RETRY_AFTER: u64 = 1;

impl Default for PasswordConfig {
    fn default() -> Self {
        PasswordConfig {
            memory_kib: MIN_MEMORY_KIB,
            iterations: MIN_ITERATIONS,
            lanes: 1,
            max_concurrent: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_waiting: DEFAULT_MAX_WAITING,
            max_per_client: DEFAULT_MAX_PER_CLIENT,
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
    queue: Arc<Queue>,
}

/// The admission bounds of password checks and who holds places now.
#[derive(Debug)]
struct Queue {
    /// Places in all: running plus waiting.
    capacity: usize,
    /// Places per client address; 0: unbounded.
    per_client: usize,
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_client: HashMap<String, usize>,
}

impl Queue {
    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A place in the queue of password checks ([`Passwords::admit`]), given back when dropped:
/// keep it until the check is over.
#[derive(Debug)]
#[must_use = "the place is given back when this is dropped"]
pub struct HashSlot {
    queue: Arc<Queue>,
    client: String,
}

impl Drop for HashSlot {
    fn drop(&mut self) {
        let mut held = self.queue.held();
        held.total = held.total.saturating_sub(1);
        if let Some(n) = held.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                held.by_client.remove(&self.client);
            }
        }
    }
}

/// Logs a shed password check (target `auth::audit`), at most one line a second with the
/// number of refusals not logged since, so a flood cannot flood the log.
fn log_shed(client: &str, outcome: &'static str) {
    static BUDGET: crate::audit::LogBudget = crate::audit::LogBudget::new();
    if let Some(suppressed) = BUDGET.take() {
        tracing::warn!(target: "auth::audit", ip = client, outcome, suppressed, "password check shed");
    }
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
        let running = config.max_concurrent.max(1);
        Passwords {
            params,
            permits: Arc::new(Semaphore::new(running)),
            dummy: Arc::new(OnceLock::new()),
            queue: Arc::new(Queue {
                capacity: running.saturating_add(config.max_waiting),
                per_client: config.max_per_client,
                held: Mutex::new(Held::default()),
            }),
        }
    }

    /// Takes a place in the queue of password checks for `client` (its address), without
    /// waiting: every endpoint that checks a password calls it (through
    /// [`crate::Auth::check_password`]) before hashing, and keeps the place until the check
    /// is over.
    ///
    /// # Errors
    /// 429 `throttled` (`Retry-After: 1`) when `client` already holds
    /// [`PasswordConfig::max_per_client`] places; 503 `service_unavailable`
    /// (`Retry-After: 1`) when `max_concurrent + max_waiting` places are taken.
    pub fn admit(&self, client: &str) -> Result<HashSlot, AuthError> {
        let mut held = self.queue.held();
        let mine = held.by_client.get(client).copied().unwrap_or(0);
        if self.queue.per_client > 0 && mine >= self.queue.per_client {
            drop(held);
            log_shed(client, "throttled");
            return Err(AuthError::Throttled { wait: SHED_RETRY_AFTER });
        }
        if held.total >= self.queue.capacity {
            drop(held);
            log_shed(client, "service_unavailable");
            return Err(AuthError::Overloaded { wait: SHED_RETRY_AFTER });
        }
        held.total += 1;
        *held.by_client.entry(client.to_owned()).or_insert(0) += 1;
        Ok(HashSlot { queue: self.queue.clone(), client: client.to_owned() })
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
        let pw = Passwords::new(PasswordConfig {
            memory_kib: 8,
            iterations: 1,
            lanes: 0,
            max_concurrent: 0,
            ..PasswordConfig::default()
        });
        assert_eq!((pw.params.m_cost(), pw.params.t_cost(), pw.params.p_cost()), (19456, 2, 1));
    }

    #[test]
    fn admission_is_bounded_in_all_and_per_client() {
        let pw = Passwords::new(PasswordConfig {
            max_concurrent: 1,
            max_waiting: 3,
            max_per_client: 2,
            ..PasswordConfig::default()
        });
        let a1 = pw.admit("a").unwrap();
        let _a2 = pw.admit("a").unwrap();
        assert!(matches!(pw.admit("a"), Err(AuthError::Throttled { wait: 1 })), "a third place for one address");
        let _b1 = pw.admit("b").unwrap();
        let _c1 = pw.admit("c").unwrap();
        assert!(matches!(pw.admit("d"), Err(AuthError::Overloaded { wait: 1 })), "four places in all");
        drop(a1);
        let _d1 = pw.admit("d").unwrap();
        assert!(matches!(pw.admit("e"), Err(AuthError::Overloaded { .. })));
        assert_eq!(pw.queue.held().by_client.get("a"), Some(&1));
        drop((_a2, _b1, _c1, _d1));
        assert_eq!(pw.queue.held().total, 0);
        assert!(pw.queue.held().by_client.is_empty(), "no address is remembered once its checks are over");
        let unbounded = Passwords::new(PasswordConfig { max_per_client: 0, ..PasswordConfig::default() });
        let slots: Vec<_> = (0..10).map(|_| unbounded.admit("a").unwrap()).collect();
        assert_eq!(slots.len(), 10);
    }
}
