// A field of the wrong type is reported on the field's type.
use auth_runtime::AuthSettings;

#[derive(AuthSettings)]
#[auth(chain(Basic, Token))]
pub struct Settings {
    #[auth(basic)]
    pub basic: auth_runtime::BasicConfig,
    #[auth(token)]
    pub token: auth_runtime::BasicConfig,
}

fn main() {}
