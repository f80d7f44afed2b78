use auth_runtime::AuthSettings;

#[derive(AuthSettings)]
#[auth(permission(IsAuthenticated))]
pub struct Settings {
    #[auth(basic)]
    pub basic: auth_runtime::BasicConfig,
}

fn main() {}
