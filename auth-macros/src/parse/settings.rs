//! The `#[auth(..)]` grammar of `#[derive(AuthSettings)]`: on the struct,
//! `chain(..)` and `permission(..)`; on a field, a settings key (`basic`,
//! `throttle`) or `scheme = Path`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Attribute, Data, DeriveInput, Expr, Fields, Path, Token, parenthesized, token};

use super::authentication::scheme_list;
use super::one_of;
use super::permission::permission;
use crate::check;
use crate::ctxt::Ctxt;
use crate::model::{
    CONFIG_KEYS, ConfigKey, ConfigTarget, FieldBinding, ParsedSettings, PermExpr, SCHEMES, STRUCT_OPTIONS, Scheme,
    SchemeRef,
};
use crate::suggest::did_you_mean;

/// The field options of `#[derive(AuthSettings)]`, for messages: the settings
/// keys of all schemes, then of the other sections (`throttle`).
fn field_keys() -> impl Iterator<Item = &'static str> {
    SCHEMES.iter().map(|(_, key)| *key).chain(CONFIG_KEYS.iter().map(|(key, _)| *key))
}

/// One option inside `#[auth(..)]`: `name`, `name(..)` or `name = value`.
struct AuthOption {
    /// The option's name.
    name: Ident,
    /// What follows the name.
    body: OptionBody,
}

/// What follows an option's name.
enum OptionBody {
    /// Nothing: `basic`.
    Flag,
    /// Parenthesised tokens, with the parentheses' span: `chain(Basic, Token)`.
    List(TokenStream, Span),
    /// `= value`, with the whole `= value` for spans.
    Value(TokenStream),
}

/// Parses the options of one `#[auth(..)]` attribute.
fn auth_options(attr: &Attribute) -> syn::Result<Vec<AuthOption>> {
    attr.parse_args_with(|input: ParseStream| {
        let mut options = Vec::new();
        while !input.is_empty() {
            let name = input.call(Ident::parse_any)?;
            let body = if input.peek(token::Paren) {
                let content;
                let paren = parenthesized!(content in input);
                OptionBody::List(content.parse()?, paren.span.join())
            } else if input.peek(Token![=]) {
                let eq: Token![=] = input.parse()?;
                let value: Expr = input.parse()?;
                let mut tokens = eq.into_token_stream();
                value.to_tokens(&mut tokens);
                OptionBody::Value(tokens)
            } else {
                OptionBody::Flag
            };
            options.push(AuthOption { name, body });
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(options)
    })
}

/// Parses the input of `#[derive(AuthSettings)]`, for
/// [`check::settings`](crate::check::settings) to validate.
pub(crate) fn settings(cx: &Ctxt, input: &DeriveInput) -> ParsedSettings {
    let (chain, permission) = struct_options(cx, &input.attrs);
    let bindings = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => {
                let mut bindings = Vec::new();
                for (index, field) in named.named.iter().enumerate() {
                    field_options(index, field, &mut bindings);
                }
                Some(bindings)
            }
            Fields::Unnamed(unnamed) => {
                cx.error_spanned_by(
                    unnamed,
                    "#[derive(AuthSettings)] needs a struct with named fields, not a tuple struct",
                );
                None
            }
            Fields::Unit => {
                cx.error_spanned_by(
                    &input.ident,
                    "#[derive(AuthSettings)] needs a struct with named fields, not a unit struct",
                );
                None
            }
        },
        Data::Enum(data) => {
            let (kw, ident) = (data.enum_token, &input.ident);
            cx.error_spanned_by(
                quote::quote!(#kw #ident),
                "#[derive(AuthSettings)] can only be applied to a struct with named fields",
            );
            None
        }
        Data::Union(data) => {
            let (kw, ident) = (data.union_token, &input.ident);
            cx.error_spanned_by(
                quote::quote!(#kw #ident),
                "#[derive(AuthSettings)] can only be applied to a struct with named fields",
            );
            None
        }
    };
    ParsedSettings { ident: input.ident.clone(), generics: input.generics.clone(), chain, permission, bindings }
}

/// Reads the struct's `#[auth(chain(..), permission(..))]`: the default chain
/// (checked as soon as it is parsed) and the default permission, each if given.
fn struct_options(cx: &Ctxt, attrs: &[Attribute]) -> (Option<Vec<SchemeRef>>, Option<PermExpr>) {
    let mut chain: Option<Vec<SchemeRef>> = None;
    let mut permission_expr: Option<Option<PermExpr>> = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("auth")) {
        let options = match auth_options(attr) {
            Ok(options) => options,
            Err(error) => {
                cx.syn_error(error);
                continue;
            }
        };
        for AuthOption { name, body } in options {
            let key = name.to_string();
            let (tokens, paren) = match (key.as_str(), body) {
                ("chain" | "permission", OptionBody::List(tokens, paren)) => (tokens, paren),
                ("chain", _) => {
                    cx.error_spanned_by(&name, "expected `chain(...)`, e.g. chain(Basic, Token)");
                    continue;
                }
                ("permission", _) => {
                    cx.error_spanned_by(&name, "expected `permission(...)`, e.g. permission(IsAuthenticated)");
                    continue;
                }
                (_, _) => {
                    let hint = if Scheme::by_key(&key).is_some() {
                        format!("; `{key}` goes on the field that holds the scheme's configuration")
                    } else if let Some(section) = ConfigKey::by_key(&key) {
                        format!("; `{key}` goes on the field of type `auth_runtime::{}`", section.ty)
                    } else {
                        did_you_mean(&key, STRUCT_OPTIONS.iter().copied())
                    };
                    cx.error_spanned_by(
                        &name,
                        format!(
                            "unknown `#[auth]` option `{key}` on the struct; expected one of: {}{hint}",
                            one_of(STRUCT_OPTIONS.iter().copied())
                        ),
                    );
                    continue;
                }
            };
            let paren_tokens = quote::quote_spanned!(paren=> ());
            // A repeated option is not parsed: its mistakes would only add noise.
            if key == "chain" {
                if chain.is_some() {
                    cx.error_spanned_by(&name, "duplicate `chain` option; list all the schemes in one `chain(...)`");
                    continue;
                }
                let entries = scheme_list(
                    cx,
                    tokens,
                    paren_tokens,
                    "expected at least one scheme, e.g. #[auth(chain(Basic, Token))]",
                );
                chain = Some(check::scheme_list(cx, entries));
            } else {
                if permission_expr.is_some() {
                    cx.error_spanned_by(&name, "duplicate `permission` option");
                    continue;
                }
                let expr = permission(
                    cx,
                    tokens,
                    paren_tokens,
                    "expected a permission expression, e.g. #[auth(permission(IsAuthenticated))]",
                );
                permission_expr = Some(expr);
            }
        }
    }
    (chain, permission_expr.flatten())
}

/// Reads the `#[auth(..)]` options of field number `index` into `bindings`, in
/// order, each parsed or its syntax error.
fn field_options(index: usize, field: &syn::Field, bindings: &mut Vec<syn::Result<FieldBinding>>) {
    let Some(member) = &field.ident else { return };
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("auth")) {
        let options = match auth_options(attr) {
            Ok(options) => options,
            Err(error) => {
                bindings.push(Err(error));
                continue;
            }
        };
        for AuthOption { name, body } in options {
            let target = field_target(&name, body);
            bindings.push(target.map(|target| FieldBinding {
                field: index,
                member: member.clone(),
                ty: field.ty.clone(),
                name,
                target,
            }));
        }
    }
}

/// What the field option `name` (with `body`) binds its field to.
fn field_target(name: &Ident, body: OptionBody) -> syn::Result<ConfigTarget> {
    let key = name.to_string();
    if key == "scheme" {
        let usage = "expected `scheme = Path`: the type of your own scheme whose `Config` this field \
                     holds, e.g. #[auth(scheme = ApiKey)]";
        let OptionBody::Value(tokens) = body else {
            return Err(syn::Error::new_spanned(name, usage));
        };
        // `tokens` is `= value`.
        let value: TokenStream = tokens.clone().into_iter().skip(1).collect();
        return syn::parse2::<Path>(value)
            .map(ConfigTarget::Custom)
            .map_err(|_| syn::Error::new_spanned(tokens, usage));
    }
    let Some(target) = ConfigTarget::by_key(&key) else {
        let hint = if STRUCT_OPTIONS.contains(&key.as_str()) {
            format!("; `{key}(...)` goes on the struct, not on a field")
        } else {
            did_you_mean(&key, field_keys().chain(["scheme"]))
        };
        return Err(syn::Error::new_spanned(
            name,
            format!(
                "unknown settings option `{key}`; expected one of: {}, or `scheme = Path` for a \
                 scheme of your own{hint}",
                one_of(field_keys())
            ),
        ));
    };
    match body {
        OptionBody::Flag => Ok(target),
        OptionBody::List(tokens, _) | OptionBody::Value(tokens) => {
            Err(syn::Error::new_spanned(tokens, format!("`{key}` takes no arguments: write #[auth({key})]")))
        }
    }
}
