use auth_runtime::AuthSettings;

#[derive(AuthSettings)]
#[auth(chain(Basic))]
pub struct Settings {
    #[auth(basic)]
    pub basic: auth_runtime::BasicConfig,
    #[auth(basic)]
    pub fallback_basic: auth_runtime::BasicConfig,
}

fn main() {}
