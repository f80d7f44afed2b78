//! Ready-made actix-web endpoints. [`crate::mount::app`] mounts them all under the prefixes
//! of [`EndpointsConfig`]; or mount a group yourself, e.g.
//! `web::scope("/api/auth").configure(auth_runtime::endpoints::token_routes)`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::SecondsFormat;

use crate::error::AuthError;
use crate::http::{JsonOrForm, no_content, not_allowed};
use crate::principal::{Principal, SchemeData};
use crate::schemes::{TokenConfig, token};
use crate::state::Auth;

/// Where the framework's endpoint groups are mounted, as paths from the app's root (the
/// settings' `endpoints` section, `#[auth(endpoints)]`); a group set to `None` is not mounted.
/// [`crate::mount::app`] mounts them; the endpoints read it back for their links and
/// redirects (the login page's form, OAuth2's redirect to the login page, its metadata).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct EndpointsConfig {
    /// The JSON API: [`token_routes`] (`/token`, `/tokens`), [`jwt_routes`] (`/jwt/...`) and
    /// [`session_routes`] (`/csrf`, `/login`, `/logout`). Default `/api/auth`.
    pub api: Option<String>,
    /// The HTML login page ([`login_page_routes`], Django's `LOGIN_URL`). Default
    /// `/accounts/login`.
    pub login_page: Option<String>,
    /// The OAuth2 authorization server ([`oauth2_routes`]: `/authorize`, `/token`,
    /// `/revoke_token`, `/introspect`); its RFC 8414 metadata stays at
    /// `/.well-known/oauth-authorization-server`. Default `/o`.
    pub oauth2: Option<String>,
}

impl Default for EndpointsConfig {
    fn default() -> Self {
        EndpointsConfig {
            api: Some("/api/auth".into()),
            login_page: Some("/accounts/login".into()),
            oauth2: Some("/o".into()),
        }
    }
}

impl EndpointsConfig {
    /// `prefix` without a trailing `/` (`""` for the root).
    fn clean(prefix: &str) -> &str {
        prefix.trim_end_matches('/')
    }

    /// The login page's path (for links and redirects), `/accounts/login` by default.
    pub fn login_page_path(&self) -> String {
        Self::clean(self.login_page.as_deref().unwrap_or("/accounts/login")).to_owned()
    }

    /// The path of the OAuth2 endpoint `name` (`"authorize"`), `/o/authorize` by default.
    pub fn oauth2_path(&self, name: &str) -> String {
        format!("{}/{name}", Self::clean(self.oauth2.as_deref().unwrap_or("/o")))
    }
}

/// The [`EndpointsConfig`] of `auth` (the default when none was set).
pub fn mounts(auth: &Auth) -> std::borrow::Cow<'_, EndpointsConfig> {
    match auth.config::<EndpointsConfig>() {
        Some(c) => std::borrow::Cow::Borrowed(c),
        None => std::borrow::Cow::Owned(EndpointsConfig::default()),
    }
}

/// The body of a password login: `{"username", "password"}` (JSON or form).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password in clear (never logged).
    pub password: String,
}

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
    let user = auth.check_password(&req, &username, &password).await?.ok_or(AuthError::InvalidCredentials)?;
    let ttl = auth.config::<TokenConfig>().and_then(|c| c.ttl);
    let issued = token::create_token(auth.db(), user.id, ttl).await?;
    if !auth.confirm_login(&req, &user).await? {
        // The password changed while this login ran: what it issued does not survive.
        token::revoke_token(&auth, issued.record.id).await?;
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
    token::revoke_token(&auth, token_id(&principal)?).await?;
    Ok(no_content())
}

/// `DELETE /api/auth/tokens` (Token scheme alone) -> 204; revokes every token of the user
/// (knox's logout-all).
#[crate::authentication(Token)]
#[crate::permission(IsAuthenticated)]
pub async fn revoke_all_tokens(auth: Auth, principal: Principal) -> Result<HttpResponse, AuthError> {
    token_id(&principal)?;
    if let Some(user) = &principal.user {
        token::revoke_user_tokens(&auth, user.id).await?;
    }
    Ok(no_content())
}

pub mod jwt;
pub mod oauth2;
pub mod session;
pub use jwt::jwt_routes;
pub use oauth2::oauth2_routes;
pub use session::{login_page_routes, session_routes};
