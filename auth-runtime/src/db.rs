//! Opening the database: a real connection pool, sized and tuned for authentication's load
//! (many short reads, few writes), with bounded waits so a store fault is a fast 503.
//!
//! - SQLite: WAL journal (readers never wait for the writer), `synchronous=NORMAL` (durable
//!   at checkpoints, the setting SQLite recommends with WAL), a busy timeout for the single
//!   writer, and several connections so reads run in parallel. sea-orm alone would open
//!   one connection for SQLite, which serialises every request.
//! - PostgreSQL: a pool sized to the workers.
//! - Both: a connection is pinged before use only after it sat idle (not on every checkout,
//!   which would double the round trips), and sqlx's per-statement logging is off.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Pool settings for [`connect`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct PoolConfig {
    /// Most open connections. Default 0: chosen by backend. SQLite: 32 (a connection is a
    /// thread and its page cache in this process; in WAL mode readers run in parallel, and
    /// with fewer connections than concurrent requests they queue for a connection:
    /// measured with wrk at 32 connections, 8 gave 0.80x the throughput of 32).
    /// PostgreSQL: 4 per core, between 4 and 32 (the server's own `max_connections` is 100
    /// by default; several instances share it).
    pub max_connections: u32,
    /// Connections kept open when idle. Default 1.
    pub min_connections: u32,
    /// Longest wait for a free connection, in milliseconds, before the request is answered
    /// 503. Default 1000.
    pub acquire_timeout_ms: u64,
    /// Longest wait to open a connection, in milliseconds. Default 1000.
    pub connect_timeout_ms: u64,
    /// SQLite only: how long a writer waits for the write lock, in milliseconds. Default 1000.
    pub busy_timeout_ms: u64,
    /// Longest a whole database call of the framework may take (waiting for a connection
    /// included), in milliseconds, before it fails and the request is answered 503: a
    /// database that stopped answering (a frozen server, a network dropping packets) costs
    /// a request this long, not a TCP timeout of minutes. Default 1500. One value per
    /// process: the last pool opened with [`connect`] sets it.
    pub command_timeout_ms: u64,
}

impl PoolConfig {
    /// The pool's size for `url`: [`PoolConfig::max_connections`], or when it is 0 the
    /// backend's default (32 for SQLite; 4 per core, 4 to 32, for PostgreSQL).
    pub fn max_connections_for(&self, url: &str) -> u32 {
        if self.max_connections > 0 {
            return self.max_connections;
        }
        if url.starts_with("sqlite:") {
            return 32;
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        u32::try_from(cores * 4).unwrap_or(32).clamp(4, 32)
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 0,
            min_connections: 1,
            acquire_timeout_ms: 1000,
            connect_timeout_ms: 1000,
            busy_timeout_ms: 1000,
            command_timeout_ms: 1500,
        }
    }
}

/// Opens a pool on `url` (`sqlite://file?mode=rwc` or `postgres://...`) with `config`.
///
/// # Errors
/// The driver's error when the database cannot be opened within the connect timeout.
pub async fn connect(url: &str, config: &PoolConfig) -> Result<DatabaseConnection, DbErr> {
    COMMAND_TIMEOUT_MS.store(config.command_timeout_ms.max(1), Ordering::Relaxed);
    let mut options = ConnectOptions::new(url.to_owned());
    let busy = Duration::from_millis(config.busy_timeout_ms);
    let max = config.max_connections_for(url);
    options
        .max_connections(max)
        .min_connections(config.min_connections.min(max))
        .acquire_timeout(Duration::from_millis(config.acquire_timeout_ms))
        .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Normal).busy_timeout(busy)
        });
    Database::connect(options).await
}

static COMMAND_TIMEOUT_MS: AtomicU64 = AtomicU64::new(1500);

/// The bound of every database call: [`PoolConfig::command_timeout_ms`].
pub fn command_timeout() -> Duration {
    Duration::from_millis(COMMAND_TIMEOUT_MS.load(Ordering::Relaxed))
}

/// The future of [`Bounded::bounded`].
pub type BoundedCall<F, T> = futures_util::future::Map<
    tokio::time::Timeout<F>,
    fn(Result<Result<T, DbErr>, tokio::time::error::Elapsed>) -> Result<T, DbErr>,
>;

fn timed_out<T>(result: Result<Result<T, DbErr>, tokio::time::error::Elapsed>) -> Result<T, DbErr> {
    result.unwrap_or_else(|_| {
        Err(DbErr::Conn(sea_orm::RuntimeErr::Internal("the database did not answer within the command timeout".into())))
    })
}

/// Bounds a database call by [`command_timeout`]: every call the framework makes goes
/// through it (`.one(db).bounded().await`), so a database that stops answering is a 503
/// after the timeout, and the stuck connection is dropped instead of holding the request.
pub trait Bounded<T>: Future<Output = Result<T, DbErr>> + Sized {
    /// This call, failing with a connection error after [`command_timeout`].
    fn bounded(self) -> BoundedCall<Self, T> {
        tokio::time::timeout(command_timeout(), self).map(timed_out::<T> as fn(_) -> _)
    }
}

impl<T, F: Future<Output = Result<T, DbErr>>> Bounded<T> for F {}

/// A database health check shared by concurrent requests: at most one ping per second.
#[derive(Debug, Default)]
pub struct HealthCheck {
    /// When the last ping finished, and whether it succeeded.
    last: std::sync::Mutex<Option<(Instant, bool)>>,
    /// Held while a ping runs, so concurrent callers wait for its answer instead of pinging.
    ping: tokio::sync::Mutex<()>,
}

/// How long a ping's answer is reused.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// The longest a ping may take before the database counts as down.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

impl HealthCheck {
    fn fresh(&self) -> Option<bool> {
        let last = *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        last.filter(|(at, _)| at.elapsed() < HEALTH_INTERVAL).map(|(_, ok)| ok)
    }

    /// Whether `db` answered a ping within the last second. When the last answer is older,
    /// one caller pings (bounded by 2 s) while the others wait for its answer.
    pub async fn check(&self, db: &DatabaseConnection) -> bool {
        if let Some(ok) = self.fresh() {
            return ok;
        }
        let _running = self.ping.lock().await;
        if let Some(ok) = self.fresh() {
            return ok;
        }
        let ok = matches!(tokio::time::timeout(PING_TIMEOUT, db.ping()).await, Ok(Ok(())));
        *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), ok));
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pool_has_several_connections() {
        let c = PoolConfig::default();
        assert_eq!(c.max_connections_for("sqlite://x.sqlite3"), 32);
        assert!(c.max_connections_for("postgres://h/db") >= 4);
        assert!(c.acquire_timeout_ms <= 1000);
    }
}
