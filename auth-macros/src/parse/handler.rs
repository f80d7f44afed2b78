//! The handler attributes, `#[authentication(..)]`, `#[permission(..)]` and
//! `#[throttle(..)]`: the item they are applied to, and the hand-over of
//! arguments between sibling attributes on one function, so that the last one
//! expanded generates a single wrapper for all of them.

use proc_macro2::{Delimiter, Ident, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::{AttrStyle, Attribute, Item, MacroDelimiter, Meta, MetaList, token};

use super::authentication::scheme_list;
use super::permission::permission;
use super::throttle::throttle_list;
use crate::check;
use crate::ctxt::Ctxt;
use crate::model::{Handler, HandlerAttr, HandlerSpec};

/// Reads the arguments of handler attribute `attr` into `spec`, checking each
/// list as soon as it is parsed.
fn handler_args(cx: &Ctxt, attr: HandlerAttr, tokens: TokenStream, spec: &mut HandlerSpec) {
    match attr {
        HandlerAttr::Authentication => {
            let entries = scheme_list(
                cx,
                tokens,
                TokenStream::new(),
                "expected at least one scheme, e.g. #[authentication(Basic, Token)]",
            );
            spec.chain = Some(check::scheme_list(cx, entries));
        }
        HandlerAttr::Permission => {
            spec.permission = permission(
                cx,
                tokens,
                TokenStream::new(),
                "expected a permission expression, e.g. #[permission(IsAuthenticated)]",
            );
        }
        HandlerAttr::Throttle => {
            let entries = throttle_list(cx, tokens);
            spec.throttles = Some(check::throttle_list(cx, entries));
        }
    }
}

/// Which handler attribute `attr` is (by the last segment of its path), if any.
fn handler_attr_of(attr: &Attribute) -> Option<HandlerAttr> {
    if !matches!(attr.style, AttrStyle::Outer) {
        return None;
    }
    let last = attr.path().segments.last()?;
    HandlerAttr::from_name(&last.ident.to_string())
}

/// The start of an item, up to its body: `struct Foo`, `impl Foo for Bar`.
/// Errors about the kind of item are reported there rather than on the whole item.
fn item_head(item: &Item) -> TokenStream {
    let mut head = TokenStream::new();
    let mut tokens = item.to_token_stream().into_iter().peekable();
    while let Some(tt) = tokens.next() {
        match &tt {
            // Attributes: `#` `[..]`.
            TokenTree::Punct(p) if p.as_char() == '#' && head.is_empty() => {
                tokens.next_if(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == '!'));
                tokens.next_if(|t| matches!(t, TokenTree::Group(_)));
            }
            // Visibility: `pub` or `pub(..)`.
            TokenTree::Ident(i) if i == "pub" && head.is_empty() => {
                tokens.next_if(|t| matches!(t, TokenTree::Group(g) if g.delimiter() == Delimiter::Parenthesis));
            }
            TokenTree::Group(g) if matches!(g.delimiter(), Delimiter::Brace | Delimiter::Parenthesis) => {
                break;
            }
            TokenTree::Punct(p) if matches!(p.as_char(), ';' | '=') => break,
            _ => head.extend([tt]),
        }
    }
    head
}

/// Arguments handed over by outer sibling attributes: `(which, its arguments)`.
type HandedOver = Vec<(HandlerAttr, TokenStream)>;

/// Splits the hand-overs from outer siblings (see [`hand_over`]) off the front
/// of an attribute's arguments: `@authentication(..) @permission(..) REST`.
fn take_hand_over(attr: HandlerAttr, args: TokenStream) -> (HandedOver, TokenStream) {
    let mut handed: HandedOver = Vec::new();
    let mut rest = args;
    loop {
        let mut iter = rest.clone().into_iter();
        if let (Some(TokenTree::Punct(at)), Some(TokenTree::Ident(name)), Some(TokenTree::Group(g))) =
            (iter.next(), iter.next(), iter.next())
            && at.as_char() == '@'
            && g.delimiter() == Delimiter::Parenthesis
            && let Some(from) = HandlerAttr::from_name(&name.to_string())
            && from != attr
            && handed.iter().all(|(h, _)| *h != from)
        {
            handed.push((from, g.stream()));
            rest = iter.collect();
        } else {
            return (handed, rest);
        }
    }
}

/// Gives the arguments of the handler attributes `handed` (this one's and those
/// handed to it) to the sibling attribute `sibling`: `#[permission(X)]` becomes
/// `#[permission(@authentication(ARGS) @throttle(ARGS) X)]`.
///
/// The last sibling expanded then generates the one wrapper with all of them.
/// Handing over (rather than consuming the sibling) keeps the sibling's path
/// resolved by rustc, so a `use auth_runtime::permission;` is not reported as
/// unused.
fn hand_over(sibling: &mut Attribute, handed: &[(HandlerAttr, TokenStream)]) {
    let markers = handed.iter().map(|(from, args)| {
        let name = Ident::new(from.name(), Span::call_site());
        quote::quote!(@ #name (#args))
    });
    let marker = quote::quote!(#(#markers)*);
    match &mut sibling.meta {
        Meta::List(list) => {
            let rest = std::mem::take(&mut list.tokens);
            list.tokens = quote::quote!(#marker #rest);
        }
        Meta::Path(path) => {
            let span = path.segments.last().map_or_else(Span::call_site, |s| s.ident.span());
            sibling.meta = Meta::List(MetaList {
                path: path.clone(),
                delimiter: MacroDelimiter::Paren(token::Paren(span)),
                tokens: marker,
            });
        }
        Meta::NameValue(_) => {}
    }
}

/// Moves the errors of `from` (checking it) into `into`, after those already there.
fn append(into: &Ctxt, from: Ctxt) {
    if let Err(error) = from.check() {
        into.syn_error(error);
    }
}

/// Parses a handler attribute `attr` with arguments `args` on `item`.
///
/// If the function also carries a sibling attribute, this attribute's
/// arguments, with those handed to it, are handed over to the first sibling
/// (see [`hand_over`]) and the item passes through; the last sibling, expanded
/// last, sees them all, checks the function and asks for the wrapper.
///
/// On error returns all errors and the item to emit after them: the original
/// item, minus the handler attributes already examined (so that their errors
/// are not reported twice).
pub(crate) fn handler(attr: HandlerAttr, args: TokenStream, item: TokenStream) -> Handler {
    let name = attr.name();
    let mut spec = HandlerSpec::default();
    let (mut handed, args) = take_hand_over(attr, args);

    // Our own arguments, checked apart: handed over only if they are valid.
    let arg_errors = Ctxt::new();
    handler_args(&arg_errors, attr, args.clone(), &mut spec);

    let wrong_kind = format!("#[{name}] can only be applied to an async fn handler");
    let mut f = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(f)) => f,
        Ok(other) => {
            arg_errors.error_spanned_by(item_head(&other), wrong_kind);
            return Handler::PassThrough(arg_errors.check().err(), item);
        }
        Err(_) => {
            arg_errors.syn_error(syn::Error::new(Span::call_site(), wrong_kind));
            return Handler::PassThrough(arg_errors.check().err(), item);
        }
    };

    // The other handler attributes on the function.
    let errors = Ctxt::new();
    let mut sibling: Option<usize> = None;
    let mut kept = Vec::with_capacity(f.attrs.len());
    for a in std::mem::take(&mut f.attrs) {
        match handler_attr_of(&a) {
            None => kept.push(a),
            Some(kind) if kind == attr || handed.iter().any(|(h, _)| *h == kind) => errors
                .error_spanned_by(&a, format!("duplicate #[{}] attribute; a handler takes at most one", kind.name())),
            // Other siblings are left for the first sibling (and the next) to
            // hand over to, or to report as duplicates.
            Some(_) if sibling.is_some() => kept.push(a),
            Some(kind) => {
                if let Meta::NameValue(_) = a.meta {
                    errors.error_spanned_by(&a, format!("expected #[{}(...)]", kind.name()));
                } else {
                    sibling = Some(kept.len());
                    kept.push(a);
                }
            }
        }
    }

    if let Some(index) = sibling {
        // The sibling will check the function and generate the wrapper (or hand
        // over to the next). If our arguments are wrong, it does so without
        // them, so that the only errors are the real ones.
        if !arg_errors.has_errors() {
            handed.push((attr, args));
        }
        if !handed.is_empty() {
            hand_over(&mut kept[index], &handed);
        }
        append(&arg_errors, errors);
        f.attrs = kept;
        return Handler::PassThrough(arg_errors.check().err(), f.into_token_stream());
    }
    f.attrs = kept;

    // The last sibling: the arguments handed to it, then its own errors.
    let all = Ctxt::new();
    for (from, from_args) in handed {
        handler_args(&all, from, from_args, &mut spec);
    }
    append(&all, arg_errors);
    append(&all, errors);
    check::handler_fn(&all, attr, &f);

    match all.check() {
        Ok(()) => Handler::Wrap(spec, Box::new(f)),
        Err(error) => Handler::PassThrough(Some(error), f.into_token_stream()),
    }
}
