//! The throttle list grammar: the inside of `#[throttle(..)]`, e.g.
//! `AnonRate, Scoped("uploads"), PerTenant`, with the arguments of the built-ins.

use proc_macro2::{Delimiter, Group, Ident, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, Path, Token, token};

use super::{comma_list, next_token, starts_path};
use crate::ctxt::Ctxt;
use crate::model::{BUILTIN_THROTTLES, Entry, ThrottleExpr};

/// What a throttle is, for messages.
const THROTTLE_IS: &str = "a throttle is `AnonRate`, `UserRate`, `Scoped(\"name\")` or a value of your own type \
                           implementing `auth_runtime::throttling::Throttle`";

/// Where rates are set, for messages.
const RATES_LIVE: &str = "rates are not written on the handler: they live in the settings' `throttle` section \
                          (`anon`, `user`, `scopes`), and a scope is named with `Scoped(\"name\")`";

/// Parses a comma-separated list of throttles into its entries, for
/// [`check::throttle_list`](crate::check::throttle_list) to validate:
/// built-ins by bare name (`AnonRate`, `UserRate`, `Scoped("name")`), or any
/// other path or call, a value of the user's own `Throttle` type.
///
/// An empty list is valid: no throttles. A malformed entry keeps its error in
/// its [`Entry`].
pub(crate) fn throttle_list(cx: &Ctxt, tokens: TokenStream) -> Vec<Entry<ThrottleExpr>> {
    let list = comma_list(cx, tokens, "a throttle");
    list.entries.into_iter().map(|tokens| Entry { parsed: throttle.parse2(tokens.clone()), tokens }).collect()
}

/// Whether `text` is an operator that users may try to combine throttles with.
fn is_operator(text: &str) -> bool {
    matches!(text, "&" | "|" | "&&" | "||" | "!" | "+")
}

/// The error for an operator in a throttle list.
fn operator_error(tokens: TokenStream, text: &str) -> syn::Error {
    let message = if text == "!" {
        "a throttle cannot be negated with `!`; list only the throttles that apply, or write \
         #[throttle()] for none"
            .to_owned()
    } else {
        format!(
            "throttles are not combined with `{text}`: list them separated by `,`, every one applies, \
             e.g. #[throttle(AnonRate, UserRate)]"
        )
    };
    syn::Error::new_spanned(tokens, message)
}

/// One throttle: `atom := path | path '(' args ')'`.
fn throttle(input: ParseStream) -> syn::Result<ThrottleExpr> {
    if input.peek(Lit) {
        let lit: Lit = input.parse()?;
        let text = lit.to_token_stream().to_string();
        return Err(syn::Error::new_spanned(
            lit,
            format!("expected a throttle, found the literal `{text}`; {RATES_LIVE}"),
        ));
    }
    if !starts_path(input) {
        let (tokens, text) = next_token(input)?;
        if is_operator(&text) {
            return Err(operator_error(tokens, &text));
        }
        return Err(syn::Error::new_spanned(tokens, format!("expected a throttle, found `{text}`; {THROTTLE_IS}")));
    }
    let path: Path = input.parse()?;
    let args: Option<Group> = if input.peek(token::Paren) { Some(input.parse()?) } else { None };
    if !input.is_empty() {
        let (tokens, text) = next_token(input)?;
        if is_operator(&text) {
            return Err(operator_error(tokens, &text));
        }
        return Err(syn::Error::new_spanned(
            tokens,
            format!("unexpected `{text}` after a throttle; separate throttles with `,`"),
        ));
    }

    let Some((ident, rate)) = path.get_ident().and_then(|ident| {
        let name = ident.to_string();
        BUILTIN_THROTTLES.iter().find(|(n, _)| *n == name).map(|&(_, rate)| (ident.clone(), rate))
    }) else {
        return Ok(ThrottleExpr::Custom(path, args));
    };
    match (rate, args) {
        (Some(_), None) => Ok(ThrottleExpr::Builtin(ident, None)),
        (Some(rate), Some(args)) => Err(syn::Error::new_spanned(
            args,
            format!("`{ident}` takes no arguments: its rate is the settings' `throttle.{rate}`"),
        )),
        (None, args) => scoped(ident, args),
    }
}

/// Checks the argument of `Scoped`: exactly one string literal, a valid scope name.
fn scoped(ident: Ident, args: Option<Group>) -> syn::Result<ThrottleExpr> {
    let usage = "`Scoped` takes the scope's name as one string literal, e.g. `Scoped(\"uploads\")`; the \
                 scope's rate is set in the settings' `throttle.scopes`";
    let Some(group) = args else {
        return Err(syn::Error::new_spanned(ident, usage));
    };
    let whole = quote::quote!(#ident #group);
    let parsed = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(group.stream());
    let lit = match parsed.as_ref().map(|p| p.iter().collect::<Vec<_>>()).as_deref() {
        Ok([Expr::Lit(syn::ExprLit { lit: Lit::Str(lit), attrs })]) if attrs.is_empty() => lit.clone(),
        Ok([other]) => return Err(syn::Error::new_spanned(other, usage)),
        _ => return Err(syn::Error::new_spanned(whole, usage)),
    };
    let name = lit.value();
    let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
    if name.is_empty() || !name.chars().all(valid) {
        return Err(syn::Error::new_spanned(
            lit,
            format!(
                "invalid scope name {name:?}: a scope name is made of lowercase letters, digits, `_` and `-` \
                 (it is a key of the settings' `throttle.scopes`)"
            ),
        ));
    }
    let mut args = Group::new(Delimiter::Parenthesis, lit.into_token_stream());
    args.set_span(group.span());
    Ok(ThrottleExpr::Builtin(ident, Some(TokenStream::from(TokenTree::Group(args)))))
}
