//! Authentication for actix-web, in the manner of Django REST Framework: schemes tried in a
//! chain, then permissions, with safe defaults.
//!
//! - Schemes: [`schemes::Basic`] (RFC 7617), [`schemes::Token`] (hashed API tokens) and
//!   [`schemes::Jwt`] (access and refresh JWTs with rotation and a blacklist),
//!   [`schemes::Session`] (server-side sessions with CSRF) and [`schemes::OAuth2`] (opaque
//!   tokens of the built-in OAuth2 authorization server, [`endpoints::oauth2`]).
//! - Chain: `#[authentication(Basic, Token)]` on a handler, or the default chain declared by
//!   `#[derive(AuthSettings)]`; see [`scheme`].
//! - Permissions: `#[permission(IsAuthenticated & IsAdminUser)]`, object permissions with
//!   [`check_object_permissions`]; see [`permissions`].
//! - The pipeline run before a handler (authentication, permission, throttles, then the
//!   handler's extractors): [`pipeline`].
//! - The principal: the [`Principal`] and [`MaybePrincipal`] extractors.
//! - State: [`Auth`], built from the settings and registered with `App::app_data`.
//! - Storage: sea-orm entities and [`migrations`] for SQLite and PostgreSQL, opened with
//!   [`db::connect`]; the hot-path reads in [`reads`]; the principal cache in [`cache`].
//!
//! Errors are one type, [`AuthError`], rendered as `{"detail", "code"}` JSON.

#![warn(missing_docs)]

extern crate self as auth_runtime;

pub mod apidoc;
mod audit;
pub mod breaker;
pub mod cache;
pub mod db;
pub mod endpoints;
pub mod error;
pub mod extract;
pub mod header;
pub mod hosts;
pub mod http;
pub mod lifecycle;
pub mod login;
pub mod migrations;
pub mod mount;
pub mod passwords;
pub mod permissions;
pub mod pipeline;
pub mod principal;
pub mod reads;
pub mod revocation;
pub mod scheme;
pub mod schemes;
pub mod secret;
pub mod setup;
mod state;
pub mod throttling;
pub mod users;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use auth_macros::{AuthSettings, authentication, permission, throttle};
pub use cache::CacheConfig;
pub use db::PoolConfig;
pub use endpoints::EndpointsConfig;
pub use error::AuthError;
pub use error::SetupError;
pub use extract::MaybePrincipal;
pub use hosts::HostsConfig;
pub use mount::Framework;
pub use pipeline::check_object_permissions;
pub use principal::{AuthMethods, Authentication, Principal, SchemeData, User};
pub use scheme::{Chain, Outcome, Scheme};
pub use schemes::{BasicConfig, JwtConfig, OAuth2Config, SessionConfig, TokenConfig};
pub use secret::SecretKey;
pub use setup::{AuthBuilder, AuthSettings};
pub use state::Auth;
pub use throttling::ThrottleConfig;
