use auth_runtime::AuthSettings;

#[derive(AuthSettings)]
#[auth(chain(Basic))]
pub struct Settings {
    #[auth(basic)]
    pub basic: auth_runtime::BasicConfig,
    #[auth(Token)]
    pub token: auth_runtime::TokenConfig,
    #[auth(digest)]
    pub jwt: String,
    #[auth(chain(Basic))]
    pub misplaced: String,
}

fn main() {}
