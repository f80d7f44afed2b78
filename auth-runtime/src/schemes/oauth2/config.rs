//! The configuration of the OAuth2 scheme and of the authorization server.

use crate::state::Auth;

/// Configuration of [`OAuth2`](super::OAuth2) and of the authorization server (lifetimes in seconds).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct OAuth2Config {
    /// The `realm` of the Bearer challenge. Default `"api"`.
    pub realm: String,
    /// Access-token lifetime. Default 3600 (one hour).
    pub access_token_lifetime: u64,
    /// Refresh-token lifetime. Default 2592000 (30 days).
    pub refresh_token_lifetime: u64,
    /// Authorization-code lifetime. Default 60 (RFC 6749 section 4.1.2 recommends at most
    /// ten minutes; one minute is plenty for a redirect).
    pub code_lifetime: u64,
    /// The issuer identifier of RFC 8414 (`https://auth.example.com`); `None`: the request's
    /// own origin `scheme://host`. Set from `AUTH_ISSUER` by the example app.
    pub issuer: Option<String>,
    /// Every scope this server knows. Default `["read", "write"]`.
    pub scopes: Vec<String>,
}

impl Default for OAuth2Config {
    fn default() -> Self {
        OAuth2Config {
            realm: "api".into(),
            access_token_lifetime: 3600,
            refresh_token_lifetime: 2_592_000,
            code_lifetime: 60,
            issuer: None,
            scopes: vec!["read".into(), "write".into()],
        }
    }
}

/// The configuration in `auth`, or the default.
pub fn config(auth: &Auth) -> OAuth2Config {
    auth.config::<OAuth2Config>().cloned().unwrap_or_default()
}
