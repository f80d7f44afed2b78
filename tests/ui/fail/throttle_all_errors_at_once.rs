// Every mistake is reported in one compilation, from all three attributes.
use auth_runtime::{authentication, permission, throttle};

#[throttle(AnonRate, "5/min", Scoped("Bad"))]
#[permission(IsAuthenticated && IsAdminUser)]
#[authentication(Basic, Sesion)]
fn handler() -> &'static str {
    ""
}

fn main() {}
