//! `#[authentication]` and `#[permission]` together, in both orders and with
//! the route macro in each position: one wrapper with both.
use actix_web::{App, get};
use auth_runtime::{Principal, authentication, permission};

#[get("/a")]
#[authentication(Basic)]
#[permission(IsAdminUser)]
async fn a(_p: Principal) -> &'static str {
    "a"
}

#[get("/b")]
#[permission(IsAuthenticatedOrReadOnly)]
#[authentication(Token, Basic)]
async fn b() -> &'static str {
    "b"
}

#[authentication(Basic)]
#[get("/c")]
#[auth_runtime::permission(AllowAny)]
async fn c() -> &'static str {
    "c"
}

#[auth_runtime::permission(DefaultPermission)]
#[auth_runtime::authentication(Token)]
#[get("/d")]
async fn d() -> &'static str {
    "d"
}

fn main() {
    let _app = App::new().service(a).service(b).service(c).service(d);
}
