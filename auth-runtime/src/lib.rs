//! Authentication for actix-web, in the manner of Django REST Framework: schemes tried in a
//! chain, then permissions, then throttles, with safe defaults checked at compile time.
//!
//! The public API, by what you do with it:
//!
//! - **Set up**: a settings struct with `#[derive(AuthSettings)]`, then
//!   [`Auth::builder`] -> [`AuthBuilder::start`] -> [`mount::app`] ([`setup`], [`mount`]);
//!   [`Auth`] is the state handlers may extract.
//! - **Handlers**: `#[authentication(...)]`, `#[permission(...)]`, `#[throttle(...)]`; the
//!   [`Principal`] and [`MaybePrincipal`] extractors; [`check_object_permissions`]; what runs
//!   before a handler is [`pipeline`].
//! - **Schemes**: the [`Scheme`] trait (yours too) and the [`Chain`]; the built-ins in
//!   [`schemes`], one folder each: Basic (RFC 7617), Token (hashed API tokens), Jwt (Simple
//!   JWT's access/refresh with rotation and a blacklist), Session (server-side sessions with
//!   CSRF), OAuth2 (an authorization server and its opaque tokens). How a scheme describes
//!   itself for an API document: [`apidoc`].
//! - **Permissions**: [`permissions`] (DRF's `BasePermission`, `&`, `|`, `!`).
//! - **Throttling**: [`throttling`] (DRF's rates, the login lockout).
//! - **Endpoints**: each scheme's in its folder, mounted by [`mount::app`] under the
//!   prefixes of [`EndpointsConfig`] ([`endpoints`]).
//! - **Lifecycle**: create, deactivate, delete users and flush expired credentials through
//!   every registered [`lifecycle::CredentialStore`] ([`lifecycle`]); password logins in
//!   [`login`].
//! - **Stores**: the [`users::UserStore`] trait (your own user table), the database
//!   ([`db`], [`migrations`]), passwords ([`passwords`]), the principal cache ([`cache`]).
//!
//! Every scheme's store names the same acts alike: `revoke_user` (all of a user's
//! credentials) and `delete_expired`. Revoking one credential keeps each scheme's own term:
//! `token::revoke`, `jwt::blacklist` (Simple JWT's), `session::logout`,
//! `oauth2::revoke_access_token` and `revoke_grant`. Errors are one type, [`AuthError`],
//! rendered as `{"detail", "code"}` JSON.

#![warn(missing_docs)]

extern crate self as auth_runtime;

// Set up.
pub mod mount;
pub mod setup;
mod state;
pub use mount::Framework;
pub use setup::{AuthBuilder, AuthSettings};
pub use state::Auth;

// Handlers: attributes, extractors, the pipeline and the context its steps take.
pub mod context;
mod extract;
pub mod pipeline;
pub mod principal;
pub use auth_macros::{AuthSettings, authentication, permission, throttle};
pub use context::Context;
pub use extract::MaybePrincipal;
pub use pipeline::check_object_permissions;
pub use principal::{AuthMethods, Authentication, Principal, SchemeData, User};

// Schemes.
pub mod apidoc;
pub mod header;
pub mod scheme;
pub mod schemes;
pub use scheme::{Chain, Outcome, Scheme};
pub use schemes::{BasicConfig, JwtConfig, OAuth2Config, SessionConfig, TokenConfig};

// Permissions and throttling.
pub mod permissions;
pub mod throttling;
pub use throttling::ThrottleConfig;

// Endpoints and the HTTP edge.
pub mod endpoints;
pub mod hosts;
pub mod http;
pub use endpoints::EndpointsConfig;
pub use hosts::HostsConfig;

// Lifecycle and logins.
pub mod lifecycle;
pub mod login;

// Stores and services.
pub mod cache;
pub mod db;
pub mod keys;
pub mod migrations;
pub mod passwords;
pub mod secret;
pub mod users;
pub use cache::CacheConfig;
pub use db::PoolConfig;
pub use secret::SecretKey;

// Errors.
pub mod error;
pub use error::{AuthError, SetupError};

// Internals.
mod audit;
mod breaker;
mod reads;
mod revocation;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
