//! Throttling, as in DRF (run after authentication and permissions), and the lockout of
//! password guessing on every endpoint that takes a password.
//!
//! - Rates use DRF's syntax: `"100/day"`, `"10/min"`, `"5/s"`, and a window of several
//!   units, `"10/60s"` or `"3/5m"` (see [`Rate`]).
//! - Request throttles (DRF's `AnonRateThrottle`, `UserRateThrottle`,
//!   `ScopedRateThrottle`): [`AnonRate`], [`UserRate`], [`Scoped`]; handlers choose theirs with
//!   `#[throttle(...)]`, the others use the settings' anon and user rates. Past the rate: 429
//!   `throttled` with `Retry-After` in seconds.
//! - Login failures ([`LoginGuard`]): every password (and OAuth2 client) check reserves an
//!   attempt per username (or client id) and per client IP *before* any hash runs, in one
//!   atomic step (an increment in memory or a Lua script in Redis); past either limit the
//!   attempt is 429, even with the right password. So whatever the concurrency, at most the
//!   limit of checks run per name and per address per window. A failed check keeps its
//!   reservation (it is the failure); a success releases it and resets the username's count.
//! - The client IP is the peer address; `X-Forwarded-For` is read only with a configured
//!   number of trusted proxies (DRF's `NUM_PROXIES`), never blindly ([`client_ip`]).
//! - Stores: in-process (governor's GCRA limiters for rates, moka caches for failure
//!   counters) or Redis (fixed windows with `INCR`/`PEXPIRE`) so that limits hold across all
//!   instances. A store fault is fail-open or fail-closed by setting; login throttles fail
//!   closed (503) by default.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::OnceCell;

use crate::context::Context;
use crate::error::AuthError;
use crate::principal::Principal;
use crate::state::Auth;

/// A rate: at most `num` requests per `window` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate {
    /// Requests allowed per window.
    pub num: u32,
    /// The window, in seconds.
    pub window: u64,
}

/// Why a rate string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate {0:?}: expected N/period such as \"100/day\", \"10/min\", \"5/s\" or \"10/60s\"")]
pub struct RateError(String);

impl FromStr for Rate {
    type Err = RateError;

    /// Parses DRF's syntax `N/period`, where the period's first letter is `s`, `m`, `h` or
    /// `d` (`sec`, `min`, `hour`, `day`...), optionally preceded by a count (`60s`, `5m`).
    fn from_str(s: &str) -> Result<Self, RateError> {
        let err = || RateError(s.to_owned());
        let (num, period) = s.trim().split_once('/').ok_or_else(err)?;
        let num: u32 = num.trim().parse().map_err(|_| err())?;
        let period = period.trim();
        let digits = period.chars().take_while(char::is_ascii_digit).count();
        let count: u64 = if digits == 0 { 1 } else { period[..digits].parse().map_err(|_| err())? };
        let unit = match period[digits..].chars().next().ok_or_else(err)? {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(err()),
        };
        let window = count.checked_mul(unit).filter(|w| *w > 0).ok_or_else(err)?;
        if num == 0 || window > 366 * 86400 {
            return Err(err());
        }
        Ok(Rate { num, window })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.num, self.window)
    }
}

impl serde::Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where throttle counters live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThrottleStoreKind {
    /// In this process (default).
    #[default]
    Memory,
    /// Redis at [`ThrottleConfig::redis_url`], shared by every instance.
    Redis,
}

/// Throttling settings (DRF's `DEFAULT_THROTTLE_RATES`, `NUM_PROXIES`, plus the login
/// lockout). Bind it in the settings struct with `#[auth(throttle)]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct ThrottleConfig {
    /// Rate for anonymous clients, per client IP ([`AnonRate`]); `None`: no limit.
    pub anon: Option<Rate>,
    /// Rate per user (per IP for anonymous clients) ([`UserRate`]); `None`: no limit.
    pub user: Option<Rate>,
    /// Rates of named scopes ([`Scoped`]); a scope without a rate is not limited.
    pub scopes: BTreeMap<String, Rate>,
    /// Failed password or client checks allowed per username (client id) and per client IP
    /// per window. Default `10/60s`.
    pub login_failures: Rate,
    /// How many proxies in front of the app append to `X-Forwarded-For`; 0 (default): the
    /// peer address is the client. The one setting of trusted proxies: above 0, the app's
    /// host and scheme also come from `X-Forwarded-Host`/`-Proto` or `Forwarded` (see
    /// [`crate::hosts`]).
    pub num_proxies: usize,
    /// Where counters live. Default in memory.
    pub store: ThrottleStoreKind,
    /// Redis URL for [`ThrottleStoreKind::Redis`].
    pub redis_url: Option<String>,
    /// Prefix of the Redis keys, so that several apps can share one Redis. Default `"auth"`.
    pub redis_prefix: String,
    /// Request throttles let requests through when the store fails (default true); false
    /// answers 503.
    pub rates_fail_open: bool,
    /// The login lockout lets attempts through when the store fails (default false: 503).
    pub login_fail_open: bool,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            anon: None,
            user: None,
            scopes: BTreeMap::new(),
            login_failures: Rate { num: 10, window: 60 },
            num_proxies: 0,
            store: ThrottleStoreKind::Memory,
            redis_url: None,
            redis_prefix: "auth".into(),
            rates_fail_open: true,
            login_fail_open: false,
        }
    }
}

/// The client's IP as DRF's `get_ident` finds it: with `num_proxies == 0` the peer address
/// (`X-Forwarded-For` is ignored, so clients cannot spoof it); otherwise the address that
/// the outermost trusted proxy saw, `num_proxies` from the end of `X-Forwarded-For`.
pub fn client_ip(req: &HttpRequest, num_proxies: usize) -> String {
    let peer = req.peer_addr().map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string());
    if num_proxies == 0 {
        return peer;
    }
    let Some(xff) = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()) else { return peer };
    let addrs: Vec<&str> = xff.split(',').map(str::trim).filter(|a| !a.is_empty()).collect();
    if addrs.is_empty() {
        return peer;
    }
    let i = addrs.len() - num_proxies.min(addrs.len());
    addrs[i].to_owned()
}

/// What a throttle wants limited for one request: the scope's name and rate, and whose
/// requests (`user:ID` or `ip:ADDR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleKey {
    /// The scope (`anon`, `user` or a named scope); each has its own counters.
    pub scope: String,
    /// Its rate.
    pub rate: Rate,
    /// Whose requests.
    pub ident: String,
}

/// A request throttle (DRF's `BaseThrottle`): names the counter a request counts against,
/// or `None` to leave it alone.
pub trait Throttle: 'static {
    /// The counter for this request (its context carries the principal the chain decided),
    /// given the settings' [`ThrottleConfig`].
    fn key(&self, cx: &Context<'_>, config: &ThrottleConfig) -> Option<ThrottleKey>;
}

fn ident(req: &HttpRequest, config: &ThrottleConfig, principal: Option<&Principal>) -> String {
    match principal.and_then(|p| p.user.as_ref()) {
        Some(user) => format!("user:{}", user.id),
        None => match principal.map(|p| &p.data) {
            Some(crate::principal::SchemeData::Custom(id)) => format!("principal:{id}"),
            _ => format!("ip:{}", client_ip(req, config.num_proxies)),
        },
    }
}

/// DRF's `AnonRateThrottle`: anonymous requests, per client IP, at the `anon` rate.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnonRate;

impl Throttle for AnonRate {
    fn key(&self, cx: &Context<'_>, config: &ThrottleConfig) -> Option<ThrottleKey> {
        let (req, principal) = (cx.request(), cx.principal());
        if principal.is_some() {
            return None;
        }
        let rate = config.anon?;
        Some(ThrottleKey { scope: "anon".into(), rate, ident: format!("ip:{}", client_ip(req, config.num_proxies)) })
    }
}

/// DRF's `UserRateThrottle`: per user (per client IP when anonymous), at the `user` rate.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserRate;

impl Throttle for UserRate {
    fn key(&self, cx: &Context<'_>, config: &ThrottleConfig) -> Option<ThrottleKey> {
        let (req, principal) = (cx.request(), cx.principal());
        let rate = config.user?;
        Some(ThrottleKey { scope: "user".into(), rate, ident: ident(req, config, principal) })
    }
}

/// DRF's `ScopedRateThrottle`: per user (or client IP) at the rate of the named scope in
/// [`ThrottleConfig::scopes`].
#[derive(Debug, Clone, Copy)]
pub struct Scoped(pub &'static str);

impl Throttle for Scoped {
    fn key(&self, cx: &Context<'_>, config: &ThrottleConfig) -> Option<ThrottleKey> {
        let (req, principal) = (cx.request(), cx.principal());
        let rate = *config.scopes.get(self.0)?;
        Some(ThrottleKey { scope: format!("scope:{}", self.0), rate, ident: ident(req, config, principal) })
    }
}

/// A set of throttles, all applied (implemented for tuples of [`Throttle`]s and for
/// [`DefaultThrottles`]).
pub trait Throttles: 'static {
    /// The counters this request counts against.
    fn keys(&self, cx: &Context<'_>, config: &ThrottleConfig) -> Vec<ThrottleKey>;
}

impl Throttles for () {
    fn keys(&self, _: &Context<'_>, _: &ThrottleConfig) -> Vec<ThrottleKey> {
        Vec::new()
    }
}

macro_rules! impl_throttles {
    ($($t:ident . $i:tt),+) => {
        impl<$($t: Throttle),+> Throttles for ($($t,)+) {
            fn keys(&self, cx: &Context<'_>, config: &ThrottleConfig) -> Vec<ThrottleKey> {
                [$(self.$i.key(cx, config)),+].into_iter().flatten().collect()
            }
        }
    };
}
impl_throttles!(A.0);
impl_throttles!(A.0, B.1);
impl_throttles!(A.0, B.1, C.2);
impl_throttles!(A.0, B.1, C.2, D.3);

/// The settings' throttles for handlers without `#[throttle]`: [`AnonRate`] and
/// [`UserRate`] (each only when its rate is set), as DRF's usual defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultThrottles;

impl Throttles for DefaultThrottles {
    fn keys(&self, cx: &Context<'_>, config: &ThrottleConfig) -> Vec<ThrottleKey> {
        (AnonRate, UserRate).keys(cx, config)
    }
}

/// Checks `throttles` for a request: every counter is charged; the longest wait wins.
///
/// # Errors
/// 429 `throttled` with the wait in seconds; 503 when the store fails and rates fail closed.
pub async fn check<T: Throttles>(
    req: &HttpRequest,
    auth: &Auth,
    throttles: &T,
    principal: Option<&Principal>,
) -> Result<(), AuthError> {
    let Some(config) = auth.config::<ThrottleConfig>() else { return Ok(()) };
    let keys = throttles.keys(&Context::new(auth, req, principal), config);
    if keys.is_empty() {
        return Ok(());
    }
    let store = auth.config::<ThrottleStore>().ok_or(AuthError::ImproperlyConfigured("no throttle store"))?;
    let mut wait = 0u64;
    for key in keys {
        match store.hit(&key).await {
            Ok(None) => {}
            Ok(Some(w)) => wait = wait.max(w),
            Err(e) if config.rates_fail_open => {
                tracing::warn!(error = %e, "throttle store failed; letting the request through")
            }
            Err(e) => return Err(AuthError::store(e)),
        }
    }
    if wait > 0 { Err(AuthError::Throttled { wait }) } else { Ok(()) }
}

/// The counters behind throttling: in memory or in Redis. One lives in every [`Auth`].
pub struct ThrottleStore {
    kind: ThrottleStoreKind,
    memory: Memory,
    redis: Option<RedisCounters>,
    /// Per login name, a first-come-first-served gate of `login_failures.num` places in this
    /// process: attempts beyond the limit wait here in order (not by polling the store), so
    /// many correct logins at once are served fairly.
    gates: moka::sync::Cache<String, Arc<tokio::sync::Semaphore>>,
}

impl fmt::Debug for ThrottleStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottleStore").field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// A store failure (Redis unreachable).
#[derive(Debug, thiserror::Error)]
#[error("throttle store: {0}")]
pub struct StoreError(String);

impl ThrottleStore {
    /// The store for `config` (Redis connects on first use).
    pub fn new(config: &ThrottleConfig) -> Self {
        let redis = match (config.store, &config.redis_url) {
            (ThrottleStoreKind::Redis, Some(url)) => Some(RedisCounters {
                url: url.clone(),
                prefix: config.redis_prefix.clone(),
                conn: OnceCell::new(),
                breaker: crate::breaker::Breaker::default(),
            }),
            _ => None,
        };
        let gates = moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_idle(Duration::from_secs(config.login_failures.window.max(1)))
            .build();
        ThrottleStore { kind: config.store, memory: Memory::new(config.login_failures.window), redis, gates }
    }

    fn redis(&self) -> Result<Option<&RedisCounters>, StoreError> {
        match (self.kind, &self.redis) {
            (ThrottleStoreKind::Memory, _) => Ok(None),
            (ThrottleStoreKind::Redis, Some(r)) => Ok(Some(r)),
            (ThrottleStoreKind::Redis, None) => {
                Err(StoreError("the Redis throttle store needs throttle.redis_url".into()))
            }
        }
    }

    /// Charges one request to `key`; `Some(seconds)` to wait when over the rate.
    async fn hit(&self, key: &ThrottleKey) -> Result<Option<u64>, StoreError> {
        match self.redis()? {
            Some(r) => r.hit(key).await,
            None => Ok(self.memory.hit(key)),
        }
    }

    /// Atomically adds one attempt to each of `counters` (login-attempt counters whose
    /// window of `window` seconds starts at their first attempt), unless one of them is at
    /// `limit` already: then none is changed, and the answer says whether the limit is held by
    /// failures (locked, with the seconds left) or by checks still running (busy).
    async fn reserve(&self, counters: &[String], limit: u32, window: u64) -> Result<Reserved, StoreError> {
        match self.redis()? {
            Some(r) => r.reserve(counters, limit, window).await,
            None => Ok(self.memory.reserve(counters, limit)),
        }
    }

    /// Records that the reserved attempt on each of `counters` failed.
    async fn fail(&self, counters: &[String], window: u64) -> Result<(), StoreError> {
        match self.redis()? {
            Some(r) => r.fail(counters, window).await,
            None => {
                self.memory.fail(counters);
                Ok(())
            }
        }
    }

    /// Takes one attempt back from `counter` (never below zero).
    async fn release(&self, counter: &str) -> Result<(), StoreError> {
        match self.redis()? {
            Some(r) => r.release(counter).await,
            None => {
                self.memory.release(counter);
                Ok(())
            }
        }
    }

    async fn reset(&self, counter: &str) -> Result<(), StoreError> {
        match self.redis()? {
            Some(r) => r.reset(counter).await,
            None => {
                self.memory.failures.invalidate(counter);
                Ok(())
            }
        }
    }
}

/// One GCRA limiter per scope and rate, keyed by whose requests.
type Limiter = DefaultKeyedRateLimiter<String>;

/// A login-attempt counter: when its window started, the attempts reserved since (failed or
/// still running), and how many of them failed.
type FailureCount = (Instant, std::sync::atomic::AtomicU32, std::sync::atomic::AtomicU32);

/// The answer of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reserved {
    /// The attempt may run.
    Yes,
    /// Failures reached the limit: refused for this many seconds.
    Locked(u64),
    /// The limit is held by checks still running: try again shortly.
    Busy,
}

/// In-process counters: a governor GCRA limiter per scope for request rates, and a moka
/// cache of failure counters whose entries expire one window after the first failure.
struct Memory {
    limiters: Mutex<BTreeMap<(String, Rate), Arc<Limiter>>>,
    failures: moka::sync::Cache<String, Arc<FailureCount>>,
    window: u64,
}

impl Memory {
    fn new(window: u64) -> Self {
        Memory {
            limiters: Mutex::new(BTreeMap::new()),
            failures: moka::sync::Cache::builder()
                .time_to_live(Duration::from_secs(window.max(1)))
                .max_capacity(1_000_000)
                .build(),
            window,
        }
    }

    fn hit(&self, key: &ThrottleKey) -> Option<u64> {
        let limiter = {
            let mut all = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
            all.entry((key.scope.clone(), key.rate))
                .or_insert_with(|| {
                    let per = Duration::from_secs(key.rate.window) / key.rate.num;
                    let burst = NonZeroU32::new(key.rate.num).unwrap_or(NonZeroU32::MIN);
                    let quota = Quota::with_period(per.max(Duration::from_nanos(1)))
                        .unwrap_or_else(|| Quota::per_second(burst))
                        .allow_burst(burst);
                    Arc::new(RateLimiter::keyed(quota))
                })
                .clone()
        };
        match limiter.check_key(&key.ident) {
            Ok(()) => None,
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
            }
        }
    }

    fn entry(&self, counter: &str) -> Arc<FailureCount> {
        use std::sync::atomic::AtomicU32;
        self.failures.get_with(counter.to_owned(), || Arc::new((Instant::now(), AtomicU32::new(0), AtomicU32::new(0))))
    }

    fn reserve(&self, counters: &[String], limit: u32) -> Reserved {
        use std::sync::atomic::Ordering::SeqCst;
        let mut taken: Vec<Arc<FailureCount>> = Vec::with_capacity(counters.len());
        for counter in counters {
            let entry = self.entry(counter);
            // The increment is the reservation: of N concurrent attempts exactly `limit`
            // see a previous count below it.
            if entry.1.fetch_add(1, SeqCst) >= limit {
                entry.1.fetch_sub(1, SeqCst);
                for t in taken {
                    t.1.fetch_sub(1, SeqCst);
                }
                if entry.2.load(SeqCst) < limit {
                    return Reserved::Busy;
                }
                let left = Duration::from_secs(self.window).saturating_sub(entry.0.elapsed());
                return Reserved::Locked((left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1));
            }
            taken.push(entry);
        }
        Reserved::Yes
    }

    fn fail(&self, counters: &[String]) {
        for counter in counters {
            self.entry(counter).2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn release(&self, counter: &str) {
        if let Some(entry) = self.failures.get(counter) {
            let _ =
                entry.1.fetch_update(std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst, |n| {
                    n.checked_sub(1)
                });
        }
    }
}

/// Reserves one attempt on every counter or on none. KEYS come in pairs: the attempts
/// counter and the failures counter of each; ARGV: limit, window in ms. Returns 0 (reserved),
/// -1 (the limit is held by attempts still running), or the milliseconds left in the window
/// of a counter whose failures reached the limit.
const RESERVE_SCRIPT: &str = r"
local limit = tonumber(ARGV[1])
for i = 1, #KEYS, 2 do
  local n = redis.call('INCR', KEYS[i])
  if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
  if n > limit then
    for j = 1, i, 2 do redis.call('DECR', KEYS[j]) end
    if tonumber(redis.call('GET', KEYS[i + 1]) or '0') >= limit then
      return math.max(redis.call('PTTL', KEYS[i + 1]), 1)
    end
    return -1
  end
end
return 0
";

/// Counts one failure on every key of KEYS (failures counters), each window (ARGV[1], ms)
/// starting at its first failure.
const FAIL_SCRIPT: &str = r"
for i, key in ipairs(KEYS) do
  redis.call('INCR', key)
  if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
";

/// Takes one attempt back from KEYS[1], never below zero.
const RELEASE_SCRIPT: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 0
";

/// Redis counters: fixed windows with `INCR` and `PEXPIRE`, shared by every instance.
struct RedisCounters {
    url: String,
    prefix: String,
    conn: OnceCell<redis::aio::ConnectionManager>,
    /// Bounds every command (1 s) and remembers a failure for a second, so a Redis outage
    /// costs fail-open rates nothing and fail-closed logins a 503 at once.
    breaker: crate::breaker::Breaker,
}

impl RedisCounters {
    async fn conn(&self) -> Result<redis::aio::ConnectionManager, StoreError> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let client = redis::Client::open(self.url.as_str()).map_err(|e| StoreError(e.to_string()))?;
                redis::aio::ConnectionManager::new_with_config(client, crate::breaker::redis_config())
                    .await
                    .map_err(|e| StoreError(e.to_string()))
            })
            .await?;
        Ok(conn.clone())
    }

    /// Runs `cmd` (or a pipeline) through the breaker: bounded, and refused at once for a
    /// second after a failure.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(redis::aio::ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let call = async {
            let conn = self.conn().await?;
            f(conn).await.map_err(|e| StoreError(e.to_string()))
        };
        self.breaker.call(call).await.map_err(|e| StoreError(e.to_string()))
    }

    async fn hit(&self, key: &ThrottleKey) -> Result<Option<u64>, StoreError> {
        let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let window_ms = key.rate.window * 1000;
        let slot = now_ms / window_ms;
        let name = format!("{}:throttle:{}:{}:{}:{slot}", self.prefix, key.scope, key.rate, key.ident);
        let mut pipe = redis::pipe();
        pipe.atomic().incr(&name, 1u64).pexpire(&name, i64::try_from(window_ms).unwrap_or(i64::MAX)).ignore();
        let (count,): (u64,) = self.run(|mut conn| async move { pipe.query_async(&mut conn).await }).await?;
        if count <= u64::from(key.rate.num) {
            return Ok(None);
        }
        let left_ms = (slot + 1) * window_ms - now_ms;
        Ok(Some(left_ms.div_ceil(1000).max(1)))
    }

    async fn reserve(&self, counters: &[String], limit: u32, window: u64) -> Result<Reserved, StoreError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RESERVE_SCRIPT).arg(counters.len() * 2);
        for counter in counters {
            cmd.arg(format!("{}:login-attempts:{counter}", self.prefix));
            cmd.arg(format!("{}:login-failures:{counter}", self.prefix));
        }
        cmd.arg(limit).arg(window.max(1) * 1000);
        let answer: i64 = self.run(|mut conn| async move { cmd.query_async(&mut conn).await }).await?;
        Ok(match answer {
            0 => Reserved::Yes,
            n if n < 0 => Reserved::Busy,
            ms => Reserved::Locked(ms.unsigned_abs().div_ceil(1000).max(1)),
        })
    }

    async fn fail(&self, counters: &[String], window: u64) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(FAIL_SCRIPT).arg(counters.len());
        for counter in counters {
            cmd.arg(format!("{}:login-failures:{counter}", self.prefix));
        }
        cmd.arg(window.max(1) * 1000);
        let _: i64 = self.run(|mut conn| async move { cmd.query_async(&mut conn).await }).await?;
        Ok(())
    }

    async fn release(&self, counter: &str) -> Result<(), StoreError> {
        let name = format!("{}:login-attempts:{counter}", self.prefix);
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RELEASE_SCRIPT).arg(1).arg(&name);
        let _: i64 = self.run(|mut conn| async move { cmd.query_async(&mut conn).await }).await?;
        Ok(())
    }

    async fn reset(&self, counter: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(format!("{}:login-attempts:{counter}", self.prefix));
        cmd.arg(format!("{}:login-failures:{counter}", self.prefix));
        let _: i64 = self.run(|mut conn| async move { cmd.query_async(&mut conn).await }).await?;
        Ok(())
    }
}

/// A reserved login attempt: holds its place among the attempts of its name running in this
/// process until dropped (keep it until the check is over).
#[derive(Debug)]
#[must_use = "the attempt's place is given up when this is dropped"]
pub struct Attempt {
    _place: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// The longest a login attempt waits for checks of the same name or address still running.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// Logs a refused login attempt (target `auth::audit`), at most one line a second for the
/// process, with the number of refusals not logged since: a guessing run cannot flood the log.
fn log_lockout(kind: LoginKind, ip: &str, wait: u64) {
    static BUDGET: crate::audit::LogBudget = crate::audit::LogBudget::new();
    if let Some(suppressed) = BUDGET.take() {
        tracing::warn!(target: "auth::audit", ?kind, ip, wait, suppressed, outcome = "throttled", "login attempt refused: locked out");
    }
}

/// What a login attempt names: a username (password endpoints) or an OAuth2 client id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    /// A password check for a username.
    Password,
    /// An OAuth2 client authentication for a client id.
    Client,
}

/// The lockout of guessing: counts failures per name and per client IP; see the module
/// documentation. Obtain it with [`crate::login::login_guard`].
#[derive(Debug, Clone, Copy)]
pub struct LoginGuard<'a> {
    auth: &'a Auth,
    kind: LoginKind,
}

impl<'a> LoginGuard<'a> {
    pub(crate) fn new(auth: &'a Auth, kind: LoginKind) -> Self {
        LoginGuard { auth, kind }
    }

    fn setup(&self) -> Option<(&'a ThrottleConfig, &'a ThrottleStore)> {
        Some((self.auth.config::<ThrottleConfig>()?, self.auth.config::<ThrottleStore>()?))
    }

    fn counters(&self, req: &HttpRequest, config: &ThrottleConfig, name: &str) -> [String; 2] {
        let kind = match self.kind {
            LoginKind::Password => "user",
            LoginKind::Client => "client",
        };
        // Names are hashed so that no username lands in Redis or the cache keys in clear.
        // Normalised as usernames are, so `ａｌｉｃｅ` counts against `alice`.
        let name = match self.kind {
            LoginKind::Password => crate::users::normalize_username(name),
            LoginKind::Client => name.to_owned(),
        };
        let hashed = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(name.as_bytes()));
        [format!("{kind}:{hashed}"), format!("ip:{}", client_ip(req, config.num_proxies))]
    }

    fn on_store_error(&self, config: &ThrottleConfig, e: StoreError) -> Result<(), AuthError> {
        if config.login_fail_open {
            tracing::warn!(error = %e, "login throttle store failed; failing open as configured");
            Ok(())
        } else {
            Err(AuthError::store(e))
        }
    }

    /// Before checking a password or client secret: reserves one attempt for the name and
    /// one for the client IP, atomically, so that at most `throttle.login_failures` checks
    /// run per name and per address per window, whatever the concurrency. When the limit is
    /// held by failures the attempt is refused; when it is held by checks still running
    /// (many correct logins at once), it waits for them (every 10 ms, at most 10 s) and is
    /// refused only if they fail. Follow it with [`LoginGuard::failed`],
    /// [`LoginGuard::succeeded`] or, when the check could not run (a store fault),
    /// [`LoginGuard::release`].
    ///
    /// # Errors
    /// 429 `throttled` with `Retry-After` (seconds); 503 when the store fails (fail closed
    /// by default).
    pub async fn reserve(&self, req: &HttpRequest, name: &str) -> Result<Attempt, AuthError> {
        let Some((config, store)) = self.setup() else { return Ok(Attempt { _place: None }) };
        let counters = self.counters(req, config, name);
        let started = Instant::now();
        let places = usize::try_from(config.login_failures.num.max(1)).unwrap_or(usize::MAX);
        let gate = store.gates.get_with(counters[0].clone(), || Arc::new(tokio::sync::Semaphore::new(places)));
        let place = match tokio::time::timeout(BUSY_WAIT, gate.acquire_owned()).await {
            Ok(Ok(place)) => place,
            _ => return Err(AuthError::Throttled { wait: 1 }),
        };
        loop {
            match store.reserve(&counters, config.login_failures.num, config.login_failures.window).await {
                Ok(Reserved::Yes) => return Ok(Attempt { _place: Some(place) }),
                Ok(Reserved::Busy) if started.elapsed() < BUSY_WAIT => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok(Reserved::Busy) => return Err(AuthError::Throttled { wait: 1 }),
                Ok(Reserved::Locked(wait)) => {
                    log_lockout(self.kind, &client_ip(req, config.num_proxies), wait);
                    return Err(AuthError::Throttled { wait });
                }
                Err(e) => return self.on_store_error(config, e).map(|()| Attempt { _place: None }),
            }
        }
    }

    /// After a failed check that followed [`LoginGuard::reserve`]: the reservation stays
    /// (the attempt counted) and one failure more is recorded for the name and the IP.
    ///
    /// # Errors
    /// 503 when the store fails (fail closed by default).
    pub async fn failed(&self, req: &HttpRequest, name: &str) -> Result<(), AuthError> {
        let Some((config, store)) = self.setup() else { return Ok(()) };
        let counters = self.counters(req, config, name);
        match store.fail(&counters, config.login_failures.window).await {
            Ok(()) => Ok(()),
            Err(e) => self.on_store_error(config, e),
        }
    }

    /// After a successful check: the name's count is reset and the IP's reservation given
    /// back (a success is not a failure).
    ///
    /// # Errors
    /// 503 when the store fails (fail closed by default).
    pub async fn succeeded(&self, req: &HttpRequest, name: &str) -> Result<(), AuthError> {
        let Some((config, store)) = self.setup() else { return Ok(()) };
        let [name_counter, ip_counter] = self.counters(req, config, name);
        if let Err(e) = store.reset(&name_counter).await {
            self.on_store_error(config, e)?;
        }
        if let Err(e) = store.release(&ip_counter).await {
            self.on_store_error(config, e)?;
        }
        Ok(())
    }

    /// Gives a reservation back when the check could not run (e.g. the database failed):
    /// that attempt neither failed nor succeeded.
    pub async fn release(&self, req: &HttpRequest, name: &str) {
        let Some((config, store)) = self.setup() else { return };
        for counter in self.counters(req, config, name) {
            if let Err(e) = store.release(&counter).await {
                tracing::warn!(error = %e, "could not release a login reservation");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drf_rate_syntax() {
        let r = |s: &str| s.parse::<Rate>().unwrap();
        assert_eq!(r("100/day"), Rate { num: 100, window: 86400 });
        assert_eq!(r("10/min"), Rate { num: 10, window: 60 });
        assert_eq!(r("5/s"), Rate { num: 5, window: 1 });
        assert_eq!(r("5/sec"), Rate { num: 5, window: 1 });
        assert_eq!(r("3/hour"), Rate { num: 3, window: 3600 });
        assert_eq!(r("10/60s"), Rate { num: 10, window: 60 });
        assert_eq!(r("3/5m"), Rate { num: 3, window: 300 });
        assert_eq!(r(" 7 / d "), Rate { num: 7, window: 86400 });
        for bad in ["", "10", "10/", "/min", "0/min", "x/min", "10/week", "10/0s", "-1/s", "10/999999d", "1.5/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        assert_eq!(r("10/60s").to_string().parse::<Rate>(), Ok(r("10/min")));
    }

    #[test]
    fn rate_in_settings_is_a_string() {
        let c: ThrottleConfig =
            serde_json::from_value(serde_json::json!({"anon": "5/min", "scopes": {"uploads": "2/h"}})).unwrap();
        assert_eq!(c.anon, Some(Rate { num: 5, window: 60 }));
        assert_eq!(c.scopes["uploads"], Rate { num: 2, window: 3600 });
        assert_eq!(c.login_failures, Rate { num: 10, window: 60 });
        assert!(serde_json::from_value::<ThrottleConfig>(serde_json::json!({"user": "lots"})).is_err());
    }

    #[test]
    fn memory_rate_limits_and_reports_the_wait() {
        let m = Memory::new(60);
        let key = ThrottleKey { scope: "t".into(), rate: Rate { num: 3, window: 60 }, ident: "ip:1".into() };
        assert_eq!((m.hit(&key), m.hit(&key), m.hit(&key)), (None, None, None));
        let wait = m.hit(&key).expect("fourth request is throttled");
        assert!((1..=20).contains(&wait), "{wait}");
        let other = ThrottleKey { ident: "ip:2".into(), ..key };
        assert_eq!(m.hit(&other), None, "counters are per client");
    }

    #[test]
    fn memory_reservations_are_atomic_and_all_or_nothing() {
        let m = Memory::new(60);
        let both = ["user:a".to_owned(), "ip:1".to_owned()];
        for _ in 0..3 {
            assert_eq!(m.reserve(&both, 3), Reserved::Yes);
        }
        assert_eq!(m.reserve(&both, 3), Reserved::Busy, "three checks still running");
        m.fail(&both);
        m.fail(&both);
        assert_eq!(m.reserve(&both, 3), Reserved::Busy, "two failed, one still running");
        m.fail(&both);
        let Reserved::Locked(wait) = m.reserve(&both, 3) else { panic!("three failures: locked") };
        assert!((1..=60).contains(&wait), "{wait}");
        // Refused on the name: the IP's count did not move.
        m.release("ip:1");
        assert_eq!(m.reserve(&["ip:1".to_owned()], 3), Reserved::Yes, "the refused attempt took nothing");
        // Released below zero: stays at zero.
        m.failures.invalidate("user:a");
        m.release("user:a");
        assert_eq!(m.reserve(&["user:a".to_owned()], 1), Reserved::Yes);
        // Many threads at once: exactly the limit get through.
        let m = Arc::new(Memory::new(60));
        let granted = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..50 {
                        if m.reserve(&["user:b".to_owned()], 10) == Reserved::Yes {
                            granted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        assert_eq!(granted.into_inner(), 10);
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// The longest window the parser accepts (a year and a day).
        const MAX_WINDOW: u64 = 366 * 86400;

        fn unit() -> impl Strategy<Value = (&'static str, u64)> {
            prop::sample::select(vec![
                ("s", 1),
                ("sec", 1),
                ("second", 1),
                ("m", 60),
                ("min", 60),
                ("minute", 60),
                ("h", 3600),
                ("hour", 3600),
                ("d", 86400),
                ("day", 86400),
            ])
        }

        proptest! {
            /// Any string: a rate or an error, never a panic; a rate is always usable.
            #[test]
            fn any_string_parses_or_fails(s in any::<String>()) {
                if let Ok(rate) = s.parse::<Rate>() {
                    prop_assert!(rate.num > 0 && (1..=MAX_WINDOW).contains(&rate.window));
                }
            }

            /// Strings close to the syntax (digits, signs, slashes, units, spaces).
            #[test]
            fn near_misses_parse_or_fail(s in "[ 0-9+/-]{0,12}[smhdwé]{0,3}[a-z0-9/ ]{0,6}") {
                if let Ok(rate) = s.parse::<Rate>() {
                    prop_assert!(rate.num > 0 && (1..=MAX_WINDOW).contains(&rate.window));
                    prop_assert_eq!(rate.to_string().parse::<Rate>(), Ok(rate));
                }
            }

            /// `Display` (`N/Ws`) parses back to the same rate.
            #[test]
            fn display_round_trips(num in 1u32.., window in 1..=MAX_WINDOW) {
                let rate = Rate { num, window };
                prop_assert_eq!(rate.to_string().parse::<Rate>(), Ok(rate));
            }

            /// `N/[count]unit` means `count * unit` seconds, refused past a year.
            #[test]
            fn drf_syntax_model(num in 0u32.., count in proptest::option::of(0u64..1_000_000), (unit, seconds) in unit()) {
                let s = match count {
                    Some(c) => format!("{num}/{c}{unit}"),
                    None => format!("{num}/{unit}"),
                };
                let window = count.unwrap_or(1) * seconds;
                let expected = (num > 0 && (1..=MAX_WINDOW).contains(&window)).then_some(Rate { num, window });
                prop_assert_eq!(s.parse::<Rate>().ok(), expected);
            }
        }
    }
}
