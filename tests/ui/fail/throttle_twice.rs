use auth_runtime::{authentication, throttle};

#[throttle(AnonRate)]
#[throttle(UserRate)]
async fn twice() -> &'static str {
    ""
}

#[throttle(AnonRate)]
#[authentication(Basic)]
#[throttle()]
async fn around_a_sibling() -> &'static str {
    ""
}

fn main() {}
