//! JSON Web Tokens: access and refresh tokens with rotation and a blacklist (Simple JWT),
//! with the defaults RFC 8725 asks for.
//!
//! `Authorization: Bearer <access JWT>`. A Bearer value that is not shaped like a JWT (three
//! dot-separated base64url segments) is not this scheme's: it passes to the next scheme, so
//! `Jwt` and `OAuth2` share one chain.
//!
//! Checks, in order: shape and size; header `typ` (explicit typing, RFC 8725 section 3.11:
//! `at+jwt` for access, `refresh+jwt` for refresh, `sliding+jwt` for sliding tokens); the
//! signature with exactly the configured algorithm of the key (so `alg: none`, RS/HS
//! confusion and unexpected algorithms fail), the key chosen by `kid` when several verify;
//! `exp` (required), `nbf`, `iat` (required, not in the future), leeway, `aud` and `iss`
//! when configured; the `token_type` claim; the user (exists, active) and the per-user
//! revocation time. Every failure is 401 `token_not_valid` with an RFC 6750 challenge.

use crate::db::Bounded;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use serde_json::{Map, Value};

use crate::cache::Subject;
use crate::error::AuthError;
use crate::header::{Authorization, Credentials};
use crate::principal::{Principal, SchemeData, User};
use crate::scheme::{Outcome, Scheme};
use crate::state::Auth;

/// The Jwt scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct Jwt;

/// A verifying key selected by the `kid` header, for key rotation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct VerifyingKey {
    /// The `kid` header value that selects this key.
    pub kid: String,
    /// Its algorithm, e.g. `"RS256"`; a token signed with another one is refused.
    pub algorithm: String,
    /// The HS secret, or the PEM public key.
    pub key: String,
}

/// Configuration of [`Jwt`], with Simple JWT's meaning and defaults (lifetimes in seconds).
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

    fn lifetime(self, config: &JwtConfig) -> u64 {
        match self {
            TokenKind::Access => config.access_lifetime,
            TokenKind::Refresh => config.refresh_lifetime,
            TokenKind::Sliding => config.sliding_lifetime,
        }
    }
}

/// The longest token accepted, in bytes; longer values are refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

struct Keys {
    encoding: EncodingKey,
    algorithm: Algorithm,
    kid: Option<String>,
    default: (DecodingKey, Algorithm),
    by_kid: HashMap<String, (DecodingKey, Algorithm)>,
}

fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    name.parse::<Algorithm>().map_err(|_| format!("unknown JWT algorithm {name:?}"))
}

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn decoding_key(alg: Algorithm, key: &[u8]) -> Result<DecodingKey, String> {
    let r = match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => DecodingKey::from_secret(key),
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(key),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(key),
        _ => DecodingKey::from_rsa_pem(key),
    };
    r.map_err(|e| format!("invalid JWT verifying key: {e}"))
}

fn encoding_key(alg: Algorithm, key: &[u8]) -> Result<EncodingKey, String> {
    let r = match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => EncodingKey::from_secret(key),
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(key),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(key),
        _ => EncodingKey::from_rsa_pem(key),
    };
    r.map_err(|e| format!("invalid JWT signing key: {e}"))
}

impl Keys {
    fn load(config: &JwtConfig, secret: &[u8]) -> Result<Keys, String> {
        let algorithm = parse_algorithm(&config.algorithm)?;
        let signing = config.signing_key.as_deref().map_or(secret, str::as_bytes);
        let encoding = encoding_key(algorithm, signing)?;
        let verifying: &[u8] = if is_hmac(algorithm) {
            signing
        } else {
            config
                .verifying_key
                .as_deref()
                .ok_or("an asymmetric JWT algorithm needs a verifying_key (PEM public key)")?
                .as_bytes()
        };
        let default = (decoding_key(algorithm, verifying)?, algorithm);
        let mut by_kid = HashMap::new();
        for k in &config.verifying_keys {
            let alg = parse_algorithm(&k.algorithm)?;
            by_kid.insert(k.kid.clone(), (decoding_key(alg, k.key.as_bytes())?, alg));
        }
        if let Some(kid) = &config.kid {
            by_kid.insert(kid.clone(), (decoding_key(algorithm, verifying)?, algorithm));
        }
        Ok(Keys { encoding, algorithm, kid: config.kid.clone(), default, by_kid })
    }
}

/// The parsed keys, made once per [`Auth`] on first use (the state holds one, empty, from
/// [`Auth::builder`] on).
#[derive(Default)]
pub(crate) struct KeyCache(OnceLock<Result<Keys, String>>);

fn keys<'a>(auth: &'a Auth, config: &JwtConfig) -> &'a Result<Keys, String> {
    static MISSING: OnceLock<Result<Keys, String>> = OnceLock::new();
    match auth.config::<KeyCache>() {
        Some(cache) => cache.0.get_or_init(|| Keys::load(config, auth.secret_key().as_bytes())),
        None => MISSING.get_or_init(|| Err("no JWT key cache in the state".into())),
    }
}

/// The configuration and keys of the scheme in `auth`.
fn setup(auth: &Auth) -> Result<(&JwtConfig, &Keys), AuthError> {
    let config = auth.scheme_config::<Jwt>()?;
    match keys(auth, config) {
        Ok(keys) => Ok((config, keys)),
        Err(e) => {
            tracing::error!(error = %e, "JWT keys are misconfigured");
            Err(AuthError::ImproperlyConfigured("the JWT keys are misconfigured"))
        }
    }
}

/// Checks the JWT configuration of `auth` (algorithm and keys) once, at start-up.
///
/// # Errors
/// A message naming what is wrong (unknown algorithm, bad PEM, missing verifying key).
pub fn check_config(auth: &Auth) -> Result<(), String> {
    let Some(config) = auth.config::<JwtConfig>() else {
        return Ok(());
    };
    match keys(auth, config) {
        Ok(_) => Ok(()),
        Err(e) => Err(e.clone()),
    }
}

/// A 401 `token_not_valid` with `detail`.
pub fn invalid(detail: &'static str) -> AuthError {
    AuthError::AuthenticationFailed { detail: detail.into(), code: "token_not_valid", challenges: Vec::new() }
}

pub use crate::header::{bearer_challenge, is_jwt_shaped};

fn now_secs() -> u64 {
    u64::try_from(Utc::now().timestamp()).unwrap_or(0)
}

/// The verified claims of a token.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// Its kind.
    pub kind: TokenKind,
    /// `jti`.
    pub jti: String,
    /// `iat`, seconds since the epoch.
    pub iat: u64,
    /// `exp`, seconds since the epoch.
    pub exp: u64,
    /// The user id claim, as sent (a string).
    pub user: String,
    /// Every claim.
    pub claims: Map<String, Value>,
}

/// Verifies signature, header type and claims of `token`, which must be of one of `kinds`.
/// With `check_exp == false` an expired token passes (for sliding refresh, which checks
/// `refresh_exp` instead). Does not touch the database.
///
/// # Errors
/// 401 `token_not_valid` naming the defect; 500 if the keys are misconfigured.
pub fn verify(auth: &Auth, token: &str, kinds: &[TokenKind], check_exp: bool) -> Result<VerifiedToken, AuthError> {
    let (config, keys) = setup(auth)?;
    if token.len() > MAX_TOKEN_BYTES || !is_jwt_shaped(token.as_bytes()) {
        return Err(invalid("Token is invalid."));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("Token is invalid."))?;
    let kind = kinds
        .iter()
        .copied()
        .find(|k| header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(k.typ())))
        .ok_or_else(|| invalid("Token has wrong type."))?;
    let (key, alg) = match &header.kid {
        Some(kid) => keys.by_kid.get(kid).ok_or_else(|| invalid("Token is signed with an unknown key."))?,
        None => &keys.default,
    };
    let mut validation = Validation::new(*alg);
    validation.leeway = config.leeway;
    validation.validate_exp = check_exp;
    validation.validate_nbf = true;
    validation.required_spec_claims = ["exp".to_owned()].into();
    match &config.audience {
        Some(aud) => {
            validation.set_audience(&[aud]);
            validation.required_spec_claims.insert("aud".into());
        }
        None => validation.validate_aud = false,
    }
    if let Some(iss) = &config.issuer {
        validation.set_issuer(&[iss]);
        validation.required_spec_claims.insert("iss".into());
    }
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        match e.kind() {
            K::ExpiredSignature => invalid("Token is expired."),
            K::ImmatureSignature => invalid("Token is not valid yet."),
            K::InvalidSignature => invalid("Token signature is invalid."),
            K::InvalidAlgorithm => invalid("Token algorithm is not allowed."),
            K::InvalidAudience => invalid("Token audience is invalid."),
            K::InvalidIssuer => invalid("Token issuer is invalid."),
            _ => invalid("Token is invalid."),
        }
    })?;
    let claims = data.claims;
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let num_claim = |name: &str| claims.get(name).and_then(Value::as_u64);
    if str_claim("token_type").as_deref() != Some(kind.claim()) {
        return Err(invalid("Token has wrong type."));
    }
    let jti = str_claim("jti").filter(|j| !j.is_empty()).ok_or_else(|| invalid("Token has no id."))?;
    let iat = num_claim("iat").ok_or_else(|| invalid("Token has no valid issue time."))?;
    // One second of tolerance: after a revocation, new tokens carry the next whole second.
    if iat > now_secs() + config.leeway + 1 {
        return Err(invalid("Token is issued in the future."));
    }
    let exp = num_claim("exp").ok_or_else(|| invalid("Token is invalid."))?;
    let user = str_claim(&config.user_id_claim)
        .ok_or_else(|| invalid("Token contained no recognizable user identification."))?;
    Ok(VerifiedToken { kind, jti, iat, exp, user, claims })
}

/// Extra claims for issued tokens: register with `AuthBuilder::with_config(JwtClaims(..))`.
/// Called with the user; its claims are added to access, refresh and sliding tokens (the
/// standard ones cannot be overridden).
#[derive(Clone)]
pub struct JwtClaims(pub Arc<ClaimsHook>);

/// The function behind [`JwtClaims`]: the user's extra claims.
pub type ClaimsHook = dyn Fn(&User) -> Map<String, Value> + Send + Sync;

/// Signs a token of `kind` for `user`; returns it with its `jti` and `exp`. `family` is the
/// refresh family (a fresh one for a new login).
fn sign(
    auth: &Auth,
    user: &User,
    kind: TokenKind,
    iat: u64,
    extra: &[(&str, Value)],
) -> Result<(String, String, u64), AuthError> {
    let (config, keys) = setup(auth)?;
    let jti = new_id();
    let exp = iat + kind.lifetime(config);
    let mut claims = Map::new();
    if let Some(hook) = auth.config::<JwtClaims>() {
        claims.extend((hook.0)(user));
    }
    claims.insert("token_type".into(), kind.claim().into());
    claims.insert("exp".into(), exp.into());
    claims.insert("iat".into(), iat.into());
    claims.insert("jti".into(), jti.clone().into());
    let id = if config.user_id_field == "username" { user.username.clone() } else { user.id.to_string() };
    claims.insert(config.user_id_claim.clone(), id.into());
    if let Some(aud) = &config.audience {
        claims.insert("aud".into(), aud.clone().into());
    }
    if let Some(iss) = &config.issuer {
        claims.insert("iss".into(), iss.clone().into());
    }
    for (k, v) in extra {
        claims.insert((*k).into(), v.clone());
    }
    let mut header = Header::new(keys.algorithm);
    header.typ = Some(kind.typ().into());
    header.kid = keys.kid.clone();
    let token = jsonwebtoken::encode(&header, &claims, &keys.encoding).map_err(AuthError::store)?;
    Ok((token, jti, exp))
}

fn new_id() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn to_time(secs: u64) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::try_from(secs).unwrap_or(i64::MAX / 4_000_000), 0).unwrap_or_default()
}

/// The user named by a verified token, if it exists, is active, and has not revoked its
/// tokens since `iat` (see [`revoke_all`]).
///
/// # Errors
/// 401 `token_not_valid` otherwise; 503 on a store failure.
pub async fn token_user(auth: &Auth, token: &VerifiedToken) -> Result<User, AuthError> {
    let config = auth.scheme_config::<Jwt>()?;
    if auth.default_users() && config.user_id_field != "username" {
        // One statement (the user and its revocation time), or none when cached.
        let Ok(id) = token.user.parse::<i64>() else {
            return Err(invalid("User not found or inactive."));
        };
        let row = match crate::reads::cached_user(auth, id).await? {
            Some(row) if row.is_active => row,
            _ => return Err(invalid("User not found or inactive.")),
        };
        if token.iat < u64::try_from(row.not_before).unwrap_or(0) {
            return Err(invalid("Token has been revoked."));
        }
        return Ok(row.user());
    }
    let stored = if config.user_id_field == "username" {
        auth.users().by_login(&token.user).await?
    } else {
        match token.user.parse::<i64>() {
            Ok(id) => auth.users().by_id(id).await?,
            Err(_) => None,
        }
    };
    let user = match stored {
        Some(s) if s.user.is_active => s.user,
        _ => return Err(invalid("User not found or inactive.")),
    };
    if token.iat < not_before(auth.db(), user.id).await? {
        return Err(invalid("Token has been revoked."));
    }
    Ok(user)
}

/// Tables of this scheme.
pub mod entity {
    /// `jwt_refresh_tokens`: every refresh token issued (Simple JWT's outstanding tokens) and
    /// whether it was rotated or blacklisted.
    pub mod refresh {
        use sea_orm::entity::prelude::*;

        /// A refresh token record; the token itself is not stored, only its `jti`.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "jwt_refresh_tokens")]
        pub struct Model {
            /// Primary key.
            #[sea_orm(primary_key)]
            pub id: i64,
            /// The token's `jti`.
            #[sea_orm(unique)]
            pub jti: String,
            /// The `jti` of the first refresh token of the login; rotations keep it.
            pub family: String,
            /// Owner.
            pub user_id: i64,
            /// Issue time (UTC).
            pub created_at: DateTimeUtc,
            /// `exp` (UTC).
            pub expires_at: DateTimeUtc,
            /// When it was used for a rotation.
            pub rotated_at: Option<DateTimeUtc>,
            /// When it was blacklisted; a blacklisted token is refused.
            pub blacklisted_at: Option<DateTimeUtc>,
        }

        /// No relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// `auth_revocations`: per-user revocation times (see [`crate::revocation`]).
    pub use crate::revocation::entity as revocation;
}

use entity::refresh;

use crate::revocation::tokens_not_before as not_before;
pub use crate::revocation::{revoke_sessions, sessions_not_before};

/// Revokes every JWT (access, refresh, sliding) of a user issued up to now: tokens whose
/// `iat` is before the next whole second are refused from now on, and tokens issued later
/// get an `iat` no earlier than that. Used by password changes and user deletion.
///
/// # Errors
/// 503 on a store failure.
pub async fn revoke_all(auth: &Auth, user_id: i64) -> Result<(), AuthError> {
    let db = auth.db();
    crate::revocation::revoke_tokens(db, user_id).await?;
    refresh::Entity::update_many()
        .col_expr(refresh::Column::BlacklistedAt, Expr::value(Utc::now()))
        .filter(refresh::Column::UserId.eq(user_id))
        .filter(refresh::Column::BlacklistedAt.is_null())
        .exec(db)
        .bounded()
        .await?;
    auth.revoked(Subject::User(user_id)).await;
    Ok(())
}

/// Deletes refresh records whose tokens have expired; returns how many. Blacklisted but
/// unexpired records stay, so those tokens stay refused.
///
/// # Errors
/// 503 on a store failure.
pub async fn delete_expired(db: &DatabaseConnection) -> Result<u64, AuthError> {
    Ok(refresh::Entity::delete_many()
        .filter(refresh::Column::ExpiresAt.lt(Utc::now()))
        .exec(db)
        .bounded()
        .await?
        .rows_affected)
}

/// An access and a refresh token.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenPair {
    /// The access token.
    pub access: String,
    /// The refresh token.
    pub refresh: String,
}

/// The `iat` for a new token of `user`: now, but never before the user's revocation time.
async fn issue_time(auth: &Auth, user: &User) -> Result<u64, AuthError> {
    Ok(now_secs().max(not_before(auth.db(), user.id).await?))
}

/// Issues an access and a refresh token for an active user, recording the refresh token.
/// `family`: the family of a rotated token, `None` for a new login.
///
/// # Errors
/// 401 for an inactive user (tokens are never minted for one); 503 on a store failure.
pub async fn issue_pair(auth: &Auth, user: &User, family: Option<&str>) -> Result<TokenPair, AuthError> {
    if !user.is_active {
        return Err(invalid("User not found or inactive."));
    }
    let iat = issue_time(auth, user).await?;
    let (access, _, _) = sign(auth, user, TokenKind::Access, iat, &[])?;
    let (refresh, jti, exp) = sign(auth, user, TokenKind::Refresh, iat, &[])?;
    refresh::ActiveModel {
        family: Set(family.map_or_else(|| jti.clone(), str::to_owned)),
        jti: Set(jti),
        user_id: Set(user.id),
        created_at: Set(to_time(iat)),
        expires_at: Set(to_time(exp)),
        rotated_at: Set(None),
        blacklisted_at: Set(None),
        ..Default::default()
    }
    .insert(auth.db())
    .bounded()
    .await?;
    Ok(TokenPair { access, refresh })
}

/// Issues an access token alone (a refresh without rotation).
///
/// # Errors
/// 503 on a store failure.
pub async fn issue_access(auth: &Auth, user: &User) -> Result<String, AuthError> {
    let iat = issue_time(auth, user).await?;
    Ok(sign(auth, user, TokenKind::Access, iat, &[])?.0)
}

/// The result of [`refresh`].
#[derive(Debug, Clone)]
pub enum Refreshed {
    /// Rotation on: a new pair; the old refresh token is spent.
    Pair(TokenPair),
    /// Rotation off: a new access token.
    Access(String),
}

/// Verifies a refresh token and its record, and checks its user.
async fn checked_refresh(auth: &Auth, token: &str) -> Result<(VerifiedToken, refresh::Model, User), AuthError> {
    let verified = verify(auth, token, &[TokenKind::Refresh], true)?;
    let user = token_user(auth, &verified).await?;
    let record = refresh::Entity::find()
        .filter(refresh::Column::Jti.eq(verified.jti.as_str()))
        .one(auth.db())
        .bounded()
        .await?
        .ok_or_else(|| invalid("Token is invalid."))?;
    Ok((verified, record, user))
}

/// `jwt/refresh`: a new access token, and with rotation a new refresh token of the same
/// family. Rotation is atomic: a conditional update spends the old token, so of two
/// concurrent refreshes exactly one succeeds. With blacklisting after rotation, reusing a
/// spent token revokes every refresh token of its family (replay detection).
///
/// # Errors
/// 401 `token_not_valid` (invalid, expired, blacklisted, reused, access token, inactive or
/// deleted user); 503 on a store failure.
pub async fn refresh(auth: &Auth, token: &str) -> Result<Refreshed, AuthError> {
    let config = auth.scheme_config::<Jwt>()?;
    let (_, record, user) = checked_refresh(auth, token).await?;
    if record.rotated_at.is_some() && config.blacklist_after_rotation {
        return Err(reused(auth, &record).await);
    }
    if record.blacklisted_at.is_some() {
        return Err(invalid("Token is blacklisted."));
    }
    if !config.rotate_refresh_tokens {
        return Ok(Refreshed::Access(issue_access(auth, &user).await?));
    }
    if config.blacklist_after_rotation {
        let now = Utc::now();
        let spent = refresh::Entity::update_many()
            .col_expr(refresh::Column::RotatedAt, Expr::value(now))
            .col_expr(refresh::Column::BlacklistedAt, Expr::value(now))
            .filter(refresh::Column::Id.eq(record.id))
            .filter(refresh::Column::RotatedAt.is_null())
            .filter(refresh::Column::BlacklistedAt.is_null())
            .exec(auth.db())
            .bounded()
            .await?;
        if spent.rows_affected != 1 {
            // Spent by a concurrent refresh a moment ago: a reuse like any other.
            return Err(reused(auth, &record).await);
        }
    }
    Ok(Refreshed::Pair(issue_pair(auth, &user, Some(&record.family)).await?))
}

/// A rotated refresh token came back: someone holds a copy. Every refresh token of the
/// same login is blacklisted (replay detection); the answer is 401 (503 if that fails).
async fn reused(auth: &Auth, record: &refresh::Model) -> AuthError {
    tracing::warn!(user_id = record.user_id, "reuse of a rotated refresh token; its family is revoked");
    match revoke_family(auth, record.user_id, &record.family).await {
        Ok(()) => invalid("Token is blacklisted."),
        Err(e) => e,
    }
}

/// Blacklists every refresh token of a family.
async fn revoke_family(auth: &Auth, user_id: i64, family: &str) -> Result<(), AuthError> {
    let db = auth.db();
    refresh::Entity::update_many()
        .col_expr(refresh::Column::BlacklistedAt, Expr::value(Utc::now()))
        .filter(refresh::Column::Family.eq(family))
        .filter(refresh::Column::BlacklistedAt.is_null())
        .exec(db)
        .bounded()
        .await?;
    // Access tokens outlive their refresh token's blacklisting (Simple JWT), but nothing
    // cached for the user survives a revocation.
    auth.revoked(Subject::User(user_id)).await;
    Ok(())
}

/// `jwt/blacklist`: blacklists a valid refresh token.
///
/// # Errors
/// 401 `token_not_valid` when the token is invalid, expired, not a refresh token, or
/// blacklisted already; 503 on a store failure.
pub async fn blacklist(auth: &Auth, token: &str) -> Result<(), AuthError> {
    let (_, record, _) = checked_refresh(auth, token).await?;
    let done = refresh::Entity::update_many()
        .col_expr(refresh::Column::BlacklistedAt, Expr::value(Utc::now()))
        .filter(refresh::Column::Id.eq(record.id))
        .filter(refresh::Column::BlacklistedAt.is_null())
        .exec(auth.db())
        .bounded()
        .await?;
    if done.rows_affected != 1 {
        return Err(invalid("Token is blacklisted."));
    }
    auth.revoked(Subject::User(record.user_id)).await;
    Ok(())
}

/// `jwt/verify`: checks any token of this scheme (access, refresh, sliding) without
/// authenticating: signature, type, claims, its user (exists, active, no revocation since
/// the token was issued), and for refresh tokens the blacklist. Stricter than Simple JWT,
/// whose verify ignores the user: a token that could not authenticate does not verify.
///
/// # Errors
/// 401 `token_not_valid`; 503 on a store failure.
pub async fn verify_any(auth: &Auth, token: &str) -> Result<(), AuthError> {
    let verified = verify(auth, token, &[TokenKind::Access, TokenKind::Refresh, TokenKind::Sliding], true)?;
    token_user(auth, &verified).await?;
    if verified.kind == TokenKind::Refresh {
        let record = refresh::Entity::find()
            .filter(refresh::Column::Jti.eq(verified.jti.as_str()))
            .one(auth.db())
            .bounded()
            .await?;
        match record {
            Some(r) if r.blacklisted_at.is_none() => {}
            _ => return Err(invalid("Token is blacklisted.")),
        }
    }
    Ok(())
}

/// Issues a sliding token (Simple JWT's `TokenObtainSlidingView`): it authenticates until
/// `exp` and can be refreshed until `refresh_exp`.
///
/// # Errors
/// 401 when sliding tokens are off or the user is inactive; 503 on a store failure.
pub async fn issue_sliding(auth: &Auth, user: &User) -> Result<String, AuthError> {
    let config = auth.scheme_config::<Jwt>()?;
    if !config.sliding {
        return Err(invalid("Sliding tokens are disabled."));
    }
    if !user.is_active {
        return Err(invalid("User not found or inactive."));
    }
    let iat = issue_time(auth, user).await?;
    let refresh_exp = iat + config.sliding_refresh_lifetime;
    Ok(sign(auth, user, TokenKind::Sliding, iat, &[("refresh_exp", refresh_exp.into())])?.0)
}

/// Refreshes a sliding token: a new token with a new `exp` and the same `refresh_exp`,
/// allowed while `refresh_exp` has not passed (even if `exp` has).
///
/// # Errors
/// 401 `token_not_valid`; 503 on a store failure.
pub async fn refresh_sliding(auth: &Auth, token: &str) -> Result<String, AuthError> {
    let config = auth.scheme_config::<Jwt>()?;
    if !config.sliding {
        return Err(invalid("Sliding tokens are disabled."));
    }
    let verified = verify(auth, token, &[TokenKind::Sliding], false)?;
    let refresh_exp =
        verified.claims.get("refresh_exp").and_then(Value::as_u64).ok_or_else(|| invalid("Token is invalid."))?;
    if refresh_exp <= now_secs().saturating_sub(config.leeway) {
        return Err(invalid("Token refresh period is over."));
    }
    let user = token_user(auth, &verified).await?;
    let iat = issue_time(auth, &user).await?;
    Ok(sign(auth, &user, TokenKind::Sliding, iat, &[("refresh_exp", refresh_exp.into())])?.0)
}

impl Scheme for Jwt {
    const NAME: &'static str = "jwt";
    type Config = JwtConfig;

    async fn authenticate(req: &HttpRequest, auth: &Auth) -> Outcome {
        let config = match auth.scheme_config::<Self>() {
            Ok(c) => c,
            Err(e) => return Outcome::Rejected(e),
        };
        let Some(header) =
            req.headers().get(config.auth_header_name.as_str()).and_then(|v| Authorization::parse(v.as_bytes()))
        else {
            return Outcome::NoCredentials;
        };
        if !config.auth_header_types.iter().any(|t| header.is(t)) {
            return Outcome::NoCredentials;
        }
        let token = match header.credentials() {
            Credentials::One(t) if is_jwt_shaped(t) => t,
            // Not a JWT: perhaps an opaque OAuth2 token, for the next scheme.
            Credentials::One(_) | Credentials::Missing | Credentials::TooMany => {
                return Outcome::NoCredentials;
            }
        };
        // A token verified lately is served from the principal cache (until its `exp`, and
        // never after a revocation of its user): no signature check, no claims parsing.
        let cache = auth.cache().principals();
        let cache_key = crate::cache::GenCache::<Principal>::key(Self::NAME, token);
        if let Some(principal) = cache.get(&cache_key) {
            return Outcome::Authenticated(principal);
        }
        let snapshot = cache.snapshot();
        let token = String::from_utf8_lossy(token);
        let mut kinds = vec![TokenKind::Access];
        if config.sliding {
            kinds.push(TokenKind::Sliding);
        }
        let result = async {
            let verified = verify(auth, &token, &kinds, true)?;
            let user = token_user(auth, &verified).await?;
            let exp = DateTime::from_timestamp(i64::try_from(verified.exp).unwrap_or(0), 0);
            let user_id = user.id;
            let principal = Principal::for_user(
                user,
                Self::NAME,
                SchemeData::Jwt { jti: verified.jti, claims: Arc::new(verified.claims) },
            );
            cache.insert(cache_key, snapshot, principal.clone(), Some(user_id), None, exp);
            Ok::<_, AuthError>(principal)
        }
        .await;
        match result {
            Ok(p) => Outcome::Authenticated(p),
            Err(e) => Outcome::Rejected(e),
        }
    }

    fn challenge(auth: &Auth, rejection: Option<&AuthError>) -> Option<String> {
        let realm = auth.config::<JwtConfig>().map_or("api", |c| c.realm.as_str());
        let keyword =
            auth.config::<JwtConfig>().and_then(|c| c.auth_header_types.first()).map_or("Bearer", String::as_str);
        Some(bearer_challenge(keyword, realm, rejection))
    }
}

/// The Jwt scheme's part in [`crate::lifecycle`]: a password change or deletion revokes
/// every JWT of the user ([`revoke_all`]); refresh-token records of expired tokens are
/// flushed (`refresh_tokens`).
#[derive(Debug, Clone, Copy, Default)]
pub struct JwtCredentials;

impl crate::lifecycle::CredentialStore for JwtCredentials {
    fn name(&self) -> &'static str {
        "refresh_tokens"
    }

    fn revoke_user<'a>(
        &'a self,
        auth: &'a Auth,
        user_id: i64,
    ) -> futures_util::future::BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(revoke_all(auth, user_id))
    }

    fn delete_expired<'a>(&'a self, auth: &'a Auth) -> futures_util::future::BoxFuture<'a, Result<u64, AuthError>> {
        Box::pin(delete_expired(auth.db()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        assert!(is_jwt_shaped(b"eyJh.eyJz.c2ln"));
        assert!(is_jwt_shaped(b"eyJh.eyJz."), "alg none is the scheme's to reject");
        assert!(!is_jwt_shaped(b"a.b"));
        assert!(!is_jwt_shaped(b"a.b.c.d"));
        assert!(!is_jwt_shaped(b"opaque-token_value"));
        assert!(!is_jwt_shaped(b"a+b.c.d"));
        assert!(!is_jwt_shaped(b".b.c"));
    }

    #[test]
    fn challenges() {
        assert_eq!(bearer_challenge("Bearer", "api", None), "Bearer realm=\"api\"");
        let c = bearer_challenge("Bearer", "api", Some(&invalid("Token is expired.")));
        assert_eq!(c, "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"Token is expired.\"");
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            /// Any bytes: shaped exactly when they are three dot-separated base64url runs, the
            /// first two non-empty.
            #[test]
            fn shape_of_any_bytes(token in proptest::collection::vec(any::<u8>(), 0..120)) {
                let text = String::from_utf8_lossy(&token);
                let parts: Vec<&str> = text.split('.').collect();
                let b64url = |p: &&str| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                let expected = token.is_ascii() && parts.len() == 3 && !parts[0].is_empty() && !parts[1].is_empty() && parts.iter().all(b64url);
                prop_assert_eq!(is_jwt_shaped(&token), expected);
            }

            /// Tokens made of the base64url alphabet and dots.
            #[test]
            fn shape_of_dotted_strings(token in "[A-Za-z0-9_.-]{0,40}") {
                let parts: Vec<&str> = token.split('.').collect();
                let expected = parts.len() == 3 && !parts[0].is_empty() && !parts[1].is_empty();
                prop_assert_eq!(is_jwt_shaped(token.as_bytes()), expected);
            }
        }
    }
}
