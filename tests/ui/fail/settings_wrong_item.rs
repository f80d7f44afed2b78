use auth_runtime::AuthSettings;

#[derive(AuthSettings)]
#[auth(chain(Basic))]
pub enum Settings {
    Basic(auth_runtime::BasicConfig),
}

#[derive(AuthSettings)]
#[auth(chain(Basic))]
pub struct Tuple(auth_runtime::BasicConfig);

fn main() {}
