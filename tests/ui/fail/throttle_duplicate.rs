use auth_runtime::throttle;

#[throttle(AnonRate, UserRate, AnonRate)]
async fn builtin() -> &'static str {
    ""
}

#[throttle(Scoped("a"), Scoped("b"), Scoped("a"))]
async fn scoped() -> &'static str {
    ""
}

fn main() {}
