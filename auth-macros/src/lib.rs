//! Procedural macros of `auth-runtime`: [`macro@authentication`],
//! [`macro@permission`], [`macro@throttle`] and [`derive@AuthSettings`].
//!
//! Use them through `auth_runtime` (`auth_runtime::authentication` and so on),
//! which re-exports them; the code they generate names every runtime item by
//! its full path (`::auth_runtime::...`, and actix-web's items through
//! `::auth_runtime::__private::actix_web::...`), so no `use` is needed and the
//! crate using them needs only a direct dependency on `auth-runtime`.
//!
//! The crate is laid out like `serde_derive`: `parse` turns the input into the
//! small types of `model` (one file per attribute grammar), `check` finds the
//! mistakes of meaning in them, both recording every error in a `ctxt::Ctxt`,
//! and `expand` turns the checked model into code. This file holds only the
//! entry points.

mod check;
mod ctxt;
mod expand;
mod model;
mod parse;
mod suggest;

use proc_macro::TokenStream;

use crate::ctxt::Ctxt;
use crate::model::{Handler, HandlerAttr, SettingsSpec};

/// Overrides the authentication chain of one actix-web handler.
///
/// ```ignore
/// #[get("/reports")]
/// #[authentication(Basic, Token)]
/// async fn reports(principal: auth_runtime::Principal) -> impl Responder { /* .. */ }
/// ```
///
/// The schemes are tried in order, as in Django REST Framework's
/// `authentication_classes`; without this attribute a handler guarded by
/// [`macro@permission`] uses the app's default chain. The handler's arguments
/// are extracted only after the request is authenticated and permitted, so a
/// malformed body cannot answer 400 before authentication answers 401.
///
/// The attribute may be placed above or below `#[get(..)]`, and combined with
/// [`macro@permission`] and [`macro@throttle`] in any order (one wrapper is
/// generated for all of them). The handler must be a free,
/// non-generic `async fn`. Schemes are named by their type in
/// `auth_runtime::schemes` (`Basic`, `Token`, ...), without path or arguments.
#[proc_macro_attribute]
pub fn authentication(args: TokenStream, item: TokenStream) -> TokenStream {
    handler_attribute(HandlerAttr::Authentication, args.into(), item.into()).into()
}

/// Guards one actix-web handler with a permission expression.
///
/// ```ignore
/// #[post("/articles/{id}")]
/// #[permission(IsAuthenticated & (IsOwner | IsAdminUser) & !HasScope("read-only"))]
/// async fn edit(/* .. */) -> impl Responder { /* .. */ }
/// ```
///
/// `a & b` requires both, `a | b` either and `!a` the opposite; parentheses
/// group. The built-in permissions `AllowAny`, `IsAuthenticated`,
/// `IsAdminUser`, `IsAuthenticatedOrReadOnly` and `DefaultPermission` need no
/// import; any other path or call (`IsOwner`, `crate::perms::IsOwner`,
/// `HasScope("write")`) is a value of the user's own type implementing
/// `auth_runtime::permissions::Permission`. Without this attribute a handler
/// guarded by [`macro@authentication`] or [`macro@throttle`] uses
/// `DefaultPermission`, the app's default.
#[proc_macro_attribute]
pub fn permission(args: TokenStream, item: TokenStream) -> TokenStream {
    handler_attribute(HandlerAttr::Permission, args.into(), item.into()).into()
}

/// Chooses the request throttles of one actix-web handler.
///
/// ```ignore
/// #[post("/uploads")]
/// #[throttle(UserRate, Scoped("uploads"))]
/// async fn upload(/* .. */) -> impl Responder { /* .. */ }
///
/// #[get("/health")]
/// #[throttle()] // never throttled
/// async fn health() -> impl Responder { /* .. */ }
/// ```
///
/// Django REST Framework's `throttle_classes` (and `throttle_scope`, which is
/// `Scoped("name")` here). Throttles run after authentication and permission,
/// as in DRF: every listed throttle counts the request, and past any of the
/// rates the request is refused with 429 `throttled` and a `Retry-After`
/// header giving the wait in seconds.
///
/// The built-in throttles of `auth_runtime::throttling` need no import:
///
/// - `AnonRate` (DRF's `AnonRateThrottle`): anonymous requests, per client IP,
///   at the settings' `throttle.anon` rate;
/// - `UserRate` (`UserRateThrottle`): per user (per client IP when anonymous),
///   at `throttle.user`;
/// - `Scoped("name")` (`ScopedRateThrottle`): per user (or client IP), at the
///   rate of `throttle.scopes.name`; a scope name is made of lowercase letters,
///   digits, `_` and `-`.
///
/// Rates are never written on the handler: they come from the settings'
/// `throttle` section (an `auth_runtime::ThrottleConfig` field marked
/// `#[auth(throttle)]` in [`derive@AuthSettings`]), in DRF's syntax
/// (`"100/day"`, `"10/min"`); a throttle whose rate is not set does not limit.
/// Any other path or call (`PerTenant`, `crate::limits::Burst(3)`) is a value
/// of the user's own type implementing `auth_runtime::throttling::Throttle`.
///
/// At most four throttles may be listed, each once; `#[throttle()]` lists
/// none, so the handler is never throttled. Without this attribute a handler
/// guarded by [`macro@authentication`] or [`macro@permission`] uses the
/// settings' defaults, `DefaultThrottles` (`AnonRate` and `UserRate`, each when
/// its rate is set). Like its siblings, it may be placed above or below
/// `#[get(..)]` and combined with them in any order.
#[proc_macro_attribute]
pub fn throttle(args: TokenStream, item: TokenStream) -> TokenStream {
    handler_attribute(HandlerAttr::Throttle, args.into(), item.into()).into()
}

/// Implements `auth_runtime::AuthSettings` for the app's settings struct.
///
/// ```ignore
/// #[derive(AuthSettings, serde::Deserialize, Clone)]
/// #[auth(chain(Basic, Token), permission(IsAuthenticated))]
/// pub struct Settings {
///     #[auth(basic)]
///     pub basic: auth_runtime::BasicConfig,
///     #[auth(token)]
///     pub token: auth_runtime::TokenConfig,
///     #[auth(throttle)]
///     pub throttle: auth_runtime::ThrottleConfig,
///     pub database_url: String, // fields without #[auth] are ignored
/// }
/// ```
///
/// `chain(..)` (required) is the default authentication chain; `permission(..)`
/// (optional, default `IsAuthenticated`) is the default permission, with the
/// same syntax as [`macro@permission`]. Each scheme's configuration comes from
/// the field marked with its key (`basic`, `token`); every scheme of the chain
/// needs one, and a field may configure a scheme that only some handlers use.
/// The field marked `#[auth(throttle)]` (an `auth_runtime::ThrottleConfig`)
/// holds the rates of [`macro@throttle`]. Each key binds at most one field.
#[proc_macro_derive(AuthSettings, attributes(auth))]
pub fn derive_auth_settings(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    match settings(&input) {
        Ok(spec) => expand::settings(&spec).into(),
        Err(error) => error.into_compile_error().into(),
    }
}

/// Parses and checks the input of `#[derive(AuthSettings)]`: what to generate,
/// or all the errors found.
fn settings(input: &syn::DeriveInput) -> syn::Result<SettingsSpec> {
    let cx = Ctxt::new();
    let parsed = parse::settings::settings(&cx, input);
    let spec = check::settings(&cx, parsed);
    cx.check()?;
    Ok(spec)
}

/// Expands `#[authentication]`, `#[permission]` or `#[throttle]` (`attr`) on `item`.
///
/// On error, emits the errors followed by the item unchanged (minus our own
/// attributes), so that the rest of the program still finds the function and
/// the user sees only the real mistakes.
fn handler_attribute(
    attr: HandlerAttr,
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    match parse::handler::handler(attr, args, item) {
        Handler::Wrap(spec, f) => expand::handler(&spec, *f),
        Handler::PassThrough(error, item) => {
            let mut tokens = error.map(syn::Error::into_compile_error).unwrap_or_default();
            tokens.extend(item);
            tokens
        }
    }
}

#[cfg(test)]
mod tests;
