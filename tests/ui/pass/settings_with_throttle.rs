//! `#[auth(throttle)]` binds a field to the throttling settings.
use auth_runtime::{AuthSettings, ThrottleConfig};

#[derive(AuthSettings, serde::Deserialize, Clone)]
#[auth(chain(Basic))]
pub struct Settings {
    #[auth(basic)]
    #[serde(default)]
    pub basic: auth_runtime::BasicConfig,
    /// Rates of `#[throttle]`, in DRF's syntax.
    #[auth(throttle)]
    #[serde(default)]
    pub limits: ThrottleConfig,
}

fn assert_settings<S: auth_runtime::AuthSettings>() {}

fn main() {
    let settings: Settings = serde_json::from_str(r#"{"limits": {"anon": "5/min"}}"#).unwrap();
    assert_eq!(settings.limits.anon, Some("5/min".parse().unwrap()));
    assert_settings::<Settings>();
}
