//! Fail fast on an outside store (Redis): every call is bounded by a timeout, and a circuit
//! breaker remembers a failure for a short cooldown, during which calls fail at once instead
//! of each waiting for its own timeout. Fail-open paths (request rates) then cost nothing
//! while the store is down; fail-closed paths (logins, sessions) answer 503 at once. After
//! the cooldown one call goes through again; its success closes the breaker.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Longest wait for one store command (connect included), unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a failure is remembered.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(1);

/// The connection settings of every Redis connection the framework opens (sessions,
/// throttles, the revocation bus): connect and response timeouts of [`DEFAULT_TIMEOUT`] and
/// one retry, so a Redis that does not answer is a fault within seconds, never a hang.
pub fn redis_config() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(DEFAULT_TIMEOUT)
        .set_response_timeout(DEFAULT_TIMEOUT)
        .set_number_of_retries(1)
}

/// Why a store call did not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreFault {
    /// A recent call failed; this one was not tried (the breaker is open).
    #[error("the store failed less than {0:?} ago; not tried")]
    Open(Duration),
    /// No answer within the timeout.
    #[error("the store did not answer within {0:?}")]
    TimedOut(Duration),
    /// The store answered with an error (or the connection failed).
    #[error("{0}")]
    Failed(String),
}

/// A circuit breaker with a command timeout for one store.
#[derive(Debug)]
pub struct Breaker {
    timeout: Duration,
    cooldown: Duration,
    origin: Instant,
    /// Milliseconds after `origin` until which calls fail at once; 0 when closed.
    open_until_ms: AtomicU64,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker::new(DEFAULT_TIMEOUT, DEFAULT_COOLDOWN)
    }
}

impl Breaker {
    /// A closed breaker: each call bounded by `timeout`; a failure opens it for `cooldown`.
    pub fn new(timeout: Duration, cooldown: Duration) -> Self {
        Breaker { timeout, cooldown, origin: Instant::now(), open_until_ms: AtomicU64::new(0) }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether calls currently fail at once.
    pub fn is_open(&self) -> bool {
        self.now_ms() < self.open_until_ms.load(Ordering::Acquire)
    }

    /// Runs `call` unless the breaker is open, bounded by the timeout; a failure or timeout
    /// opens the breaker, a success closes it.
    ///
    /// # Errors
    /// [`StoreFault`]: open, timed out, or the store's own error.
    pub async fn call<T, E: std::fmt::Display>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreFault> {
        if self.is_open() {
            return Err(StoreFault::Open(self.cooldown));
        }
        let result = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => {
                self.open_until_ms.store(0, Ordering::Release);
                return Ok(value);
            }
            Ok(Err(e)) => StoreFault::Failed(e.to_string()),
            Err(_) => StoreFault::TimedOut(self.timeout),
        };
        let until = self.now_ms().saturating_add(u64::try_from(self.cooldown.as_millis()).unwrap_or(u64::MAX));
        self.open_until_ms.fetch_max(until, Ordering::AcqRel);
        Err(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_on_failure_and_closes_after_the_cooldown() {
        let b = Breaker::new(Duration::from_millis(50), Duration::from_millis(100));
        assert_eq!(b.call(async { Ok::<_, String>(1) }).await.unwrap(), 1);
        assert!(matches!(b.call(async { Err::<(), _>("down") }).await, Err(StoreFault::Failed(_))));
        assert!(b.is_open());
        let mut tried = false;
        let r = b
            .call(async {
                tried = true;
                Ok::<_, String>(())
            })
            .await;
        assert!(matches!(r, Err(StoreFault::Open(_))) && !tried, "not tried while open");
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(b.call(async { Ok::<_, String>(()) }).await.is_ok(), "tried again after the cooldown");
        assert!(!b.is_open());
    }

    #[tokio::test]
    async fn a_hanging_call_times_out() {
        let b = Breaker::new(Duration::from_millis(20), Duration::from_millis(100));
        let r = b.call(std::future::pending::<Result<(), String>>()).await;
        assert!(matches!(r, Err(StoreFault::TimedOut(_))));
        assert!(b.is_open());
    }
}
