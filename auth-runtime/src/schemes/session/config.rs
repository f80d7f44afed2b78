//! The Session scheme's configuration: [`SessionConfig`] and where sessions are kept.

use std::sync::LazyLock;

use crate::state::Auth;

/// Where sessions are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStoreKind {
    /// The `auth_sessions` table (default).
    #[default]
    Database,
    /// Redis at [`SessionConfig::redis_url`], for apps that run several instances.
    Redis,
}

/// Configuration of [`Session`](super::Session) and of the session middleware (times in seconds).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SessionConfig {
    /// The session cookie's name. Default `"sessionid"` (Django's).
    pub cookie_name: String,
    /// `Secure` on the session and CSRF cookies. Default true; turn off only for plain-HTTP
    /// development on loopback.
    pub cookie_secure: bool,
    /// A session unused for this long ends. Default 1209600 (two weeks, Django's
    /// `SESSION_COOKIE_AGE`).
    pub idle_timeout: u64,
    /// A session ends this long after login however much it is used. Default 2592000 (30 days).
    pub absolute_lifetime: u64,
    /// The CSRF cookie's name. Default `"csrftoken"`.
    pub csrf_cookie_name: String,
    /// The CSRF header. Default `"X-CSRFToken"`.
    pub csrf_header_name: String,
    /// Origins besides the app's own allowed to send unsafe requests, e.g.
    /// `"https://app.example.com"` (Django's `CSRF_TRUSTED_ORIGINS`).
    pub trusted_origins: Vec<String>,
    /// Where sessions are kept. Default the database.
    pub store: SessionStoreKind,
    /// Redis URL for [`SessionStoreKind::Redis`], e.g. `redis://127.0.0.1:6379`.
    pub redis_url: Option<String>,
    /// The idle expiry is pushed back (one store write) on the first request after this
    /// percentage of [`SessionConfig::idle_timeout`] has passed since it was last set, not on
    /// every request. Default 10: a two-week session is written at most every ~34 hours,
    /// and ends after between 90% and 100% of the idle timeout without use.
    pub expiry_refresh_percent: u64,
    /// How often (seconds) the background task of [`crate::lifecycle::spawn_flush`] deletes
    /// expired sessions and every other expired record. Default 3600; 0: never (the CLI's
    /// `flush-expired-tokens` still does).
    pub cleanup_interval: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            cookie_name: "sessionid".into(),
            cookie_secure: true,
            idle_timeout: 1_209_600,
            absolute_lifetime: 2_592_000,
            csrf_cookie_name: "csrftoken".into(),
            csrf_header_name: "X-CSRFToken".into(),
            trusted_origins: Vec::new(),
            store: SessionStoreKind::Database,
            redis_url: None,
            expiry_refresh_percent: 10,
            cleanup_interval: 3600,
        }
    }
}

static DEFAULT_CONFIG: LazyLock<SessionConfig> = LazyLock::new(SessionConfig::default);

pub(crate) fn config(auth: &Auth) -> &SessionConfig {
    auth.config::<SessionConfig>().unwrap_or(&DEFAULT_CONFIG)
}
