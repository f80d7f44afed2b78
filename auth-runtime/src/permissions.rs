//! Permissions, checked after authentication as in DRF (`permission_classes`).
//!
//! A [`Permission`] answers two questions, both asynchronously so that a rule may read the
//! database (through [`Context::auth`] and [`Auth::db`]):
//!
//! - [`Permission::has_permission`]: may this (possibly anonymous) principal make this
//!   request at all? Run by the [pipeline](crate::pipeline) before the handler's own
//!   extractors, for every request.
//! - [`Permission::has_object_permission`]: may it act on this object? Run only when the
//!   handler asks, after loading the object, with [`check_object_permissions`](crate::check_object_permissions) (DRF's
//!   `APIView.check_object_permissions` / `get_object`). Allowed by default.
//!
//! Compose permissions in `#[permission(...)]` with `&`, `|` and `!` (DRF 3.9+ semantics,
//! short-circuiting), e.g. `#[permission(IsAuthenticated & !IsAdminUser)]`. A refused
//! anonymous request is answered 401 with the chain's challenges, a refused authenticated
//! one 403 ([`Permission::denial`]). A permission that fails (an [`AuthError`], e.g. a
//! database error, 503) never allows: the error is the answer.
//!
//! # An owner-only object permission
//!
//! ```
//! use std::any::Any;
//! use auth_runtime::AuthError;
//! use auth_runtime::permissions::{Context, Permission};
//!
//! struct Book { owner_id: i64 }
//!
//! /// Anyone authenticated may call the route; only the owner may act on a book.
//! struct IsOwner;
//!
//! impl Permission for IsOwner {
//!     async fn has_permission(&self, cx: &Context<'_>) -> Result<bool, AuthError> {
//!         Ok(cx.principal().is_some())
//!     }
//!     async fn has_object_permission(&self, cx: &Context<'_>, obj: &dyn Any) -> Result<bool, AuthError> {
//!         // An object of a type this rule does not know is refused (fails closed).
//!         Ok(obj.downcast_ref::<Book>().is_some_and(|b| cx.user().is_some_and(|u| u.id == b.owner_id)))
//!     }
//! }
//! ```
//!
//! In the handler (`#[permission(IsOwner)]`), after loading the book:
//! `auth_runtime::check_object_permissions(&req, &book).await?;`: 403 for another user, 401
//! with the chain's challenges for an anonymous request.
//!
//! # Why objects are `&dyn Any`
//!
//! The handler's permission is decided (and kept in the request) before the object exists;
//! the object's type is only known inside the handler, so the kept permission is type-erased
//! and receives the object as `&dyn Any`, as DRF's `obj` is any Python object. One
//! permission can then guard several types (a `Book`, a `Review`), the combinators need no
//! bound on the object type, and [`DefaultPermission`] (the settings' permission, stored
//! behind a `dyn` in [`Auth`]) works for objects too. A generic method would make the
//! trait unusable behind `dyn`; an `ObjectPermission<T>` trait would force
//! `#[permission(...)]` to name the object type. A permission downcasts
//! (`obj.downcast_ref::<Book>()`) and should refuse types it does not know.

use std::any::Any;
use std::future::{Future, ready};
use std::pin::Pin;

use crate::error::AuthError;
use crate::principal::Principal;
use crate::state::Auth;

pub use crate::context::Context;

/// A check's result with the 403 to answer when it refuses. Used by the combinators to
/// keep DRF's choice of message; not part of the stable API.
#[doc(hidden)]
#[derive(Debug)]
pub enum Verdict {
    /// Allowed.
    Allow,
    /// Refused; the error is the 403 for an authenticated principal (an anonymous one gets
    /// the chain's 401 instead).
    Deny(AuthError),
}

impl Verdict {
    fn of(allowed: bool, denial: impl FnOnce() -> AuthError) -> Self {
        if allowed { Verdict::Allow } else { Verdict::Deny(denial()) }
    }

    /// True for [`Verdict::Allow`].
    pub fn is_allow(&self) -> bool {
        matches!(self, Verdict::Allow)
    }
}

/// A permission: decides whether the (possibly anonymous) principal may make this request
/// ([`has_permission`](Self::has_permission)) and act on an object
/// ([`has_object_permission`](Self::has_object_permission)), as DRF's `BasePermission`.
///
/// Both methods are asynchronous (implement them with `async fn`) and fallible: an error,
/// e.g. a failed database read (`sea_orm::DbErr` converts to a 503), is the answer, never an
/// allow. A rule that does not await costs no allocation.
///
/// ```
/// use auth_runtime::AuthError;
/// use auth_runtime::permissions::{Context, Permission};
/// struct IsAlice;
/// impl Permission for IsAlice {
///     async fn has_permission(&self, cx: &Context<'_>) -> Result<bool, AuthError> {
///         Ok(cx.principal().and_then(|p| p.username()) == Some("alice"))
///     }
/// }
/// ```
///
/// A rule that reads the database:
///
/// ```
/// use auth_runtime::AuthError;
/// use auth_runtime::permissions::{Context, Permission};
/// use sea_orm::{ConnectionTrait, Statement};
/// /// Users listed in the app's `editors` table.
/// struct IsEditor;
/// impl Permission for IsEditor {
///     async fn has_permission(&self, cx: &Context<'_>) -> Result<bool, AuthError> {
///         let Some(user) = cx.user() else { return Ok(false) };
///         let db = cx.auth().db();
///         let sql = Statement::from_sql_and_values(
///             db.get_database_backend(),
///             "SELECT 1 FROM editors WHERE user_id = $1",
///             [user.id.into()],
///         );
///         Ok(db.query_one_raw(sql).await?.is_some())
///     }
/// }
/// ```
pub trait Permission: 'static {
    /// True when the request is allowed (DRF's `has_permission(request, view)`).
    /// [`Context::principal`] is `None` for an anonymous request.
    ///
    /// # Errors
    /// Any [`AuthError`] answers the request as it is (a store fault: 503).
    fn has_permission(&self, cx: &Context<'_>) -> impl Future<Output = Result<bool, AuthError>>;

    /// True when the principal may act on `obj`, an object the handler loaded (DRF's
    /// `has_object_permission(request, view, obj)`). Run only by
    /// [`check_object_permissions`](crate::check_object_permissions), after [`has_permission`](Self::has_permission) allowed
    /// the request. The default allows, as DRF's.
    ///
    /// `obj` is the handler's object as `&dyn Any`: downcast it to the types the rule knows
    /// and refuse the others (see the [module documentation](self)).
    ///
    /// # Errors
    /// Any [`AuthError`] answers the request as it is (a store fault: 503).
    fn has_object_permission(&self, cx: &Context<'_>, obj: &dyn Any) -> impl Future<Output = Result<bool, AuthError>> {
        let _ = (cx, obj);
        ready(Ok(true))
    }

    /// The 403 answer for an authenticated principal that was refused; DRF's
    /// `permission_denied` unless overridden (DRF's `message` and `code`; e.g. an OAuth2
    /// scope's `insufficient_scope`). Not used for an anonymous request, which is answered
    /// 401 with the chain's challenges.
    fn denial(&self, cx: &Context<'_>) -> AuthError {
        let _ = cx;
        AuthError::permission_denied()
    }

    /// [`has_permission`](Self::has_permission) with the 403 to give. Overridden by the
    /// combinators to pick DRF's message.
    #[doc(hidden)]
    fn check(&self, cx: &Context<'_>) -> impl Future<Output = Result<Verdict, AuthError>> {
        async move { Ok(Verdict::of(self.has_permission(cx).await?, || self.denial(cx))) }
    }

    /// [`has_object_permission`](Self::has_object_permission) with the 403 to give.
    #[doc(hidden)]
    fn check_object(&self, cx: &Context<'_>, obj: &dyn Any) -> impl Future<Output = Result<Verdict, AuthError>> {
        async move { Ok(Verdict::of(self.has_object_permission(cx, obj).await?, || self.denial(cx))) }
    }

    /// [`check`](Self::check) without awaiting, when the permission can tell at once
    /// (the built-ins and their combinations); `None` otherwise. Lets the settings'
    /// permission, kept behind a `dyn`, be checked without boxing a future.
    #[doc(hidden)]
    fn check_now(&self, cx: &Context<'_>) -> Option<Result<Verdict, AuthError>> {
        let _ = cx;
        None
    }
}

/// Implements [`Permission`] for a built-in from its synchronous rule `allows`.
macro_rules! sync_permission {
    ($ty:ty) => {
        impl Permission for $ty {
            fn has_permission(&self, cx: &Context<'_>) -> impl Future<Output = Result<bool, AuthError>> {
                ready(Ok(self.allows(cx)))
            }
            fn denial(&self, cx: &Context<'_>) -> AuthError {
                self.refusal(cx)
            }
            fn check_now(&self, cx: &Context<'_>) -> Option<Result<Verdict, AuthError>> {
                Some(Ok(Verdict::of(self.allows(cx), || self.refusal(cx))))
            }
        }
    };
}

/// Allows every request, anonymous or not (DRF's `AllowAny`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAny;

impl AllowAny {
    fn allows(&self, _: &Context<'_>) -> bool {
        true
    }
    fn refusal(&self, _: &Context<'_>) -> AuthError {
        AuthError::permission_denied()
    }
}
sync_permission!(AllowAny);

/// Allows any authenticated principal (DRF's `IsAuthenticated`).
#[derive(Debug, Clone, Copy, Default)]
pub struct IsAuthenticated;

impl IsAuthenticated {
    fn allows(&self, cx: &Context<'_>) -> bool {
        cx.principal().is_some()
    }
    fn refusal(&self, _: &Context<'_>) -> AuthError {
        AuthError::permission_denied()
    }
}
sync_permission!(IsAuthenticated);

/// Allows staff users only (DRF's `IsAdminUser`, which checks `is_staff`).
#[derive(Debug, Clone, Copy, Default)]
pub struct IsAdminUser;

impl IsAdminUser {
    fn allows(&self, cx: &Context<'_>) -> bool {
        cx.principal().is_some_and(Principal::is_staff)
    }
    fn refusal(&self, _: &Context<'_>) -> AuthError {
        AuthError::permission_denied()
    }
}
sync_permission!(IsAdminUser);

/// Allows safe methods (GET, HEAD, OPTIONS) to everyone and the others to authenticated
/// principals (DRF's `IsAuthenticatedOrReadOnly`).
#[derive(Debug, Clone, Copy, Default)]
pub struct IsAuthenticatedOrReadOnly;

pub use crate::context::is_safe_method;

impl IsAuthenticatedOrReadOnly {
    fn allows(&self, cx: &Context<'_>) -> bool {
        cx.is_safe_method() || cx.principal().is_some()
    }
    fn refusal(&self, _: &Context<'_>) -> AuthError {
        AuthError::permission_denied()
    }
}
sync_permission!(IsAuthenticatedOrReadOnly);

/// Allows principals authenticated by the OAuth2 scheme (an opaque access token), user or
/// client. Combine it to give OAuth2 requests their own rule, e.g.
/// `HasScope("write") & (IsOAuth2 | IsAdminUser)`: an OAuth2 token needs the scope, anyone
/// else must be staff.
#[derive(Debug, Clone, Copy, Default)]
pub struct IsOAuth2;

impl IsOAuth2 {
    fn allows(&self, cx: &Context<'_>) -> bool {
        cx.principal().is_some_and(|p| p.scopes().is_some())
    }
    fn refusal(&self, _: &Context<'_>) -> AuthError {
        AuthError::permission_denied()
    }
}
sync_permission!(IsOAuth2);

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

impl HasScope {
    fn allows(&self, cx: &Context<'_>) -> bool {
        match cx.principal() {
            None => false,
            Some(p) => p.scopes().is_none_or(|scopes| scopes.iter().any(|s| s == self.0)),
        }
    }
    fn refusal(&self, cx: &Context<'_>) -> AuthError {
        let realm = cx.auth().config::<crate::schemes::oauth2::OAuth2Config>().map_or("api", |c| c.realm.as_str());
        let challenge = format!(
            "Bearer realm={}, error=\"insufficient_scope\", scope={}",
            crate::header::quote(realm),
            crate::header::quote(self.0)
        );
        AuthError::PermissionDenied {
            detail: format!("The access token does not have the required scope \"{}\".", self.0).into(),
            code: "insufficient_scope",
            challenges: vec![challenge],
        }
    }
}
sync_permission!(HasScope);

/// Both must allow (`A & B`, DRF's `AND`): `B` is not consulted when `A` refuses.
///
/// - Request: `A.has_permission and B.has_permission`; the 403 is the first refusing one's.
/// - Object: `A.has_object_permission and B.has_object_permission`; the 403 likewise.
#[derive(Debug, Clone, Copy, Default)]
pub struct And<A, B>(pub A, pub B);

impl<A: Permission, B: Permission> Permission for And<A, B> {
    async fn has_permission(&self, cx: &Context<'_>) -> Result<bool, AuthError> {
        Ok(self.0.has_permission(cx).await? && self.1.has_permission(cx).await?)
    }
    async fn has_object_permission(&self, cx: &Context<'_>, obj: &dyn Any) -> Result<bool, AuthError> {
        Ok(self.0.has_object_permission(cx, obj).await? && self.1.has_object_permission(cx, obj).await?)
    }
    async fn check(&self, cx: &Context<'_>) -> Result<Verdict, AuthError> {
        match self.0.check(cx).await? {
            Verdict::Allow => self.1.check(cx).await,
            deny => Ok(deny),
        }
    }
    async fn check_object(&self, cx: &Context<'_>, obj: &dyn Any) -> Result<Verdict, AuthError> {
        match self.0.check_object(cx, obj).await? {
            Verdict::Allow => self.1.check_object(cx, obj).await,
            deny => Ok(deny),
        }
    }
    fn check_now(&self, cx: &Context<'_>) -> Option<Result<Verdict, AuthError>> {
        match self.0.check_now(cx)? {
            Ok(Verdict::Allow) => self.1.check_now(cx),
            other => Some(other),
        }
    }
}

/// Either may allow (`A | B`, DRF's `OR`): `B` is not consulted when `A` allows.
///
/// - Request: `A.has_permission or B.has_permission`; the 403 is the last one's (`B`'s).
/// - Object, as DRF 3.14+: `(A.has_permission and A.has_object_permission) or
///   (B.has_permission and B.has_object_permission)`, so a side that refused the request
///   cannot allow the object; the 403 is `B`'s.
#[derive(Debug, Clone, Copy, Default)]
pub struct Or<A, B>(pub A, pub B);

impl<A: Permission, B: Permission> Permission for Or<A, B> {
    async fn has_permission(&self, cx: &Context<'_>) -> Result<bool, AuthError> {
        Ok(self.0.has_permission(cx).await? || self.1.has_permission(cx).await?)
    }
    async fn has_object_permission(&self, cx: &Context<'_>, obj: &dyn Any) -> Result<bool, AuthError> {
        Ok((self.0.has_permission(cx).await? && self.0.has_object_permission(cx, obj).await?)
            || (self.1.has_permission(cx).await? && self.1.has_object_permission(cx, obj).await?))
    }
    fn denial(&self, cx: &Context<'_>) -> AuthError {
        self.1.denial(cx)
    }
    async fn check(&self, cx: &Context<'_>) -> Result<Verdict, AuthError> {
        match self.0.check(cx).await? {
            Verdict::Allow => Ok(Verdict::Allow),
            Verdict::Deny(_) => self.1.check(cx).await,
        }
    }
    async fn check_object(&self, cx: &Context<'_>, obj: &dyn Any) -> Result<Verdict, AuthError> {
        let allowed = self.has_object_permission(cx, obj).await?;
        Ok(Verdict::of(allowed, || self.1.denial(cx)))
    }
    fn check_now(&self, cx: &Context<'_>) -> Option<Result<Verdict, AuthError>> {
        match self.0.check_now(cx)? {
            Ok(Verdict::Deny(_)) => self.1.check_now(cx),
            other => Some(other),
        }
    }
}

/// Negation (`!A`, DRF's `NOT`): allows what `A` refuses. Its 403 is the plain
/// `permission_denied`.
///
/// Object: `not A.has_object_permission`, as DRF; since the default object permission
/// allows, `!A` refuses every object unless `A` overrides `has_object_permission` (DRF's
/// behaviour too).
#[derive(Debug, Clone, Copy, Default)]
pub struct Not<A>(pub A);

impl<A: Permission> Permission for Not<A> {
    async fn has_permission(&self, cx: &Context<'_>) -> Result<bool, AuthError> {
        Ok(!self.0.has_permission(cx).await?)
    }
    async fn has_object_permission(&self, cx: &Context<'_>, obj: &dyn Any) -> Result<bool, AuthError> {
        Ok(!self.0.has_object_permission(cx, obj).await?)
    }
    fn check_now(&self, cx: &Context<'_>) -> Option<Result<Verdict, AuthError>> {
        Some(self.0.check_now(cx)?.map(|v| Verdict::of(!v.is_allow(), || self.denial(cx))))
    }
}

/// The permission declared by the settings (`#[auth(permission(...))]`, by default
/// [`IsAuthenticated`]); handlers without `#[permission]` use it. It delegates every method,
/// object permissions included, to that permission (kept type-erased in [`Auth`]: a
/// built-in, or a combination of built-ins, is checked without boxing; a permission that
/// awaits is boxed).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultPermission;

impl Permission for DefaultPermission {
    async fn has_permission(&self, cx: &Context<'_>) -> Result<bool, AuthError> {
        let p = default_permission(cx.auth());
        match p.check_now_dyn(cx) {
            Some(verdict) => verdict.map(|v| v.is_allow()),
            None => p.has_permission_boxed(cx).await,
        }
    }
    async fn has_object_permission(&self, cx: &Context<'_>, obj: &dyn Any) -> Result<bool, AuthError> {
        default_permission(cx.auth()).has_object_permission_boxed(cx, obj).await
    }
    fn denial(&self, cx: &Context<'_>) -> AuthError {
        default_permission(cx.auth()).denial_dyn(cx)
    }
    async fn check(&self, cx: &Context<'_>) -> Result<Verdict, AuthError> {
        let p = default_permission(cx.auth());
        match p.check_now_dyn(cx) {
            Some(verdict) => verdict,
            None => p.check_boxed(cx).await,
        }
    }
    async fn check_object(&self, cx: &Context<'_>, obj: &dyn Any) -> Result<Verdict, AuthError> {
        default_permission(cx.auth()).check_object_boxed(cx, obj).await
    }
    fn check_now(&self, cx: &Context<'_>) -> Option<Result<Verdict, AuthError>> {
        default_permission(cx.auth()).check_now_dyn(cx)
    }
}

/// A boxed, non-`Send` future (actix handlers run on one thread).
pub(crate) type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The settings' permission, registered in [`Auth`] by the builder
/// ([`crate::setup::AuthBuilder::default_permission`]).
pub(crate) struct DefaultPermissionSlot(pub(crate) std::sync::Arc<dyn ErasedPermission + Send + Sync>);

/// The settings' permission of `auth` ([`IsAuthenticated`] when none is registered).
fn default_permission(auth: &Auth) -> &(dyn ErasedPermission + Send + Sync) {
    match auth.config::<DefaultPermissionSlot>() {
        Some(slot) => &*slot.0,
        None => &IsAuthenticated,
    }
}

/// [`Permission`] behind a `dyn`: the settings' permission in [`Auth`] and the handler's in
/// the request (for [`check_object_permissions`](crate::check_object_permissions)).
pub(crate) trait ErasedPermission: 'static {
    fn check_now_dyn(&self, cx: &Context<'_>) -> Option<Result<Verdict, AuthError>>;
    fn denial_dyn(&self, cx: &Context<'_>) -> AuthError;
    fn has_permission_boxed<'a>(&'a self, cx: &'a Context<'a>) -> LocalBoxFuture<'a, Result<bool, AuthError>>;
    fn check_boxed<'a>(&'a self, cx: &'a Context<'a>) -> LocalBoxFuture<'a, Result<Verdict, AuthError>>;
    fn has_object_permission_boxed<'a>(
        &'a self,
        cx: &'a Context<'a>,
        obj: &'a dyn Any,
    ) -> LocalBoxFuture<'a, Result<bool, AuthError>>;
    fn check_object_boxed<'a>(
        &'a self,
        cx: &'a Context<'a>,
        obj: &'a dyn Any,
    ) -> LocalBoxFuture<'a, Result<Verdict, AuthError>>;
}

impl<P: Permission> ErasedPermission for P {
    fn check_now_dyn(&self, cx: &Context<'_>) -> Option<Result<Verdict, AuthError>> {
        Permission::check_now(self, cx)
    }
    fn denial_dyn(&self, cx: &Context<'_>) -> AuthError {
        Permission::denial(self, cx)
    }
    fn has_permission_boxed<'a>(&'a self, cx: &'a Context<'a>) -> LocalBoxFuture<'a, Result<bool, AuthError>> {
        Box::pin(self.has_permission(cx))
    }
    fn check_boxed<'a>(&'a self, cx: &'a Context<'a>) -> LocalBoxFuture<'a, Result<Verdict, AuthError>> {
        Box::pin(self.check(cx))
    }
    fn has_object_permission_boxed<'a>(
        &'a self,
        cx: &'a Context<'a>,
        obj: &'a dyn Any,
    ) -> LocalBoxFuture<'a, Result<bool, AuthError>> {
        Box::pin(self.has_object_permission(cx, obj))
    }
    fn check_object_boxed<'a>(
        &'a self,
        cx: &'a Context<'a>,
        obj: &'a dyn Any,
    ) -> LocalBoxFuture<'a, Result<Verdict, AuthError>> {
        Box::pin(self.check_object(cx, obj))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use crate::principal::User;
    use actix_web::test::TestRequest;

    use super::*;
    use crate::principal::SchemeData;

    /// A permission with fixed answers that counts its calls.
    #[derive(Clone)]
    struct Fixed {
        request: Result<bool, ()>,
        object: Result<bool, ()>,
        calls: Rc<Cell<u32>>,
        code: &'static str,
    }

    fn fixed(request: Result<bool, ()>, object: Result<bool, ()>, code: &'static str) -> Fixed {
        Fixed { request, object, calls: Rc::new(Cell::new(0)), code }
    }

    impl Permission for Fixed {
        async fn has_permission(&self, _: &Context<'_>) -> Result<bool, AuthError> {
            self.calls.set(self.calls.get() + 1);
            self.request.map_err(|()| AuthError::ServiceUnavailable)
        }
        async fn has_object_permission(&self, _: &Context<'_>, _: &dyn Any) -> Result<bool, AuthError> {
            self.calls.set(self.calls.get() + 1);
            self.object.map_err(|()| AuthError::ServiceUnavailable)
        }
        fn denial(&self, _: &Context<'_>) -> AuthError {
            AuthError::PermissionDenied { detail: "no".into(), code: self.code, challenges: Vec::new() }
        }
    }

    async fn auth() -> Auth {
        let db = sea_orm::Database::connect("sqlite::memory:").await.expect("sqlite");
        Auth::builder(db, crate::SecretKey::new(vec![7u8; 64]).expect("secret")).build().expect("state")
    }

    fn staff() -> Principal {
        let user = User {
            id: 1,
            username: "root".into(),
            email: String::new(),
            is_staff: true,
            is_active: true,
            is_superuser: false,
            fields: Default::default(),
        };
        Principal::for_user(user, "basic", SchemeData::Basic)
    }

    fn code(verdict: Result<Verdict, AuthError>) -> &'static str {
        match verdict {
            Ok(Verdict::Allow) => "allow",
            Ok(Verdict::Deny(e)) => e.code(),
            Err(e) => e.code(),
        }
    }

    #[tokio::test]
    async fn combinators_short_circuit_and_pick_drfs_denial() {
        let (auth, req, p) = (auth().await, TestRequest::default().to_http_request(), staff());
        let cx = Context::new(&auth, &req, Some(&p));
        let (yes, no, b) =
            (fixed(Ok(true), Ok(true), "a"), fixed(Ok(false), Ok(false), "a"), fixed(Ok(true), Ok(true), "b"));
        assert_eq!(code(And(no.clone(), b.clone()).check(&cx).await), "a", "the first refusing one's");
        assert_eq!(b.calls.get(), 0, "`A & B`: B not consulted when A refuses");
        assert!(Or(yes.clone(), b.clone()).has_permission(&cx).await.unwrap());
        assert_eq!(b.calls.get(), 0, "`A | B`: B not consulted when A allows");
        let b_no = fixed(Ok(false), Ok(false), "b");
        assert_eq!(code(Or(no.clone(), b_no.clone()).check(&cx).await), "b", "the last one's");
        assert_eq!(code(Not(yes.clone()).check(&cx).await), "permission_denied");
        assert_eq!(code(Not(no.clone()).check(&cx).await), "allow");
    }

    #[tokio::test]
    async fn a_failing_permission_never_allows() {
        let (auth, req, p) = (auth().await, TestRequest::default().to_http_request(), staff());
        let cx = Context::new(&auth, &req, Some(&p));
        let fault = fixed(Err(()), Err(()), "x");
        let (yes, no) = (fixed(Ok(true), Ok(true), "a"), fixed(Ok(false), Ok(false), "a"));
        for verdict in [
            code(fault.clone().check(&cx).await),
            code(Not(fault.clone()).check(&cx).await),
            code(Or(fault.clone(), yes.clone()).check(&cx).await),
            code(And(yes.clone(), fault.clone()).check(&cx).await),
            code(Or(no.clone(), fault.clone()).check(&cx).await),
            code(Not(fault.clone()).check_object(&cx, &()).await),
            code(Or(fault.clone(), yes.clone()).check_object(&cx, &()).await),
            code(And(yes.clone(), fault.clone()).check_object(&cx, &()).await),
        ] {
            assert_eq!(verdict, "service_unavailable");
        }
        // A refusal short-circuits before the fault, as DRF's `and` would.
        assert_eq!(code(And(no.clone(), fault.clone()).check(&cx).await), "a");
    }

    #[tokio::test]
    async fn object_permissions_follow_drf() {
        let (auth, req, p) = (auth().await, TestRequest::default().to_http_request(), staff());
        let cx = Context::new(&auth, &req, Some(&p));
        let obj = 7_i64;
        // DRF's OR: (A.has_permission and A.has_object_permission) or (B...). A refuses the
        // request but would allow the object; B allows the request but not the object.
        let a = fixed(Ok(false), Ok(true), "a");
        let b = fixed(Ok(true), Ok(false), "b");
        assert!(!Or(a.clone(), b.clone()).has_object_permission(&cx, &obj).await.unwrap());
        assert_eq!(code(Or(a.clone(), b.clone()).check_object(&cx, &obj).await), "b");
        assert!(Or(b.clone(), IsAdminUser).has_object_permission(&cx, &obj).await.unwrap());
        // AND: both objects; the first refusing one's 403.
        assert_eq!(code(And(b.clone(), a.clone()).check_object(&cx, &obj).await), "b");
        assert_eq!(code(And(a.clone(), IsAuthenticated).check_object(&cx, &obj).await), "allow");
        // NOT: `not A.has_object_permission`; the default object permission allows, so
        // `!IsAdminUser` refuses every object (DRF's behaviour).
        assert_eq!(code(Not(IsAdminUser).check_object(&cx, &obj).await), "permission_denied");
        // The built-ins allow every object; the settings' permission delegates.
        assert_eq!(code(DefaultPermission.check_object(&cx, &obj).await), "allow");
    }

    #[tokio::test]
    async fn built_ins_decide_without_awaiting() {
        let (auth, req, p) = (auth().await, TestRequest::default().to_http_request(), staff());
        let cx = Context::new(&auth, &req, Some(&p));
        let built_in = And(IsAuthenticated, Or(HasScope("write"), Not(IsAdminUser)));
        assert_eq!(code(built_in.check_now(&cx).expect("sync")), "allow");
        assert_eq!(code(DefaultPermission.check_now(&cx).expect("sync")), "allow");
        let anonymous = Context::new(&auth, &req, None);
        assert_eq!(
            code(And(IsAuthenticated, fixed(Ok(true), Ok(true), "a")).check_now(&anonymous).expect("sync")),
            "permission_denied"
        );
        assert!(
            And(IsAuthenticated, fixed(Ok(true), Ok(true), "a")).check_now(&cx).is_none(),
            "a custom permission awaits"
        );
    }
}
