//! Code generation from the checked [`model`](crate::model): the values shared by
//! both macros (chains, permissions, throttles) here, the handler wrapper in
//! [`handler`] and the settings impl in [`settings`].
//!
//! Runtime items are always named by their full path (`::auth_runtime::...`;
//! actix-web's through its re-export, `::auth_runtime::__private::actix_web::...`),
//! so the user's code needs no imports and no direct dependency on actix-web.

mod handler;
mod settings;

pub(crate) use handler::handler;
pub(crate) use settings::settings;

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::model::{PermExpr, SchemeRef, ThrottleExpr};

/// A scheme's type: a built-in's `::auth_runtime::schemes::NAME`, spanned on the name as the
/// user wrote it; the user's own as `<PATH as ::auth_runtime::__private::IsScheme>::Scheme`,
/// spanned on the path, so a type that is not a scheme is reported once, on the path, with
/// the trait it lacks.
pub(crate) fn scheme_path(scheme: &SchemeRef) -> TokenStream {
    match scheme {
        SchemeRef::Builtin(scheme, ident) => {
            let span = ident.span();
            let name = Ident::new(scheme.name, span);
            quote_spanned!(span=> ::auth_runtime::schemes::#name)
        }
        SchemeRef::Custom(path) => {
            let span = path.span();
            quote_spanned!(span=> <#path as ::auth_runtime::__private::IsScheme>::Scheme)
        }
    }
}

/// The chain as a tuple type, `(::auth_runtime::schemes::Basic, ..,)`: the
/// trailing comma keeps a one-scheme chain a tuple.
pub(crate) fn chain_type(chain: &[SchemeRef]) -> TokenStream {
    let schemes = chain.iter().map(scheme_path);
    quote!((#(#schemes,)*))
}

/// The value of a permission expression: built-ins become
/// `::auth_runtime::permissions::NAME`, `&`/`|`/`!` become `And`/`Or`/`Not`,
/// and the user's own permissions are emitted as written.
///
/// Each generated `And(..)`/`Or(..)`/`Not(..)` starts at its first operand's
/// span and ends at its last operand's, so rustc reports an error about the
/// whole value (e.g. "`NotAPermission: Permission` is not satisfied") on the
/// user's expression.
pub(crate) fn permission(expr: &PermExpr) -> TokenStream {
    match expr {
        PermExpr::Builtin(ident, args) => {
            quote_spanned!(ident.span()=> ::auth_runtime::permissions::#ident #args)
        }
        PermExpr::Custom(tokens) => tokens.clone(),
        PermExpr::And(lhs, rhs) => combinator("And", None, &[permission(lhs), permission(rhs)]),
        PermExpr::Or(lhs, rhs) => combinator("Or", None, &[permission(lhs), permission(rhs)]),
        PermExpr::Not(bang, operand) => combinator("Not", Some(*bang), &[permission(operand)]),
    }
}

/// `::auth_runtime::permissions::NAME(OPERANDS..)`, spanned from `start` (the
/// `!` of a negation) or else the first operand's first token, to the last
/// operand's last token.
fn combinator(name: &str, start: Option<Span>, operands: &[TokenStream]) -> TokenStream {
    let first = start.unwrap_or_else(|| span_range(operands.first()).0);
    let (_, last) = span_range(operands.last());
    let name = Ident::new(name, first);
    let mut args = Group::new(Delimiter::Parenthesis, quote!(#(#operands),*));
    args.set_span(last);
    quote_spanned!(first=> ::auth_runtime::permissions::#name #args)
}

/// The spans of the first and last tokens of `tokens`.
fn span_range(tokens: Option<&TokenStream>) -> (Span, Span) {
    let mut iter = tokens.into_iter().flat_map(|t| t.clone());
    let first = iter.next().map_or_else(Span::call_site, |t| t.span());
    let last = iter.last().map_or(first, |t| t.span());
    (first, last)
}

/// A permission expression as a value whose type is checked on its own:
///
/// ```ignore
/// { fn __auth_permission() -> impl ::auth_runtime::permissions::Permission { EXPR } __auth_permission() }
/// ```
///
/// If `EXPR` is not a permission (say `IsAuthenticated | NotAPermission`),
/// rustc reports it once, on the user's expression, instead of at the call
/// that receives it; the caller then sees an opaque type that is a permission,
/// so no second error follows.
pub(crate) fn checked_permission(expr: &PermExpr) -> TokenStream {
    let value = permission(expr);
    let (first, last) = span_range(Some(&value));
    let impl_token = quote_spanned!(first=> impl);
    let trait_name = quote_spanned!(last=> Permission);
    quote! {{
        fn __auth_permission() -> #impl_token ::auth_runtime::permissions::#trait_name {
            #value
        }
        __auth_permission()
    }}
}

/// One throttle's value: built-ins become `::auth_runtime::throttling::NAME`
/// (with their checked arguments); the user's own are emitted as written,
/// inside a function returning `impl Throttle` so that a value that is not a
/// throttle is reported once, on the user's tokens (as [`checked_permission`]).
pub(crate) fn throttle(expr: &ThrottleExpr) -> TokenStream {
    match expr {
        ThrottleExpr::Builtin(ident, args) => {
            quote_spanned!(ident.span()=> ::auth_runtime::throttling::#ident #args)
        }
        ThrottleExpr::Custom(path, args) => {
            let tokens = quote!(#path #args);
            let (first, last) = span_range(Some(&tokens));
            let impl_token = quote_spanned!(first=> impl);
            let trait_name = quote_spanned!(last=> Throttle);
            quote! {{
                fn __auth_throttle() -> #impl_token ::auth_runtime::throttling::#trait_name {
                    #tokens
                }
                __auth_throttle()
            }}
        }
    }
}

/// The handler's throttles as one value: `(A, B,)` (the trailing comma keeps
/// one throttle a tuple; none is `()`), or the settings' defaults,
/// `::auth_runtime::throttling::DefaultThrottles`, without `#[throttle]`.
pub(crate) fn throttles(throttles: Option<&[ThrottleExpr]>) -> TokenStream {
    match throttles {
        Some(list) => {
            let values = list.iter().map(throttle);
            quote!((#(#values,)*))
        }
        None => quote!(::auth_runtime::throttling::DefaultThrottles),
    }
}
