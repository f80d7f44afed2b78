//! `#[derive(AuthSettings)]` with a default permission expression, extra
//! fields, and a field for a scheme that is not in the default chain.
use auth_runtime::permissions::Permission;
use auth_runtime::{AuthSettings, BasicConfig, TokenConfig};

struct IsStaffOnWeekdays;

impl Permission for IsStaffOnWeekdays {
    async fn has_permission(
        &self,
        cx: &auth_runtime::permissions::Context<'_>,
    ) -> Result<bool, auth_runtime::AuthError> {
        Ok(cx.principal().is_some_and(|p| p.is_staff()))
    }
}

#[derive(AuthSettings, serde::Deserialize, Clone)]
#[auth(chain(Token), permission(IsAuthenticated & (IsAdminUser | IsStaffOnWeekdays)))]
pub struct Settings {
    /// Used by handlers that say `#[authentication(Basic)]`.
    #[auth(basic)]
    pub basic: BasicConfig,
    #[auth(token)]
    pub token: auth_runtime::TokenConfig,
    pub database_url: String,
}

fn assert_settings<S: auth_runtime::AuthSettings>() {}

fn main() {
    assert_settings::<Settings>();
    let _ = TokenConfig::default();
}
