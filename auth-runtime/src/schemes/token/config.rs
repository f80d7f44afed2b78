//! The Token scheme's configuration.

/// Configuration of [`Token`](super::Token).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct TokenConfig {
    /// The auth-scheme keyword of the header. Default `"Token"` (DRF's).
    pub keyword: String,
    /// Lifetime of tokens issued by `POST /api/auth/token`, in seconds; `None`: no expiry.
    pub ttl: Option<u64>,
    /// The last-used time is written at most once per this many seconds per token (knox's
    /// `MIN_REFRESH_INTERVAL`), so reads do not turn into a write each. Default 60.
    pub last_used_interval: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig { keyword: "Token".into(), ttl: None, last_used_interval: 60 }
    }
}
