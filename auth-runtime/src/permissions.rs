//! Permissions, checked after authentication as in DRF (`permission_classes`).
//!
//! Compose them in `#[permission(...)]` with `&`, `|` and `!` (DRF 3.9+ semantics), e.g.
//! `#[permission(IsAuthenticated & !IsAdminUser)]`. A refused anonymous request is answered
//! 401 with the chain's challenges, a refused authenticated one 403.

use actix_web::HttpRequest;

use crate::error::AuthError;
use crate::principal::Principal;
use crate::state::Auth;

/// A permission: decides whether the (possibly anonymous) principal may make this request.
///
/// Implement it for your own types to write object-free rules, as DRF's `has_permission`:
///
/// ```
/// use auth_runtime::{Principal, permissions::Permission};
/// struct IsAlice;
/// impl Permission for IsAlice {
///     fn has_permission(&self, _req: &actix_web::HttpRequest, p: Option<&Principal>) -> bool {
///         p.and_then(|p| p.username()) == Some("alice")
///     }
/// }
/// ```
pub trait Permission: 'static {
    /// True when the request is allowed. `principal` is `None` for an anonymous request.
    fn has_permission(&self, req: &HttpRequest, principal: Option<&Principal>) -> bool;

    /// The 403 answer for an authenticated principal that was refused; DRF's
    /// `permission_denied` unless overridden (e.g. an OAuth2 scope's `insufficient_scope`).
    fn denial(&self, req: &HttpRequest, principal: &Principal) -> AuthError {
        let _ = (req, principal);
        AuthError::permission_denied()
    }

    /// Checks against the application state; the default ignores it. Overridden by
    /// [`DefaultPermission`], which needs it to find the settings' permission.
    #[doc(hidden)]
    fn check(&self, auth: &Auth, req: &HttpRequest, principal: Option<&Principal>) -> bool {
        let _ = auth;
        self.has_permission(req, principal)
    }

    /// [`Permission::denial`] with the application state.
    #[doc(hidden)]
    fn denial_in(&self, auth: &Auth, req: &HttpRequest, principal: &Principal) -> AuthError {
        let _ = auth;
        self.denial(req, principal)
    }
}

/// Allows every request, anonymous or not (DRF's `AllowAny`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAny;

impl Permission for AllowAny {
    fn has_permission(&self, _: &HttpRequest, _: Option<&Principal>) -> bool {
        true
    }
}

/// Allows any authenticated principal (DRF's `IsAuthenticated`).
#[derive(Debug, Clone, Copy, Default)]
pub struct IsAuthenticated;

impl Permission for IsAuthenticated {
    fn has_permission(&self, _: &HttpRequest, principal: Option<&Principal>) -> bool {
        principal.is_some()
    }
}

/// Allows staff users only (DRF's `IsAdminUser`, which checks `is_staff`).
#[derive(Debug, Clone, Copy, Default)]
pub struct IsAdminUser;

impl Permission for IsAdminUser {
    fn has_permission(&self, _: &HttpRequest, principal: Option<&Principal>) -> bool {
        principal.is_some_and(Principal::is_staff)
    }
}

/// Allows safe methods (GET, HEAD, OPTIONS) to everyone and the others to authenticated
/// principals (DRF's `IsAuthenticatedOrReadOnly`).
#[derive(Debug, Clone, Copy, Default)]
pub struct IsAuthenticatedOrReadOnly;

/// True for RFC 9110's safe methods that DRF treats as read-only: GET, HEAD, OPTIONS.
pub fn is_safe_method(req: &HttpRequest) -> bool {
    use actix_web::http::Method;
    matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
}

impl Permission for IsAuthenticatedOrReadOnly {
    fn has_permission(&self, req: &HttpRequest, principal: Option<&Principal>) -> bool {
        is_safe_method(req) || principal.is_some()
    }
}

/// Allows principals authenticated by the OAuth2 scheme (an opaque access token), user or
/// client. Combine it to give OAuth2 requests their own rule, e.g.
/// `HasScope("write") & (IsOAuth2 | IsAdminUser)`: an OAuth2 token needs the scope, anyone
/// else must be staff.
#[derive(Debug, Clone, Copy, Default)]
pub struct IsOAuth2;

impl Permission for IsOAuth2 {
    fn has_permission(&self, _: &HttpRequest, principal: Option<&Principal>) -> bool {
        principal.is_some_and(|p| p.scopes().is_some())
    }
}

/// Requires an OAuth2 scope (Django OAuth Toolkit's `TokenHasScope`), e.g.
/// `#[permission(HasScope("write"))]`.
///
/// - Anonymous: refused (401 with the chain's challenges).
/// - A principal authenticated by the OAuth2 scheme: allowed when its token has the scope;
///   otherwise 403 `insufficient_scope` with the RFC 6750 section 3.1 challenge
///   `Bearer realm="api", error="insufficient_scope", scope="write"`.
/// - Any other principal (Basic, Token, Session, Jwt): allowed. Scopes limit what a user
///   delegated to a client; a user who authenticates directly acts with their own authority,
///   so scopes do not apply (DOT's `IsAuthenticatedOrTokenHasScope`). Decide for those
///   principals with another permission: `HasScope("write") & (IsOAuth2 | IsAdminUser)`, or
///   `HasScope("write") & IsOAuth2` to accept OAuth2 tokens only.
#[derive(Debug, Clone, Copy)]
pub struct HasScope(pub &'static str);

impl Permission for HasScope {
    fn has_permission(&self, _: &HttpRequest, principal: Option<&Principal>) -> bool {
        match principal {
            None => false,
            Some(p) => p.scopes().is_none_or(|scopes| scopes.iter().any(|s| s == self.0)),
        }
    }

    fn denial(&self, req: &HttpRequest, _principal: &Principal) -> AuthError {
        let realm = req
            .app_data::<Auth>()
            .and_then(|a| a.config::<crate::schemes::OAuth2Config>())
            .map_or_else(|| "api".to_owned(), |c| c.realm.clone());
        let challenge = format!(
            "Bearer realm={}, error=\"insufficient_scope\", scope={}",
            crate::header::quote(&realm),
            crate::header::quote(self.0)
        );
        AuthError::PermissionDenied {
            detail: format!("The access token does not have the required scope \"{}\".", self.0).into(),
            code: "insufficient_scope",
            challenges: vec![challenge],
        }
    }
}

/// Both must allow (`A & B`). The 403 is the first refusing one's.
#[derive(Debug, Clone, Copy, Default)]
pub struct And<A, B>(pub A, pub B);

impl<A: Permission, B: Permission> Permission for And<A, B> {
    fn has_permission(&self, req: &HttpRequest, principal: Option<&Principal>) -> bool {
        self.0.has_permission(req, principal) && self.1.has_permission(req, principal)
    }
    fn denial(&self, req: &HttpRequest, principal: &Principal) -> AuthError {
        if !self.0.has_permission(req, Some(principal)) {
            self.0.denial(req, principal)
        } else {
            self.1.denial(req, principal)
        }
    }
    fn check(&self, auth: &Auth, req: &HttpRequest, principal: Option<&Principal>) -> bool {
        self.0.check(auth, req, principal) && self.1.check(auth, req, principal)
    }
    fn denial_in(&self, auth: &Auth, req: &HttpRequest, principal: &Principal) -> AuthError {
        if !self.0.check(auth, req, Some(principal)) {
            self.0.denial_in(auth, req, principal)
        } else {
            self.1.denial_in(auth, req, principal)
        }
    }
}

/// Either may allow (`A | B`). The 403 is the last one's (as DRF's `OR`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Or<A, B>(pub A, pub B);

impl<A: Permission, B: Permission> Permission for Or<A, B> {
    fn has_permission(&self, req: &HttpRequest, principal: Option<&Principal>) -> bool {
        self.0.has_permission(req, principal) || self.1.has_permission(req, principal)
    }
    fn denial(&self, req: &HttpRequest, principal: &Principal) -> AuthError {
        self.1.denial(req, principal)
    }
    fn check(&self, auth: &Auth, req: &HttpRequest, principal: Option<&Principal>) -> bool {
        self.0.check(auth, req, principal) || self.1.check(auth, req, principal)
    }
    fn denial_in(&self, auth: &Auth, req: &HttpRequest, principal: &Principal) -> AuthError {
        self.1.denial_in(auth, req, principal)
    }
}

/// Negation (`!A`). Its 403 is the plain `permission_denied`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Not<A>(pub A);

impl<A: Permission> Permission for Not<A> {
    fn has_permission(&self, req: &HttpRequest, principal: Option<&Principal>) -> bool {
        !self.0.has_permission(req, principal)
    }
    fn check(&self, auth: &Auth, req: &HttpRequest, principal: Option<&Principal>) -> bool {
        !self.0.check(auth, req, principal)
    }
}

/// The permission declared by the settings (`#[auth(permission(...))]`, by default
/// [`IsAuthenticated`]); handlers without `#[permission]` use it.
///
/// Outside a request with an [`Auth`] it refuses everything (fails closed).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultPermission;

impl Permission for DefaultPermission {
    fn has_permission(&self, req: &HttpRequest, principal: Option<&Principal>) -> bool {
        match req.app_data::<Auth>() {
            Some(auth) => self.check(auth, req, principal),
            None => false,
        }
    }
    fn check(&self, auth: &Auth, req: &HttpRequest, principal: Option<&Principal>) -> bool {
        auth.default_permission().check(auth, req, principal)
    }
    fn denial_in(&self, auth: &Auth, req: &HttpRequest, principal: &Principal) -> AuthError {
        auth.default_permission().denial_in(auth, req, principal)
    }
}
