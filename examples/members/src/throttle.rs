//! `PerRole`: a throttle of the app's own, with a rate per member role.

use auth_runtime::throttling::{Throttle, ThrottleKey};
use auth_runtime::{Context, ThrottleConfig};

use crate::members::Member;

/// Counts each member's requests against the rate of their role: the settings'
/// `throttle.scopes["role:reader"]` (or `role:editor`, `role:admin`). A role without a rate,
/// and anonymous requests, are not limited by it. Past the rate: 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PerRole;

impl Throttle for PerRole {
    fn key(&self, cx: &Context<'_>, config: &ThrottleConfig) -> Option<ThrottleKey> {
        let user = cx.user()?;
        let scope = format!("role:{}", user.fields::<Member>()?.role.as_str());
        let rate = *config.scopes.get(&scope)?;
        Some(ThrottleKey { scope, rate, ident: format!("user:{}", user.id) })
    }
}
