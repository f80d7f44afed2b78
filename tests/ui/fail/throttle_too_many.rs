// At most four throttles; the fifth is reported.
use auth_runtime::throttle;

#[throttle(AnonRate, UserRate, Scoped("a"), Scoped("b"), Scoped("c"), Scoped("d"))]
async fn handler() -> &'static str {
    ""
}

fn main() {}
