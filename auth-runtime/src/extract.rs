//! The [`Principal`] and [`MaybePrincipal`] extractors, and the decision they read: the
//! chain, permission and throttles of the handler (kept by [`crate::pipeline`]), or the
//! settings' defaults run on first use.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::error::AuthError;
use crate::permissions::{DefaultPermission, ErasedPermission, LocalBoxFuture};
use crate::principal::Principal;
use crate::scheme::{Chain, DefaultChain, anonymous_error};
use crate::state::Auth;

/// The settings' whole pipeline (default chain, permission and throttles,
/// [`crate::pipeline::authenticate_and_authorize`]) as a function pointer: the builder
/// ([`crate::setup`]) registers it, since the pipeline stands above the extractors it fills.
#[derive(Clone, Copy)]
pub(crate) struct DefaultPipeline(pub(crate) for<'a> fn(&'a HttpRequest, &'a Auth) -> PipelineFuture<'a>);

/// The boxed future of [`DefaultPipeline`]: the principal, `None` for an anonymous request.
pub(crate) type PipelineFuture<'a> = LocalBoxFuture<'a, Result<Option<Principal>, AuthError>>;

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

fn decided(req: &HttpRequest) -> Option<Decided> {
    req.extensions().get::<Decided>().cloned()
}

/// Runs the settings' default chain for a handler that carries no annotation. `permission`:
/// whether the default permission applies (for [`Principal`]) or not (for [`MaybePrincipal`]).
pub(crate) async fn decide_default(req: &HttpRequest, permission: bool) -> Result<Decided, AuthError> {
    if let Some(done) = decided(req) {
        return Ok(done);
    }
    let auth = Auth::from_request_ref(req)?;
    let principal = if permission {
        let pipeline = auth
            .config::<DefaultPipeline>()
            .ok_or(AuthError::ImproperlyConfigured("Auth was not made by its builder"))?;
        (pipeline.0)(req, &auth).await?
    } else {
        <DefaultChain as Chain>::authenticate(req, &auth).await?
    };
    let done = Decided {
        principal,
        challenges: crate::scheme::anonymous_challenges::<DefaultChain>,
        permission: if permission { DecidedPermission::Default } else { DecidedPermission::Unchecked },
    };
    req.extensions_mut().insert(done.clone());
    Ok(done)
}

impl FromRequest for Principal {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let done = decide_default(&req, true).await?;
            match done.principal {
                Some(p) => Ok(p),
                None => {
                    let auth = Auth::from_request_ref(&req)?;
                    Err(anonymous_error((done.challenges)(&auth)))
                }
            }
        })
    }
}

impl FromRequest for MaybePrincipal {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(MaybePrincipal(decide_default(&req, false).await?.principal)) })
    }
}
