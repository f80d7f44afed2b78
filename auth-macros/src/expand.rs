//! Code generation from the [`model`](crate::model).
//!
//! Runtime items are always named by their full path (`::auth_runtime::...`,
//! `::actix_web::...`), so the user's code needs no imports.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ItemFn;
use syn::spanned::Spanned;

use crate::model::{HandlerSpec, PermExpr, SchemeRef, SettingsSpec};

/// `::auth_runtime::schemes::NAME`, spanned on the name as the user wrote it.
pub(crate) fn scheme_path(scheme: &SchemeRef) -> TokenStream {
    let span = scheme.ident.span();
    let name = Ident::new(scheme.scheme.name, span);
    quote_spanned!(span=> ::auth_runtime::schemes::#name)
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
pub(crate) fn permission(expr: &PermExpr) -> TokenStream {
    match expr {
        PermExpr::Builtin(ident, args) => {
            quote_spanned!(ident.span()=> ::auth_runtime::permissions::#ident #args)
        }
        PermExpr::Custom(tokens) => tokens.clone(),
        PermExpr::And(lhs, rhs) => {
            let (lhs, rhs) = (permission(lhs), permission(rhs));
            quote!(::auth_runtime::permissions::And(#lhs, #rhs))
        }
        PermExpr::Or(lhs, rhs) => {
            let (lhs, rhs) = (permission(lhs), permission(rhs));
            quote!(::auth_runtime::permissions::Or(#lhs, #rhs))
        }
        PermExpr::Not(operand) => {
            let operand = permission(operand);
            quote!(::auth_runtime::permissions::Not(#operand))
        }
    }
}

/// The wrapper generated for a handler carrying `#[authentication]` and/or
/// `#[permission]`.
///
/// The outer function keeps the handler's name, visibility and remaining
/// attributes (so `#[get(..)]` may come before or after ours) and takes only
/// the request and the payload; the handler itself becomes the nested
/// `__auth_inner`, whose arguments the runtime extracts after authenticating.
pub(crate) fn handler(spec: &HandlerSpec, f: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = f;
    let name = &sig.ident;
    // The inner function's name carries the handler name's span: errors about
    // its arguments or return type ("not an extractor", "not a responder") are
    // reported on the handler's name.
    let inner = Ident::new("__auth_inner", name.span());
    let mut inner_sig = sig.clone();
    inner_sig.ident = inner.clone();

    let chain = match &spec.chain {
        Some(chain) => chain_type(chain),
        None => quote!(::auth_runtime::__private::DefaultChain),
    };
    let permission = match &spec.permission {
        Some(expr) => permission(expr),
        None => quote!(::auth_runtime::permissions::DefaultPermission),
    };
    let run = quote_spanned!(name.span()=> ::auth_runtime::__private::run);

    quote! {
        #(#attrs)*
        #vis async fn #name(
            __auth_req: ::actix_web::HttpRequest,
            __auth_payload: ::actix_web::web::Payload,
        ) -> ::actix_web::HttpResponse {
            #inner_sig #block
            #run::<#chain, _, _, _>(__auth_req, __auth_payload, #permission, #inner).await
        }
    }
}

/// `impl ::auth_runtime::AuthSettings for NAME`.
pub(crate) fn settings(spec: &SettingsSpec) -> TokenStream {
    let SettingsSpec {
        ident,
        generics,
        chain,
        permission: perm,
        configs,
    } = spec;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let chain = chain_type(chain);
    let perm = match perm {
        Some(expr) => permission(expr),
        None => quote!(::auth_runtime::permissions::IsAuthenticated),
    };
    let configs = configs.iter().map(|config| {
        let scheme = Ident::new(config.scheme.name, Span::call_site());
        let member = &config.member;
        // Spanned on the field's type: a wrong type is reported on the field.
        quote_spanned! {config.ty.span()=>
            .with_config::<<::auth_runtime::schemes::#scheme as ::auth_runtime::Scheme>::Config>(
                ::core::clone::Clone::clone(&self.#member)
            )
        }
    });

    quote! {
        #[automatically_derived]
        impl #impl_generics ::auth_runtime::AuthSettings for #ident #ty_generics #where_clause {
            fn configure(&self, builder: ::auth_runtime::AuthBuilder) -> ::auth_runtime::AuthBuilder {
                builder
                    .default_chain::<#chain>()
                    .default_permission(#perm)
                    #(#configs)*
            }
        }
    }
}
