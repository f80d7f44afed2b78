//! Ready-made actix-web endpoints. [`crate::mount::app`] mounts them all under the prefixes
//! of [`EndpointsConfig`]; or mount a group yourself, e.g.
//! `web::scope("/api/auth").configure(auth_runtime::endpoints::token_routes)`.

pub mod oauth2;

pub use oauth2::oauth2_routes;

use crate::state::Auth;

/// Where the framework's endpoint groups are mounted, as paths from the app's root (the
/// settings' `endpoints` section, `#[auth(endpoints)]`); a group set to `None` is not mounted.
/// [`crate::mount::app`] mounts them; the endpoints read it back for their links and
/// redirects (the login page's form, OAuth2's redirect to the login page, its metadata).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct EndpointsConfig {
    /// The JSON API: [`token_routes`](crate::schemes::token::token_routes) (`/token`, `/tokens`), [`jwt_routes`](crate::schemes::jwt::jwt_routes) (`/jwt/...`) and
    /// [`session_routes`](crate::schemes::session::session_routes) (`/csrf`, `/login`, `/logout`). Default `/api/auth`.
    pub api: Option<String>,
    /// The HTML login page ([`login_page_routes`](crate::schemes::session::login_page_routes), Django's `LOGIN_URL`). Default
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
