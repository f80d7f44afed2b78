//! The built-in authentication schemes, one module each.

pub mod basic;
pub mod token;

pub use basic::{Basic, BasicConfig};
pub use token::{Token, TokenConfig};
