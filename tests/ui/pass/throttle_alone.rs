//! `#[throttle]` alone: the default chain and permission, the handler's own
//! throttles; above and below the route macro, and without one.
use actix_web::{App, get, web};
use auth_runtime::{MaybePrincipal, throttle};

#[get("/burst")]
#[throttle(Scoped("burst"))]
async fn burst(_p: MaybePrincipal) -> &'static str {
    "burst"
}

#[throttle(AnonRate, UserRate, Scoped("uploads-v2"), Scoped("a_b"))]
#[get("/all")]
pub(crate) async fn all(body: String) -> String {
    body
}

#[throttle(UserRate,)]
async fn plain() -> &'static str {
    "plain"
}

fn main() {
    let _app = App::new().service(burst).service(all).route("/plain", web::get().to(plain));
}
