//! The request context every step of the pipeline takes: schemes, permissions and throttles
//! (see [`crate::pipeline`]).

use actix_web::HttpRequest;

use crate::principal::{Principal, User};
use crate::state::Auth;

/// What every step of the pipeline sees: the request, the application state and the
/// principal. A [`crate::Scheme`] gets it with no principal yet (it is deciding one); a
/// [`crate::permissions::Permission`] and a [`crate::throttling::Throttle`] get the principal
/// the chain decided (`None` for an anonymous request). DRF passes `request` and `view`; the
/// state stands in for the view's access to the database.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    auth: &'a Auth,
    req: &'a HttpRequest,
    principal: Option<&'a Principal>,
}

impl<'a> Context<'a> {
    /// A context for `req`, served with `auth`, made by `principal` (`None`: anonymous).
    /// The pipeline builds it; build one yourself to test a permission.
    pub fn new(auth: &'a Auth, req: &'a HttpRequest, principal: Option<&'a Principal>) -> Self {
        Context { auth, req, principal }
    }

    /// The application state; [`Auth::db`] gives the database for rules that read it.
    pub fn auth(&self) -> &'a Auth {
        self.auth
    }

    /// The request being decided.
    pub fn request(&self) -> &'a HttpRequest {
        self.req
    }

    /// The authenticated principal, `None` for an anonymous request.
    pub fn principal(&self) -> Option<&'a Principal> {
        self.principal
    }

    /// The principal's user, `None` when anonymous or when the principal is not a user (an
    /// OAuth2 client).
    pub fn user(&self) -> Option<&'a User> {
        self.principal.and_then(|p| p.user.as_ref())
    }

    /// True for a safe method (GET, HEAD, OPTIONS); see [`is_safe_method`].
    pub fn is_safe_method(&self) -> bool {
        is_safe_method(self.req)
    }
}

/// True for RFC 9110's safe methods that DRF treats as read-only: GET, HEAD, OPTIONS.
pub fn is_safe_method(req: &HttpRequest) -> bool {
    use actix_web::http::Method;
    matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
}
