//! Parsing of the macros' input into the [`model`](crate::model): one file per
//! attribute grammar, and the list-parsing helpers they share.
//!
//! - [`authentication`]: scheme lists, `#[authentication(..)]` and `#[auth(chain(..))]`;
//! - [`permission`]: permission expressions, `#[permission(..)]` and `#[auth(permission(..))]`;
//! - [`throttle`]: throttle lists, `#[throttle(..)]`;
//! - [`handler`]: the handler item and the hand-over between sibling attributes;
//! - [`settings`]: the `#[auth(..)]` options of `#[derive(AuthSettings)]`.
//!
//! Every function here reports as many mistakes as it can find in a
//! [`Ctxt`](crate::ctxt::Ctxt), so the user sees all of them in one compilation.
//! Mistakes of meaning rather than syntax (duplicates, unknown names) are left to
//! the [`check`](crate::check) pass, which `handler` and `settings` run on each
//! list as soon as it is parsed, so that all messages keep source order.

pub(crate) mod authentication;
pub(crate) mod handler;
pub(crate) mod permission;
pub(crate) mod settings;
pub(crate) mod throttle;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use syn::Token;
use syn::parse::ParseStream;

use crate::ctxt::Ctxt;

/// `Basic, Token` as English: "Basic, Token".
pub(crate) fn one_of<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

/// The entries of a comma-separated list, split at its top-level commas.
pub(crate) struct CommaList {
    /// Each entry's tokens, in order; a trailing comma adds no entry.
    pub entries: Vec<TokenStream>,
    /// Whether a comma with no entry before it was found (and reported).
    pub stray_comma: bool,
}

/// Splits `tokens` at its top-level commas. A comma with nothing before it is
/// reported as "expected WHAT before `,`" (`what` is e.g. "a throttle").
pub(crate) fn comma_list(cx: &Ctxt, tokens: TokenStream, what: &str) -> CommaList {
    let mut entries = Vec::new();
    let mut current = TokenStream::new();
    let mut stray_comma = false;
    for tt in tokens {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if current.is_empty() {
                    stray_comma = true;
                    cx.error_spanned_by(&tt, format!("expected {what} before `,`"));
                } else {
                    entries.push(std::mem::take(&mut current));
                }
            }
            _ => current.extend([tt]),
        }
    }
    if !current.is_empty() {
        entries.push(current);
    }
    CommaList { entries, stray_comma }
}

/// Whether the input starts with a path: an identifier, `::`, `crate`, `self`,
/// `super` or `Self`.
pub(crate) fn starts_path(input: ParseStream) -> bool {
    input.peek(syn::Ident)
        || input.peek(Token![::])
        || input.peek(Token![crate])
        || input.peek(Token![self])
        || input.peek(Token![super])
        || input.peek(Token![Self])
}

/// Takes the next token (a run of joint punctuation counts as one, e.g. `==`)
/// and returns it with a short text for messages.
pub(crate) fn next_token(input: ParseStream) -> syn::Result<(TokenStream, String)> {
    input.step(|cursor| {
        let mut rest = *cursor;
        let mut tokens = TokenStream::new();
        let mut text = String::new();
        while let Some((tt, next)) = rest.token_tree() {
            let joint = matches!(&tt, TokenTree::Punct(p) if p.spacing() == Spacing::Joint);
            text.push_str(&match &tt {
                TokenTree::Group(g) => match g.delimiter() {
                    Delimiter::Parenthesis => "(..)".to_owned(),
                    Delimiter::Bracket => "[..]".to_owned(),
                    Delimiter::Brace => "{..}".to_owned(),
                    Delimiter::None => g.stream().to_string(),
                },
                other => other.to_string(),
            });
            tokens.extend([tt]);
            rest = next;
            if !joint || !matches!(rest.token_tree(), Some((TokenTree::Punct(_), _))) {
                break;
            }
        }
        Ok(((tokens, text), rest))
    })
}
