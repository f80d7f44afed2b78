use auth_runtime::{AuthSettings, ThrottleConfig};

#[derive(AuthSettings)]
#[auth(chain(Basic))]
pub struct Settings {
    #[auth(basic)]
    pub basic: auth_runtime::BasicConfig,
    #[auth(throttle)]
    pub throttle: ThrottleConfig,
    #[auth(throttle)]
    pub more_throttle: ThrottleConfig,
}

fn main() {}
