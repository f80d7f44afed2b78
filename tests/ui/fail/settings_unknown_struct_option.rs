use auth_runtime::AuthSettings;

#[derive(AuthSettings)]
#[auth(chain(Basic), default_permission(IsAuthenticated), basic)]
pub struct Settings {
    #[auth(basic)]
    pub basic: auth_runtime::BasicConfig,
}

fn main() {}
