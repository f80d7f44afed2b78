// Rates are not written on the handler.
use auth_runtime::throttle;

#[throttle("10/min")]
async fn rate() -> &'static str {
    ""
}

#[throttle(AnonRate, "burst")]
async fn scope() -> &'static str {
    ""
}

fn main() {}
