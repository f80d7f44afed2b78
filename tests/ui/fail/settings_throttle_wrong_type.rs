// A throttle field of the wrong type is reported on the field's type.
use auth_runtime::AuthSettings;

#[derive(AuthSettings)]
#[auth(chain(Basic))]
pub struct Settings {
    #[auth(basic)]
    pub basic: auth_runtime::BasicConfig,
    #[auth(throttle)]
    pub throttle: auth_runtime::BasicConfig,
}

fn main() {}
