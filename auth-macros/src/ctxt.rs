//! The error context of one macro invocation, as in `serde_derive`'s `internals/ctxt.rs`.
//!
//! Parsing and checking record every mistake they find in a [`Ctxt`] instead of stopping
//! at the first, so the user sees all of them in one compilation. The context must be
//! [`check`](Ctxt::check)ed before it is dropped: forgetting to is a bug of the macros
//! (errors would be lost), so dropping an unchecked context panics.

use std::cell::RefCell;
use std::fmt::Display;
use std::thread;

use quote::ToTokens;

/// Collects the errors of one macro invocation, in the order they are found.
pub(crate) struct Ctxt {
    /// The errors so far; `None` once checked.
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    /// A context without errors.
    pub fn new() -> Self {
        Ctxt { errors: RefCell::new(Some(Vec::new())) }
    }

    /// Records an error spanning `obj` (from its first to its last token).
    pub fn error_spanned_by<A: ToTokens, T: Display>(&self, obj: A, message: T) {
        self.syn_error(syn::Error::new_spanned(obj.into_token_stream(), message));
    }

    /// Records `error` (which may hold several errors, kept in their order).
    pub fn syn_error(&self, error: syn::Error) {
        self.errors.borrow_mut().as_mut().expect("error context already checked").push(error);
    }

    /// Whether an error has been recorded.
    pub fn has_errors(&self) -> bool {
        self.errors.borrow().as_ref().is_some_and(|errors| !errors.is_empty())
    }

    /// `Ok` if no error was recorded, else all of them combined into one, in order.
    pub fn check(self) -> syn::Result<()> {
        let mut errors = self.errors.borrow_mut().take().expect("error context already checked").into_iter();
        let Some(mut combined) = errors.next() else { return Ok(()) };
        for error in errors {
            combined.combine(error);
        }
        Err(combined)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !thread::panicking() && self.errors.borrow().is_some() {
            panic!("forgot to check for errors");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Ctxt;

    #[test]
    fn errors_are_combined_in_order() {
        let cx = Ctxt::new();
        cx.syn_error(syn::Error::new(proc_macro2::Span::call_site(), "a"));
        cx.error_spanned_by(quote::quote!(x y), "b");
        assert!(cx.has_errors());
        let messages: Vec<String> = cx.check().unwrap_err().into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages, ["a", "b"]);
        assert!(Ctxt::new().check().is_ok());
    }

    #[test]
    #[should_panic(expected = "forgot to check for errors")]
    fn dropping_an_unchecked_context_panics() {
        let _cx = Ctxt::new();
    }
}
