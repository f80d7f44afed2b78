//! The check pass: mistakes of meaning in the parsed [`model`](crate::model),
//! as opposed to the syntax errors that `parse` reports.
//!
//! - scheme lists: a bare name close to a built-in's (`Tokn`), duplicates;
//! - throttle lists: a bare name close to a built-in's (`AnonRat`), duplicates,
//!   more than [`MAX_THROTTLES`];
//! - handlers: a function that cannot be wrapped (not `async`, a method,
//!   generic, with a `where` clause);
//! - settings: a field bound twice, a scheme or section bound by two fields, a
//!   missing `chain(..)`, a built-in scheme of the chain that no field configures.
//!
//! Lists come as [`Entry`]s, each parsed or its syntax error, and are checked
//! in source order, so that every message keeps its place among the syntax
//! errors; `parse` runs the list checks as soon as a list is parsed, for the
//! same reason.

use proc_macro2::TokenTree;
use syn::ItemFn;
use syn::ext::IdentExt;

use crate::ctxt::Ctxt;
use crate::model::{
    BUILTIN_THROTTLES, ConfigField, ConfigTarget, Entry, FieldBinding, HandlerAttr, MAX_THROTTLES, ParsedSettings,
    Scheme, SchemeRef, SettingsSpec, ThrottleExpr, scheme_names,
};
use crate::suggest::closest;

/// Checks the entries of a scheme list and returns the valid schemes, in order.
pub(crate) fn scheme_list(cx: &Ctxt, entries: Vec<Entry<SchemeRef>>) -> Vec<SchemeRef> {
    let mut chain: Vec<SchemeRef> = Vec::new();
    for Entry { tokens, parsed } in entries {
        let scheme = match parsed {
            Ok(scheme) => scheme,
            Err(error) => {
                cx.syn_error(error);
                continue;
            }
        };
        // A bare name that is not a built-in's but close to one is likely a typo;
        // the user's own scheme of that name can be written as a path.
        if let (SchemeRef::Custom(path), [TokenTree::Ident(_)]) =
            (&scheme, tokens.clone().into_iter().collect::<Vec<_>>().as_slice())
            && let Some(ident) = path.get_ident()
        {
            let name = ident.unraw().to_string();
            if let Some(builtin) = closest(&name, scheme_names()) {
                cx.error_spanned_by(
                    ident,
                    format!(
                        "unknown authentication scheme `{name}`; did you mean `{builtin}`? (a \
                         scheme of your own named `{name}`: write its path, e.g. `self::{name}`)"
                    ),
                );
                continue;
            }
        }
        let text = scheme.text();
        if chain.iter().any(|s| s.text() == text) {
            cx.error_spanned_by(&tokens, format!("duplicate authentication scheme `{text}`"));
        } else {
            chain.push(scheme);
        }
    }
    chain
}

/// Checks the entries of a throttle list and returns the valid throttles, in order.
pub(crate) fn throttle_list(cx: &Ctxt, entries: Vec<Entry<ThrottleExpr>>) -> Vec<ThrottleExpr> {
    let mut list = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let text = entry.text();
        if index == MAX_THROTTLES {
            cx.error_spanned_by(
                &entry.tokens,
                format!(
                    "too many throttles: a handler takes at most {MAX_THROTTLES}; a throttle may check \
                     several rates itself"
                ),
            );
        }
        let throttle = match entry.parsed {
            Ok(throttle) => throttle,
            Err(error) => {
                cx.syn_error(error);
                continue;
            }
        };
        if let ThrottleExpr::Custom(path, _) = &throttle
            && let Some(ident) = path.get_ident()
            && let Some(builtin) = closest(&ident.to_string(), BUILTIN_THROTTLES.iter().map(|(n, _)| *n))
        {
            cx.error_spanned_by(
                ident,
                format!(
                    "unknown throttle `{ident}`; did you mean `{builtin}`? (a throttle of your own named \
                     `{ident}`: write its path, e.g. `self::{ident}`)"
                ),
            );
            continue;
        }
        if seen.contains(&text) {
            cx.error_spanned_by(&entry.tokens, format!("duplicate throttle `{text}`"));
        } else {
            seen.push(text);
            list.push(throttle);
        }
    }
    list
}

/// Checks that the function `f` carrying handler attribute `attr` can be
/// wrapped: a free, non-generic `async fn`.
pub(crate) fn handler_fn(cx: &Ctxt, attr: HandlerAttr, f: &ItemFn) {
    let name = attr.name();
    if f.sig.asyncness.is_none() {
        cx.error_spanned_by(f.sig.fn_token, format!("#[{name}] handlers must be `async fn`"));
    }
    if let Some(receiver) = f.sig.receiver() {
        cx.error_spanned_by(
            receiver,
            format!(
                "#[{name}] handlers cannot take `self`; write a free `async fn` and register it \
                 as a route"
            ),
        );
    }
    if !f.sig.generics.params.is_empty() {
        cx.error_spanned_by(&f.sig.generics, format!("#[{name}] handlers cannot be generic"));
    } else if let Some(where_clause) = &f.sig.generics.where_clause {
        cx.error_spanned_by(where_clause, format!("#[{name}] handlers cannot have a `where` clause"));
    }
}

/// Checks the parsed settings and returns what `expand` needs.
pub(crate) fn settings(cx: &Ctxt, parsed: ParsedSettings) -> SettingsSpec {
    let ParsedSettings { ident, generics, chain, permission, bindings } = parsed;
    let configs = bindings.map(|bindings| config_fields(cx, bindings));
    match (&chain, &configs) {
        (None, _) => cx.error_spanned_by(
            &ident,
            format!(
                "missing `#[auth(chain(...))]` on `{ident}`: name the default authentication schemes, \
                 e.g. #[auth(chain(Basic, Token))]"
            ),
        ),
        (Some(schemes), Some(configs)) => {
            for s in schemes {
                // The user's own schemes may go without a field: their `Config::default()`.
                let SchemeRef::Builtin(scheme, ident) = s else { continue };
                if !configs.iter().any(|c| c.target == ConfigTarget::Scheme(*scheme)) {
                    let Scheme { name, key } = *scheme;
                    cx.error_spanned_by(
                        ident,
                        format!(
                            "scheme `{name}` is in the chain but no field configures it; add \
                             `#[auth({key})] {key}: auth_runtime::{name}Config`"
                        ),
                    );
                }
            }
        }
        (Some(_), None) => {}
    }
    SettingsSpec { ident, generics, chain: chain.unwrap_or_default(), permission, configs: configs.unwrap_or_default() }
}

/// Checks the fields' bindings, in source order, and returns the fields that
/// configure something: a field configures one scheme or section, and each is
/// configured by one field.
fn config_fields(cx: &Ctxt, bindings: Vec<syn::Result<FieldBinding>>) -> Vec<ConfigField> {
    let mut configs: Vec<ConfigField> = Vec::new();
    // The field being read and the first option that bound it.
    let mut bound: Option<(usize, syn::Ident)> = None;
    for binding in bindings {
        let FieldBinding { field, member, ty, name, target } = match binding {
            Ok(binding) => binding,
            Err(error) => {
                cx.syn_error(error);
                continue;
            }
        };
        if let Some((_, previous)) = bound.as_ref().filter(|(f, _)| *f == field) {
            cx.error_spanned_by(
                &name,
                format!(
                    "field `{member}` already configures `{previous}`; a field configures one \
                     scheme or section"
                ),
            );
            continue;
        }
        bound = Some((field, name.clone()));
        if let Some(other) = configs.iter().find(|c| c.target == target) {
            let what = match &target {
                ConfigTarget::Scheme(scheme) => format!("scheme `{}`", scheme.name),
                ConfigTarget::Custom(path) => format!("scheme `{}`", SchemeRef::Custom(path.clone()).text()),
                ConfigTarget::Section(section) => format!("`{}` (`auth_runtime::{}`)", section.key, section.ty),
            };
            cx.error_spanned_by(&name, format!("{what} is already configured by field `{}`", other.member));
            continue;
        }
        configs.push(ConfigField { target, member, ty });
    }
    configs
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;
    use crate::parse;

    /// The messages of `cx`'s errors.
    fn messages(cx: Ctxt) -> Vec<String> {
        cx.check().err().into_iter().flatten().map(|e| e.to_string()).collect()
    }

    #[test]
    fn list_errors_keep_source_order() {
        let cx = Ctxt::new();
        let entries = parse::authentication::scheme_list(&cx, quote!("x", Tokn, Basic, Basic), quote!(), "empty");
        let chain = scheme_list(&cx, entries);
        assert_eq!(chain.len(), 1);
        let errors = messages(cx);
        assert!(errors[0].starts_with("expected a scheme, found a literal"), "{errors:?}");
        assert!(errors[1].starts_with("unknown authentication scheme `Tokn`"), "{errors:?}");
        assert_eq!(errors[2], "duplicate authentication scheme `Basic`");

        let cx = Ctxt::new();
        let entries = parse::throttle::throttle_list(&cx, quote!(AnonRat, "1/s", UserRate, UserRate));
        assert_eq!(throttle_list(&cx, entries).len(), 1);
        let errors = messages(cx);
        assert!(errors[0].starts_with("unknown throttle `AnonRat`; did you mean `AnonRate`?"), "{errors:?}");
        assert!(errors[1].starts_with("expected a throttle, found the literal"), "{errors:?}");
        assert_eq!(errors[2], "duplicate throttle `UserRate`");
    }

    #[test]
    fn a_field_configures_one_thing() {
        let cx = Ctxt::new();
        let input: syn::DeriveInput = syn::parse2(quote! {
            #[auth(chain(Basic))]
            struct S {
                #[auth(basic, token)] a: auth_runtime::BasicConfig,
                #[auth(token)] b: auth_runtime::TokenConfig,
            }
        })
        .unwrap();
        let spec = settings(&cx, parse::settings::settings(&cx, &input));
        assert_eq!(spec.configs.iter().map(|c| c.member.to_string()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(messages(cx), ["field `a` already configures `basic`; a field configures one scheme or section"]);
    }
}
