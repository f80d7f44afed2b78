//! An attribute consumed by its sibling still counts as a use of its import.
#![deny(warnings)]

use auth_runtime::{authentication, permission};

#[authentication(Basic)]
#[permission(IsAuthenticated)]
async fn handler() -> &'static str {
    ""
}

fn main() {
    let _ = handler;
}
