//! The Jwt scheme's configuration: algorithm and keys, lifetimes, claims, and the kinds of
//! token it issues.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::principal::User;

pub use crate::keys::VerifyingKey;

/// Configuration of [`Jwt`](super::Jwt), with Simple JWT's meaning and defaults (lifetimes in seconds).
#[derive(Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct JwtConfig {
    /// Access-token lifetime (Simple JWT's `ACCESS_TOKEN_LIFETIME`). Default 300.
    pub access_lifetime: u64,
    /// Refresh-token lifetime (`REFRESH_TOKEN_LIFETIME`). Default 86400.
    pub refresh_lifetime: u64,
    /// A refresh returns a new refresh token too (`ROTATE_REFRESH_TOKENS`). Default false.
    pub rotate_refresh_tokens: bool,
    /// With rotation, the used refresh token is blacklisted (`BLACKLIST_AFTER_ROTATION`); a
    /// reuse of it then revokes every refresh token of the same login (replay detection).
    /// Default false.
    pub blacklist_after_rotation: bool,
    /// `jwt/create` records the login time (`UPDATE_LAST_LOGIN`). Default false.
    pub update_last_login: bool,
    /// Signing algorithm: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384, EdDSA.
    /// Default `"HS256"`.
    pub algorithm: String,
    /// HS secret or PEM private key. `None`: the raw bytes of the app's secret key (as
    /// Simple JWT uses Django's `SECRET_KEY`). Default `None`.
    pub signing_key: Option<String>,
    /// PEM public key for asymmetric algorithms; for HS the signing key verifies.
    pub verifying_key: Option<String>,
    /// The `kid` header put on issued tokens (and the key it names). Default `None`.
    pub kid: Option<String>,
    /// Further verifying keys by `kid` (old keys during a rotation).
    pub verifying_keys: Vec<VerifyingKey>,
    /// Required `aud` claim, when set (put on issued tokens too).
    pub audience: Option<String>,
    /// Required `iss` claim, when set (put on issued tokens too).
    pub issuer: Option<String>,
    /// Clock leeway for `exp`, `nbf` and `iat`, in seconds. Default 0.
    pub leeway: u64,
    /// Accepted auth-scheme keywords (`AUTH_HEADER_TYPES`). Default `["Bearer"]`.
    pub auth_header_types: Vec<String>,
    /// Header carrying the token (`AUTH_HEADER_NAME`). Default `"Authorization"`.
    pub auth_header_name: String,
    /// Which user field the id claim holds: `"id"` or `"username"` (`USER_ID_FIELD`).
    pub user_id_field: String,
    /// The claim holding the user id, as a JSON string (`USER_ID_CLAIM`). Default `"user_id"`.
    pub user_id_claim: String,
    /// The `realm` of the Bearer challenge. Default `"api"`.
    pub realm: String,
    /// Accept sliding tokens (Simple JWT's `SlidingToken`) on the scheme and enable the
    /// sliding endpoints. Default false.
    pub sliding: bool,
    /// Sliding-token lifetime (`SLIDING_TOKEN_LIFETIME`). Default 300.
    pub sliding_lifetime: u64,
    /// How long a sliding token may be refreshed (`SLIDING_TOKEN_REFRESH_LIFETIME`). Default 86400.
    pub sliding_refresh_lifetime: u64,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            access_lifetime: 300,
            refresh_lifetime: 86400,
            rotate_refresh_tokens: false,
            blacklist_after_rotation: false,
            update_last_login: false,
            algorithm: "HS256".into(),
            signing_key: None,
            verifying_key: None,
            kid: None,
            verifying_keys: Vec::new(),
            audience: None,
            issuer: None,
            leeway: 0,
            auth_header_types: vec!["Bearer".into()],
            auth_header_name: "Authorization".into(),
            user_id_field: "id".into(),
            user_id_claim: "user_id".into(),
            realm: "api".into(),
            sliding: false,
            sliding_lifetime: 300,
            sliding_refresh_lifetime: 86400,
        }
    }
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("access_lifetime", &self.access_lifetime)
            .field("refresh_lifetime", &self.refresh_lifetime)
            .field("rotate_refresh_tokens", &self.rotate_refresh_tokens)
            .field("blacklist_after_rotation", &self.blacklist_after_rotation)
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The kinds of token this scheme issues, told apart by `typ` header and `token_type` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Authenticates requests.
    Access,
    /// Obtains new access tokens.
    Refresh,
    /// Both, with a sliding refresh window (Simple JWT's sliding tokens).
    Sliding,
}

impl TokenKind {
    /// The `token_type` claim.
    pub fn claim(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
            TokenKind::Sliding => "sliding",
        }
    }

    /// The `typ` header (RFC 8725 section 3.11; `at+jwt` is RFC 9068's).
    pub fn typ(self) -> &'static str {
        match self {
            TokenKind::Access => "at+jwt",
            TokenKind::Refresh => "refresh+jwt",
            TokenKind::Sliding => "sliding+jwt",
        }
    }

    pub(crate) fn lifetime(self, config: &JwtConfig) -> u64 {
        match self {
            TokenKind::Access => config.access_lifetime,
            TokenKind::Refresh => config.refresh_lifetime,
            TokenKind::Sliding => config.sliding_lifetime,
        }
    }
}

/// The longest token accepted, in bytes; longer values are refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Extra claims for issued tokens: register with `AuthBuilder::with_config(JwtClaims(..))`.
/// Called with the user; its claims are added to access, refresh and sliding tokens (the
/// standard ones cannot be overridden).
#[derive(Clone)]
pub struct JwtClaims(pub Arc<ClaimsHook>);

/// The function behind [`JwtClaims`]: the user's extra claims.
pub type ClaimsHook = dyn Fn(&User) -> Map<String, Value> + Send + Sync;
