//! The Token scheme's endpoints (knox's): `POST /token` obtains a token with a password,
//! `DELETE /token` revokes the token used, `DELETE /tokens` every token of the user.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::SecondsFormat;

use super::config::TokenConfig;
use super::store as token;
use crate::endpoints::LoginRequest;
use crate::error::AuthError;
use crate::http::{JsonOrForm, no_content, not_allowed};
use crate::login;
use crate::principal::{Principal, SchemeData};
use crate::state::Auth;

/// Registers, relative to the enclosing scope:
/// - `POST /token`: [`obtain_token`]; `DELETE /token`: [`revoke_token`];
/// - `DELETE /tokens`: [`revoke_all_tokens`];
///
/// with 405 `method_not_allowed` for other methods.
pub fn token_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/token").post(obtain_token).delete(revoke_token).default_service(not_allowed("POST, DELETE")),
    )
    .service(web::resource("/tokens").delete(revoke_all_tokens).default_service(not_allowed("DELETE")));
}

/// `POST /api/auth/token` `{"username", "password"}` -> 200 `{"token", "expires_at"}`.
///
/// Creates a new API token on each call (one per client or device), expiring after the
/// Token scheme's `ttl` (`expires_at` is RFC 3339 UTC with `Z`, or null). A wrong password,
/// an unknown or an inactive user are the same 400 `invalid_credentials` (DRF's
/// `ObtainAuthToken` answers 400 too).
pub async fn obtain_token(
    req: HttpRequest,
    auth: Auth,
    body: JsonOrForm<LoginRequest>,
) -> Result<HttpResponse, AuthError> {
    let LoginRequest { username, password } = body.0;
    let user = login::check_password(&auth, &req, &username, &password).await?.ok_or(AuthError::InvalidCredentials)?;
    let ttl = auth.config::<TokenConfig>().and_then(|c| c.ttl);
    let issued = token::create_token(auth.db(), user.id, ttl).await?;
    if !login::confirm_login(&auth, &req, &user).await? {
        // The password changed while this login ran: what it issued does not survive.
        token::revoke(&auth, issued.record.id).await?;
        return Err(AuthError::InvalidCredentials);
    }
    let expires_at = issued.record.expires_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({ "token": issued.key, "expires_at": expires_at })))
}

/// The Token-scheme principal's token id, or 403 for any other principal.
fn token_id(principal: &Principal) -> Result<i64, AuthError> {
    match principal.data {
        SchemeData::Token { token_id, .. } => Ok(token_id),
        _ => Err(AuthError::permission_denied()),
    }
}

/// `DELETE /api/auth/token` (Token scheme alone) -> 204; revokes the token used (knox's logout).
#[crate::authentication(Token)]
#[crate::permission(IsAuthenticated)]
pub async fn revoke_token(auth: Auth, principal: Principal) -> Result<HttpResponse, AuthError> {
    token::revoke(&auth, token_id(&principal)?).await?;
    Ok(no_content())
}

/// `DELETE /api/auth/tokens` (Token scheme alone) -> 204; revokes every token of the user
/// (knox's logout-all).
#[crate::authentication(Token)]
#[crate::permission(IsAuthenticated)]
pub async fn revoke_all_tokens(auth: Auth, principal: Principal) -> Result<HttpResponse, AuthError> {
    token_id(&principal)?;
    if let Some(user) = &principal.user {
        token::revoke_user(&auth, user.id).await?;
    }
    Ok(no_content())
}
