//! The permission grammar: `&`, `|`, `!`, parentheses, built-ins without
//! imports, and the user's own permissions by name, path or call.
use actix_web::{App, HttpRequest, get};
use auth_runtime::permissions::Permission;
use auth_runtime::{Principal, permission};

struct IsOwner;

impl Permission for IsOwner {
    fn has_permission(&self, req: &HttpRequest, principal: Option<&Principal>) -> bool {
        principal.and_then(|p| p.username()) == req.match_info().get("user")
    }
}

mod perms {
    use super::*;

    pub struct HasScope(pub &'static str);

    impl Permission for HasScope {
        fn has_permission(&self, _: &HttpRequest, principal: Option<&Principal>) -> bool {
            principal.is_some() && !self.0.is_empty()
        }
    }
}

use perms::HasScope;

#[get("/1")]
#[permission(IsAuthenticated & IsOwner)]
async fn and() -> &'static str {
    ""
}

#[get("/2")]
#[permission(IsAdminUser | IsOwner | crate::perms::HasScope("admin"))]
async fn or() -> &'static str {
    ""
}

#[get("/3")]
#[permission(!IsAdminUser)]
async fn not() -> &'static str {
    ""
}

#[get("/4")]
#[permission(IsAuthenticated & (IsOwner | !!HasScope(concat!("wr", "ite"))) & !(AllowAny & !IsAdminUser))]
async fn nested() -> &'static str {
    ""
}

#[get("/5")]
#[permission(perms::HasScope("read"))]
async fn call() -> &'static str {
    ""
}

fn main() {
    let _app = App::new()
        .service(and)
        .service(or)
        .service(not)
        .service(nested)
        .service(call);
}
