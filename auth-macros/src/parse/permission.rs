//! The permission expression grammar: the inside of `#[permission(..)]` and of
//! `#[auth(permission(..))]`, e.g. `IsAuthenticated & (IsOwner | !HasScope("x"))`.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, Path, Token, parenthesized, token};

use super::{next_token, starts_path};
use crate::ctxt::Ctxt;
use crate::model::{BUILTIN_PERMISSIONS, PermExpr};
use crate::suggest::closest;

/// What a permission is, for messages.
const PERMISSION_IS: &str = "a permission is a type such as `IsAuthenticated` or a call such as `HasScope(\"write\")`";

/// Parses a permission expression:
///
/// ```text
/// expr  := or
/// or    := and ('|' and)*
/// and   := unary ('&' unary)*
/// unary := '!' unary | '(' expr ')' | atom
/// atom  := path | path '(' args ')'
/// ```
///
/// An empty expression is reported on `empty_at` with `empty_message`. Returns
/// `None` if any error was found (all are in `cx`).
///
/// A bare name close to a built-in (`IsAdmin`) is reported here, not by the
/// check pass: it stops the parse where it is found, as any syntax error does.
pub(crate) fn permission(
    cx: &Ctxt,
    tokens: TokenStream,
    empty_at: impl ToTokens,
    empty_message: &str,
) -> Option<PermExpr> {
    if tokens.is_empty() {
        cx.error_spanned_by(empty_at, empty_message);
        return None;
    }
    let local = Ctxt::new();
    let parser = |input: ParseStream| {
        let expr = parse_or(input, &local)?;
        if !input.is_empty() {
            return Err(trailing(input));
        }
        Ok(expr)
    };
    let result = parser.parse2(tokens);
    let ok = !local.has_errors();
    if let Err(error) = local.check() {
        cx.syn_error(error);
    }
    match result {
        Ok(expr) if ok => Some(expr),
        Ok(_) => None,
        Err(error) => {
            cx.syn_error(error);
            None
        }
    }
}

/// `or := and ('|' and)*`
fn parse_or(input: ParseStream, cx: &Ctxt) -> syn::Result<PermExpr> {
    let mut lhs = parse_and(input, cx)?;
    loop {
        let op: TokenStream = if input.peek(Token![||]) {
            let op: Token![||] = input.parse()?;
            cx.error_spanned_by(op, "use `|`, not `||`, to allow either permission");
            op.into_token_stream()
        } else if input.peek(Token![|]) {
            input.parse::<Token![|]>()?.into_token_stream()
        } else {
            return Ok(lhs);
        };
        operand_follows(input, &op, "|")?;
        let rhs = parse_and(input, cx)?;
        lhs = PermExpr::Or(Box::new(lhs), Box::new(rhs));
    }
}

/// `and := unary ('&' unary)*`
fn parse_and(input: ParseStream, cx: &Ctxt) -> syn::Result<PermExpr> {
    let mut lhs = parse_unary(input, cx)?;
    loop {
        let op: TokenStream = if input.peek(Token![&&]) {
            let op: Token![&&] = input.parse()?;
            cx.error_spanned_by(op, "use `&`, not `&&`, to require both permissions");
            op.into_token_stream()
        } else if input.peek(Token![&]) {
            input.parse::<Token![&]>()?.into_token_stream()
        } else {
            return Ok(lhs);
        };
        operand_follows(input, &op, "&")?;
        let rhs = parse_unary(input, cx)?;
        lhs = PermExpr::And(Box::new(lhs), Box::new(rhs));
    }
}

/// `unary := '!' unary | '(' expr ')' | atom`
fn parse_unary(input: ParseStream, cx: &Ctxt) -> syn::Result<PermExpr> {
    if input.peek(Token![!]) {
        let bang: Token![!] = input.parse()?;
        operand_follows(input, &bang, "!")?;
        let operand = parse_unary(input, cx)?;
        return Ok(PermExpr::Not(bang.spans[0], Box::new(operand)));
    }
    if input.peek(token::Paren) {
        let content;
        let paren = parenthesized!(content in input);
        if content.is_empty() {
            return Err(syn::Error::new(paren.span.join(), "expected a permission inside the parentheses"));
        }
        let expr = parse_or(&content, cx)?;
        if !content.is_empty() {
            return Err(trailing(&content));
        }
        return Ok(expr);
    }
    parse_atom(input)
}

/// `atom := path | path '(' args ')'`
fn parse_atom(input: ParseStream) -> syn::Result<PermExpr> {
    if input.peek(Lit) {
        let lit: Lit = input.parse()?;
        let text = lit.to_token_stream().to_string();
        return Err(syn::Error::new_spanned(
            lit,
            format!("expected a permission, found the literal `{text}`; {PERMISSION_IS}"),
        ));
    }
    if !starts_path(input) {
        let (tokens, text) = next_token(input)?;
        return Err(syn::Error::new_spanned(tokens, format!("expected a permission, found `{text}`; {PERMISSION_IS}")));
    }
    let path: Path = input.parse()?;
    let args = if input.peek(token::Paren) {
        let content;
        let paren = parenthesized!(content in input);
        let args = Punctuated::<Expr, Token![,]>::parse_terminated(&content)?;
        let mut tokens = TokenStream::new();
        paren.surround(&mut tokens, |inner| args.to_tokens(inner));
        Some(tokens)
    } else {
        None
    };
    if let Some(ident) = path.get_ident() {
        let name = ident.to_string();
        if BUILTIN_PERMISSIONS.contains(&name.as_str()) {
            return Ok(PermExpr::Builtin(ident.clone(), args));
        }
        if let Some(builtin) = closest(&name, BUILTIN_PERMISSIONS.iter().copied()) {
            return Err(syn::Error::new_spanned(
                ident,
                format!(
                    "unknown permission `{name}`; did you mean `{builtin}`? (a permission of your own \
                     named `{name}`: write its path, e.g. `self::{name}`)"
                ),
            ));
        }
    }
    let mut tokens = path.into_token_stream();
    tokens.extend(args);
    Ok(PermExpr::Custom(tokens))
}

/// Errors unless an operand follows the operator `op` (written `text`).
fn operand_follows(input: ParseStream, op: &dyn ToTokens, text: &str) -> syn::Result<()> {
    if input.is_empty() {
        Err(syn::Error::new_spanned(op.to_token_stream(), format!("expected a permission after `{text}`")))
    } else {
        Ok(())
    }
}

/// The error for tokens left over after a complete expression.
fn trailing(input: ParseStream) -> syn::Error {
    let (tokens, text) = match next_token(input) {
        Ok(next) => next,
        Err(error) => return error,
    };
    let message = if text == "," {
        "unexpected `,` in permission expression; to require several permissions combine them \
         with `&` (all of them) or `|` (any of them), e.g. `IsAuthenticated & IsOwner`"
            .to_owned()
    } else {
        format!(
            "unexpected `{text}` in permission expression; combine permissions with `&`, `|`, \
             `!` and parentheses"
        )
    };
    syn::Error::new_spanned(tokens, message)
}
