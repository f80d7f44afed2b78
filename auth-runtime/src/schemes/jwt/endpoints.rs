//! The JWT endpoints of Simple JWT: `jwt/create`, `jwt/refresh`, `jwt/verify`,
//! `jwt/blacklist`, and with sliding tokens on, `jwt/sliding/create` and
//! `jwt/sliding/refresh`. Mount with
//! `web::scope("/api/auth").configure(auth_runtime::endpoints::jwt_routes)`.
//!
//! Every failure of a token is 401 `token_not_valid` with a Bearer challenge; bad
//! credentials at `create` are 401 `no_active_account` (Simple JWT's codes).

use actix_web::{HttpRequest, HttpResponse, web};

use super::Jwt;
use super::config::JwtConfig;
use super::tokens::{self as jwt, Refreshed};
use crate::endpoints::LoginRequest;
use crate::error::AuthError;
use crate::http::{JsonOrForm, not_allowed};
use crate::login;
use crate::state::Auth;

/// Registers, relative to the enclosing scope: `POST /jwt/create`, `/jwt/refresh`,
/// `/jwt/verify`, `/jwt/blacklist`, `/jwt/sliding/create`, `/jwt/sliding/refresh` (the
/// sliding ones answer 401 unless sliding tokens are on), each 405 for other methods.
pub fn jwt_routes(cfg: &mut web::ServiceConfig) {
    fn post<F, Args>(cfg: &mut web::ServiceConfig, path: &str, handler: F)
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        cfg.service(web::resource(path).post(handler).default_service(not_allowed("POST")));
    }
    post(cfg, "/jwt/create", create);
    post(cfg, "/jwt/refresh", refresh);
    post(cfg, "/jwt/verify", verify);
    post(cfg, "/jwt/blacklist", blacklist);
    post(cfg, "/jwt/sliding/create", sliding_create);
    post(cfg, "/jwt/sliding/refresh", sliding_refresh);
}

/// Adds the Bearer challenge (with `error="invalid_token"`) to a `token_not_valid` 401.
fn challenged(auth: &Auth, err: AuthError) -> AuthError {
    if err.code() != "token_not_valid" {
        return err;
    }
    let challenge = <Jwt as crate::Scheme>::challenge(auth, Some(&err));
    err.with_challenges(challenge.into_iter().collect())
}

/// The body of `refresh` and `blacklist`.
#[derive(Debug, serde::Deserialize)]
pub struct RefreshRequest {
    /// A refresh token.
    pub refresh: String,
}

/// The body of `verify` and the sliding endpoints.
#[derive(Debug, serde::Deserialize)]
pub struct TokenRequest {
    /// A token.
    pub token: String,
}

/// Checks the password of a login body; `no_active_account` for every refusal.
async fn login_user(req: &HttpRequest, auth: &Auth, body: LoginRequest) -> Result<crate::User, AuthError> {
    let user = login::check_password(auth, req, &body.username, &body.password).await?;
    let user = user.ok_or_else(|| AuthError::AuthenticationFailed {
        detail: "No active account found with the given credentials.".into(),
        code: "no_active_account",
        challenges: Vec::new(),
    })?;
    if auth.required_config::<JwtConfig>()?.update_last_login {
        auth.users().record_login(user.id).await?;
    }
    Ok(user)
}

/// `POST jwt/create` `{"username", "password"}` -> 200 `{"access", "refresh"}`.
pub async fn create(req: HttpRequest, auth: Auth, body: JsonOrForm<LoginRequest>) -> Result<HttpResponse, AuthError> {
    let user = login_user(&req, &auth, body.0).await.map_err(|e| challenged(&auth, e))?;
    let pair = jwt::issue_pair(&auth, &user, None).await.map_err(|e| challenged(&auth, e))?;
    if !login::confirm_login(&auth, &req, &user).await? {
        // The password changed while this login ran: every JWT of the user is revoked again.
        jwt::revoke_user(&auth, user.id).await?;
        return Err(challenged(
            &auth,
            AuthError::AuthenticationFailed {
                detail: "No active account found with the given credentials.".into(),
                code: "no_active_account",
                challenges: Vec::new(),
            },
        ));
    }
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(pair))
}

/// `POST jwt/refresh` `{"refresh"}` -> 200 `{"access", "refresh"}` with rotation, else
/// `{"access"}`.
pub async fn refresh(auth: Auth, body: JsonOrForm<RefreshRequest>) -> Result<HttpResponse, AuthError> {
    let body = match jwt::refresh(&auth, &body.0.refresh).await.map_err(|e| challenged(&auth, e))? {
        Refreshed::Pair(pair) => {
            serde_json::json!({"access": pair.access, "refresh": pair.refresh})
        }
        Refreshed::Access(access) => serde_json::json!({"access": access}),
    };
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(body))
}

/// `POST jwt/verify` `{"token"}` -> 200 `{}`.
pub async fn verify(auth: Auth, body: JsonOrForm<TokenRequest>) -> Result<HttpResponse, AuthError> {
    jwt::verify_any(&auth, &body.0.token).await.map_err(|e| challenged(&auth, e))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

/// `POST jwt/blacklist` `{"refresh"}` -> 200 `{}`.
pub async fn blacklist(auth: Auth, body: JsonOrForm<RefreshRequest>) -> Result<HttpResponse, AuthError> {
    jwt::blacklist(&auth, &body.0.refresh).await.map_err(|e| challenged(&auth, e))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

/// `POST jwt/sliding/create` `{"username", "password"}` -> 200 `{"token"}`.
pub async fn sliding_create(
    req: HttpRequest,
    auth: Auth,
    body: JsonOrForm<LoginRequest>,
) -> Result<HttpResponse, AuthError> {
    let result = async {
        let user = login_user(&req, &auth, body.0).await?;
        jwt::issue_sliding(&auth, &user).await
    }
    .await;
    let token = result.map_err(|e| challenged(&auth, e))?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(serde_json::json!({"token": token})))
}

/// `POST jwt/sliding/refresh` `{"token"}` -> 200 `{"token"}`.
pub async fn sliding_refresh(auth: Auth, body: JsonOrForm<TokenRequest>) -> Result<HttpResponse, AuthError> {
    let token = jwt::refresh_sliding(&auth, &body.0.token).await.map_err(|e| challenged(&auth, e))?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(serde_json::json!({"token": token})))
}
