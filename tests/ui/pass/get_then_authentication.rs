//! `#[get]` above `#[authentication]` (the usual order), with extractors that
//! run after authentication.
use actix_web::{App, HttpResponse, Responder, get, post, web};
use auth_runtime::{MaybePrincipal, Principal, authentication};

#[derive(serde::Deserialize)]
struct Body {
    title: String,
}

/// Doc comments stay on the handler.
#[get("/me")]
#[authentication(Basic, Token)]
async fn me(principal: Principal) -> impl Responder {
    HttpResponse::Ok().body(principal.username().unwrap_or_default().to_owned())
}

#[post("/books/{id}")]
#[authentication(Token)]
pub async fn edit(id: web::Path<u32>, body: web::Json<Body>, who: MaybePrincipal) -> String {
    let _ = who;
    format!("{} {}", id.into_inner(), body.title)
}

fn main() {
    let _app = App::new().service(me).service(edit);
}
