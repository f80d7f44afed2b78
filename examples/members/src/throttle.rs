//! `PerRole`: a throttle of the app's own, with a rate per member role.

use actix_web::HttpRequest;
use auth_runtime::throttling::{Throttle, ThrottleKey};
use auth_runtime::{Principal, ThrottleConfig};

use crate::members::Member;

/// Counts each member's requests against the rate of their role: the settings'
/// `throttle.scopes["role:reader"]` (or `role:editor`, `role:admin`). A role without a rate,
/// and anonymous requests, are not limited by it. Past the rate: 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PerRole;

impl Throttle for PerRole {
    fn key(&self, _: &HttpRequest, config: &ThrottleConfig, principal: Option<&Principal>) -> Option<ThrottleKey> {
        let user = principal?.user.as_ref()?;
        let scope = format!("role:{}", user.fields::<Member>()?.role.as_str());
        let rate = *config.scopes.get(&scope)?;
        Some(ThrottleKey { scope, rate, ident: format!("user:{}", user.id) })
    }
}
