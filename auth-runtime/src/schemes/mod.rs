//! The built-in authentication schemes, one module each.

pub mod basic;
pub mod jwt;
pub mod session;
pub mod token;

pub use basic::{Basic, BasicConfig};
pub use jwt::{Jwt, JwtConfig};
pub use session::{Session, SessionConfig};
pub use token::{Token, TokenConfig};
