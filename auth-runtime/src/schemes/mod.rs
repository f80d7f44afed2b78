//! The built-in authentication schemes, one folder each: the scheme (parse, check,
//! challenge) in its `mod.rs`, beside its configuration, models and stores, endpoints and
//! [`crate::lifecycle::CredentialStore`]. No scheme imports another.

pub mod basic;
pub mod jwt;
pub mod oauth2;
pub mod session;
pub mod token;

pub use basic::{Basic, BasicConfig};
pub use jwt::{Jwt, JwtConfig};
pub use oauth2::{OAuth2, OAuth2Config};
pub use session::{Session, SessionConfig};
pub use token::{Token, TokenConfig};
