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
//!
//! Hash formats: new hashes are always argon2id PHC strings ([`Argon2Hasher`]). A stored
//! hash in one of Django's formats (`pbkdf2_sha256$…`, `pbkdf2_sha1$…`, `argon2$…`,
//! `bcrypt_sha256$…`, `bcrypt$…`) verifies too, and the first good login re-hashes it to
//! argon2id ([`Verdict::rehashed`]), as Django's `check_password` does with its
//! `setter`. More formats plug in through the [`PasswordHasher`] trait
//! ([`Passwords::with_hasher`], [`crate::AuthBuilder::password_hasher`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier, Version};
use base64::Engine as _;
use subtle::ConstantTimeEq;
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

/// One password hash format, in the terms of Django's `BasePasswordHasher`: an algorithm
/// name, whether an encoded (stored) hash is of this format, and verification; the default
/// format also hashes.
///
/// [`Passwords`] picks, for a stored hash, the first hasher that [`identifies`] it (its
/// argon2id default first, then those added with [`Passwords::with_hasher`] in order, then
/// the built-in Django formats) and asks it to [`verify`]; a hash no hasher identifies
/// verifies as false. A hash not in the default format is re-hashed to argon2id on the next
/// good login. Verification runs on the bounded blocking pool of [`Passwords`], so an
/// implementation may be CPU-heavy and synchronous; it must not block on I/O.
///
/// [`identifies`]: PasswordHasher::identifies
/// [`verify`]: PasswordHasher::verify
pub trait PasswordHasher: Send + Sync + 'static {
    /// The algorithm name, as Django's `algorithm` attribute: the part of an encoded hash
    /// before its first `$` (`pbkdf2_sha256`, `argon2`, `bcrypt_sha256`). Used by the
    /// default [`identifies`](PasswordHasher::identifies) and in `Debug` output.
    fn algorithm(&self) -> &str;

    /// Whether `encoded` (a stored hash) is of this format, as Django's `identify_hasher`
    /// decides: by default, its text before the first `$` equals
    /// [`algorithm`](PasswordHasher::algorithm). Only the prefix is looked at: a
    /// malformed hash of this format is still "identified" (and then fails to verify).
    fn identifies(&self, encoded: &str) -> bool {
        encoded.split_once('$').is_some_and(|(algorithm, _)| algorithm == self.algorithm())
    }

    /// Whether `password` matches `encoded`, compared in constant time (as Django's
    /// `verify`, which compares with `constant_time_compare`). A malformed or truncated
    /// `encoded`, or one of another format, is `false`: never a panic and never an error.
    fn verify(&self, password: &str, encoded: &str) -> bool;

    /// A new encoded hash of `password` with a fresh salt (Django's `encode` with `salt()`),
    /// or `None` for a format that is only verified (every format but the default one:
    /// [`Passwords`] hashes new passwords with its [`Argon2Hasher`] alone).
    fn hash(&self, password: &str) -> Option<String> {
        let _ = password;
        None
    }
}

/// Upper bound on the iterations of a stored PBKDF2 hash: a row with more is treated as
/// malformed (verifies false) so one bad row cannot hold a hashing slot for minutes.
/// Django 5.2's default is 1 000 000 iterations.
pub const MAX_PBKDF2_ITERATIONS: u32 = 20_000_000;

/// The default format: argon2id PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`)
/// with the costs of [`PasswordConfig`]. It also verifies `$argon2i$` and `$argon2d$`
/// strings (re-hashed on a good login, as are argon2id hashes with lower costs).
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    params: Params,
}

impl Argon2Hasher {
    /// A hasher producing argon2id with `params` (not raised: [`Passwords::new`] raises
    /// them to OWASP's minimum).
    pub fn new(params: Params) -> Self {
        Argon2Hasher { params }
    }

    /// The costs of new hashes.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Whether `encoded`, of this format, should be re-hashed: not argon2id v19, or any
    /// cost below [`Argon2Hasher::params`] (Django's `must_update`). See [`needs_rehash`].
    pub fn must_update(&self, encoded: &str) -> bool {
        needs_rehash(encoded, &self.params)
    }
}

impl PasswordHasher for Argon2Hasher {
    /// `argon2id`.
    fn algorithm(&self) -> &str {
        "argon2id"
    }

    /// A PHC string of any argon2 variant: starts with `$argon2`.
    fn identifies(&self, encoded: &str) -> bool {
        encoded.starts_with("$argon2")
    }

    /// Verifies with the variant, version (1.0 when there is no `v=`) and costs written in
    /// `encoded` (the argon2 crate compares the outputs in constant time).
    fn verify(&self, password: &str, encoded: &str) -> bool {
        verify_with(password, encoded)
    }

    /// An argon2id PHC string with a random 16-byte salt; `None` only if the argon2 crate
    /// refuses the parameters (never with those of [`Passwords::new`]).
    fn hash(&self, password: &str) -> Option<String> {
        hash_with(self.params.clone(), password).ok()
    }
}

/// Django's `Argon2PasswordHasher` (algorithm `argon2`): the PHC string of argon2-cffi
/// prefixed with `argon2`, e.g. `argon2$argon2id$v=19$m=102400,t=2,p=8$<salt>$<hash>`.
/// Older Django wrote `argon2$argon2i$…`, the oldest without `v=` (Argon2 version 1.0, as
/// argon2-cffi reads it); all verify. Verify only.
#[derive(Debug, Clone, Copy, Default)]
pub struct DjangoArgon2Hasher;

impl PasswordHasher for DjangoArgon2Hasher {
    /// `argon2`.
    fn algorithm(&self) -> &str {
        "argon2"
    }

    /// Drops the `argon2` prefix and verifies the PHC string that is left, as Django does
    /// (`argon2.PasswordHasher().verify("$" + rest, password)`).
    fn verify(&self, password: &str, encoded: &str) -> bool {
        encoded.strip_prefix("argon2").is_some_and(|phc| phc.starts_with("$argon2") && verify_with(password, phc))
    }
}

/// The digest of a [`DjangoPbkdf2Hasher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pbkdf2Digest {
    Sha256,
    Sha1,
}

/// Django's `PBKDF2PasswordHasher` (`pbkdf2_sha256`) and `PBKDF2SHA1PasswordHasher`
/// (`pbkdf2_sha1`): `<algorithm>$<iterations>$<salt>$<base64 of the derived key>`, where
/// the key is PBKDF2-HMAC of the UTF-8 password with the salt's text as salt, as long as
/// the digest (32 or 20 bytes), in padded standard base64. Verify only.
///
/// As Django, the whole recomputed hash is compared in constant time, so a hash written
/// with other base64 than Django's does not verify. Iterations of 0, above
/// [`MAX_PBKDF2_ITERATIONS`], or not plain decimal, and an empty salt, are malformed.
#[derive(Debug, Clone, Copy)]
pub struct DjangoPbkdf2Hasher {
    digest: Pbkdf2Digest,
}

impl DjangoPbkdf2Hasher {
    /// `pbkdf2_sha256`, Django's default hasher.
    pub const SHA256: DjangoPbkdf2Hasher = DjangoPbkdf2Hasher { digest: Pbkdf2Digest::Sha256 };
    /// `pbkdf2_sha1`.
    pub const SHA1: DjangoPbkdf2Hasher = DjangoPbkdf2Hasher { digest: Pbkdf2Digest::Sha1 };
}

impl PasswordHasher for DjangoPbkdf2Hasher {
    /// `pbkdf2_sha256` or `pbkdf2_sha1`.
    fn algorithm(&self) -> &str {
        match self.digest {
            Pbkdf2Digest::Sha256 => "pbkdf2_sha256",
            Pbkdf2Digest::Sha1 => "pbkdf2_sha1",
        }
    }

    fn verify(&self, password: &str, encoded: &str) -> bool {
        let mut parts = encoded.splitn(4, '$');
        let (Some(algorithm), Some(iterations), Some(salt), Some(expected)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        if algorithm != self.algorithm() || salt.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let Ok(iterations) = iterations.parse::<u32>() else {
            return false;
        };
        if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
            return false;
        }
        let mut key = [0u8; 32];
        let key = match self.digest {
            Pbkdf2Digest::Sha256 => {
                let (password, salt) = (password.as_bytes(), salt.as_bytes());
                // The non-generic entry point runs code compiled in the pbkdf2 crate (at
                // opt-level 3 in dev builds too); the generic one below its minimum of
                // 1000 rounds (Django never wrote fewer; cheap at any opt-level).
                match pbkdf2::Params::new(iterations) {
                    Ok(params) => pbkdf2::pbkdf2_hmac_with_params(
                        password,
                        salt,
                        pbkdf2::Algorithm::Pbkdf2Sha256,
                        params,
                        &mut key,
                    ),
                    Err(_) => pbkdf2::pbkdf2_hmac::<pbkdf2::sha2::Sha256>(password, salt, iterations, &mut key),
                }
                &key[..]
            }
            Pbkdf2Digest::Sha1 => {
                // Generic only, so compiled at this crate's opt-level: Django's default 1M
                // iterations take seconds in an unoptimised build (a fraction in release).
                let key = &mut key[..20];
                pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password.as_bytes(), salt.as_bytes(), iterations, key);
                &key[..]
            }
        };
        let computed = base64::engine::general_purpose::STANDARD.encode(key);
        computed.as_bytes().ct_eq(expected.as_bytes()).into()
    }
}

/// Django's `BCryptSHA256PasswordHasher` (`bcrypt_sha256`) and `BCryptPasswordHasher`
/// (`bcrypt`): the algorithm, `$`, then a bcrypt string (`bcrypt_sha256$$2b$12$<salt and
/// hash>`). `bcrypt_sha256` runs bcrypt over the lowercase hex SHA-256 of the password (so
/// long passwords are not cut at bcrypt's 72 bytes); `bcrypt` over the password itself,
/// cut at 72 bytes as bcrypt before 5.0 did. Verify only; the bcrypt crate compares in
/// constant time; costs outside 4..=31 are malformed.
#[derive(Debug, Clone, Copy)]
pub struct DjangoBcryptHasher {
    sha256: bool,
}

impl DjangoBcryptHasher {
    /// `bcrypt_sha256`.
    pub const SHA256: DjangoBcryptHasher = DjangoBcryptHasher { sha256: true };
    /// `bcrypt` (the password itself, without pre-hashing).
    pub const PLAIN: DjangoBcryptHasher = DjangoBcryptHasher { sha256: false };
}

impl PasswordHasher for DjangoBcryptHasher {
    /// `bcrypt_sha256` or `bcrypt`.
    fn algorithm(&self) -> &str {
        if self.sha256 { "bcrypt_sha256" } else { "bcrypt" }
    }

    fn verify(&self, password: &str, encoded: &str) -> bool {
        let Some(bcrypt_hash) = encoded.strip_prefix(self.algorithm()).and_then(|rest| rest.strip_prefix('$')) else {
            return false;
        };
        let outcome = if self.sha256 {
            use pbkdf2::sha2::Digest as _;
            let hex = hex::encode(pbkdf2::sha2::Sha256::digest(password.as_bytes()));
            bcrypt::verify(hex.as_bytes(), bcrypt_hash)
        } else {
            bcrypt::verify(password.as_bytes(), bcrypt_hash)
        };
        outcome.unwrap_or(false)
    }
}

/// The hashers of a [`Passwords`]: the default, then the added ones, then Django's.
#[derive(Clone)]
struct Hashers {
    default: Argon2Hasher,
    /// Consulted in order after `default`: `added` hashers added with
    /// [`Passwords::with_hasher`], then the built-in Django formats.
    others: Vec<Arc<dyn PasswordHasher>>,
    added: usize,
}

impl std::fmt::Debug for Hashers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entry(&self.default.algorithm())
            .entries(self.others.iter().map(|h| h.algorithm().to_owned()))
            .finish()
    }
}

impl Hashers {
    fn new(params: Params) -> Self {
        Hashers {
            default: Argon2Hasher::new(params),
            others: vec![
                Arc::new(DjangoPbkdf2Hasher::SHA256),
                Arc::new(DjangoPbkdf2Hasher::SHA1),
                Arc::new(DjangoArgon2Hasher),
                Arc::new(DjangoBcryptHasher::SHA256),
                Arc::new(DjangoBcryptHasher::PLAIN),
            ],
            added: 0,
        }
    }

    fn find(&self, encoded: &str) -> Option<&dyn PasswordHasher> {
        if self.default.identifies(encoded) {
            return Some(&self.default);
        }
        self.others.iter().find(|h| h.identifies(encoded)).map(|h| &**h)
    }

    fn verify(&self, password: &str, encoded: &str) -> bool {
        self.find(encoded).is_some_and(|h| h.verify(password, encoded))
    }

    fn needs_rehash(&self, encoded: &str) -> bool {
        !self.default.identifies(encoded) || self.default.must_update(encoded)
    }
}

/// The password hasher of an [`crate::Auth`].
#[derive(Debug)]
pub struct Passwords {
    hashers: Arc<Hashers>,
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
            hashers: Arc::new(Hashers::new(params)),
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
    /// [`crate::login::check_password`]) before hashing, and keeps the place until the check
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

    /// Adds a hash format that stored hashes may be in (see [`PasswordHasher`]). It is
    /// consulted after the argon2id default and after hashers added before it, and before
    /// the built-in Django formats, so it can take over one of those (by identifying its
    /// prefix); it cannot take over `$argon2…` PHC strings. Hashes it verifies are
    /// re-hashed to argon2id on a good login.
    #[must_use]
    pub fn with_hasher(self, hasher: impl PasswordHasher) -> Self {
        self.with_shared_hasher(Arc::new(hasher))
    }

    /// As [`Passwords::with_hasher`], for a hasher already behind an `Arc`.
    #[must_use]
    pub fn with_shared_hasher(mut self, hasher: Arc<dyn PasswordHasher>) -> Self {
        let hashers = Arc::make_mut(&mut self.hashers);
        hashers.others.insert(hashers.added, hasher);
        hashers.added += 1;
        self
    }

    /// The algorithm name of the hasher that owns `encoded` (see
    /// [`PasswordHasher::identifies`]), or `None` for a format no hasher knows.
    pub fn identify(&self, encoded: &str) -> Option<&str> {
        self.hashers.find(encoded).map(|h| h.algorithm())
    }

    /// Whether a good login with `encoded` stored should store a new hash: true for every
    /// hash not in the default format (Django's, or an added hasher's, or unknown) and for
    /// argon2 hashes weaker than the current costs (see [`needs_rehash`]).
    pub fn needs_rehash(&self, encoded: &str) -> bool {
        self.hashers.needs_rehash(encoded)
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
        let params = self.hashers.default.params.clone();
        self.blocking(move || hash_with(params, &password)).await?
    }

    /// Verifies `password` against `stored` with the hasher that identifies it (argon2id,
    /// a Django format, or an added one); with `stored == None` (unknown user) a dummy
    /// argon2id hash is verified instead and the answer is "invalid", so an unknown user
    /// costs the same time as one with a default-format hash. When the password is valid
    /// and [`Passwords::needs_rehash`] says so, [`Verdict::rehashed`] holds a new argon2id
    /// hash for the caller to store.
    ///
    /// # Errors
    /// 503 if the blocking pool fails. A malformed or unknown stored hash is "invalid", not
    /// an error.
    pub async fn verify(&self, password: &str, stored: Option<String>) -> Result<Verdict, AuthError> {
        let password = password.to_owned();
        let hashers = self.hashers.clone();
        let dummy = self.dummy.clone();
        self.blocking(move || {
            let Some(stored) = stored else {
                let params = hashers.default.params.clone();
                let dummy = dummy.get_or_init(|| hash_with(params, "dummy password").unwrap_or_default());
                let _ = verify_with(&password, dummy);
                return Verdict { valid: false, rehashed: None };
            };
            if !hashers.verify(&password, &stored) {
                return Verdict { valid: false, rehashed: None };
            }
            let rehashed = if hashers.needs_rehash(&stored) { hashers.default.hash(&password) } else { None };
            Verdict { valid: true, rehashed }
        })
        .await
    }
}

fn hash_with(params: Params, password: &str) -> Result<String, AuthError> {
    Passwords::argon2(params).hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(AuthError::store)
}

fn verify_with(password: &str, stored: &str) -> bool {
    let Ok(mut hash) = PasswordHash::new(stored) else {
        return false;
    };
    // A PHC string without `v=` is Argon2 version 1.0 (0x10), as the reference
    // implementation and argon2-cffi read it (Django's oldest `argon2$argon2i$m=…` hashes).
    if hash.version.is_none() {
        hash.version = Some(0x10);
    }
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
        let params = pw.hashers.default.params();
        assert_eq!((params.m_cost(), params.t_cost(), params.p_cost()), (19456, 2, 1));
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

    /// Hashes made by Django 5.2.19 (`make_password` / the hashers' `encode`, with
    /// argon2-cffi 25.1 and bcrypt 5.0) of [`DJANGO_PASSWORD`]; the `FAST_*` ones with
    /// subclasses of lower cost (1000 iterations, argon2 m=1024,t=1,p=2, bcrypt rounds 4) so
    /// the tests stay fast, the others with Django's defaults.
    const DJANGO_PASSWORD: &str = "correct horse";
    const FAST_PBKDF2_SHA256: &str =
        "pbkdf2_sha256$1000$n75nDYPW02UeXFFaO3bwEm$sg6xMV8mSVdSZc4wEF9FGc6JMuR+mJKtxuEwZm3ZHmA=";
    const FAST_PBKDF2_SHA1: &str = "pbkdf2_sha1$1000$izce3W3vmjYoOjSv6rcfrk$laTzU1QnnpwxKyV3x9vRkx3rZ+o=";
    const FAST_ARGON2: &str = "argon2$argon2id$v=19$m=1024,t=1,p=2$NndtMldHTFJzS0YzUVc1ZlByZGtERw$hEEd6b2whQ/zDL6zVou41L4idCaRGxtlWNtifHzVV94";
    const FAST_BCRYPT_SHA256: &str = "bcrypt_sha256$$2b$04$lr7.3/dYtX/Lo9eNQcMxtuB4OD0js8o/TUfekmFrwxrJ43PAic7pS";
    const FAST_BCRYPT: &str = "bcrypt$$2b$04$X81tM8hbpIjoG2nEPqoziOwduwTbYLtgbTMXN/SfutnlOnITi1nt6";
    const DEFAULT_PBKDF2_SHA256: &str =
        "pbkdf2_sha256$1000000$LLKmz9s5IWVSsLUXYEMNty$vR7OrfBYtzCPJy5WBVLMkz6VH1Sj0rolG/mwHVhzIK4=";
    const DEFAULT_ARGON2: &str = "argon2$argon2id$v=19$m=102400,t=2,p=8$NWJQQ1pNYW5xNkJPTzF4N1U0TmdEYg$1cnPPtYAiZ0a5ujOebqKlYMXmWURd/Ko+U1zRssLreQ";
    const DEFAULT_BCRYPT_SHA256: &str = "bcrypt_sha256$$2b$12$fw.itRbhZYW.jCxfdW0bxOeU5NacfUXoYoILjcWVvHjEyLEo8vmEW";
    /// Of the non-ASCII [`UNICODE_PASSWORD`] (Django hashes its UTF-8 bytes).
    const UNICODE_PASSWORD: &str = "pässwörd ✓";
    const UNICODE_PBKDF2_SHA256: &str =
        "pbkdf2_sha256$1000$sNiF6PKGSmDIiOWxyUpCAe$mikyBjZgBu+XEu97ggc16HGqz/RTAEoCu1CaMUEO3bI=";
    const UNICODE_BCRYPT_SHA256: &str = "bcrypt_sha256$$2b$04$IfR3aSVSVOc1freQkUHeUO9p6H3z0TkTzjEYF5q89A0Eje9zsrWta";

    /// Every prefix of `encoded`, and some edits of it, must verify false without a panic.
    fn assert_mangled_fail(hasher: &dyn PasswordHasher, password: &str, encoded: &str) {
        for end in (0..encoded.len()).filter(|&i| encoded.is_char_boundary(i)) {
            assert!(!hasher.verify(password, &encoded[..end]), "prefix {:?}", &encoded[..end]);
        }
        let flipped_last = {
            let mut s = encoded.to_owned();
            let last = s.pop().unwrap();
            s.push(if last == 'A' { 'B' } else { 'A' });
            s
        };
        for mangled in [
            format!("{encoded}x"),
            format!("{encoded}$"),
            flipped_last,
            encoded.replacen('$', "$$", 2),
            encoded.to_uppercase(),
            format!("{encoded}é"),
        ] {
            assert!(!hasher.verify(password, &mangled), "{mangled:?}");
        }
    }

    #[test]
    fn django_pbkdf2_hashes_verify() {
        let sha256 = DjangoPbkdf2Hasher::SHA256;
        assert!(sha256.identifies(FAST_PBKDF2_SHA256));
        assert!(sha256.verify(DJANGO_PASSWORD, FAST_PBKDF2_SHA256));
        assert!(!sha256.verify("correct horsE", FAST_PBKDF2_SHA256));
        assert!(!sha256.verify("", FAST_PBKDF2_SHA256));
        assert!(sha256.verify(UNICODE_PASSWORD, UNICODE_PBKDF2_SHA256));
        assert!(!sha256.verify("passwörd ✓", UNICODE_PBKDF2_SHA256));
        assert_mangled_fail(&sha256, DJANGO_PASSWORD, FAST_PBKDF2_SHA256);
        let sha1 = DjangoPbkdf2Hasher::SHA1;
        assert!(sha1.verify(DJANGO_PASSWORD, FAST_PBKDF2_SHA1));
        assert!(!sha1.verify("wrong", FAST_PBKDF2_SHA1));
        assert_mangled_fail(&sha1, DJANGO_PASSWORD, FAST_PBKDF2_SHA1);
        // Each only verifies its own algorithm.
        assert!(!sha1.identifies(FAST_PBKDF2_SHA256) && !sha256.identifies(FAST_PBKDF2_SHA1));
        assert!(!sha1.verify(DJANGO_PASSWORD, FAST_PBKDF2_SHA256));
        assert!(!sha256.verify(DJANGO_PASSWORD, FAST_PBKDF2_SHA1));
        // Malformed costs: zero, absurd, signed, not a number.
        let [_, _, salt, hash] = FAST_PBKDF2_SHA256.splitn(4, '$').collect::<Vec<_>>()[..] else { unreachable!() };
        // Fewer rounds than the pbkdf2 crate's minimum still verify (never written by Django;
        // computed with Python's `hashlib.pbkdf2_hmac`, as Django's `encode` does).
        let few = "pbkdf2_sha256$10$salt$cq7NFCRIh8MW4kAZx+AgtYiI8CmGFJCATTbiC0LZMho=";
        assert!(sha256.verify("pw", few));
        assert!(!sha256.verify("px", few));
        for iterations in ["0", "+1000", "-1000", " 1000", "1e3", "", "4294967296", "99999999999999999999"] {
            let encoded = format!("pbkdf2_sha256${iterations}${salt}${hash}");
            assert!(!sha256.verify(DJANGO_PASSWORD, &encoded), "{encoded}");
        }
        let too_many = format!("pbkdf2_sha256${}${salt}${hash}", MAX_PBKDF2_ITERATIONS + 1);
        assert!(!sha256.verify(DJANGO_PASSWORD, &too_many));
        assert!(!sha256.verify(DJANGO_PASSWORD, &format!("pbkdf2_sha256$1000$${hash}")), "empty salt");
    }

    #[test]
    fn django_pbkdf2_with_default_iterations_verifies() {
        let sha256 = DjangoPbkdf2Hasher::SHA256;
        assert!(sha256.verify(DJANGO_PASSWORD, DEFAULT_PBKDF2_SHA256));
        assert!(!sha256.verify("wrong", DEFAULT_PBKDF2_SHA256));
    }

    #[test]
    fn django_argon2_hashes_verify() {
        let django = DjangoArgon2Hasher;
        assert!(django.identifies(FAST_ARGON2));
        assert!(django.verify(DJANGO_PASSWORD, FAST_ARGON2));
        assert!(!django.verify("wrong", FAST_ARGON2));
        assert!(django.verify(DJANGO_PASSWORD, DEFAULT_ARGON2), "Django's defaults: m=102400,t=2,p=8");
        assert!(!django.verify("wrong", DEFAULT_ARGON2));
        assert_mangled_fail(&django, DJANGO_PASSWORD, FAST_ARGON2);
        // The PHC string inside is the default hasher's format, and the prefixed one is not.
        let phc = FAST_ARGON2.strip_prefix("argon2").unwrap();
        let default = Argon2Hasher::new(Params::DEFAULT);
        assert!(default.identifies(phc) && default.verify(DJANGO_PASSWORD, phc));
        assert!(!default.identifies(FAST_ARGON2) && !default.verify(DJANGO_PASSWORD, FAST_ARGON2));
        assert!(!django.identifies(phc) && !django.verify(DJANGO_PASSWORD, phc));
        // Django's own test vectors of older argon2 hashes: argon2i without a version field
        // (Argon2 1.0, 64-byte output), and argon2i v=19 with a 16-byte output.
        let no_version = "argon2$argon2i$m=8,t=1,p=1$c29tZXNhbHQ$gwQOXSNhxiOxPOA0+PY10P9QFO4NAYysnqRt1GSQLE55m+2GYDt9FEjPMHhP2Cuf0nOEXXMocVrsJAtNSsKyfg";
        let short = "argon2$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$YC9+jJCrQhs5R6db7LlN8Q";
        for old in [no_version, short] {
            assert!(django.verify("secret", old), "{old}");
            assert!(!django.verify("wrong", old), "{old}");
            assert!(needs_rehash(old.strip_prefix("argon2").unwrap(), &Params::DEFAULT));
        }
        assert!(!django.verify("secret", &no_version.replacen("m=8", "v=19$m=8", 1)), "read as version 1.0");
        assert!(!django.verify(DJANGO_PASSWORD, "argon2$argon2id"));
        assert!(!django.verify(DJANGO_PASSWORD, "argon2$pbkdf2_sha256$1000$a$b"));
    }

    #[test]
    fn django_bcrypt_hashes_verify() {
        let sha256 = DjangoBcryptHasher::SHA256;
        assert!(sha256.identifies(FAST_BCRYPT_SHA256));
        assert!(sha256.verify(DJANGO_PASSWORD, FAST_BCRYPT_SHA256));
        assert!(!sha256.verify("wrong", FAST_BCRYPT_SHA256));
        assert!(sha256.verify(UNICODE_PASSWORD, UNICODE_BCRYPT_SHA256));
        assert!(!sha256.verify(DJANGO_PASSWORD, UNICODE_BCRYPT_SHA256));
        assert_mangled_fail(&sha256, DJANGO_PASSWORD, FAST_BCRYPT_SHA256);
        let plain = DjangoBcryptHasher::PLAIN;
        assert!(plain.verify(DJANGO_PASSWORD, FAST_BCRYPT));
        assert!(!plain.verify("wrong", FAST_BCRYPT));
        assert_mangled_fail(&plain, DJANGO_PASSWORD, FAST_BCRYPT);
        // bcrypt_sha256 pre-hashes, bcrypt does not: neither verifies the other's string.
        let swapped = FAST_BCRYPT.replacen("bcrypt$", "bcrypt_sha256$", 1);
        assert!(!sha256.verify(DJANGO_PASSWORD, &swapped));
        assert!(!plain.identifies(FAST_BCRYPT_SHA256) && !sha256.identifies(FAST_BCRYPT));
        // A cost bcrypt does not allow.
        assert!(!sha256.verify(DJANGO_PASSWORD, &FAST_BCRYPT_SHA256.replacen("$04$", "$99$", 1)));
        assert!(!sha256.verify(DJANGO_PASSWORD, &FAST_BCRYPT_SHA256.replacen("$04$", "$03$", 1)));
    }

    #[test]
    fn django_bcrypt_with_default_rounds_verifies() {
        assert!(DjangoBcryptHasher::SHA256.verify(DJANGO_PASSWORD, DEFAULT_BCRYPT_SHA256));
        assert!(!DjangoBcryptHasher::SHA256.verify("wrong", DEFAULT_BCRYPT_SHA256));
    }

    #[tokio::test]
    async fn django_hashes_verify_and_are_rehashed_to_argon2id() {
        let pw = Passwords::new(PasswordConfig::default());
        for (algorithm, encoded) in [
            ("pbkdf2_sha256", FAST_PBKDF2_SHA256),
            ("pbkdf2_sha1", FAST_PBKDF2_SHA1),
            ("argon2", FAST_ARGON2),
            ("argon2", DEFAULT_ARGON2),
            ("bcrypt_sha256", FAST_BCRYPT_SHA256),
            ("bcrypt", FAST_BCRYPT),
        ] {
            assert_eq!(pw.identify(encoded), Some(algorithm));
            assert!(pw.needs_rehash(encoded), "{encoded}");
            let wrong = pw.verify("wrong", Some(encoded.to_owned())).await.unwrap();
            assert_eq!(wrong, Verdict { valid: false, rehashed: None }, "{encoded}");
            let verdict = pw.verify(DJANGO_PASSWORD, Some(encoded.to_owned())).await.unwrap();
            assert!(verdict.valid, "{encoded}");
            let new = verdict.rehashed.expect("rehashed");
            assert!(new.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{new}");
            assert!(!pw.needs_rehash(&new));
            assert_eq!(pw.identify(&new), Some("argon2id"));
            assert_eq!(pw.verify(DJANGO_PASSWORD, Some(new)).await.unwrap(), Verdict { valid: true, rehashed: None });
        }
    }

    #[tokio::test]
    async fn unknown_or_garbage_formats_verify_false() {
        let pw = Passwords::new(PasswordConfig::default());
        for encoded in [
            "",
            "$",
            "$$$$",
            "garbage",
            "!",
            "md5$salt$0d107d09f5bbe40cade3de5c71e9e9b7",
            "sha1$salt$hash",
            "scrypt$16384$salt$8$1$hash",
            "pbkdf2_sha512$1000$salt$hash",
            "unsalted_md5$abc",
            "pbkdf2_sha256",
            "pbkdf2_sha256$",
            "pbkdf2_sha256$1000$salt",
            "bcrypt_sha256$",
            "bcrypt_sha256$$",
            "bcrypt$$2b$04$",
            "argon2$",
            "argon2$argon2id$v=19$m=1024,t=1,p=2$$",
            "$argon2id$",
            "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            "$2b$04$X81tM8hbpIjoG2nEPqoziOwduwTbYLtgbTMXN/SfutnlOnITi1nt6",
            "ünïcødé$ünïcødé",
        ] {
            let verdict = pw.verify(DJANGO_PASSWORD, Some(encoded.to_owned())).await.unwrap();
            assert_eq!(verdict, Verdict { valid: false, rehashed: None }, "{encoded:?}");
        }
        assert_eq!(pw.identify("md5$salt$0d107d09f5bbe40cade3de5c71e9e9b7"), None);
        assert_eq!(pw.identify("$2b$04$X81tM8hbpIjoG2nEPqoziOwduwTbYLtgbTMXN/SfutnlOnITi1nt6"), None);
    }

    /// A hasher of a made-up format: `plain$<password>` (tests only!).
    #[derive(Debug)]
    struct PlainText;

    impl PasswordHasher for PlainText {
        fn algorithm(&self) -> &str {
            "plain"
        }

        fn verify(&self, password: &str, encoded: &str) -> bool {
            encoded.strip_prefix("plain$").is_some_and(|p| p.as_bytes().ct_eq(password.as_bytes()).into())
        }
    }

    /// Takes over Django's `pbkdf2_sha256` name, to show that added hashers come first.
    #[derive(Debug)]
    struct Everything;

    impl PasswordHasher for Everything {
        fn algorithm(&self) -> &str {
            "pbkdf2_sha256"
        }

        fn identifies(&self, _: &str) -> bool {
            true
        }

        fn verify(&self, _: &str, _: &str) -> bool {
            true
        }
    }

    #[tokio::test]
    async fn added_hashers_verify_and_are_rehashed() {
        let pw = Passwords::new(PasswordConfig::default()).with_hasher(PlainText);
        assert_eq!(pw.identify("plain$pw"), Some("plain"));
        assert!(pw.needs_rehash("plain$pw"));
        assert!(!pw.verify("other", Some("plain$pw".into())).await.unwrap().valid);
        let verdict = pw.verify("pw", Some("plain$pw".into())).await.unwrap();
        assert!(verdict.valid);
        assert!(verdict.rehashed.unwrap().starts_with("$argon2id$"));
        // Django's formats still verify alongside.
        assert!(pw.verify(DJANGO_PASSWORD, Some(FAST_PBKDF2_SHA256.into())).await.unwrap().valid);
        assert_eq!(
            format!("{:?}", pw.hashers),
            r#"["argon2id", "plain", "pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt"]"#
        );
        // An added hasher comes before the built-in Django ones, but never before argon2id.
        let greedy = Passwords::new(PasswordConfig::default()).with_hasher(PlainText).with_hasher(Everything);
        assert!(greedy.verify("anything", Some(FAST_PBKDF2_SHA256.into())).await.unwrap().valid);
        assert_eq!(greedy.identify("plain$pw"), Some("plain"));
        let argon = greedy.hash("pw").await.unwrap();
        assert_eq!(greedy.identify(&argon), Some("argon2id"));
        assert!(!greedy.verify("anything", Some(argon)).await.unwrap().valid);
        // The trait's defaults: identification by prefix, and no hashing.
        assert!(PlainText.identifies("plain$") && !PlainText.identifies("plain") && !PlainText.identifies("plainx$"));
        assert_eq!(PlainText.hash("pw"), None);
        assert!(Argon2Hasher::new(Params::DEFAULT).hash("pw").is_some_and(|h| h.starts_with("$argon2id$")));
    }

    #[tokio::test]
    async fn unknown_users_still_cost_one_default_verification() {
        let pw = Passwords::new(PasswordConfig::default());
        assert_eq!(pw.verify("pw", None).await.unwrap(), Verdict { valid: false, rehashed: None });
        let dummy = pw.dummy.get().expect("the dummy hash is made on first use");
        assert!(dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{dummy}");
        assert!(!pw.needs_rehash(dummy), "same format and cost as a current user's hash");
    }
}
