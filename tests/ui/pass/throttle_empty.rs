//! `#[throttle()]` lists no throttles: the handler is never throttled.
use actix_web::{App, get};
use auth_runtime::{authentication, throttle};

#[get("/health")]
#[throttle()]
async fn health() -> &'static str {
    "ok"
}

#[throttle()]
#[authentication(Basic)]
#[get("/me")]
async fn me() -> &'static str {
    "me"
}

fn main() {
    let _app = App::new().service(health).service(me);
}
