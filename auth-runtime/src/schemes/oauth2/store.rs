//! The authorization server's storage: registering applications, recording grants, issuing
//! and spending codes and tokens, revoking them, and checking an access token.

use crate::db::Bounded;
use chrono::{DateTime, Duration, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Query;
use subtle::ConstantTimeEq;

use crate::cache::Subject;
use crate::error::AuthError;
use crate::principal::User;
use crate::state::Auth;

use super::config::config;
use super::models::entity::{access, application, code, grant, refresh};
use super::models::{CONFIDENTIAL, GrantType, PUBLIC};
use super::protocol::{digest, is_token_shaped, new_hex, new_token, seconds, split, validate_redirect_uri};

// ----------------------------------------------------------------------------------------

/// What registering a client needs.
#[derive(Debug, Clone)]
pub struct NewApplication {
    /// Display name, 1 to 255 characters.
    pub name: String,
    /// The grants it may use (at least one).
    pub grant_types: Vec<GrantType>,
    /// Registered redirect URIs (at least one for the authorization code grant).
    pub redirect_uris: Vec<String>,
    /// A public client (no secret; RFC 6749 section 2.1).
    pub public: bool,
    /// Scopes it may request; empty means every scope of [`OAuth2Config::scopes`](super::OAuth2Config::scopes).
    pub scopes: Vec<String>,
    /// The registering user, if any.
    pub owner_id: Option<i64>,
}

/// A client just registered: the record and its secret (shown once, never stored).
#[derive(Debug, Clone)]
pub struct CreatedApplication {
    /// The stored record.
    pub record: application::Model,
    /// The client secret (64 hex characters); `None` for a public client.
    pub client_secret: Option<String>,
}

/// Why a client could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum ApplicationError {
    /// The registration is invalid (the message says why).
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error("{0}")]
    Auth(#[from] AuthError),
}

/// Registers a client: `client_id` is 32 random hex characters, the secret (confidential
/// clients) 64, stored as its SHA-256 digest only.
///
/// # Errors
/// [`ApplicationError::Invalid`] for a public client with client credentials, an
/// authorization-code client without redirect URI, an invalid redirect URI, an unknown scope,
/// no grant type, or a bad name; a store failure.
pub async fn create_application(auth: &Auth, new: NewApplication) -> Result<CreatedApplication, ApplicationError> {
    let invalid = |m: &str| Err(ApplicationError::Invalid(m.to_owned()));
    let name_len = new.name.chars().count();
    if name_len == 0 || name_len > 255 || new.name.contains('\0') {
        return invalid("the name must be 1 to 255 characters, without NUL");
    }
    if new.grant_types.is_empty() {
        return invalid("at least one grant type is needed");
    }
    if new.public && new.grant_types.contains(&GrantType::ClientCredentials) {
        return invalid("a public client cannot use the client credentials grant (it has no secret)");
    }
    if new.grant_types.contains(&GrantType::AuthorizationCode) && new.redirect_uris.is_empty() {
        return invalid("an authorization-code client needs at least one redirect URI");
    }
    for uri in &new.redirect_uris {
        validate_redirect_uri(uri).map_err(|e| ApplicationError::Invalid(format!("{e}: {uri:?}")))?;
    }
    let known = config(auth).scopes;
    let mut scopes: Vec<String> = new.scopes.iter().flat_map(|s| split(s)).collect();
    if let Some(bad) = scopes.iter().find(|s| !known.contains(s)) {
        return Err(ApplicationError::Invalid(format!("unknown scope {bad:?}; known scopes: {}", known.join(" "))));
    }
    if scopes.is_empty() {
        scopes = known.clone();
    }
    let scopes: Vec<String> = known.iter().filter(|k| scopes.contains(k)).cloned().collect();
    let mut grants: Vec<&str> = Vec::new();
    for g in &new.grant_types {
        if !grants.contains(&g.as_str()) {
            grants.push(g.as_str());
        }
    }
    let client_secret = (!new.public).then(|| new_hex(32));
    let record = application::ActiveModel {
        client_id: Set(new_hex(16)),
        client_secret_digest: Set(client_secret.as_deref().map(digest)),
        client_type: Set(if new.public { PUBLIC } else { CONFIDENTIAL }.to_owned()),
        grant_types: Set(grants.join(" ")),
        redirect_uris: Set(new.redirect_uris.join(" ")),
        scopes: Set(scopes.join(" ")),
        name: Set(new.name),
        owner_id: Set(new.owner_id),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(auth.db())
    .bounded()
    .await
    .map_err(AuthError::from)?;
    Ok(CreatedApplication { record, client_secret })
}

/// The client with this `client_id`. Values that cannot be one (empty, over 100 bytes, with
/// NUL) are unknown without a query.
///
/// # Errors
/// 503 on a store failure.
pub async fn find_application(
    db: &DatabaseConnection,
    client_id: &str,
) -> Result<Option<application::Model>, AuthError> {
    if client_id.is_empty() || client_id.len() > 100 || client_id.contains('\0') {
        return Ok(None);
    }
    Ok(application::Entity::find().filter(application::Column::ClientId.eq(client_id)).one(db).bounded().await?)
}

// ----------------------------------------------------------------------------------------

/// Records a new grant of `app` for `user_id` (`None`: client credentials).
///
/// # Errors
/// 503 on a store failure.
pub async fn create_grant(
    db: &DatabaseConnection,
    app: &application::Model,
    user_id: Option<i64>,
    kind: GrantType,
    scope: &[String],
) -> Result<grant::Model, AuthError> {
    Ok(grant::ActiveModel {
        application_id: Set(app.id),
        user_id: Set(user_id),
        kind: Set(kind.as_str().to_owned()),
        scope: Set(scope.join(" ")),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .bounded()
    .await?)
}

/// What an authorization code is issued for.
#[derive(Debug, Clone)]
pub struct CodeRequest<'a> {
    /// The client.
    pub app: &'a application::Model,
    /// The consenting user.
    pub user: &'a User,
    /// The (validated) redirect URI of the request.
    pub redirect_uri: &'a str,
    /// The granted scopes.
    pub scope: &'a [String],
    /// The PKCE S256 challenge.
    pub code_challenge: &'a str,
}

/// Issues an authorization code (a new grant), valid for [`OAuth2Config::code_lifetime`](super::OAuth2Config::code_lifetime)
/// seconds and usable once. Returns the code; only its digest is stored.
///
/// # Errors
/// 503 on a store failure.
pub async fn issue_code(auth: &Auth, req: CodeRequest<'_>) -> Result<String, AuthError> {
    let grant = create_grant(auth.db(), req.app, Some(req.user.id), GrantType::AuthorizationCode, req.scope).await?;
    let code = new_token();
    let now = Utc::now();
    code::ActiveModel {
        digest: Set(digest(&code)),
        application_id: Set(req.app.id),
        grant_id: Set(grant.id),
        user_id: Set(req.user.id),
        redirect_uri: Set(req.redirect_uri.to_owned()),
        scope: Set(req.scope.join(" ")),
        code_challenge: Set(req.code_challenge.to_owned()),
        code_challenge_method: Set("S256".into()),
        created_at: Set(now),
        expires_at: Set(now + seconds(config(auth).code_lifetime)),
        used: Set(false),
        ..Default::default()
    }
    .insert(auth.db())
    .bounded()
    .await?;
    Ok(code)
}

/// Tokens just issued.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// The access token (shown once).
    pub access_token: String,
    /// Its lifetime, in seconds.
    pub expires_in: u64,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<String>,
    /// The access token's scopes.
    pub scope: Vec<String>,
}

/// Issues an access token of `grant` with `scope`, and a refresh token (with
/// `refresh_scope`, the scope later refreshes may ask for) when `refresh_scope` is `Some`.
///
/// # Errors
/// 503 on a store failure.
pub async fn issue_tokens(
    auth: &Auth,
    grant: &grant::Model,
    scope: Vec<String>,
    refresh_scope: Option<&[String]>,
) -> Result<IssuedTokens, AuthError> {
    let cfg = config(auth);
    let now = Utc::now();
    let access_token = new_token();
    access::ActiveModel {
        digest: Set(digest(&access_token)),
        application_id: Set(grant.application_id),
        grant_id: Set(grant.id),
        user_id: Set(grant.user_id),
        scope: Set(scope.join(" ")),
        created_at: Set(now),
        expires_at: Set(now + seconds(cfg.access_token_lifetime)),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(auth.db())
    .bounded()
    .await?;
    let refresh_token = match refresh_scope {
        None => None,
        Some(refresh_scope) => {
            let token = new_token();
            refresh::ActiveModel {
                digest: Set(digest(&token)),
                application_id: Set(grant.application_id),
                grant_id: Set(grant.id),
                user_id: Set(grant.user_id),
                scope: Set(refresh_scope.join(" ")),
                created_at: Set(now),
                expires_at: Set(now + seconds(cfg.refresh_token_lifetime)),
                rotated_at: Set(None),
                revoked_at: Set(None),
                ..Default::default()
            }
            .insert(auth.db())
            .bounded()
            .await?;
            Some(token)
        }
    };
    Ok(IssuedTokens { access_token, expires_in: cfg.access_token_lifetime, refresh_token, scope })
}

/// The grant with this id.
///
/// # Errors
/// 503 on a store failure.
pub async fn find_grant(db: &DatabaseConnection, id: i64) -> Result<Option<grant::Model>, AuthError> {
    Ok(grant::Entity::find_by_id(id).one(db).bounded().await?)
}

/// Revokes a whole grant: every access and refresh token issued from it (now and by requests
/// still in flight) is refused from now on, and its code can no longer be exchanged.
///
/// # Errors
/// 503 on a store failure.
pub async fn revoke_grant(auth: &Auth, grant_id: i64) -> Result<(), AuthError> {
    grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(grant::Column::Id.eq(grant_id))
        .filter(grant::Column::RevokedAt.is_null())
        .exec(auth.db())
        .bounded()
        .await?;
    if let Some(g) = find_grant(auth.db(), grant_id).await? {
        auth.revoked(Subject::Client(g.application_id)).await;
    }
    Ok(())
}

/// Revokes one access token (RFC 7009 for an access token).
///
/// # Errors
/// 503 on a store failure.
pub async fn revoke_access_token(auth: &Auth, id: i64) -> Result<(), AuthError> {
    access::Entity::update_many()
        .col_expr(access::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(access::Column::Id.eq(id))
        .filter(access::Column::RevokedAt.is_null())
        .exec(auth.db())
        .bounded()
        .await?;
    if let Some(a) = access::Entity::find_by_id(id).one(auth.db()).bounded().await? {
        auth.revoked(Subject::Client(a.application_id)).await;
    }
    Ok(())
}

/// Revokes every grant of a user (password change): all of their OAuth2 tokens and pending
/// codes stop working.
///
/// # Errors
/// 503 on a store failure.
pub async fn revoke_user(auth: &Auth, user_id: i64) -> Result<(), AuthError> {
    grant::Entity::update_many()
        .col_expr(grant::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(grant::Column::UserId.eq(user_id))
        .filter(grant::Column::RevokedAt.is_null())
        .exec(auth.db())
        .bounded()
        .await?;
    auth.revoked(Subject::User(user_id)).await;
    Ok(())
}

/// Deletes every code, token and grant of a user (user deletion), and forgets them as owner
/// of their clients.
///
/// # Errors
/// 503 on a store failure.
pub async fn delete_user_data(auth: &Auth, user_id: i64) -> Result<(), AuthError> {
    revoke_user(auth, user_id).await?;
    let db = auth.db();
    code::Entity::delete_many().filter(code::Column::UserId.eq(user_id)).exec(db).bounded().await?;
    access::Entity::delete_many().filter(access::Column::UserId.eq(user_id)).exec(db).bounded().await?;
    refresh::Entity::delete_many().filter(refresh::Column::UserId.eq(user_id)).exec(db).bounded().await?;
    grant::Entity::delete_many().filter(grant::Column::UserId.eq(user_id)).exec(db).bounded().await?;
    application::Entity::update_many()
        .col_expr(application::Column::OwnerId, Expr::value(Option::<i64>::None))
        .filter(application::Column::OwnerId.eq(user_id))
        .exec(db)
        .bounded()
        .await?;
    Ok(())
}

/// Deletes expired codes, access tokens and refresh tokens, then grants older than an hour
/// that have none left; returns how many rows went (all four kinds). Used codes and rotated
/// refresh tokens stay until they expire, so a replay is still recognised until then.
///
/// # Errors
/// 503 on a store failure.
pub async fn delete_expired(db: &DatabaseConnection) -> Result<u64, AuthError> {
    let now = Utc::now();
    let mut n =
        code::Entity::delete_many().filter(code::Column::ExpiresAt.lt(now)).exec(db).bounded().await?.rows_affected;
    n +=
        access::Entity::delete_many().filter(access::Column::ExpiresAt.lt(now)).exec(db).bounded().await?.rows_affected;
    n += refresh::Entity::delete_many()
        .filter(refresh::Column::ExpiresAt.lt(now))
        .exec(db)
        .bounded()
        .await?
        .rows_affected;
    // A grant is created just before its first code or token: leave young ones alone.
    let old = now - Duration::hours(1);
    n += grant::Entity::delete_many()
        .filter(grant::Column::CreatedAt.lt(old))
        .filter(
            grant::Column::Id
                .not_in_subquery(Query::select().column(code::Column::GrantId).from(code::Entity).to_owned()),
        )
        .filter(
            grant::Column::Id
                .not_in_subquery(Query::select().column(access::Column::GrantId).from(access::Entity).to_owned()),
        )
        .filter(
            grant::Column::Id
                .not_in_subquery(Query::select().column(refresh::Column::GrantId).from(refresh::Entity).to_owned()),
        )
        .exec(db)
        .bounded()
        .await?
        .rows_affected;
    Ok(n)
}

/// The access token with this value, if it exists (revoked or expired ones too).
///
/// # Errors
/// 503 on a store failure.
pub async fn find_access_token(db: &DatabaseConnection, token: &str) -> Result<Option<access::Model>, AuthError> {
    if !is_token_shaped(token.as_bytes()) {
        return Ok(None);
    }
    let wanted = digest(token);
    let found = access::Entity::find().filter(access::Column::Digest.eq(wanted.as_str())).one(db).bounded().await?;
    Ok(found.filter(|r| bool::from(r.digest.as_bytes().ct_eq(wanted.as_bytes()))))
}

/// The refresh token with this value, if it exists (rotated, revoked or expired ones too).
///
/// # Errors
/// 503 on a store failure.
pub async fn find_refresh_token(db: &DatabaseConnection, token: &str) -> Result<Option<refresh::Model>, AuthError> {
    if !is_token_shaped(token.as_bytes()) {
        return Ok(None);
    }
    let wanted = digest(token);
    let found = refresh::Entity::find().filter(refresh::Column::Digest.eq(wanted.as_str())).one(db).bounded().await?;
    Ok(found.filter(|r| bool::from(r.digest.as_bytes().ct_eq(wanted.as_bytes()))))
}

/// The code with this value, if it exists.
///
/// # Errors
/// 503 on a store failure.
pub async fn find_code(db: &DatabaseConnection, value: &str) -> Result<Option<code::Model>, AuthError> {
    if !is_token_shaped(value.as_bytes()) {
        return Ok(None);
    }
    let wanted = digest(value);
    let found = code::Entity::find().filter(code::Column::Digest.eq(wanted.as_str())).one(db).bounded().await?;
    Ok(found.filter(|r| bool::from(r.digest.as_bytes().ct_eq(wanted.as_bytes()))))
}

/// The live owner of a token: `Ok(Some(None))` for a client token (no user), `Ok(Some(user))`
/// for an existing active user, `Ok(None)` when the user is gone or inactive.
///
/// # Errors
/// 503 on a store failure.
pub async fn live_user(auth: &Auth, user_id: Option<i64>) -> Result<Option<Option<User>>, AuthError> {
    let Some(id) = user_id else { return Ok(Some(None)) };
    Ok(match auth.users().by_id(id).await? {
        Some(s) if s.user.is_active => Some(Some(s.user)),
        _ => None,
    })
}

/// An access token that may be used now, with what it stands for.
#[derive(Debug, Clone)]
pub struct ActiveAccess {
    /// The token record.
    pub token: access::Model,
    /// Its client.
    pub app: application::Model,
    /// Its user (`None` for client credentials).
    pub user: Option<User>,
}

/// Checks an access token: it exists, is neither expired nor revoked, its grant is not
/// revoked, its client exists, and its user (if any) exists and is active.
///
/// # Errors
/// `Ok(Err(detail))` for a token that is not valid; `Err` (503) on a store failure.
pub async fn check_access_token(auth: &Auth, token: &str) -> Result<Result<ActiveAccess, &'static str>, AuthError> {
    let Some(record) = find_access_token(auth.db(), token).await? else {
        return Ok(Err("Invalid token."));
    };
    if record.revoked_at.is_some() {
        return Ok(Err("Token has been revoked."));
    }
    if record.expires_at <= Utc::now() {
        return Ok(Err("Token has expired."));
    }
    match find_grant(auth.db(), record.grant_id).await? {
        Some(g) if g.revoked_at.is_none() => {}
        _ => return Ok(Err("Token has been revoked.")),
    }
    let Some(app) = application::Entity::find_by_id(record.application_id).one(auth.db()).bounded().await? else {
        return Ok(Err("Invalid token."));
    };
    let Some(user) = live_user(auth, record.user_id).await? else {
        return Ok(Err("User inactive or deleted."));
    };
    Ok(Ok(ActiveAccess { token: record, app, user }))
}

/// The expiry of a record as seconds since the epoch.
pub fn epoch(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}
