//! The decision the [`Principal`] and [`MaybePrincipal`] extractors read: the chain,
//! permission and throttles of the handler (kept by [`crate::pipeline`], which also runs the
//! settings' defaults on first use).

use std::rc::Rc;

use crate::permissions::{DefaultPermission, ErasedPermission};
use crate::principal::Principal;
use crate::state::Auth;

/// The result of authentication for one request, kept in the request extensions once the
/// chain and the permission have run, so every extractor of the handler reads the same answer.
#[derive(Clone)]
pub(crate) struct Decided {
    pub(crate) principal: Option<Principal>,
    /// The challenges of the chain that decided, for a 401 when a [`Principal`] is required.
    pub(crate) challenges: fn(&Auth) -> Vec<String>,
    /// The permission that was checked, for [`crate::pipeline::check_object_permissions`].
    pub(crate) permission: DecidedPermission,
}

/// Which permission the pipeline checked for a request.
#[derive(Clone)]
pub(crate) enum DecidedPermission {
    /// None: only the chain ran (for [`MaybePrincipal`] without attributes).
    Unchecked,
    /// The settings' permission ([`DefaultPermission`]), kept in [`Auth`].
    Default,
    /// The handler's own (`#[permission(...)]`), a zero-sized value (the built-ins and their
    /// combinations): leaked, which allocates and loses nothing.
    Static(&'static dyn ErasedPermission),
    /// The handler's own, with data (e.g. `HasScope("write")`).
    Shared(Rc<dyn ErasedPermission>),
}

impl DecidedPermission {
    /// Keeps the handler's `permission` for the rest of the request; no allocation for the
    /// settings' permission nor for a zero-sized one.
    pub(crate) fn of<P: crate::permissions::Permission>(permission: P) -> Self {
        if std::any::TypeId::of::<P>() == std::any::TypeId::of::<DefaultPermission>() {
            // The settings' permission needs no copy: it lives in `Auth`.
            DecidedPermission::Default
        } else if size_of::<P>() == 0 && !std::mem::needs_drop::<P>() {
            // `Box::new` of a zero-sized value does not allocate.
            DecidedPermission::Static(Box::leak(Box::new(permission)))
        } else {
            DecidedPermission::Shared(Rc::new(permission))
        }
    }
}

/// The optional form of [`Principal`] for routes that allow anonymous requests:
/// `MaybePrincipal(None)` is an anonymous request. Unlike actix's `Option<T>`, rejected
/// credentials are never turned into an anonymous request: they are still a 401.
#[derive(Debug, Clone)]
pub struct MaybePrincipal(pub Option<Principal>);
