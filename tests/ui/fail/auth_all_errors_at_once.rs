// Every mistake is reported in one compilation, from both attributes.
use auth_runtime::{authentication, permission};

#[permission(IsAuthenticated && IsAdminUser)]
#[authentication(Basic, Sesion, Basic)]
fn handler() -> &'static str {
    ""
}

fn main() {}
