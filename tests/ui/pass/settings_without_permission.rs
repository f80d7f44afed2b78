//! `#[derive(AuthSettings)]` with only the required chain (the default
//! permission is then `IsAuthenticated`), deserialised with serde.
use auth_runtime::AuthSettings;

#[derive(AuthSettings, serde::Deserialize, Clone)]
#[auth(chain(Basic, Token))]
pub struct Settings {
    #[auth(basic)]
    #[serde(default)]
    pub basic: auth_runtime::BasicConfig,
    #[serde(default)]
    #[auth(token)]
    pub api_tokens: auth_runtime::TokenConfig,
    pub database_url: String,
}

/// Generic settings work too.
#[derive(AuthSettings, Clone)]
#[auth(chain(Basic))]
#[auth(permission(AllowAny))]
pub struct Generic<T: Clone> {
    #[auth(basic)]
    basic: auth_runtime::BasicConfig,
    _extra: T,
}

fn assert_settings<S: auth_runtime::AuthSettings>() {}

fn main() {
    let settings: Settings =
        serde_json::from_str(r#"{"database_url": "sqlite::memory:"}"#).unwrap();
    assert_eq!(settings.database_url, "sqlite::memory:");
    assert_settings::<Settings>();
    assert_settings::<Generic<u8>>();
}
