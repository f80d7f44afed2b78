//! The user's own throttles, by name, path or call, mixed with built-ins.
use actix_web::{App, get};
use auth_runtime::throttling::{Throttle, ThrottleKey};
use auth_runtime::{Context, ThrottleConfig, throttle};

/// One counter per tenant header, at the `user` rate.
struct PerTenant;

impl Throttle for PerTenant {
    fn key(&self, cx: &Context<'_>, config: &ThrottleConfig) -> Option<ThrottleKey> {
        let tenant = cx.request().headers().get("x-tenant")?.to_str().ok()?;
        Some(ThrottleKey { scope: "tenant".into(), rate: config.user?, ident: tenant.to_owned() })
    }
}

mod limits {
    use super::*;

    /// A fixed number of requests per minute, per client.
    pub struct Burst(pub u32);

    impl Throttle for Burst {
        fn key(&self, _: &Context<'_>, _: &ThrottleConfig) -> Option<ThrottleKey> {
            let rate = auth_runtime::throttling::Rate { num: self.0, window: 60 };
            Some(ThrottleKey { scope: "burst".into(), rate, ident: "all".into() })
        }
    }
}

#[get("/a")]
#[throttle(PerTenant)]
async fn a() -> &'static str {
    "a"
}

#[get("/b")]
#[throttle(UserRate, PerTenant, crate::limits::Burst(3), limits::Burst(10 * 6))]
async fn b() -> &'static str {
    "b"
}

fn main() {
    let _app = App::new().service(a).service(b);
}
