//! The wrapper generated for a handler carrying `#[authentication]`,
//! `#[permission]` and/or `#[throttle]`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ItemFn;

use super::{chain_type, checked_permission, throttles};
use crate::model::HandlerSpec;

/// The wrapper generated for a handler carrying `#[authentication]`,
/// `#[permission]` and/or `#[throttle]`.
///
/// The outer function keeps the handler's name, visibility and remaining
/// attributes (so `#[get(..)]` may come before or after ours) and takes only
/// the request and the payload; the handler itself becomes the nested
/// `__auth_inner`, whose arguments the runtime extracts after authenticating.
pub(crate) fn handler(spec: &HandlerSpec, f: ItemFn) -> TokenStream {
    let ItemFn { attrs, vis, sig, block, .. } = f;
    let name = &sig.ident;
    // The call to `run_throttled` (and the inner function's name) carry the handler
    // name's span: errors about the handler's arguments or return type ("not an
    // extractor", "not a responder") are reported on the handler's name rather
    // than on the whole attribute. The locals are mixed-site (hygienic): they
    // cannot clash with or be seen by the user's code.
    let span = name.span();
    let inner = Ident::new("__auth_inner", span);
    let req = Ident::new("__auth_req", Span::mixed_site().located_at(span));
    let payload = Ident::new("__auth_payload", Span::mixed_site().located_at(span));
    let mut inner_sig = sig.clone();
    inner_sig.ident = inner.clone();

    let chain = match &spec.chain {
        Some(chain) => chain_type(chain),
        None => quote!(::auth_runtime::__private::DefaultChain),
    };
    let permission = match &spec.permission {
        Some(expr) => checked_permission(expr),
        None => quote!(::auth_runtime::permissions::DefaultPermission),
    };
    let throttles = throttles(spec.throttles.as_deref());
    let run = quote_spanned! {span=>
        ::auth_runtime::pipeline::run_throttled::<#chain, _, _, _, _>(#req, #payload, #permission, #throttles, #inner)
            .await
    };

    quote! {
        #(#attrs)*
        #vis async fn #name(
            #req: ::auth_runtime::__private::actix_web::HttpRequest,
            #payload: ::auth_runtime::__private::actix_web::web::Payload,
        ) -> ::auth_runtime::__private::actix_web::HttpResponse {
            #inner_sig #block
            #run
        }
    }
}
