//! Issuing, verifying, refreshing and blacklisting JWTs (Simple JWT's token classes and
//! views' logic), and the per-user revocation of every JWT.

use crate::db::Bounded;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Header, Validation};
use rand::RngCore;
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use serde_json::{Map, Value};

use crate::cache::Subject;
use crate::error::AuthError;
use crate::principal::User;
use crate::state::Auth;

use super::config::{JwtClaims, JwtConfig, MAX_TOKEN_BYTES, TokenKind};
use super::keys::setup;
use crate::header::is_jwt_shaped;

/// A 401 `token_not_valid` with `detail`.
pub fn invalid(detail: &'static str) -> AuthError {
    AuthError::AuthenticationFailed { detail: detail.into(), code: "token_not_valid", challenges: Vec::new() }
}

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
    let (key, alg) =
        keys.verifying(header.kid.as_deref()).ok_or_else(|| invalid("Token is signed with an unknown key."))?;
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
    let mut header = Header::new(keys.algorithm());
    header.typ = Some(kind.typ().into());
    header.kid = keys.kid().map(str::to_owned);
    let token = jsonwebtoken::encode(&header, &claims, keys.encoding()).map_err(AuthError::store)?;
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
/// tokens since `iat` (see [`revoke_user`]).
///
/// # Errors
/// 401 `token_not_valid` otherwise; 503 on a store failure.
pub async fn token_user(auth: &Auth, token: &VerifiedToken) -> Result<User, AuthError> {
    let config = auth.required_config::<JwtConfig>()?;
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

use super::models::entity::refresh;

use crate::revocation::tokens_not_before as not_before;

/// Revokes every JWT (access, refresh, sliding) of a user issued up to now: tokens whose
/// `iat` is before the next whole second are refused from now on, and tokens issued later
/// get an `iat` no earlier than that. Used by password changes and user deletion.
///
/// # Errors
/// 503 on a store failure.
pub async fn revoke_user(auth: &Auth, user_id: i64) -> Result<(), AuthError> {
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

/// The result of [`refresh()`].
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
    let config = auth.required_config::<JwtConfig>()?;
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
    let config = auth.required_config::<JwtConfig>()?;
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
    let config = auth.required_config::<JwtConfig>()?;
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
