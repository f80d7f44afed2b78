//! The principal cache: verified principals kept in memory for a few seconds, so a repeated
//! credential (token, session, JWT, OAuth2 access token, and opt-in Basic) costs no database
//! round trip, and never served once the credential is revoked.
//!
//! # The guarantee
//! Every revocation path (token delete, logout, password change, deactivation, deletion, JWT
//! blacklist and family revocation, OAuth2 revocation, ending sessions) calls
//! [`PrincipalCache::revoke`] for the user (or OAuth2 client) it affects, after its database
//! write and before its response. Revocations are numbered: each bumps a sequence and records
//! it against the subject. A cache entry remembers the sequence read *before* its database
//! read (its snapshot); it is served only while no revocation of its subjects is numbered
//! after that snapshot. So an entry filled by a read that raced a revocation is never served,
//! and on the revoking instance the next request after the response goes to the database.
//!
//! Other instances learn of a revocation through [`crate::cache::Bus`] (Redis pub/sub when
//! a Redis URL is configured, else PostgreSQL `LISTEN/NOTIFY`); until the message arrives an
//! entry there may be served, and never longer than the TTL (default 5 s). A revocation made
//! by a process without a bus (e.g. the CLI on SQLite) is seen after at most the TTL.
//!
//! Memory is bounded: at most [`CacheConfig::max_entries`] principals, and as many
//! revocation records; when a revocation record must be evicted to make room, every entry
//! older than it stops being served (the cache is, in effect, flushed).

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use moka::notification::RemovalCause;
use sha2::{Digest, Sha256};

use crate::principal::Principal;
use crate::users::UserRow;

/// Settings of the principal cache (section `cache` of the settings).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct CacheConfig {
    /// How long a verified principal is served from memory, in seconds; also the longest an
    /// instance that missed a revocation message may serve it. 0 turns the cache off.
    /// Default 5.
    pub ttl: u64,
    /// Most principals kept (each is a few hundred bytes). Default 100 000.
    pub max_entries: u64,
    /// Opt-in: how long a verified Basic username/password pair is remembered, in seconds,
    /// so a repeated Basic request costs no password hash (Elasticsearch's realm cache).
    /// The key is the SHA-256 of the exact credentials; a password change or deactivation
    /// ends it. The trade-off: for this long, a copy of the process memory reveals which
    /// digests are valid credentials. Default 0 (off).
    pub basic_ttl: u64,
    /// Redis URL to publish and receive revocations on, so every instance drops them (e.g.
    /// `redis://127.0.0.1:6379`). Without it, PostgreSQL databases use `LISTEN/NOTIFY`;
    /// SQLite has no cross-process channel (one instance; the CLI's changes show after the TTL).
    pub redis_url: Option<String>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { ttl: 5, max_entries: 100_000, basic_ttl: 0, redis_url: None }
    }
}

/// Whose credentials a revocation ends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// Every credential of this user id.
    User(i64),
    /// Every credential issued to this OAuth2 client (its application's primary key).
    Client(i64),
}

impl Subject {
    /// The wire form used by the [`Bus`]: `u:<user id>` or `c:<application id>`.
    pub fn encode(&self) -> String {
        match self {
            Subject::User(id) => format!("u:{id}"),
            Subject::Client(c) => format!("c:{c}"),
        }
    }

    /// Parses [`Subject::encode`]'s form; `None` for anything else.
    pub fn decode(s: &str) -> Option<Subject> {
        match s.split_once(':')? {
            ("u", id) => id.parse().ok().map(Subject::User),
            ("c", id) => id.parse().ok().map(Subject::Client),
            _ => None,
        }
    }
}

/// A cache key: the SHA-256 of the scheme's name and the exact credential, so the cache holds
/// no usable secret.
pub type Key = [u8; 32];

/// The revocation sequence read before a database read; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    seq: u64,
    at: Instant,
}

#[derive(Debug, Clone)]
struct Entry<V> {
    value: V,
    user: Option<i64>,
    client: Option<i64>,
    snapshot: u64,
    valid_until: Instant,
}

/// Numbered revocations per subject, shared by every cache of an [`crate::Auth`].
#[derive(Debug)]
struct Revocations {
    seq: AtomicU64,
    /// Entries whose snapshot is below this are not served (raised when a revocation record
    /// is evicted for room).
    floor: Arc<AtomicU64>,
    by_subject: moka::sync::Cache<Subject, u64>,
}

/// The cache of one value type (principals; session states), tied to the shared revocations.
#[derive(Debug, Clone)]
pub struct GenCache<V: Clone + Send + Sync + 'static> {
    entries: Option<moka::sync::Cache<Key, Arc<Entry<V>>>>,
    revocations: Arc<Revocations>,
    ttl: Duration,
}

/// How much older than its insertion a snapshot may be (a slow database read): an entry read
/// that long ago is not cached, so revocation records need to live only TTL + this.
const MAX_READ_TIME: Duration = Duration::from_secs(30);

impl<V: Clone + Send + Sync + 'static> GenCache<V> {
    fn new(revocations: Arc<Revocations>, ttl: Duration, max_entries: u64) -> Self {
        let entries =
            (!ttl.is_zero()).then(|| moka::sync::Cache::builder().max_capacity(max_entries).time_to_live(ttl).build());
        GenCache { entries, revocations, ttl }
    }

    /// Whether the cache is on (a TTL above 0).
    pub fn enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// The key of `credential` for `scheme`.
    pub fn key(scheme: &str, credential: &[u8]) -> Key {
        let mut h = Sha256::new();
        h.update(scheme.as_bytes());
        h.update([0u8]);
        h.update(credential);
        h.finalize().into()
    }

    /// Takes the snapshot to pass to [`GenCache::insert`]; call it before the database read.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot { seq: self.revocations.seq.load(Ordering::SeqCst), at: Instant::now() }
    }

    /// The cached value of `key`, if present, unexpired and not revoked since it was read.
    pub fn get(&self, key: &Key) -> Option<V> {
        let entries = self.entries.as_ref()?;
        let entry = entries.get(key)?;
        if entry.valid_until <= Instant::now() || !self.revocations.current(&entry) {
            entries.invalidate(key);
            return None;
        }
        Some(entry.value.clone())
    }

    /// Caches `value` under `key`, read from the database after `snapshot`, for the TTL or
    /// until `expires_at` (the credential's own expiry) if sooner. `user` and `client` are
    /// the subjects whose revocation ends it.
    pub fn insert(
        &self,
        key: Key,
        snapshot: Snapshot,
        value: V,
        user: Option<i64>,
        client: Option<i64>,
        expires_at: Option<DateTime<Utc>>,
    ) {
        let Some(entries) = &self.entries else { return };
        let now = Instant::now();
        if now.duration_since(snapshot.at) > MAX_READ_TIME {
            return;
        }
        let mut valid_until = now + self.ttl;
        if let Some(exp) = expires_at {
            let left = (exp - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            valid_until = valid_until.min(now + left);
        }
        let entry = Entry { value, user, client, snapshot: snapshot.seq, valid_until };
        if self.revocations.current(&entry) {
            entries.insert(key, Arc::new(entry));
        }
    }

    /// Drops one entry (e.g. a session whose state changed on this instance).
    pub fn remove(&self, key: &Key) {
        if let Some(entries) = &self.entries {
            entries.invalidate(key);
        }
    }

    /// A cache of another value type sharing these revocations.
    pub fn sibling<W: Clone + Send + Sync + 'static>(&self, max_entries: u64) -> GenCache<W> {
        GenCache::new(self.revocations.clone(), self.ttl, max_entries)
    }

    /// Records a revocation of `subject` on this instance only (what the [`Bus`] applies).
    /// Every entry read before now for that subject stops being served.
    pub fn revoke_local(&self, subject: Subject) {
        self.revocations.revoke(subject);
    }

    /// Number of entries (approximate; for tests and metrics).
    pub fn len(&self) -> u64 {
        self.entries.as_ref().map_or(0, |e| {
            e.run_pending_tasks();
            e.entry_count()
        })
    }

    /// Whether no entry is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Revocations {
    fn new(ttl: Duration, max_entries: u64) -> Self {
        let floor = Arc::new(AtomicU64::new(0));
        let seq_at_eviction = floor.clone();
        let by_subject = moka::sync::Cache::builder()
            .max_capacity(max_entries.max(1024))
            .time_to_live(ttl + MAX_READ_TIME + Duration::from_secs(1))
            .eviction_listener(move |_subject, seq: u64, cause| {
                // A record evicted for room could still be needed: entries read before it
                // stop being served.
                if cause == RemovalCause::Size {
                    seq_at_eviction.fetch_max(seq, Ordering::SeqCst);
                }
            })
            .build();
        Revocations { seq: AtomicU64::new(0), floor, by_subject }
    }

    /// Stops serving every entry read so far (a lost connection may have lost revocations).
    fn flush(&self) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        self.floor.fetch_max(seq, Ordering::SeqCst);
    }

    fn revoke(&self, subject: Subject) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        // Two revocations of one subject may race here: keep the higher number, so a
        // stored record never moves backwards past an entry's snapshot.
        self.by_subject.entry(subject).and_upsert_with(|old| old.map_or(seq, |e| seq.max(*e.value())));
    }

    fn current<V>(&self, entry: &Entry<V>) -> bool {
        if entry.snapshot < self.floor.load(Ordering::SeqCst) {
            return false;
        }
        let after = |s: Subject| self.by_subject.get(&s).is_some_and(|r| r > entry.snapshot);
        !(entry.user.is_some_and(|u| after(Subject::User(u)))
            || entry.client.is_some_and(|c| after(Subject::Client(c))))
    }
}

/// The caches of an [`crate::Auth`]: principals (every scheme) and verified Basic credentials.
#[derive(Debug, Clone)]
pub struct PrincipalCache {
    principals: GenCache<Principal>,
    users: GenCache<Arc<UserRow>>,
    basic: GenCache<Principal>,
    bus: Arc<std::sync::OnceLock<Bus>>,
}

impl PrincipalCache {
    /// Builds the caches from `config`.
    pub fn new(config: &CacheConfig) -> Self {
        let ttl = Duration::from_secs(config.ttl);
        let revocations =
            Arc::new(Revocations::new(ttl.max(Duration::from_secs(config.basic_ttl)), config.max_entries));
        PrincipalCache {
            principals: GenCache::new(revocations.clone(), ttl, config.max_entries),
            users: GenCache::new(revocations.clone(), ttl, config.max_entries),
            basic: GenCache::new(revocations, Duration::from_secs(config.basic_ttl), config.max_entries),
            bus: Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// The principals of every scheme but Basic.
    pub fn principals(&self) -> &GenCache<Principal> {
        &self.principals
    }

    /// User rows with their revocation times, by user id (JWT and Session).
    pub fn users(&self) -> &GenCache<Arc<UserRow>> {
        &self.users
    }

    /// Verified Basic credentials (off unless [`CacheConfig::basic_ttl`] is set).
    pub fn basic(&self) -> &GenCache<Principal> {
        &self.basic
    }

    /// Records that every credential of `subject` issued so far is revoked: on this instance
    /// at once, and on the others through the bus when one is attached. Call it after the
    /// database write and before answering.
    pub async fn revoke(&self, subject: Subject) {
        self.principals.revoke_local(subject.clone());
        if let Some(bus) = self.bus.get() {
            bus.publish(&subject).await;
        }
    }

    /// Connects the revocation bus: publishes this instance's revocations and applies the
    /// other instances' (a task on the current runtime). Redis when `config.redis_url` is
    /// set, else PostgreSQL `LISTEN/NOTIFY` when `db` is PostgreSQL, else nothing. When the
    /// listening connection drops, every cached entry stops being served (messages may have
    /// been lost) and the listener reconnects once a second.
    ///
    /// # Errors
    /// A message when the Redis URL is invalid.
    pub async fn connect_bus(&self, config: &CacheConfig, db: &sea_orm::DatabaseConnection) -> Result<(), String> {
        if !self.principals.enabled() && !self.basic.enabled() {
            return Ok(());
        }
        let revocations = self.principals.revocations.clone();
        if let Some(url) = &config.redis_url {
            let client = redis::Client::open(url.as_str()).map_err(|e| format!("invalid Redis URL: {e}"))?;
            // Connected on first use: a Redis that is away at start-up delays nothing (until
            // the subscription is up, other instances' revocations show within the TTL).
            let _ = self.bus.set(Bus::Redis { client: client.clone(), conn: Arc::new(tokio::sync::OnceCell::new()) });
            tokio::spawn(async move {
                loop {
                    listen_redis(&client, &revocations).await;
                    revocations.flush();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        } else if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            let _ = self.bus.set(Bus::Postgres(db.clone()));
            let pool = db.get_postgres_connection_pool().clone();
            tokio::spawn(async move {
                loop {
                    listen_postgres(&pool, &revocations).await;
                    revocations.flush();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
        Ok(())
    }
}

fn apply(revocations: &Revocations, payload: &str) {
    match Subject::decode(payload) {
        Some(subject) => revocations.revoke(subject),
        None => tracing::warn!("ignored a malformed revocation message"),
    }
}

/// Applies revocations from Redis until the connection drops.
async fn listen_redis(client: &redis::Client, revocations: &Revocations) {
    use futures_util::StreamExt;
    let connected = tokio::time::timeout(Duration::from_secs(1), async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(CHANNEL).await?;
        Ok::<_, redis::RedisError>(pubsub)
    })
    .await;
    let pubsub = match connected {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return tracing::warn!(error = %e, "revocation bus: cannot subscribe on Redis"),
        Err(_) => return tracing::warn!("revocation bus: Redis did not answer within 1 s"),
    };
    // Subscribed: anything cached before may have missed messages while we were away.
    revocations.flush();
    let mut messages = pubsub.into_on_message();
    while let Some(msg) = messages.next().await {
        match msg.get_payload::<String>() {
            Ok(payload) => apply(revocations, &payload),
            Err(_) => tracing::warn!("ignored a malformed revocation message"),
        }
    }
    tracing::warn!("revocation bus: the Redis subscription ended; reconnecting");
}

/// Applies revocations from PostgreSQL notifications until the connection fails.
async fn listen_postgres(pool: &sea_orm::sqlx::PgPool, revocations: &Revocations) {
    let mut listener = match sea_orm::sqlx::postgres::PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => return tracing::warn!(error = %e, "revocation bus: cannot listen on PostgreSQL"),
    };
    if let Err(e) = listener.listen(CHANNEL).await {
        return tracing::warn!(error = %e, "revocation bus: LISTEN failed");
    }
    revocations.flush();
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => apply(revocations, n.payload()),
            // The connection was lost (notifications in between are gone).
            Ok(None) => {
                tracing::warn!("revocation bus: the PostgreSQL connection was lost; reconnecting");
                revocations.flush();
            }
            Err(e) => return tracing::warn!(error = %e, "revocation bus: PostgreSQL listener failed"),
        }
    }
}

/// The channel on which revocations reach the other instances.
pub const CHANNEL: &str = "auth_revocations";

/// Publishes revocations to the other instances (Redis `PUBLISH` or PostgreSQL `NOTIFY` on
/// [`CHANNEL`]); see [`crate::Auth::start_revocation_bus`] for the receiving side.
#[derive(Clone)]
pub enum Bus {
    /// Redis pub/sub through a connection manager (bounded command timeouts), connected on
    /// first use.
    Redis {
        /// The Redis client.
        client: redis::Client,
        /// The publishing connection, once made.
        conn: Arc<tokio::sync::OnceCell<redis::aio::ConnectionManager>>,
    },
    /// PostgreSQL `NOTIFY` through the pool.
    Postgres(sea_orm::DatabaseConnection),
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bus::Redis { .. } => "Bus::Redis",
            Bus::Postgres(_) => "Bus::Postgres",
        })
    }
}

impl Bus {
    async fn publish(&self, subject: &Subject) {
        let message = subject.encode();
        let send = async {
            match self {
                Bus::Redis { client, conn } => {
                    let conn = conn
                        .get_or_try_init(|| {
                            redis::aio::ConnectionManager::new_with_config(
                                client.clone(),
                                crate::breaker::redis_config(),
                            )
                        })
                        .await
                        .map_err(|e| e.to_string())?;
                    let mut conn = conn.clone();
                    redis::cmd("PUBLISH")
                        .arg(CHANNEL)
                        .arg(&message)
                        .query_async::<i64>(&mut conn)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
                Bus::Postgres(db) => {
                    use sea_orm::ConnectionTrait;
                    let stmt = sea_orm::Statement::from_sql_and_values(
                        sea_orm::DatabaseBackend::Postgres,
                        "SELECT pg_notify($1, $2)",
                        [CHANNEL.into(), message.clone().into()],
                    );
                    db.execute_raw(stmt).await.map(|_| ()).map_err(|e| e.to_string())
                }
            }
        };
        // Bounded: a revocation is answered within a second even when the bus is down.
        let sent = tokio::time::timeout(crate::breaker::DEFAULT_TIMEOUT, send)
            .await
            .unwrap_or_else(|_| Err("no answer within 1 s".to_owned()));
        if let Err(e) = sent {
            // The revocation itself is committed and applied here; other instances stop
            // serving it within the TTL.
            tracing::warn!(error = %e, "could not publish a revocation; other instances drop it within the cache TTL");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::{SchemeData, User};

    fn principal(id: i64) -> Principal {
        let user = User {
            id,
            username: format!("u{id}"),
            email: String::new(),
            is_staff: false,
            is_active: true,
            is_superuser: false,
            fields: Default::default(),
        };
        Principal::for_user(user, "token", SchemeData::Custom("x".into()))
    }

    #[test]
    fn revocation_after_snapshot_refuses_the_entry() {
        let cache = PrincipalCache::new(&CacheConfig::default());
        let c = cache.principals();
        let key = GenCache::<Principal>::key("token", b"k");
        let snap = c.snapshot();
        c.revoke_local(Subject::User(1));
        c.insert(key, snap, principal(1), Some(1), None, None);
        assert!(c.get(&key).is_none(), "read raced a revocation: must not be served");
        let snap = c.snapshot();
        c.insert(key, snap, principal(1), Some(1), None, None);
        assert!(c.get(&key).is_some());
        c.revoke_local(Subject::User(2));
        assert!(c.get(&key).is_some(), "another user's revocation leaves it");
        c.revoke_local(Subject::User(1));
        assert!(c.get(&key).is_none());
    }

    #[test]
    fn client_revocation_and_expiry() {
        let cache = PrincipalCache::new(&CacheConfig::default());
        let c = cache.principals();
        let key = GenCache::<Principal>::key("oauth2", b"t");
        c.insert(key, c.snapshot(), principal(1), None, Some(7), None);
        assert!(c.get(&key).is_some());
        c.revoke_local(Subject::Client(7));
        assert!(c.get(&key).is_none());
        c.insert(key, c.snapshot(), principal(1), None, None, Some(Utc::now() - chrono::Duration::seconds(1)));
        assert!(c.get(&key).is_none(), "an expired credential is not served");
    }

    #[test]
    fn zero_ttl_disables() {
        let cache = PrincipalCache::new(&CacheConfig { ttl: 0, ..CacheConfig::default() });
        let c = cache.principals();
        let key = GenCache::<Principal>::key("token", b"k");
        c.insert(key, c.snapshot(), principal(1), Some(1), None, None);
        assert!(!c.enabled());
        assert!(c.get(&key).is_none());
    }

    #[test]
    fn evicted_revocation_records_flush_older_entries() {
        let cache = PrincipalCache::new(&CacheConfig { max_entries: 10, ..CacheConfig::default() });
        let c = cache.principals();
        let key = GenCache::<Principal>::key("token", b"k");
        c.insert(key, c.snapshot(), principal(1), Some(1), None, None);
        for id in 0..5000 {
            c.revoke_local(Subject::User(1000 + id));
        }
        c.revocations.by_subject.run_pending_tasks();
        assert!(c.get(&key).is_none(), "with records evicted, older entries cannot be vouched for");
    }

    #[test]
    fn subject_wire_form() {
        for s in [Subject::User(42), Subject::Client(7)] {
            assert_eq!(Subject::decode(&s.encode()), Some(s));
        }
        assert_eq!(Subject::decode("x:1"), None);
        assert_eq!(Subject::decode("u:abc"), None);
    }
}
