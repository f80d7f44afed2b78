use auth_runtime::AuthSettings;

#[derive(AuthSettings)]
#[auth(chain(Basic, Token, Basic))]
pub struct Settings {
    #[auth(basic)]
    pub basic: auth_runtime::BasicConfig,
    #[auth(token)]
    pub token: auth_runtime::TokenConfig,
}

fn main() {}
