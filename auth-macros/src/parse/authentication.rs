//! The scheme list grammar: the inside of `#[authentication(..)]` and of
//! `#[auth(chain(..))]`, e.g. `Basic, Token, crate::auth::ApiKey`.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{Lit, Path};

use super::{comma_list, one_of};
use crate::ctxt::Ctxt;
use crate::model::{Entry, Scheme, SchemeRef, scheme_names};

/// Parses a comma-separated list of scheme names into its entries, for
/// [`check::scheme_list`](crate::check::scheme_list) to validate.
///
/// A built-in is named by its bare name (`Basic`); any other name or path is the
/// user's own scheme type. An empty list is reported on `empty_at` with
/// `empty_message`; a malformed entry (a literal, an expression) keeps its error
/// in its [`Entry`].
pub(crate) fn scheme_list(
    cx: &Ctxt,
    tokens: TokenStream,
    empty_at: impl ToTokens,
    empty_message: &str,
) -> Vec<Entry<SchemeRef>> {
    let list = comma_list(cx, tokens, "a scheme name");
    if list.entries.is_empty() && !list.stray_comma {
        cx.error_spanned_by(empty_at, empty_message);
        return Vec::new();
    }
    list.entries.into_iter().map(|tokens| Entry { parsed: scheme(&tokens), tokens }).collect()
}

/// One entry of a scheme list.
fn scheme(tokens: &TokenStream) -> syn::Result<SchemeRef> {
    let entry: Vec<TokenTree> = tokens.clone().into_iter().collect();
    match entry.as_slice() {
        [TokenTree::Ident(ident)] => Ok(match Scheme::by_name(&ident.unraw().to_string()) {
            Some(scheme) => SchemeRef::Builtin(scheme, ident.clone()),
            None => SchemeRef::Custom(Path::from(ident.clone())),
        }),
        [TokenTree::Literal(lit)] => {
            let hint = match syn::parse2::<Lit>(tokens.clone()) {
                Ok(Lit::Str(s)) if Scheme::by_name(&s.value()).is_some() => {
                    format!("; write the bare name `{}`, without quotes", s.value())
                }
                _ => String::new(),
            };
            Err(syn::Error::new_spanned(
                lit,
                format!(
                    "expected a scheme, found a literal; a scheme is one of {} or the path of \
                     your own type implementing `auth_runtime::Scheme`{hint}",
                    one_of(scheme_names())
                ),
            ))
        }
        _ => syn::parse2::<Path>(tokens.clone()).map(SchemeRef::Custom).map_err(|_| {
            // A call (`Basic::new()`), an expression...: name the scheme it seems
            // to mean, if any.
            let named = entry.iter().find_map(|tt| match tt {
                TokenTree::Ident(i) => Scheme::by_name(&i.to_string()),
                _ => None,
            });
            let hint = match named {
                Some(scheme) => format!("; write the bare name `{}`", scheme.name),
                None => format!("; expected one of: {}", one_of(scheme_names())),
            };
            syn::Error::new_spanned(
                tokens,
                format!("expected a scheme type, not an expression: a built-in name or a type's path{hint}"),
            )
        }),
    }
}
