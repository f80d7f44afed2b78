//! Unit tests of parsing, checking and expansion (the compile-time behaviour as seen by
//! users is tested with trybuild in the `tests` crate).

use proc_macro2::TokenStream;
use quote::quote;

use crate::ctxt::Ctxt;
use crate::model::{HandlerAttr, PermExpr};
use crate::{check, expand, parse};

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
    let cx = Ctxt::new();
    let expr = parse::permission::permission(&cx, tokens, TokenStream::new(), "empty");
    match (expr, cx.check()) {
        (Some(expr), Ok(())) => Ok(text(expand::permission(&expr))),
        (_, Err(error)) => Err(messages(error)),
        (None, Ok(())) => panic!("no expression and no error"),
    }
}

/// Parses a scheme list, returning the names or the messages.
fn schemes(tokens: TokenStream) -> Result<Vec<String>, Vec<String>> {
    let cx = Ctxt::new();
    let list = check::scheme_list(&cx, parse::authentication::scheme_list(&cx, tokens, TokenStream::new(), "empty"));
    cx.check().map_err(messages)?;
    Ok(list.iter().map(crate::model::SchemeRef::text).collect())
}

#[test]
fn scheme_list_accepts_names_and_trailing_comma() {
    assert_eq!(schemes(quote!(Basic, Token)), Ok(vec!["Basic".to_owned(), "Token".to_owned()]));
    assert_eq!(schemes(quote!(Token,)), Ok(vec!["Token".to_owned()]));
}

#[test]
fn scheme_list_takes_the_users_own_schemes_in_any_order() {
    assert_eq!(
        schemes(quote!(ApiKey, Token, crate::auth::Signed, auth_runtime::schemes::Jwt)),
        Ok(["ApiKey", "Token", "crate::auth::Signed", "auth_runtime::schemes::Jwt"].map(str::to_owned).to_vec())
    );
    let expanded = text(expand::chain_type(&{
        let cx = Ctxt::new();
        let list =
            check::scheme_list(&cx, parse::authentication::scheme_list(&cx, quote!(ApiKey, Token), quote!(), "empty"));
        cx.check().unwrap();
        list
    }));
    assert_eq!(
        expanded,
        "(< ApiKey as :: auth_runtime :: __private :: IsScheme > :: Scheme , :: auth_runtime :: schemes :: Token ,)"
    );
    assert_eq!(schemes(quote!(ApiKey, ApiKey)), Err(vec!["duplicate authentication scheme `ApiKey`".to_owned()]));
}

/// The valid scheme names and field options, as the messages list them (from
/// the tables: the schemes' settings keys, then the other sections' keys).
fn valid() -> (String, String) {
    let names = crate::model::SCHEMES.iter().map(|s| s.0).collect::<Vec<_>>().join(", ");
    let keys = crate::model::SCHEMES
        .iter()
        .map(|s| s.1)
        .chain(crate::model::CONFIG_KEYS.iter().map(|c| c.0))
        .collect::<Vec<_>>()
        .join(", ");
    (names, keys)
}

#[test]
fn scheme_list_reports_every_mistake() {
    let (names, _) = valid();
    let errors = schemes(quote!(Tokn, Basic, Basic, Basic::new(), "Token", basic)).unwrap_err();
    assert_eq!(
        errors,
        vec![
            "unknown authentication scheme `Tokn`; did you mean `Token`? (a scheme of your own named `Tokn`: \
             write its path, e.g. `self::Tokn`)"
                .to_owned(),
            "duplicate authentication scheme `Basic`".to_owned(),
            "expected a scheme type, not an expression: a built-in name or a type's path; write the bare name `Basic`"
                .to_owned(),
            format!(
                "expected a scheme, found a literal; a scheme is one of {names} or the path of your own type \
                 implementing `auth_runtime::Scheme`; write the bare name `Token`, without quotes"
            ),
            "unknown authentication scheme `basic`; did you mean `Basic`? (a scheme of your own named `basic`: \
             write its path, e.g. `self::basic`)"
                .to_owned(),
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
    let cx = Ctxt::new();
    let expr = parse::permission::permission(&cx, quote!(IsAdminUser(1)), quote!(), "empty");
    cx.check().unwrap();
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
            __auth_req: ::auth_runtime::__private::actix_web::HttpRequest,
            __auth_payload: ::auth_runtime::__private::actix_web::web::Payload,
        ) -> ::auth_runtime::__private::actix_web::HttpResponse {
            async fn __auth_inner(body: String) -> String { body }
            ::auth_runtime::pipeline::run_throttled::<(::auth_runtime::schemes::Basic,), _, _, _, _>(
                __auth_req,
                __auth_payload,
                ::auth_runtime::permissions::DefaultPermission,
                ::auth_runtime::throttling::DefaultThrottles,
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
        ::auth_runtime::pipeline::run_throttled::<(::auth_runtime::schemes::Token, ::auth_runtime::schemes::Basic,), _, _, _, _>(
            __auth_req,
            __auth_payload,
            {
                fn __auth_permission() -> impl ::auth_runtime::permissions::Permission {
                    ::auth_runtime::permissions::Not(::auth_runtime::permissions::IsAdminUser)
                }
                __auth_permission()
            },
            ::auth_runtime::throttling::DefaultThrottles,
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
    let call = text(quote!(run_throttled::<::auth_runtime::__private::DefaultChain, _, _, _, _>));
    assert!(out.contains(&call), "{out}");
}

#[test]
fn errors_are_combined_and_the_item_is_kept() {
    let out = expand_fully(
        HandlerAttr::Authentication,
        quote!(Tokn),
        quote! {
            #[permission(A && B)]
            #[permission(C)]
            #[get("/x")]
            fn h<T>(&self) -> String { String::new() }
        },
    );
    for message in [
        "unknown authentication scheme `Tokn`",
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
    crate::settings(&input).map(|spec| text(expand::settings(&spec))).map_err(messages)
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
                    .with_config::< <::auth_runtime::schemes::Basic as ::auth_runtime::Scheme>::Config>(
                        ::core::clone::Clone::clone(&self.basic)
                    )
                    .with_config::< <::auth_runtime::schemes::Token as ::auth_runtime::Scheme>::Config>(
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
    let (_, keys) = valid();
    let errors = settings(quote! {
        #[auth(chain(Basic, Token, Token, Sesion), foo, permission())]
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
            "unknown authentication scheme `Sesion`; did you mean `Session`? (a scheme of your own named \
             `Sesion`: write its path, e.g. `self::Sesion`)"
                .to_owned(),
            "unknown `#[auth]` option `foo` on the struct; expected one of: chain, permission".to_owned(),
            "expected a permission expression, e.g. #[auth(permission(IsAuthenticated))]".to_owned(),
            "scheme `Basic` is already configured by field `a`".to_owned(),
            format!("unknown settings option `bogus`; expected one of: {keys}, or `scheme = Path` for a scheme of your own"),
            format!(
                "unknown settings option `chain`; expected one of: {keys}, or `scheme = Path` for a scheme of your \
                 own; `chain(...)` goes on the struct, not on a field"
            ),
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

/// Parses a throttle list, returning the expanded value or the messages.
fn throttles(tokens: TokenStream) -> Result<String, Vec<String>> {
    let cx = Ctxt::new();
    let list = check::throttle_list(&cx, parse::throttle::throttle_list(&cx, tokens));
    cx.check().map_err(messages)?;
    Ok(text(expand::throttles(Some(&list))))
}

#[test]
fn throttle_builtins_custom_and_empty() {
    assert_eq!(
        throttles(quote!(AnonRate, UserRate, Scoped("up-loads_2"),)),
        Ok(text(quote!((
            ::auth_runtime::throttling::AnonRate,
            ::auth_runtime::throttling::UserRate,
            ::auth_runtime::throttling::Scoped("up-loads_2"),
        ))))
    );
    assert_eq!(
        throttles(quote!(crate::limits::Burst(3))),
        Ok(text(quote!(({
            fn __auth_throttle() -> impl ::auth_runtime::throttling::Throttle {
                crate::limits::Burst(3)
            }
            __auth_throttle()
        },))))
    );
    // Only the bare names are built-ins; a path is the user's own type.
    assert!(throttles(quote!(other::AnonRate)).unwrap().contains(&text(quote!({ other::AnonRate }))));
    assert_eq!(throttles(quote!()), Ok(text(quote!(()))));
    assert_eq!(text(expand::throttles(None)), text(quote!(::auth_runtime::throttling::DefaultThrottles)));
}

#[test]
fn throttle_errors() {
    let err = |tokens| throttles(tokens).unwrap_err();
    let literal = err(quote!("10/min"));
    assert_eq!(literal.len(), 1);
    assert!(literal[0].starts_with("expected a throttle, found the literal `\"10/min\"`"), "{literal:?}");
    assert!(literal[0].contains("settings' `throttle` section") && literal[0].contains("`Scoped(\"name\")`"));
    for scoped in [quote!(Scoped), quote!(Scoped()), quote!(Scoped(1)), quote!(Scoped("a", "b")), quote!(Scoped(NAME))]
    {
        let e = err(scoped.clone());
        assert_eq!(e.len(), 1, "{scoped}");
        assert!(e[0].starts_with("`Scoped` takes the scope's name as one string literal"), "{e:?}");
    }
    for name in ["", "Uploads", "a b", "ü", "a.b"] {
        let e = err(quote!(Scoped(#name)));
        assert!(e[0].starts_with(&format!("invalid scope name {name:?}")), "{e:?}");
    }
    assert_eq!(
        err(quote!(AnonRate(5), UserRate("1/s"))),
        vec![
            "`AnonRate` takes no arguments: its rate is the settings' `throttle.anon`",
            "`UserRate` takes no arguments: its rate is the settings' `throttle.user`",
        ]
    );
    assert_eq!(
        err(quote!(AnonRate, Scoped("a"), AnonRate, Scoped("a"))),
        vec!["duplicate throttle `AnonRate`", "duplicate throttle `Scoped(\"a\")`"]
    );
    assert_eq!(err(quote!(a::My(1), Scoped("b"), a::My(1))), vec!["duplicate throttle `a::My(1)`"]);
    let too_many = err(quote!(A, B, C, D, E, F));
    assert_eq!(too_many.len(), 1, "reported once, on the fifth: {too_many:?}");
    assert!(too_many[0].starts_with("too many throttles: a handler takes at most 4"));
    assert!(err(quote!(AnonRate | UserRate))[0].starts_with("throttles are not combined with `|`"));
    assert!(err(quote!(AnonRate && UserRate))[0].starts_with("throttles are not combined with `&&`"));
    assert!(err(quote!(!AnonRate))[0].starts_with("a throttle cannot be negated"));
    assert!(err(quote!(AnonRate UserRate))[0].starts_with("unexpected `UserRate` after a throttle"));
    assert!(err(quote!([AnonRate]))[0].starts_with("expected a throttle, found `[..]`"));
    assert_eq!(err(quote!(AnonRate,,UserRate)), vec!["expected a throttle before `,`"]);
    // Every entry is checked.
    assert_eq!(err(quote!("x", Scoped, AnonRate | UserRate)).len(), 3);
}

/// The expected `run_throttled` call of a wrapper, from its parts.
fn run_call(chain: TokenStream, permission: TokenStream, throttles: TokenStream) -> String {
    text(quote! {
        ::auth_runtime::pipeline::run_throttled::<#chain, _, _, _, _>(
            __auth_req,
            __auth_payload,
            #permission,
            #throttles,
            __auth_inner
        ).await
    })
}

#[test]
fn throttle_alone_uses_the_default_chain_and_permission() {
    let out = handler(
        HandlerAttr::Throttle,
        quote!(Scoped("burst")),
        quote!(
            #[get("/")]
            async fn h() {}
        ),
    );
    let expected = quote! {
        #[get("/")]
        async fn h(
            __auth_req: ::auth_runtime::__private::actix_web::HttpRequest,
            __auth_payload: ::auth_runtime::__private::actix_web::web::Payload,
        ) -> ::auth_runtime::__private::actix_web::HttpResponse {
            async fn __auth_inner() {}
            ::auth_runtime::pipeline::run_throttled::<::auth_runtime::__private::DefaultChain, _, _, _, _>(
                __auth_req,
                __auth_payload,
                ::auth_runtime::permissions::DefaultPermission,
                (::auth_runtime::throttling::Scoped("burst"),),
                __auth_inner
            ).await
        }
    };
    assert_eq!(out, text(expected));
    let empty = handler(
        HandlerAttr::Throttle,
        quote!(),
        quote!(
            async fn h() {}
        ),
    );
    let call = run_call(
        quote!(::auth_runtime::__private::DefaultChain),
        quote!(::auth_runtime::permissions::DefaultPermission),
        quote!(()),
    );
    assert!(empty.contains(&call), "{empty}");
}

#[test]
fn three_siblings_make_one_wrapper_in_any_order() {
    let attrs = [
        (HandlerAttr::Authentication, quote!(Basic)),
        (HandlerAttr::Permission, quote!(AllowAny)),
        (HandlerAttr::Throttle, quote!(UserRate, Scoped("x"))),
    ];
    let call = run_call(
        quote!((::auth_runtime::schemes::Basic,)),
        quote!({
            fn __auth_permission() -> impl ::auth_runtime::permissions::Permission {
                ::auth_runtime::permissions::AllowAny
            }
            __auth_permission()
        }),
        quote!((::auth_runtime::throttling::UserRate, ::auth_runtime::throttling::Scoped("x"),)),
    );
    let orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    let mut outputs = Vec::new();
    for order in orders {
        let (first, first_args) = attrs[order[0]].clone();
        let rest = order[1..].iter().map(|&i| {
            let name = syn::Ident::new(attrs[i].0.name(), proc_macro2::Span::call_site());
            let args = &attrs[i].1;
            quote!(#[#name(#args)])
        });
        let out = expand_fully(
            first,
            first_args,
            quote! {
                #(#rest)*
                #[get("/")]
                async fn h() {}
            },
        );
        assert!(out.contains(&call), "{order:?}: {out}");
        assert_eq!(out.matches("__auth_req :").count(), 1, "{out}");
        assert!(!out.contains("compile_error"), "{out}");
        outputs.push(out);
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn throttle_hands_over_and_is_handed_over() {
    // The first attribute hands its arguments to the next sibling, which hands
    // both to the last.
    let out = handler(
        HandlerAttr::Throttle,
        quote!(AnonRate),
        quote!(
            #[permission(AllowAny)]
            #[authentication(Basic)]
            async fn h() {}
        ),
    );
    assert_eq!(
        out,
        text(quote!(
            #[permission(@throttle(AnonRate) AllowAny)]
            #[authentication(Basic)]
            async fn h() {}
        ))
    );
    let out = handler(
        HandlerAttr::Permission,
        quote!(@throttle(AnonRate) AllowAny),
        quote!(
            #[authentication(Basic)]
            async fn h() {}
        ),
    );
    assert_eq!(
        out,
        text(quote!(
            #[authentication(@throttle(AnonRate) @permission(AllowAny) Basic)]
            async fn h() {}
        ))
    );
}

#[test]
fn throttle_errors_with_siblings() {
    let out = expand_fully(
        HandlerAttr::Throttle,
        quote!("10/min"),
        quote!(
            #[authentication(Basic)]
            #[throttle(AnonRate)]
            #[permission(IsAuthenticated)]
            async fn h() {}
        ),
    );
    for message in ["expected a throttle, found the literal", "duplicate #[throttle] attribute"] {
        assert_eq!(out.matches(message).count(), 1, "{message:?} in {out}");
    }
    // The wrong throttle is left out, the other siblings still apply: no second error.
    assert!(out.contains("compile_error") && out.contains("run_throttled"), "{out}");
    let out = expand_fully(
        HandlerAttr::Authentication,
        quote!(Basic),
        quote!(
            #[throttle()]
            #[permission(IsAuthenticated)]
            #[throttle(UserRate)]
            async fn h() {}
        ),
    );
    assert_eq!(out.matches("duplicate #[throttle] attribute").count(), 1, "{out}");
}

#[test]
fn settings_binds_the_throttle_section() {
    let out = settings(quote! {
        #[auth(chain(Basic))]
        struct S {
            #[auth(basic)] basic: auth_runtime::BasicConfig,
            #[auth(throttle)] limits: auth_runtime::ThrottleConfig,
        }
    })
    .unwrap();
    let expected = text(quote!(
        .with_config::<::auth_runtime::ThrottleConfig>(::core::clone::Clone::clone(&self.limits))
    ));
    assert!(out.contains(&expected), "{out}");

    let (_, keys) = valid();
    assert!(keys.contains("throttle") && keys.ends_with("cache, hosts, endpoints"), "{keys}");
    let errors = settings(quote! {
        #[auth(chain(Basic), throttle)]
        struct S {
            #[auth(basic)] basic: auth_runtime::BasicConfig,
            #[auth(throttle)] a: auth_runtime::ThrottleConfig,
            #[auth(throttle)] b: auth_runtime::ThrottleConfig,
            #[auth(throttle(AnonRate))] c: auth_runtime::ThrottleConfig,
            #[auth(Throttle)] d: auth_runtime::ThrottleConfig,
        }
    })
    .unwrap_err();
    assert_eq!(
        errors,
        vec![
            "unknown `#[auth]` option `throttle` on the struct; expected one of: chain, permission; `throttle` goes \
             on the field of type `auth_runtime::ThrottleConfig`"
                .to_owned(),
            "`throttle` (`auth_runtime::ThrottleConfig`) is already configured by field `a`".to_owned(),
            "`throttle` takes no arguments: write #[auth(throttle)]".to_owned(),
            format!(
                "unknown settings option `Throttle`; expected one of: {keys}, or `scheme = Path` for a scheme of \
                 your own; did you mean `throttle`?"
            ),
        ]
    );
}
