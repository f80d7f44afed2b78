//! `#[authentication]` above `#[get]`: the route macro sees the wrapper.
use actix_web::{App, HttpResponse, get, web};
use auth_runtime::{Principal, authentication};

#[authentication(Basic)]
#[get("/me")]
async fn me(principal: Principal, query: web::Query<Vec<(String, String)>>) -> HttpResponse {
    let _ = (principal, query);
    HttpResponse::NoContent().finish()
}

#[authentication(Token)]
#[allow(clippy::unused_async)]
#[actix_web::route("/ping", method = "GET", method = "HEAD")]
pub(crate) async fn ping() -> &'static str {
    "pong"
}

fn main() {
    let _app = App::new().service(me).service(ping);
    // Without a route macro, the wrapper is an ordinary handler function.
    let _app = App::new().route("/x", web::get().to(plain));
}

#[authentication(Basic, Token)]
async fn plain() -> &'static str {
    "x"
}
