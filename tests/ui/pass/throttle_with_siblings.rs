//! `#[throttle]` with `#[authentication]` and `#[permission]` in several
//! orders, with the route macro above, between and below: one wrapper each.
use actix_web::{App, get, post};
use auth_runtime::{Principal, authentication, permission, throttle};

#[get("/a")]
#[authentication(Basic)]
#[permission(IsAuthenticated)]
#[throttle(UserRate)]
async fn a(_p: Principal) -> &'static str {
    "a"
}

#[throttle(AnonRate, UserRate)]
#[authentication(Token, Basic)]
#[get("/b")]
#[permission(IsAuthenticatedOrReadOnly)]
async fn b() -> &'static str {
    "b"
}

#[permission(AllowAny)]
#[throttle(Scoped("c"))]
#[post("/c")]
#[authentication(Basic)]
async fn c(body: String) -> String {
    body
}

#[auth_runtime::permission(IsAdminUser)]
#[auth_runtime::throttle(Scoped("d"))]
#[auth_runtime::authentication(Jwt)]
#[get("/d")]
async fn d(_p: Principal) -> &'static str {
    "d"
}

#[authentication(Basic)]
#[throttle(UserRate)]
#[get("/e")]
async fn e() -> &'static str {
    "e"
}

#[throttle(UserRate)]
#[permission(AllowAny)]
#[get("/f")]
async fn f() -> &'static str {
    "f"
}

fn main() {
    let _app = App::new().service(a).service(b).service(c).service(d).service(e).service(f);
}
