//! The permission grammar: `&`, `|`, `!`, parentheses, built-ins without
//! imports, and the user's own permissions by name, path or call.
use actix_web::{App, get};
use auth_runtime::permissions::{Context, Permission};
use auth_runtime::{AuthError, permission};

struct IsOwner;

impl Permission for IsOwner {
    async fn has_permission(&self, cx: &Context<'_>) -> Result<bool, AuthError> {
        Ok(cx.principal().and_then(|p| p.username()) == cx.request().match_info().get("user"))
    }

    async fn has_object_permission(&self, cx: &Context<'_>, obj: &dyn std::any::Any) -> Result<bool, AuthError> {
        Ok(obj.downcast_ref::<String>().map(String::as_str) == cx.principal().and_then(|p| p.username()))
    }
}

mod perms {
    use super::*;

    pub struct HasScope(pub &'static str);

    impl Permission for HasScope {
        fn has_permission(&self, cx: &Context<'_>) -> impl Future<Output = Result<bool, AuthError>> {
            std::future::ready(Ok(cx.principal().is_some() && !self.0.is_empty()))
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
