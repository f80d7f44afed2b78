//! Unit tests of parsing and expansion (the compile-time behaviour as seen by
//! users is tested with trybuild in the `tests` crate).

use proc_macro2::TokenStream;
use quote::quote;

use crate::expand;
use crate::model::{HandlerAttr, PermExpr};
use crate::parse::{self, Errors};

/// Normalises token text so expected expansions can be written with `quote!`.
fn text(tokens: TokenStream) -> String {
    tokens.to_string()
}

/// The messages of all errors in `error`.
fn messages(error: syn::Error) -> Vec<String> {
    error.into_iter().map(|e| e.to_string()).collect()
}

/// Parses a permission expression, returning its expansion or the messages.
fn perm(tokens: TokenStream) -> Result<String, Vec<String>> {
    let mut errors = Errors::default();
    let expr = parse::permission(tokens, TokenStream::new(), "empty", &mut errors);
    match (expr, errors.finish()) {
        (Some(expr), Ok(())) => Ok(text(expand::permission(&expr))),
        (_, Err(error)) => Err(messages(error)),
        (None, Ok(())) => panic!("no expression and no error"),
    }
}

/// Parses a scheme list, returning the names or the messages.
fn schemes(tokens: TokenStream) -> Result<Vec<&'static str>, Vec<String>> {
    let mut errors = Errors::default();
    let list = parse::scheme_list(tokens, TokenStream::new(), "empty", &mut errors);
    errors.finish().map_err(messages)?;
    Ok(list.iter().map(|s| s.scheme.name).collect())
}

#[test]
fn scheme_list_accepts_names_and_trailing_comma() {
    assert_eq!(schemes(quote!(Basic, Token)), Ok(vec!["Basic", "Token"]));
    assert_eq!(schemes(quote!(Token,)), Ok(vec!["Token"]));
}

/// The valid scheme names and settings keys, as the messages list them (from the one table).
fn valid() -> (String, String) {
    let names = crate::model::SCHEMES.iter().map(|s| s.0).collect::<Vec<_>>().join(", ");
    let keys = crate::model::SCHEMES.iter().map(|s| s.1).collect::<Vec<_>>().join(", ");
    (names, keys)
}

#[test]
fn scheme_list_reports_every_mistake() {
    let (names, _) = valid();
    let errors = schemes(quote!(Foo, Basic, Basic, Basic::new(), "Token", basic)).unwrap_err();
    assert_eq!(
        errors,
        vec![
            format!("unknown authentication scheme `Foo`; expected one of: {names}"),
            "duplicate authentication scheme `Basic`".to_owned(),
            "expected a scheme name, not an expression or path; write the bare name `Basic`".to_owned(),
            format!(
                "expected a scheme name, found a literal; expected one of: {names}; write the bare name `Token`, without quotes"
            ),
            format!("unknown authentication scheme `basic`; expected one of: {names}; did you mean `Basic`?"),
        ]
    );
    assert_eq!(schemes(quote!()), Err(vec!["empty".to_owned()]));
    assert_eq!(schemes(quote!(Basic,,Token)), Err(vec!["expected a scheme name before `,`".to_owned()]));
}

#[test]
fn permission_builtins_and_operators() {
    assert_eq!(perm(quote!(IsAuthenticated)), Ok(text(quote!(::auth_runtime::permissions::IsAuthenticated))));
    // `&` binds tighter than `|`; both are left-associative.
    assert_eq!(
        perm(quote!(A | B & !C | D)),
        Ok(text(quote!(::auth_runtime::permissions::Or(
            ::auth_runtime::permissions::Or(
                A,
                ::auth_runtime::permissions::And(B, ::auth_runtime::permissions::Not(C))
            ),
            D
        ))))
    );
    assert_eq!(
        perm(quote!((A | B) & !!C)),
        Ok(text(quote!(::auth_runtime::permissions::And(
            ::auth_runtime::permissions::Or(A, B),
            ::auth_runtime::permissions::Not(::auth_runtime::permissions::Not(C))
        ))))
    );
}

#[test]
fn permission_custom_paths_and_calls_are_kept() {
    assert_eq!(
        perm(quote!(crate::perms::IsOwner & HasScope("write", 1 + 2))),
        Ok(text(quote!(::auth_runtime::permissions::And(crate::perms::IsOwner, HasScope("write", 1 + 2)))))
    );
    assert_eq!(perm(quote!(::other::IsAdminUser)), Ok(text(quote!(::other::IsAdminUser))));
}

#[test]
fn permission_errors() {
    let err = |tokens| perm(tokens).unwrap_err();
    assert_eq!(
        err(quote!(A && B || C)),
        vec!["use `&`, not `&&`, to require both permissions", "use `|`, not `||`, to allow either permission",]
    );
    assert_eq!(err(quote!(A &)), vec!["expected a permission after `&`"]);
    assert_eq!(err(quote!(!)), vec!["expected a permission after `!`"]);
    assert!(err(quote!("x"))[0].starts_with("expected a permission, found the literal `\"x\"`"));
    assert!(err(quote!(A == B))[0].starts_with("unexpected `==` in permission expression"));
    assert!(err(quote!(A, B))[0].starts_with("unexpected `,` in permission expression"));
    assert!(err(quote!(A & + B))[0].starts_with("expected a permission, found `+`"));
    assert_eq!(err(quote!(A & ())), vec!["expected a permission inside the parentheses"]);
    assert_eq!(err(quote!()), vec!["empty"]);
}

#[test]
fn builtin_with_arguments_stays_a_call() {
    let mut errors = Errors::default();
    let expr = parse::permission(quote!(IsAdminUser(1)), quote!(), "empty", &mut errors);
    assert!(matches!(expr, Some(PermExpr::Builtin(_, Some(_)))));
}

/// Expands a handler attribute as the entry point does.
fn handler(attr: HandlerAttr, args: TokenStream, item: TokenStream) -> String {
    text(crate::handler_attribute(attr, args, item))
}

/// Expands like rustc does: the first attribute, then whatever handler
/// attribute is left on the resulting function, until none is. Returns the
/// final output with the errors of every step.
fn expand_fully(attr: HandlerAttr, args: TokenStream, item: TokenStream) -> String {
    let mut errors = TokenStream::new();
    let mut next = Some((attr, args, item));
    let mut last = TokenStream::new();
    while let Some((attr, args, item)) = next.take() {
        let file: syn::File = syn::parse2(crate::handler_attribute(attr, args, item)).unwrap();
        last = TokenStream::new();
        for item in file.items {
            match item {
                syn::Item::Macro(m) if m.mac.path.segments.last().unwrap().ident == "compile_error" => {
                    errors.extend(quote!(#m));
                }
                syn::Item::Fn(mut f) => {
                    let found = f.attrs.iter().position(|a| {
                        let name = a.path().segments.last().unwrap().ident.to_string();
                        HandlerAttr::from_name(&name).is_some()
                    });
                    match found {
                        Some(i) => {
                            let a = f.attrs.remove(i);
                            let name = a.path().segments.last().unwrap().ident.to_string();
                            let args = match a.meta {
                                syn::Meta::List(list) => list.tokens,
                                _ => TokenStream::new(),
                            };
                            let kind = HandlerAttr::from_name(&name).unwrap();
                            next = Some((kind, args, quote!(#f)));
                        }
                        None => last.extend(quote!(#f)),
                    }
                }
                other => last.extend(quote!(#other)),
            }
        }
    }
    errors.extend(last);
    text(errors)
}

#[test]
fn authentication_wraps_the_handler() {
    let out = handler(
        HandlerAttr::Authentication,
        quote!(Basic),
        quote! {
            /// Docs.
            #[get("/x")]
            pub async fn h(body: String) -> String { body }
        },
    );
    let expected = quote! {
        #[doc = r" Docs."]
        #[get("/x")]
        pub async fn h(
            __auth_req: ::actix_web::HttpRequest,
            __auth_payload: ::actix_web::web::Payload,
        ) -> ::actix_web::HttpResponse {
            async fn __auth_inner(body: String) -> String { body }
            ::auth_runtime::__private::run::<(::auth_runtime::schemes::Basic,), _, _, _>(
                __auth_req,
                __auth_payload,
                ::auth_runtime::permissions::DefaultPermission,
                __auth_inner
            ).await
        }
    };
    assert_eq!(out, text(expected));
}

#[test]
fn the_sibling_attribute_is_handed_the_arguments() {
    let out = handler(
        HandlerAttr::Authentication,
        quote!(Token, Basic),
        quote!(
            #[get("/")]
            #[auth_runtime::permission(!IsAdminUser)]
            async fn h() {}
        ),
    );
    let expected = quote!(
        #[get("/")]
        #[auth_runtime::permission(@authentication(Token, Basic) !IsAdminUser)]
        async fn h() {}
    );
    assert_eq!(out, text(expected));
    let out = handler(
        HandlerAttr::Permission,
        quote!(AllowAny),
        quote!(
            #[authentication]
            async fn h() {}
        ),
    );
    assert_eq!(
        out,
        text(quote!(
            #[authentication(@permission(AllowAny))]
            async fn h() {}
        ))
    );
}

#[test]
fn sibling_attributes_make_one_wrapper_in_either_order() {
    let expected_call = text(quote! {
        ::auth_runtime::__private::run::<(::auth_runtime::schemes::Token, ::auth_runtime::schemes::Basic,), _, _, _>(
            __auth_req,
            __auth_payload,
            {
                fn __auth_permission() -> impl ::auth_runtime::permissions::Permission {
                    ::auth_runtime::permissions::Not(::auth_runtime::permissions::IsAdminUser)
                }
                __auth_permission()
            },
            __auth_inner
        ).await
    });
    let a = expand_fully(
        HandlerAttr::Authentication,
        quote!(Token, Basic),
        quote!(
            #[auth_runtime::permission(!IsAdminUser)]
            async fn h() -> String {
                String::new()
            }
        ),
    );
    let b = expand_fully(
        HandlerAttr::Permission,
        quote!(!IsAdminUser),
        quote!(
            #[authentication(Token, Basic)]
            async fn h() -> String {
                String::new()
            }
        ),
    );
    assert_eq!(a, b);
    assert!(a.contains(&expected_call), "{a}");
    assert_eq!(a.matches("__auth_req :").count(), 1, "{a}");
}

#[test]
fn permission_alone_uses_the_default_chain() {
    let out = handler(
        HandlerAttr::Permission,
        quote!(IsAuthenticated),
        quote!(
            async fn h() -> String {
                String::new()
            }
        ),
    );
    let call = text(quote!(run::<::auth_runtime::__private::DefaultChain, _, _, _>));
    assert!(out.contains(&call), "{out}");
}

#[test]
fn errors_are_combined_and_the_item_is_kept() {
    let out = expand_fully(
        HandlerAttr::Authentication,
        quote!(Foo),
        quote! {
            #[permission(A && B)]
            #[permission(C)]
            #[get("/x")]
            fn h<T>(&self) -> String { String::new() }
        },
    );
    for message in [
        "unknown authentication scheme `Foo`",
        "#[permission] handlers must be `async fn`",
        "#[permission] handlers cannot take `self`",
        "#[permission] handlers cannot be generic",
        "use `&`, not `&&`",
        "duplicate #[permission] attribute",
    ] {
        assert_eq!(out.matches(message).count(), 1, "{message:?} in {out}");
    }
    // The function is emitted unchanged, without our attributes.
    assert!(out.ends_with(&text(quote!(
        #[get("/x")]
        fn h<T>(&self) -> String {
            String::new()
        }
    ))));
}

#[test]
fn duplicate_own_attribute() {
    let out = expand_fully(
        HandlerAttr::Authentication,
        quote!(Basic),
        quote!(
            #[authentication(Token)]
            async fn h() {}
        ),
    );
    assert!(out.contains("duplicate #[authentication] attribute"));
    assert!(out.ends_with(&text(quote!(
        async fn h() {}
    ))));
}

#[test]
fn wrong_item_kind_is_reported_on_its_head() {
    let out = handler(
        HandlerAttr::Permission,
        quote!(IsAuthenticated),
        quote!(
            #[derive(Debug)]
            pub(crate) struct S {
                x: u8,
            }
        ),
    );
    assert!(out.contains("#[permission] can only be applied to an async fn handler"));
    assert!(out.ends_with(&text(quote!(
        #[derive(Debug)]
        pub(crate) struct S {
            x: u8,
        }
    ))));
}

/// Expands `#[derive(AuthSettings)]`, returning the code or the messages.
fn settings(input: TokenStream) -> Result<String, Vec<String>> {
    let input: syn::DeriveInput = syn::parse2(input).unwrap();
    parse::settings(&input).map(|spec| text(expand::settings(&spec))).map_err(messages)
}

#[test]
fn settings_expansion() {
    let out = settings(quote! {
        #[auth(chain(Basic, Token), permission(IsAdminUser | IsOwner))]
        struct S {
            #[auth(basic)] basic: auth_runtime::BasicConfig,
            #[auth(token)] tok: auth_runtime::TokenConfig,
            other: String,
        }
    })
    .unwrap();
    let expected = quote! {
        #[automatically_derived]
        impl ::auth_runtime::AuthSettings for S {
            fn configure(&self, builder: ::auth_runtime::AuthBuilder) -> ::auth_runtime::AuthBuilder {
                builder
                    .default_chain::<(::auth_runtime::schemes::Basic, ::auth_runtime::schemes::Token,)>()
                    .default_permission({
                        fn __auth_permission() -> impl ::auth_runtime::permissions::Permission {
                            ::auth_runtime::permissions::Or(::auth_runtime::permissions::IsAdminUser, IsOwner)
                        }
                        __auth_permission()
                    })
                    .with_config::<<::auth_runtime::schemes::Basic as ::auth_runtime::Scheme>::Config>(
                        ::core::clone::Clone::clone(&self.basic)
                    )
                    .with_config::<<::auth_runtime::schemes::Token as ::auth_runtime::Scheme>::Config>(
                        ::core::clone::Clone::clone(&self.tok)
                    )
            }
        }
    };
    assert_eq!(out, text(expected));
}

#[test]
fn settings_default_permission_is_is_authenticated() {
    let out = settings(quote! {
        #[auth(chain(Token))]
        struct S<T> { #[auth(token)] token: auth_runtime::TokenConfig, t: T }
    })
    .unwrap();
    let permission = text(quote!(.default_permission(::auth_runtime::permissions::IsAuthenticated)));
    assert!(out.contains(&permission), "{out}");
    assert!(out.contains(&text(quote!(impl<T> ::auth_runtime::AuthSettings for S<T>))));
}

#[test]
fn settings_errors_are_combined() {
    let (names, keys) = valid();
    let errors = settings(quote! {
        #[auth(chain(Basic, Token, Token, Digest), foo, permission())]
        struct S {
            #[auth(basic)] a: auth_runtime::BasicConfig,
            #[auth(basic)] b: auth_runtime::BasicConfig,
            #[auth(bogus, chain)] c: String,
        }
    })
    .unwrap_err();
    assert_eq!(
        errors,
        vec![
            "duplicate authentication scheme `Token`".to_owned(),
            format!("unknown authentication scheme `Digest`; expected one of: {names}"),
            "unknown `#[auth]` option `foo` on the struct; expected one of: chain, permission".to_owned(),
            "expected a permission expression, e.g. #[auth(permission(IsAuthenticated))]".to_owned(),
            "scheme `Basic` is already configured by field `a`".to_owned(),
            format!("unknown settings option `bogus`; expected one of: {keys}"),
            format!("unknown settings option `chain`; expected one of: {keys}; `chain(...)` goes on the struct, not on a field"),
            "scheme `Token` is in the chain but no field configures it; add `#[auth(token)] token: auth_runtime::TokenConfig`".to_owned(),
        ]
    );
}

#[test]
fn settings_requires_chain_and_named_fields() {
    assert_eq!(
        settings(quote!(
            enum E {
                A,
            }
        ))
        .unwrap_err(),
        vec![
            "#[derive(AuthSettings)] can only be applied to a struct with named fields",
            "missing `#[auth(chain(...))]` on `E`: name the default authentication schemes, e.g. \
             #[auth(chain(Basic, Token))]",
        ]
    );
    assert_eq!(
        settings(quote!(
            #[auth(chain())]
            struct S(u8);
        ))
        .unwrap_err(),
        vec![
            "expected at least one scheme, e.g. #[auth(chain(Basic, Token))]",
            "#[derive(AuthSettings)] needs a struct with named fields, not a tuple struct",
        ]
    );
}
