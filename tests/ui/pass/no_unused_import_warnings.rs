//! An attribute consumed by its sibling still counts as a use of its import,
//! whichever of the three comes first.
#![deny(warnings)]

use auth_runtime::{authentication, permission, throttle};

#[authentication(Basic)]
#[permission(IsAuthenticated)]
async fn handler() -> &'static str {
    ""
}

#[throttle(UserRate)]
#[authentication(Basic)]
#[permission(IsAuthenticated)]
async fn all_three() -> &'static str {
    ""
}

#[permission(AllowAny)]
#[throttle()]
async fn throttle_last() -> &'static str {
    ""
}

fn main() {
    let _ = (handler, all_three, throttle_last);
}
