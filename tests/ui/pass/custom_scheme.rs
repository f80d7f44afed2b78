//! The user's own scheme beside the built-in ones, in any order, in a handler's chain and in
//! the settings' default chain, with its configuration bound by the derive.
use auth_runtime::{Auth, AuthError, AuthSettings, Outcome, Scheme, authentication};

pub struct ApiKey;

#[derive(Clone, Default, serde::Deserialize)]
pub struct ApiKeyConfig {
    pub header: String,
}

impl Scheme for ApiKey {
    const NAME: &'static str = "api_key";
    type Config = ApiKeyConfig;
    async fn authenticate(_: &auth_runtime::Context<'_>) -> Outcome {
        Outcome::NoCredentials
    }
    fn challenge(_: &Auth, _: Option<&AuthError>) -> Option<String> {
        Some("ApiKey".into())
    }
}

mod auth {
    pub use super::ApiKey as Key;
}

#[derive(AuthSettings, serde::Deserialize, Clone)]
#[auth(chain(ApiKey, Token))]
pub struct Settings {
    #[auth(token)]
    #[serde(default)]
    pub token: auth_runtime::TokenConfig,
    #[auth(scheme = ApiKey)]
    #[serde(default)]
    pub api_key: ApiKeyConfig,
}

#[authentication(Token, ApiKey, Jwt)]
async fn first() -> &'static str {
    ""
}

#[authentication(crate::auth::Key)]
async fn second() -> &'static str {
    ""
}

fn assert_settings<S: auth_runtime::AuthSettings>() {}

fn main() {
    assert_settings::<Settings>();
    let _ = (first, second);
}
