// A value that is not a throttle is reported on the value; a misspelt
// built-in is an unknown name.
use auth_runtime::throttle;

struct NotAThrottle;

#[throttle(UserRate, NotAThrottle)]
async fn wrong_type() -> &'static str {
    ""
}

#[throttle(AnonRateThrottle)]
async fn misspelt() -> &'static str {
    ""
}

fn main() {}
