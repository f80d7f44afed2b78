// `throttle` is a field option, without arguments.
use auth_runtime::{AuthSettings, ThrottleConfig};

#[derive(AuthSettings)]
#[auth(chain(Basic), throttle)]
pub struct Settings {
    #[auth(basic)]
    pub basic: auth_runtime::BasicConfig,
    #[auth(throttle(AnonRate))]
    pub throttle: ThrottleConfig,
}

fn main() {}
