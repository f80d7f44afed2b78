//! Items used by the code that the macros generate. Not a stable API: the pipeline they
//! call is public and documented in [`crate::pipeline`].

pub use crate::scheme::DefaultChain;
pub use actix_web;

/// The scheme a path in `#[authentication(...)]` names: the macros expand a user's scheme
/// `P` to `<P as IsScheme>::Scheme`, so a type that is not a [`crate::Scheme`] is reported
/// once, on the path, with the missing trait.
pub trait IsScheme {
    /// `Self`.
    type Scheme: crate::Scheme;
}

impl<S: crate::Scheme> IsScheme for S {
    type Scheme = S;
}
