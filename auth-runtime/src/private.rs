//! Items used by the code that the macros generate. Not a stable API: the pipeline they
//! call is public and documented in [`crate::pipeline`].

pub use crate::scheme::DefaultChain;
pub use actix_web;
