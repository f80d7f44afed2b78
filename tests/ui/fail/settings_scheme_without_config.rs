use auth_runtime::AuthSettings;

#[derive(AuthSettings)]
#[auth(chain(Basic, Token))]
pub struct Settings {
    #[auth(basic)]
    pub basic: auth_runtime::BasicConfig,
    pub token: auth_runtime::TokenConfig,
}

fn main() {}
