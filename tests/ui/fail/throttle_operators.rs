// Throttles are listed, not combined: every listed throttle applies.
use auth_runtime::throttle;

#[throttle(AnonRate | UserRate)]
async fn or() -> &'static str {
    ""
}

#[throttle(AnonRate && Scoped("a"))]
async fn and() -> &'static str {
    ""
}

#[throttle(!AnonRate)]
async fn not() -> &'static str {
    ""
}

#[throttle(UserRate Scoped("a"))]
async fn missing_comma() -> &'static str {
    ""
}

fn main() {}
