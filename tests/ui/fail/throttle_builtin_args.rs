// `AnonRate` and `UserRate` take their rates from the settings.
use auth_runtime::throttle;

#[throttle(AnonRate(10))]
async fn anon() -> &'static str {
    ""
}

#[throttle(UserRate("5/min"))]
async fn user() -> &'static str {
    ""
}

fn main() {}
