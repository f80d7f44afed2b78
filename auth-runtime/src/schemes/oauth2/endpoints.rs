//! The OAuth2 authorization server (RFC 6749, as Django OAuth Toolkit): the authorization
//! endpoint with its consent page, the token endpoint (authorization code with PKCE, client
//! credentials, refresh token with rotation), revocation (RFC 7009), introspection
//! (RFC 7662) and the metadata document (RFC 8414). Mount at the app's root with
//! `cfg.configure(auth_runtime::endpoints::oauth2_routes)`.
//!
//! Errors of these endpoints use the OAuth body `{"error", "error_description"}` (RFC 6749
//! section 5.2) with `Cache-Control: no-store` and `Pragma: no-cache`; a store fault is 503
//! `temporarily_unavailable`, never a 401.
//!
//! Security choices (RFC 9700): PKCE S256 is required for every client, `plain` is refused;
//! redirect URIs match exactly (loopback IP URIs with any port, RFC 8252 section 7.3); codes
//! live 60 s and are spent by a conditional update, and a second use revokes every token of
//! the grant; refresh tokens rotate, and a rotated one coming back revokes the grant; no
//! implicit or password grant. Every failed client authentication goes through
//! `client_auth_failed` (the throttle's hook).

use crate::db::Bounded;
use std::borrow::Cow;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Utc;
use sea_orm::entity::prelude::*;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::config::config;
use super::models::GrantType;
use super::models::entity::{application, code, refresh};
use super::protocol::{choose_scopes, split};
use super::store::{self as oauth2, IssuedTokens};
use crate::endpoints::mounts;
use crate::error::AuthError;
use crate::header::{Authorization, decode_basic};
use crate::http::{DEFAULT_BODY_LIMIT, not_allowed};
use crate::login;
use crate::state::Auth;
use crate::throttling::LoginKind;

/// Registers `GET /.well-known/oauth-authorization-server` ([`metadata`], RFC 8414 section
/// 3) at the app's root; 405 with `Allow` for other methods.
pub fn metadata_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/.well-known/oauth-authorization-server").get(metadata).default_service(not_allowed("GET")),
    );
}

// ----------------------------------------------------------------------------------------
// Errors
// ----------------------------------------------------------------------------------------

/// An error of an OAuth2 endpoint, rendered `{"error", "error_description"}` (RFC 6749
/// section 5.2) with `Cache-Control: no-store` and `Pragma: no-cache`.
#[derive(Debug, Clone)]
pub struct OAuthError {
    /// HTTP status: 400 for protocol errors, 401 for `invalid_client`, 403 for CSRF, 413, 429,
    /// 503 for store faults.
    pub status: StatusCode,
    /// The `error` code, e.g. `invalid_grant`.
    pub error: &'static str,
    /// The `error_description` sentence (never a secret).
    pub description: Cow<'static, str>,
    /// A `WWW-Authenticate` value (`Basic realm="oauth"` on `invalid_client`).
    pub challenge: Option<String>,
    /// `Retry-After`, in seconds (429).
    pub retry_after: Option<u64>,
}

impl OAuthError {
    /// A 400 with `error` and `description`.
    pub fn bad(error: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            challenge: None,
            retry_after: None,
        }
    }

    /// 400 `invalid_request`: a missing, repeated or malformed parameter.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::bad("invalid_request", description)
    }

    /// 400 `invalid_grant`: a code or refresh token that is invalid, expired, revoked, used,
    /// issued to another client, or whose redirect URI or PKCE verifier does not match.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::bad("invalid_grant", description)
    }

    /// 401 `invalid_client` with `WWW-Authenticate: Basic realm="oauth"` (RFC 6749 section 5.2).
    pub fn invalid_client() -> Self {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "Client authentication failed.".into(),
            challenge: Some("Basic realm=\"oauth\"".into()),
            retry_after: None,
        }
    }

    /// 400 `unauthorized_client`: the client may not use this grant, or the token is another
    /// client's (RFC 7009 section 2.1).
    pub fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::bad("unauthorized_client", description)
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CACHE_CONTROL, "no-store")).insert_header((header::PRAGMA, "no-cache"));
        if let Some(c) = &self.challenge {
            res.insert_header((header::WWW_AUTHENTICATE, c.as_str()));
        }
        if let Some(wait) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, wait));
        }
        res.json(serde_json::json!({ "error": self.error, "error_description": self.description }))
    }
}

impl From<AuthError> for OAuthError {
    /// Store faults become 503 `temporarily_unavailable`; 413, 429 and 403 keep their status
    /// (with the `error` `invalid_request`, `throttled` and the 403's code); anything else is
    /// 400 `invalid_request`.
    fn from(e: AuthError) -> Self {
        let description: Cow<'static, str> = e.to_string().into();
        let with = |status, error| OAuthError {
            status,
            error,
            description: description.clone(),
            challenge: None,
            retry_after: None,
        };
        match &e {
            AuthError::ServiceUnavailable => with(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
            AuthError::Overloaded { wait } => OAuthError {
                retry_after: Some(*wait),
                ..with(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
            },
            AuthError::PayloadTooLarge { .. } => with(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request"),
            AuthError::Throttled { wait } => {
                OAuthError { retry_after: Some(*wait), ..with(StatusCode::TOO_MANY_REQUESTS, "throttled") }
            }
            AuthError::PermissionDenied { code, .. } => with(StatusCode::FORBIDDEN, code),
            AuthError::ImproperlyConfigured(_) => with(e.status_code(), "server_error"),
            _ => with(StatusCode::BAD_REQUEST, "invalid_request"),
        }
    }
}

impl From<sea_orm::DbErr> for OAuthError {
    fn from(e: sea_orm::DbErr) -> Self {
        AuthError::from(e).into()
    }
}

// ----------------------------------------------------------------------------------------
// Parameters
// ----------------------------------------------------------------------------------------

/// Request parameters (query or form body). Empty values count as absent and a repeated
/// parameter is `invalid_request` (RFC 6749 section 3.1 and 3.2).
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes.
    ///
    /// # Errors
    /// 400 `invalid_request` when they do not parse.
    pub fn parse(bytes: &[u8]) -> Result<Params, OAuthError> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
            .map(Params)
            .map_err(|_| OAuthError::invalid_request("The parameters could not be parsed."))
    }

    /// The value of `name`, `None` when absent or empty.
    ///
    /// # Errors
    /// 400 `invalid_request` when it is repeated.
    pub fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut values = self.0.iter().filter(|(k, v)| k == name && !v.is_empty());
        match (values.next(), values.next()) {
            (Some(_), Some(_)) => Err(OAuthError::invalid_request(format!("The {name} parameter is repeated."))),
            (first, _) => Ok(first.map(|(_, v)| v.as_str())),
        }
    }

    pub(crate) fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)?.ok_or_else(|| OAuthError::invalid_request(format!("The {name} parameter is missing.")))
    }
}

/// Reads a form body (`application/x-www-form-urlencoded`, at most 64 KiB).
pub(crate) async fn read_form(req: &HttpRequest, payload: web::Payload) -> Result<Params, OAuthError> {
    let is_form = req.content_type().eq_ignore_ascii_case("application/x-www-form-urlencoded");
    let bytes = crate::http::read_body(req, &mut payload.into_inner(), DEFAULT_BODY_LIMIT).await?;
    if !is_form {
        return Err(OAuthError::invalid_request("Expected an application/x-www-form-urlencoded body."));
    }
    Params::parse(&bytes)
}

pub(crate) fn no_store(mut res: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    res.insert_header((header::CACHE_CONTROL, "no-store")).insert_header((header::PRAGMA, "no-cache"));
    res
}

// ----------------------------------------------------------------------------------------
// Client authentication (RFC 6749 section 2.3)
// ----------------------------------------------------------------------------------------

/// Every failed client authentication at `/o/token`, `/o/revoke_token` and `/o/introspect`
/// ends here: logs it and returns 401 `invalid_client` with `Basic realm="oauth"`.
/// `client_id` is the identifier the client claimed, if any (unknown ones too).
async fn client_auth_failed(req: &HttpRequest, auth: &Auth, client_id: Option<&str>) -> OAuthError {
    // Counted per client id and per client IP, as failed password logins are per username
    // (a request too malformed to have reserved an attempt counts as a failure all the same).
    if let Err(e) = login::login_guard(auth, LoginKind::Client).failed(req, client_id.unwrap_or("")).await {
        return e.into();
    }
    tracing::warn!(
        client_id = client_id.unwrap_or("-"),
        peer = ?req.peer_addr(),
        "OAuth2 client authentication failed"
    );
    OAuthError::invalid_client()
}

/// Every successful client authentication ends here.
async fn client_auth_succeeded(req: &HttpRequest, auth: &Auth, client_id: &str) {
    // A success resets the client id's failure count, as a good login resets its username's.
    if let Err(e) = login::login_guard(auth, LoginKind::Client).succeeded(req, client_id).await {
        tracing::warn!(error = %e, "could not reset a client's failure count");
    }
}

/// Which clients an endpoint accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clients {
    /// Confidential clients with their secret, public clients with their `client_id` alone.
    All,
    /// Confidential clients only (introspection).
    Confidential,
}

/// Decodes one part of Basic client credentials: `application/x-www-form-urlencoded`
/// (RFC 6749 section 2.3.1): `+` is a space and `%XX` a byte; the result must be UTF-8.
/// `None` for a `%` not followed by two hex digits, or bytes that are not UTF-8.
fn form_decode(part: &str) -> Option<String> {
    let bytes = part.as_bytes();
    // Two hex digits exactly after each `%` (the decoder would keep a malformed escape as
    // it is; a sign is not a hex digit either, as in `%+A`).
    let escapes_ok = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'%')
        .all(|(i, _)| bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)));
    if !escapes_ok {
        return None;
    }
    let spaced = part.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().ok().map(std::borrow::Cow::into_owned)
}

/// The client of a request: HTTP Basic (`client_id:client_secret`, each form-urlencoded),
/// or `client_id` and `client_secret` in the body; a public client sends its `client_id`
/// alone. One method per request.
///
/// # Errors
/// 401 `invalid_client` (through `client_auth_failed`) for every failure; 400
/// `invalid_request` for two methods at once or repeated parameters; 503 on a store fault.
async fn authenticate_client(
    req: &HttpRequest,
    auth: &Auth,
    params: &Params,
    clients: Clients,
) -> Result<application::Model, OAuthError> {
    crate::header::single_authorization(req)?;
    let basic = Authorization::from_request(req).filter(|h| h.is("basic"));
    let (client_id, secret) = match basic {
        Some(header) => {
            if params.get("client_secret")?.is_some() {
                return Err(OAuthError::invalid_request("Use one client authentication method, not two."));
            }
            let pair = decode_basic(header.credentials()).ok();
            let parts = pair.and_then(|(id, secret)| Some((form_decode(&id)?, form_decode(&secret)?)));
            let Some((id, secret)) = parts else {
                return Err(client_auth_failed(req, auth, None).await);
            };
            if params.get("client_id")?.is_some_and(|body_id| body_id != id) {
                return Err(client_auth_failed(req, auth, Some(&id)).await);
            }
            (id, Some(secret).filter(|s| !s.is_empty()))
        }
        None => {
            let Some(id) = params.get("client_id")? else {
                return Err(client_auth_failed(req, auth, None).await);
            };
            (id.to_owned(), params.get("client_secret")?.map(str::to_owned))
        }
    };
    // The lockout, before the secret is hashed: past the limit for this client id or this
    // client IP -> 429 `{"error": "throttled"}` with Retry-After.
    let guard = login::login_guard(auth, LoginKind::Client);
    let _attempt = guard.reserve(req, &client_id).await?;
    let app = match oauth2::find_application(auth.db(), &client_id).await {
        Ok(Some(app)) => app,
        Ok(None) => return Err(client_auth_failed(req, auth, Some(&client_id)).await),
        Err(e) => {
            guard.release(req, &client_id).await;
            return Err(e.into());
        }
    };
    let ok = if app.is_public() {
        secret.is_none() && clients == Clients::All
    } else {
        secret.as_deref().is_some_and(|s| app.secret_matches(s))
    };
    if !ok {
        return Err(client_auth_failed(req, auth, Some(&client_id)).await);
    }
    client_auth_succeeded(req, auth, &client_id).await;
    Ok(app)
}

// ----------------------------------------------------------------------------------------
// Token endpoint (RFC 6749 sections 3.2, 4.1.3, 4.4, 6)
// ----------------------------------------------------------------------------------------

/// `POST /o/token` (form): `grant_type=authorization_code` (`code`, `redirect_uri`,
/// `code_verifier`), `client_credentials` (`scope`), or `refresh_token` (`refresh_token`,
/// `scope`), with client authentication -> 200 `{"access_token", "token_type": "Bearer",
/// "expires_in" (seconds), "refresh_token", "scope"}` (no refresh token for client
/// credentials).
///
/// Errors (RFC 6749 section 5.2): 401 `invalid_client`; 400 `invalid_request`,
/// `invalid_grant` (bad, expired, used or foreign code or refresh token, redirect URI or
/// verifier mismatch; a used code or rotated refresh token also revokes the grant),
/// `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`; 503.
pub async fn token(req: HttpRequest, auth: Auth, payload: web::Payload) -> Result<HttpResponse, OAuthError> {
    let params = read_form(&req, payload).await?;
    let client = authenticate_client(&req, &auth, &params, Clients::All).await?;
    let issued = match params.require("grant_type")? {
        "authorization_code" => exchange_code(&auth, &client, &params).await?,
        "client_credentials" => client_credentials(&auth, &client, &params).await?,
        "refresh_token" => refresh_grant(&auth, &client, &params).await?,
        _ => {
            return Err(OAuthError::bad(
                "unsupported_grant_type",
                "Supported grant types: authorization_code, client_credentials, refresh_token.",
            ));
        }
    };
    let mut body = serde_json::json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope.join(" "),
    });
    if let Some(refresh) = issued.refresh_token {
        body["refresh_token"] = refresh.into();
    }
    Ok(no_store(HttpResponse::Ok()).json(body))
}

/// True when `verifier` (RFC 7636 section 4.1: 43 to 128 unreserved characters) hashes to
/// `challenge` with S256, compared in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let shaped = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    shaped && bool::from(B64.encode(Sha256::digest(verifier.as_bytes())).as_bytes().ct_eq(challenge.as_bytes()))
}

/// `grant_type=authorization_code`. Everything is checked before the code is spent; the
/// conditional update then lets exactly one of concurrent exchanges through, and the others
/// are treated as a reuse.
async fn exchange_code(auth: &Auth, client: &application::Model, params: &Params) -> Result<IssuedTokens, OAuthError> {
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(OAuthError::unauthorized_client("The client may not use the authorization code grant."));
    }
    let value = params.require("code")?;
    let redirect_uri = params.require("redirect_uri")?;
    let verifier = params.get("code_verifier")?;
    let invalid = || OAuthError::invalid_grant("The authorization code is invalid.");
    let record = oauth2::find_code(auth.db(), value).await?.ok_or_else(invalid)?;
    if record.application_id != client.id {
        return Err(invalid());
    }
    if record.used {
        return Err(code_reused(auth, &record).await);
    }
    if record.expires_at <= Utc::now() {
        return Err(OAuthError::invalid_grant("The authorization code has expired."));
    }
    if record.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant("The redirect_uri does not match the authorization request."));
    }
    if !verifier.is_some_and(|v| pkce_matches(v, &record.code_challenge)) {
        return Err(OAuthError::invalid_grant("The code_verifier is missing or does not match the code_challenge."));
    }
    let grant = match oauth2::find_grant(auth.db(), record.grant_id).await? {
        Some(g) if g.revoked_at.is_none() => g,
        _ => return Err(OAuthError::invalid_grant("The authorization has been revoked.")),
    };
    if oauth2::live_user(auth, Some(record.user_id)).await?.is_none() {
        return Err(OAuthError::invalid_grant("The user is inactive or deleted."));
    }
    let spent = code::Entity::update_many()
        .col_expr(code::Column::Used, Expr::value(true))
        .filter(code::Column::Id.eq(record.id))
        .filter(code::Column::Used.eq(false))
        .exec(auth.db())
        .bounded()
        .await?;
    if spent.rows_affected != 1 {
        return Err(code_reused(auth, &record).await);
    }
    let scope = split(&record.scope);
    Ok(oauth2::issue_tokens(auth, &grant, scope.clone(), Some(&scope)).await?)
}

/// A code came back after it was used: every token issued from it is revoked (RFC 9700
/// section 4.5 / RFC 6749 section 4.1.2).
async fn code_reused(auth: &Auth, record: &code::Model) -> OAuthError {
    tracing::warn!(grant_id = record.grant_id, "reuse of an OAuth2 authorization code; its grant is revoked");
    match oauth2::revoke_grant(auth, record.grant_id).await {
        Ok(()) => OAuthError::invalid_grant("The authorization code has already been used."),
        Err(e) => e.into(),
    }
}

/// `grant_type=client_credentials`: confidential clients registered for it; a new grant with
/// the requested scopes (default: all of the client's), no refresh token.
async fn client_credentials(
    auth: &Auth,
    client: &application::Model,
    params: &Params,
) -> Result<IssuedTokens, OAuthError> {
    if client.is_public() || !client.allows(GrantType::ClientCredentials) {
        return Err(OAuthError::unauthorized_client("The client may not use the client credentials grant."));
    }
    let scope = choose_scopes(params.get("scope")?, &client.scope_list())
        .ok_or_else(|| OAuthError::bad("invalid_scope", "The requested scope is not allowed for this client."))?;
    let grant = oauth2::create_grant(auth.db(), client, None, GrantType::ClientCredentials, &scope).await?;
    Ok(oauth2::issue_tokens(auth, &grant, scope, None).await?)
}

/// `grant_type=refresh_token` with rotation: the refresh token is spent by a conditional
/// update and a new pair of the same grant is issued; a spent token coming back revokes the
/// grant. `scope` may narrow the access token's scopes (RFC 6749 section 6).
async fn refresh_grant(auth: &Auth, client: &application::Model, params: &Params) -> Result<IssuedTokens, OAuthError> {
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(OAuthError::unauthorized_client("The client may not use the refresh token grant."));
    }
    let value = params.require("refresh_token")?;
    let invalid = || OAuthError::invalid_grant("The refresh token is invalid.");
    let record = oauth2::find_refresh_token(auth.db(), value).await?.ok_or_else(invalid)?;
    if record.application_id != client.id {
        return Err(invalid());
    }
    if record.rotated_at.is_some() {
        return Err(refresh_reused(auth, &record).await);
    }
    if record.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant("The refresh token has been revoked."));
    }
    if record.expires_at <= Utc::now() {
        return Err(OAuthError::invalid_grant("The refresh token has expired."));
    }
    let grant = match oauth2::find_grant(auth.db(), record.grant_id).await? {
        Some(g) if g.revoked_at.is_none() => g,
        _ => return Err(OAuthError::invalid_grant("The refresh token has been revoked.")),
    };
    let granted = split(&record.scope);
    let scope = choose_scopes(params.get("scope")?, &granted)
        .ok_or_else(|| OAuthError::bad("invalid_scope", "The requested scope exceeds the scope originally granted."))?;
    if oauth2::live_user(auth, record.user_id).await?.is_none() {
        return Err(OAuthError::invalid_grant("The user is inactive or deleted."));
    }
    let spent = refresh::Entity::update_many()
        .col_expr(refresh::Column::RotatedAt, Expr::value(Utc::now()))
        .filter(refresh::Column::Id.eq(record.id))
        .filter(refresh::Column::RotatedAt.is_null())
        .filter(refresh::Column::RevokedAt.is_null())
        .exec(auth.db())
        .bounded()
        .await?;
    if spent.rows_affected != 1 {
        return Err(refresh_reused(auth, &record).await);
    }
    Ok(oauth2::issue_tokens(auth, &grant, scope, Some(&granted)).await?)
}

/// A rotated refresh token came back: someone holds a copy, so the whole grant is revoked.
async fn refresh_reused(auth: &Auth, record: &refresh::Model) -> OAuthError {
    tracing::warn!(grant_id = record.grant_id, "reuse of a rotated OAuth2 refresh token; its grant is revoked");
    match oauth2::revoke_grant(auth, record.grant_id).await {
        Ok(()) => OAuthError::invalid_grant("The refresh token has already been used."),
        Err(e) => e.into(),
    }
}

// ----------------------------------------------------------------------------------------
// Revocation (RFC 7009) and introspection (RFC 7662)
// ----------------------------------------------------------------------------------------

/// `POST /o/revoke_token` (form: `token`, optional `token_type_hint`), client-authenticated
/// (a public client sends its `client_id` alone) -> 200 with an empty body, also for an
/// unknown token (RFC 7009 section 2.2). An access token is revoked alone; a refresh token
/// revokes its whole grant (its access tokens too).
///
/// Errors: 401 `invalid_client`; 400 `invalid_request` without `token`; 400
/// `unauthorized_client` for a token issued to another client (which stays valid); 503.
pub async fn revoke(req: HttpRequest, auth: Auth, payload: web::Payload) -> Result<HttpResponse, OAuthError> {
    let params = read_form(&req, payload).await?;
    let client = authenticate_client(&req, &auth, &params, Clients::All).await?;
    let value = params.require("token")?;
    let refresh_first = params.get("token_type_hint")? == Some("refresh_token");
    let foreign = || OAuthError::unauthorized_client("The token was issued to another client.");
    let access = oauth2::find_access_token(auth.db(), value);
    let (access, refresh) = if refresh_first {
        let r = oauth2::find_refresh_token(auth.db(), value).await?;
        let a = if r.is_none() { access.await? } else { None };
        (a, r)
    } else {
        let a = access.await?;
        let r = if a.is_none() { oauth2::find_refresh_token(auth.db(), value).await? } else { None };
        (a, r)
    };
    if let Some(a) = access {
        if a.application_id != client.id {
            return Err(foreign());
        }
        oauth2::revoke_access_token(&auth, a.id).await?;
    } else if let Some(r) = refresh {
        if r.application_id != client.id {
            return Err(foreign());
        }
        oauth2::revoke_grant(&auth, r.grant_id).await?;
    }
    Ok(no_store(HttpResponse::Ok()).finish())
}

/// `POST /o/introspect` (form: `token`), for confidential clients only, which may introspect
/// any token of this server -> 200 `{"active": true, "scope", "client_id", "username",
/// "token_type": "Bearer" | "refresh_token", "exp", "iat"}` (`exp`, `iat`: seconds since the
/// epoch; `username` omitted for client-credentials tokens), or exactly `{"active": false}`
/// for anything unknown, expired, revoked, rotated, or whose user is inactive.
///
/// Errors: 401 `invalid_client` (public clients too); 400 `invalid_request` without `token`;
/// 503.
pub async fn introspect(req: HttpRequest, auth: Auth, payload: web::Payload) -> Result<HttpResponse, OAuthError> {
    let params = read_form(&req, payload).await?;
    authenticate_client(&req, &auth, &params, Clients::Confidential).await?;
    let value = params.require("token")?;
    let body = match introspect_token(&auth, value).await? {
        Some(body) => body,
        None => serde_json::json!({ "active": false }),
    };
    Ok(no_store(HttpResponse::Ok()).json(body))
}

async fn introspect_token(auth: &Auth, value: &str) -> Result<Option<serde_json::Value>, OAuthError> {
    let (app_id, user_id, scope, token_type, iat, exp) = match oauth2::check_access_token(auth, value).await? {
        Ok(active) => (
            active.app.id,
            active.token.user_id,
            active.token.scope,
            "Bearer",
            active.token.created_at,
            active.token.expires_at,
        ),
        Err(_) => {
            let Some(r) = oauth2::find_refresh_token(auth.db(), value).await? else { return Ok(None) };
            if r.rotated_at.is_some() || r.revoked_at.is_some() || r.expires_at <= Utc::now() {
                return Ok(None);
            }
            match oauth2::find_grant(auth.db(), r.grant_id).await? {
                Some(g) if g.revoked_at.is_none() => {}
                _ => return Ok(None),
            }
            (r.application_id, r.user_id, r.scope, "refresh_token", r.created_at, r.expires_at)
        }
    };
    let Some(user) = oauth2::live_user(auth, user_id).await? else { return Ok(None) };
    let Some(app) = application::Entity::find_by_id(app_id).one(auth.db()).bounded().await? else { return Ok(None) };
    let mut body = serde_json::json!({
        "active": true,
        "scope": scope,
        "client_id": app.client_id,
        "token_type": token_type,
        "exp": oauth2::epoch(exp),
        "iat": oauth2::epoch(iat),
    });
    if let Some(user) = user {
        body["username"] = user.username.into();
    }
    Ok(Some(body))
}

// ----------------------------------------------------------------------------------------
// Metadata (RFC 8414)
// ----------------------------------------------------------------------------------------

/// The issuer: [`OAuth2Config::issuer`], else the framework's own origin
/// (`scheme://host[:port]`, [`crate::hosts::own_origin`]: the configured public origin, or
/// the request's host when it is an allowed one; never an arbitrary `Host`).
fn issuer(req: &HttpRequest, auth: &Auth) -> Result<String, AuthError> {
    match config(auth).issuer {
        Some(issuer) => Ok(issuer.trim_end_matches('/').to_owned()),
        None => crate::hosts::own_origin(req, auth),
    }
}

/// `GET /.well-known/oauth-authorization-server` -> 200, the RFC 8414 metadata: `issuer`,
/// the four endpoints, `scopes_supported`, `response_types_supported: ["code"]`,
/// `grant_types_supported`, `code_challenge_methods_supported: ["S256"]`, and the client
/// authentication methods of each endpoint.
///
/// # Errors
/// 400 `invalid_host` when the issuer would come from a host that is not allowed.
pub async fn metadata(req: HttpRequest, auth: Auth) -> Result<HttpResponse, AuthError> {
    let issuer = issuer(&req, &auth)?;
    let mounts = mounts(&auth);
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{}", mounts.oauth2_path("authorize")),
        "token_endpoint": format!("{issuer}{}", mounts.oauth2_path("token")),
        "revocation_endpoint": format!("{issuer}{}", mounts.oauth2_path("revoke_token")),
        "introspection_endpoint": format!("{issuer}{}", mounts.oauth2_path("introspect")),
        "scopes_supported": config(&auth).scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
        assert!(!pkce_matches("short", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    }

    #[test]
    fn basic_parts_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c").as_deref(), Some("a:b c"));
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%"), None);
        assert_eq!(form_decode("%ff"), None);
        // Found by `form_decoding_agrees_with_the_url_crate`: a sign is not a hex digit.
        assert_eq!(form_decode("%+A"), None);
        assert_eq!(form_decode("%+1x"), None);
    }

    #[test]
    fn params_refuse_repeats_and_ignore_empty() {
        let p = Params::parse(b"a=1&a=2&b=&c=3").unwrap();
        assert!(p.get("a").is_err());
        assert_eq!(p.get("b").unwrap(), None);
        assert_eq!(p.get("c").unwrap(), Some("3"));
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            /// Basic client credentials: any text decodes or is refused, never a panic; what
            /// decodes agrees with the `url` crate's form decoding (RFC 6749 section 2.3.1).
            #[test]
            fn form_decoding_agrees_with_the_url_crate(part in "([a-zA-Z0-9+%:. -]|%[0-9a-fA-F+-]{0,2}|[é€])*") {
                if let Some(decoded) = form_decode(&part) {
                    let reference: String = url::form_urlencoded::parse(format!("x={part}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    prop_assert_eq!(decoded, reference);
                }
            }

            /// What a client library encodes decodes back.
            #[test]
            fn form_encoding_round_trips(value in any::<String>()) {
                let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
                prop_assert_eq!(form_decode(&encoded), Some(value));
            }

            /// Any body: parameters or 400, never a panic.
            #[test]
            fn any_parameters_parse_or_fail(body in proptest::collection::vec(any::<u8>(), 0..200), name in "[a-z_]{1,12}") {
                if let Ok(params) = Params::parse(&body) {
                    let _ = params.get(&name);
                }
            }

            /// PKCE: any verifier and challenge compare without panicking; a verifier matches
            /// its own S256 challenge exactly when it has the RFC 7636 shape.
            #[test]
            fn pkce_any_input(verifier in any::<String>(), challenge in any::<String>(), shaped in "[A-Za-z0-9._~-]{43,128}") {
                let _ = pkce_matches(&verifier, &challenge);
                let own = B64.encode(Sha256::digest(shaped.as_bytes()));
                prop_assert!(pkce_matches(&shaped, &own));
                let own = B64.encode(Sha256::digest(verifier.as_bytes()));
                let valid = (43..=128).contains(&verifier.len())
                    && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
                prop_assert_eq!(pkce_matches(&verifier, &own), valid);
            }
        }
    }
}
