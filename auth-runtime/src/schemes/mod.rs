//! The built-in authentication schemes, one module each.

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
