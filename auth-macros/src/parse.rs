//! Parsing of the macros' input into the [`model`](crate::model).
//!
//! Every function here reports as many mistakes as it can find: errors are
//! accumulated in an [`Errors`] and combined, so the user sees all of them in
//! one compilation instead of fixing them one at a time.

use std::fmt::Display;

use proc_macro2::{Delimiter, Group, Ident, Spacing, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{
    AttrStyle, Attribute, Data, DeriveInput, Expr, Fields, Item, Lit, MacroDelimiter, Meta, MetaList, Path, Token,
    parenthesized, token,
};

use crate::model::{
    BUILTIN_PERMISSIONS, BUILTIN_THROTTLES, CONFIG_KEYS, ConfigField, ConfigKey, ConfigTarget, Handler, HandlerAttr,
    HandlerSpec, MAX_THROTTLES, PermExpr, SCHEMES, STRUCT_OPTIONS, Scheme, SchemeRef, SettingsSpec, ThrottleExpr,
};
use crate::suggest::{closest, did_you_mean};

/// Accumulates errors so that the user sees them all at once.
#[derive(Default)]
pub(crate) struct Errors {
    /// All errors so far, combined into one.
    error: Option<syn::Error>,
}

impl Errors {
    /// Records `error`.
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.error {
            Some(all) => all.combine(error),
            None => self.error = Some(error),
        }
    }

    /// Records an error spanning `tokens`.
    pub fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records all errors of `other`.
    pub fn push_all(&mut self, other: Errors) {
        if let Some(error) = other.error {
            self.push(error);
        }
    }

    /// Whether no error has been recorded.
    pub fn is_empty(&self) -> bool {
        self.error.is_none()
    }

    /// `Ok` if no error was recorded, else all of them.
    pub fn finish(self) -> syn::Result<()> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// `Basic, Token` as English: "Basic, Token".
fn one_of<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

/// The names of all schemes, for messages.
fn scheme_names() -> impl Iterator<Item = &'static str> {
    SCHEMES.iter().map(|(name, _)| *name)
}

/// The field options of `#[derive(AuthSettings)]`, for messages: the settings
/// keys of all schemes, then of the other sections (`throttle`).
fn field_keys() -> impl Iterator<Item = &'static str> {
    SCHEMES.iter().map(|(_, key)| *key).chain(CONFIG_KEYS.iter().map(|(key, _)| *key))
}

// ---------------------------------------------------------------------------
// Scheme lists: `Basic, Token`
// ---------------------------------------------------------------------------

/// Parses a comma-separated list of scheme names (the inside of
/// `#[authentication(..)]` or `#[auth(chain(..))]`).
///
/// An empty list is reported on `empty_at` with `empty_message`. Every entry is
/// checked, so unknown, duplicate and malformed entries are all reported.
pub(crate) fn scheme_list(
    tokens: TokenStream,
    empty_at: impl ToTokens,
    empty_message: &str,
    errors: &mut Errors,
) -> Vec<SchemeRef> {
    let mut entries: Vec<Vec<TokenTree>> = Vec::new();
    let mut current = Vec::new();
    let mut stray_comma = false;
    for tt in tokens {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if current.is_empty() {
                    stray_comma = true;
                    errors.spanned(&tt, "expected a scheme name before `,`");
                } else {
                    entries.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(tt),
        }
    }
    if !current.is_empty() {
        entries.push(current);
    }
    if entries.is_empty() && !stray_comma {
        errors.spanned(empty_at, empty_message);
        return Vec::new();
    }

    let mut chain: Vec<SchemeRef> = Vec::new();
    for entry in entries {
        let tokens: TokenStream = entry.iter().cloned().collect();
        let scheme = match entry.as_slice() {
            [TokenTree::Ident(ident)] => {
                let name = ident.unraw().to_string();
                match Scheme::by_name(&name) {
                    Some(scheme) => SchemeRef::Builtin(scheme, ident.clone()),
                    None => match closest(&name, scheme_names()) {
                        Some(builtin) => {
                            errors.spanned(
                                ident,
                                format!(
                                    "unknown authentication scheme `{name}`; did you mean `{builtin}`? (a \
                                     scheme of your own named `{name}`: write its path, e.g. `self::{name}`)"
                                ),
                            );
                            continue;
                        }
                        None => SchemeRef::Custom(Path::from(ident.clone())),
                    },
                }
            }
            [TokenTree::Literal(lit)] => {
                let hint = match syn::parse2::<Lit>(tokens.clone()) {
                    Ok(Lit::Str(s)) if Scheme::by_name(&s.value()).is_some() => {
                        format!("; write the bare name `{}`, without quotes", s.value())
                    }
                    _ => String::new(),
                };
                errors.spanned(
                    lit,
                    format!(
                        "expected a scheme, found a literal; a scheme is one of {} or the path of \
                         your own type implementing `auth_runtime::Scheme`{hint}",
                        one_of(scheme_names())
                    ),
                );
                continue;
            }
            _ => match syn::parse2::<Path>(tokens.clone()) {
                Ok(path) => SchemeRef::Custom(path),
                Err(_) => {
                    // A call (`Basic::new()`), an expression...: name the scheme it seems
                    // to mean, if any.
                    let named = entry.iter().find_map(|tt| match tt {
                        TokenTree::Ident(i) => Scheme::by_name(&i.to_string()),
                        _ => None,
                    });
                    let hint = match named {
                        Some(scheme) => format!("; write the bare name `{}`", scheme.name),
                        None => format!("; expected one of: {}", one_of(scheme_names())),
                    };
                    errors.spanned(
                        tokens,
                        format!("expected a scheme type, not an expression: a built-in name or a type's path{hint}"),
                    );
                    continue;
                }
            },
        };
        let text = scheme.text();
        if chain.iter().any(|s| s.text() == text) {
            errors.spanned(tokens, format!("duplicate authentication scheme `{text}`"));
        } else {
            chain.push(scheme);
        }
    }
    chain
}

// ---------------------------------------------------------------------------
// Permission expressions: `IsAuthenticated & (IsOwner | !HasScope("x"))`
// ---------------------------------------------------------------------------

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
/// `None` if any error was found (all are in `errors`).
pub(crate) fn permission(
    tokens: TokenStream,
    empty_at: impl ToTokens,
    empty_message: &str,
    errors: &mut Errors,
) -> Option<PermExpr> {
    if tokens.is_empty() {
        errors.spanned(empty_at, empty_message);
        return None;
    }
    let mut local = Errors::default();
    let parser = |input: ParseStream| {
        let expr = parse_or(input, &mut local)?;
        if !input.is_empty() {
            return Err(trailing(input));
        }
        Ok(expr)
    };
    let result = parser.parse2(tokens);
    let ok = local.is_empty();
    if let Some(error) = local.error {
        errors.push(error);
    }
    match result {
        Ok(expr) if ok => Some(expr),
        Ok(_) => None,
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

/// `or := and ('|' and)*`
fn parse_or(input: ParseStream, errors: &mut Errors) -> syn::Result<PermExpr> {
    let mut lhs = parse_and(input, errors)?;
    loop {
        let op: TokenStream = if input.peek(Token![||]) {
            let op: Token![||] = input.parse()?;
            errors.spanned(op, "use `|`, not `||`, to allow either permission");
            op.into_token_stream()
        } else if input.peek(Token![|]) {
            input.parse::<Token![|]>()?.into_token_stream()
        } else {
            return Ok(lhs);
        };
        operand_follows(input, &op, "|")?;
        let rhs = parse_and(input, errors)?;
        lhs = PermExpr::Or(Box::new(lhs), Box::new(rhs));
    }
}

/// `and := unary ('&' unary)*`
fn parse_and(input: ParseStream, errors: &mut Errors) -> syn::Result<PermExpr> {
    let mut lhs = parse_unary(input, errors)?;
    loop {
        let op: TokenStream = if input.peek(Token![&&]) {
            let op: Token![&&] = input.parse()?;
            errors.spanned(op, "use `&`, not `&&`, to require both permissions");
            op.into_token_stream()
        } else if input.peek(Token![&]) {
            input.parse::<Token![&]>()?.into_token_stream()
        } else {
            return Ok(lhs);
        };
        operand_follows(input, &op, "&")?;
        let rhs = parse_unary(input, errors)?;
        lhs = PermExpr::And(Box::new(lhs), Box::new(rhs));
    }
}

/// `unary := '!' unary | '(' expr ')' | atom`
fn parse_unary(input: ParseStream, errors: &mut Errors) -> syn::Result<PermExpr> {
    if input.peek(Token![!]) {
        let bang: Token![!] = input.parse()?;
        operand_follows(input, &bang, "!")?;
        let operand = parse_unary(input, errors)?;
        return Ok(PermExpr::Not(bang.spans[0], Box::new(operand)));
    }
    if input.peek(token::Paren) {
        let content;
        let paren = parenthesized!(content in input);
        if content.is_empty() {
            return Err(syn::Error::new(paren.span.join(), "expected a permission inside the parentheses"));
        }
        let expr = parse_or(&content, errors)?;
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
    let starts_path = input.peek(syn::Ident)
        || input.peek(Token![::])
        || input.peek(Token![crate])
        || input.peek(Token![self])
        || input.peek(Token![super])
        || input.peek(Token![Self]);
    if !starts_path {
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

/// Takes the next token (a run of joint punctuation counts as one, e.g. `==`)
/// and returns it with a short text for messages.
fn next_token(input: ParseStream) -> syn::Result<(TokenStream, String)> {
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

// ---------------------------------------------------------------------------
// Throttle lists: `AnonRate, Scoped("uploads"), PerTenant`
// ---------------------------------------------------------------------------

/// What a throttle is, for messages.
const THROTTLE_IS: &str = "a throttle is `AnonRate`, `UserRate`, `Scoped(\"name\")` or a value of your own type \
                           implementing `auth_runtime::throttling::Throttle`";

/// Where rates are set, for messages.
const RATES_LIVE: &str = "rates are not written on the handler: they live in the settings' `throttle` section \
                          (`anon`, `user`, `scopes`), and a scope is named with `Scoped(\"name\")`";

/// Parses a comma-separated list of throttles (the inside of `#[throttle(..)]`):
/// built-ins by bare name (`AnonRate`, `UserRate`, `Scoped("name")`), or any
/// other path or call, a value of the user's own `Throttle` type.
///
/// An empty list is valid: no throttles. Every entry is checked, so malformed,
/// duplicate and surplus entries are all reported.
pub(crate) fn throttle_list(tokens: TokenStream, errors: &mut Errors) -> Vec<ThrottleExpr> {
    let mut entries: Vec<TokenStream> = Vec::new();
    let mut current = TokenStream::new();
    for tt in tokens {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if current.is_empty() {
                    errors.spanned(&tt, "expected a throttle before `,`");
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

    let mut list = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        if index == MAX_THROTTLES {
            errors.spanned(
                &entry,
                format!(
                    "too many throttles: a handler takes at most {MAX_THROTTLES}; a throttle may check \
                     several rates itself"
                ),
            );
        }
        match throttle.parse2(entry.clone()) {
            Ok(throttle) => {
                let text = compact(&entry);
                if seen.contains(&text) {
                    errors.spanned(&entry, format!("duplicate throttle `{text}`"));
                } else {
                    seen.push(text);
                    list.push(throttle);
                }
            }
            Err(error) => errors.push(error),
        }
    }
    list
}

/// `tokens` as text for messages and comparisons, without the spaces that
/// `TokenStream::to_string` puts inside paths and calls: `Scoped("a")`.
fn compact(tokens: &TokenStream) -> String {
    tokens.to_string().replace(" :: ", "::").replace(":: ", "::").replace(" (", "(")
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
    let starts_path = input.peek(syn::Ident)
        || input.peek(Token![::])
        || input.peek(Token![crate])
        || input.peek(Token![self])
        || input.peek(Token![super])
        || input.peek(Token![Self]);
    if !starts_path {
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

    if let Some(ident) = path.get_ident()
        && let Some(builtin) = closest(&ident.to_string(), BUILTIN_THROTTLES.iter().map(|(n, _)| *n))
    {
        return Err(syn::Error::new_spanned(
            ident,
            format!(
                "unknown throttle `{ident}`; did you mean `{builtin}`? (a throttle of your own named \
                 `{ident}`: write its path, e.g. `self::{ident}`)"
            ),
        ));
    }
    let Some((ident, rate)) = path.get_ident().and_then(|ident| {
        let name = ident.to_string();
        BUILTIN_THROTTLES.iter().find(|(n, _)| *n == name).map(|&(_, rate)| (ident.clone(), rate))
    }) else {
        let mut tokens = path.into_token_stream();
        tokens.extend(args.map(TokenTree::Group));
        return Ok(ThrottleExpr::Custom(tokens));
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

// ---------------------------------------------------------------------------
// Handler attributes: #[authentication(..)], #[permission(..)], #[throttle(..)]
// ---------------------------------------------------------------------------

/// Reads the arguments of handler attribute `attr` into `spec`.
fn handler_args(
    attr: HandlerAttr,
    tokens: TokenStream,
    empty_at: impl ToTokens,
    spec: &mut HandlerSpec,
    errors: &mut Errors,
) {
    match attr {
        HandlerAttr::Authentication => {
            let chain = scheme_list(
                tokens,
                empty_at,
                "expected at least one scheme, e.g. #[authentication(Basic, Token)]",
                errors,
            );
            spec.chain = Some(chain);
        }
        HandlerAttr::Permission => {
            spec.permission = permission(
                tokens,
                empty_at,
                "expected a permission expression, e.g. #[permission(IsAuthenticated)]",
                errors,
            );
        }
        HandlerAttr::Throttle => {
            spec.throttles = Some(throttle_list(tokens, errors));
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

/// Parses a handler attribute `attr` with arguments `args` on `item`.
///
/// If the function also carries a sibling attribute, this attribute's
/// arguments, with those handed to it, are handed over to the first sibling
/// (see [`hand_over`]) and the item passes through; the last sibling, expanded
/// last, sees them all and asks for the wrapper.
///
/// On error returns all errors and the item to emit after them: the original
/// item, minus the handler attributes already examined (so that their errors
/// are not reported twice).
pub(crate) fn handler(attr: HandlerAttr, args: TokenStream, item: TokenStream) -> Handler {
    let name = attr.name();
    let mut errors = Errors::default();
    let mut spec = HandlerSpec::default();
    let (mut handed, args) = take_hand_over(attr, args);

    // Our own arguments, checked apart: handed over only if they are valid.
    let mut arg_errors = Errors::default();
    handler_args(attr, args.clone(), TokenStream::new(), &mut spec, &mut arg_errors);

    let wrong_kind = format!("#[{name}] can only be applied to an async fn handler");
    let mut f = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(f)) => f,
        Ok(other) => {
            arg_errors.spanned(item_head(&other), wrong_kind);
            return Handler::PassThrough(arg_errors.error, item);
        }
        Err(_) => {
            arg_errors.push(syn::Error::new(Span::call_site(), wrong_kind));
            return Handler::PassThrough(arg_errors.error, item);
        }
    };

    let mut sibling: Option<usize> = None;
    let mut kept = Vec::with_capacity(f.attrs.len());
    for a in std::mem::take(&mut f.attrs) {
        match handler_attr_of(&a) {
            None => kept.push(a),
            Some(kind) if kind == attr || handed.iter().any(|(h, _)| *h == kind) => {
                errors.spanned(&a, format!("duplicate #[{}] attribute; a handler takes at most one", kind.name()))
            }
            // Other siblings are left for the first sibling (and the next) to
            // hand over to, or to report as duplicates.
            Some(_) if sibling.is_some() => kept.push(a),
            Some(kind) => {
                if let Meta::NameValue(_) = a.meta {
                    errors.spanned(&a, format!("expected #[{}(...)]", kind.name()));
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
        if arg_errors.is_empty() {
            handed.push((attr, args));
        }
        if !handed.is_empty() {
            hand_over(&mut kept[index], &handed);
        }
        arg_errors.push_all(errors);
        f.attrs = kept;
        return Handler::PassThrough(arg_errors.error, f.into_token_stream());
    }
    f.attrs = kept;

    let mut from_errors = Errors::default();
    for (from, from_args) in handed {
        handler_args(from, from_args, TokenStream::new(), &mut spec, &mut from_errors);
    }
    from_errors.push_all(arg_errors);
    from_errors.push_all(errors);
    let mut errors = from_errors;

    if f.sig.asyncness.is_none() {
        errors.spanned(f.sig.fn_token, format!("#[{name}] handlers must be `async fn`"));
    }
    if let Some(receiver) = f.sig.receiver() {
        errors.spanned(
            receiver,
            format!(
                "#[{name}] handlers cannot take `self`; write a free `async fn` and register it \
                 as a route"
            ),
        );
    }
    if !f.sig.generics.params.is_empty() {
        errors.spanned(&f.sig.generics, format!("#[{name}] handlers cannot be generic"));
    } else if let Some(where_clause) = &f.sig.generics.where_clause {
        errors.spanned(where_clause, format!("#[{name}] handlers cannot have a `where` clause"));
    }

    match errors.error {
        None => Handler::Wrap(spec, Box::new(f)),
        Some(error) => Handler::PassThrough(Some(error), f.into_token_stream()),
    }
}

// ---------------------------------------------------------------------------
// #[derive(AuthSettings)]
// ---------------------------------------------------------------------------

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

/// Parses the input of `#[derive(AuthSettings)]`.
pub(crate) fn settings(input: &DeriveInput) -> syn::Result<SettingsSpec> {
    let mut errors = Errors::default();
    let mut chain: Option<(Ident, Vec<SchemeRef>)> = None;
    let mut permission_expr: Option<(Ident, Option<PermExpr>)> = None;

    for attr in input.attrs.iter().filter(|a| a.path().is_ident("auth")) {
        let options = match auth_options(attr) {
            Ok(options) => options,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        for AuthOption { name, body } in options {
            let key = name.to_string();
            let (tokens, paren) = match (key.as_str(), body) {
                ("chain" | "permission", OptionBody::List(tokens, paren)) => (tokens, paren),
                ("chain", _) => {
                    errors.spanned(&name, "expected `chain(...)`, e.g. chain(Basic, Token)");
                    continue;
                }
                ("permission", _) => {
                    errors.spanned(&name, "expected `permission(...)`, e.g. permission(IsAuthenticated)");
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
                    errors.spanned(
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
            if key == "chain" {
                if chain.is_some() {
                    errors.spanned(&name, "duplicate `chain` option; list all the schemes in one `chain(...)`");
                    continue;
                }
                let schemes = scheme_list(
                    tokens,
                    paren_tokens,
                    "expected at least one scheme, e.g. #[auth(chain(Basic, Token))]",
                    &mut errors,
                );
                chain = Some((name, schemes));
            } else {
                if permission_expr.is_some() {
                    errors.spanned(&name, "duplicate `permission` option");
                    continue;
                }
                let expr = permission(
                    tokens,
                    paren_tokens,
                    "expected a permission expression, e.g. #[auth(permission(IsAuthenticated))]",
                    &mut errors,
                );
                permission_expr = Some((name, expr));
            }
        }
    }

    let configs = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => {
                let mut configs: Vec<ConfigField> = Vec::new();
                for field in &named.named {
                    config_field(field, &mut configs, &mut errors);
                }
                Some(configs)
            }
            Fields::Unnamed(unnamed) => {
                errors.spanned(unnamed, "#[derive(AuthSettings)] needs a struct with named fields, not a tuple struct");
                None
            }
            Fields::Unit => {
                errors.spanned(
                    &input.ident,
                    "#[derive(AuthSettings)] needs a struct with named fields, not a unit struct",
                );
                None
            }
        },
        Data::Enum(data) => {
            let (kw, ident) = (data.enum_token, &input.ident);
            errors.spanned(
                quote::quote!(#kw #ident),
                "#[derive(AuthSettings)] can only be applied to a struct with named fields",
            );
            None
        }
        Data::Union(data) => {
            let (kw, ident) = (data.union_token, &input.ident);
            errors.spanned(
                quote::quote!(#kw #ident),
                "#[derive(AuthSettings)] can only be applied to a struct with named fields",
            );
            None
        }
    };

    match (&chain, &configs) {
        (None, _) => errors.spanned(
            &input.ident,
            format!(
                "missing `#[auth(chain(...))]` on `{}`: name the default authentication schemes, \
                 e.g. #[auth(chain(Basic, Token))]",
                input.ident
            ),
        ),
        (Some((_, schemes)), Some(configs)) => {
            for s in schemes {
                // The user's own schemes may go without a field: their `Config::default()`.
                let SchemeRef::Builtin(scheme, ident) = s else { continue };
                if !configs.iter().any(|c| c.target == ConfigTarget::Scheme(*scheme)) {
                    let Scheme { name, key } = *scheme;
                    errors.spanned(
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

    errors.finish()?;
    Ok(SettingsSpec {
        ident: input.ident.clone(),
        generics: input.generics.clone(),
        chain: chain.map(|(_, schemes)| schemes).unwrap_or_default(),
        permission: permission_expr.and_then(|(_, expr)| expr),
        configs: configs.unwrap_or_default(),
    })
}

/// Reads the `#[auth(..)]` of one named field into `configs`.
fn config_field(field: &syn::Field, configs: &mut Vec<ConfigField>, errors: &mut Errors) {
    let Some(member) = &field.ident else { return };
    let mut bound: Option<Ident> = None;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("auth")) {
        let options = match auth_options(attr) {
            Ok(options) => options,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        for AuthOption { name, body } in options {
            let key = name.to_string();
            let target = if key == "scheme" {
                let usage = "expected `scheme = Path`: the type of your own scheme whose `Config` this field \
                             holds, e.g. #[auth(scheme = ApiKey)]";
                let OptionBody::Value(tokens) = body else {
                    errors.spanned(&name, usage);
                    continue;
                };
                // `tokens` is `= value`.
                let value: TokenStream = tokens.clone().into_iter().skip(1).collect();
                match syn::parse2::<Path>(value) {
                    Ok(path) => ConfigTarget::Custom(path),
                    Err(_) => {
                        errors.spanned(tokens, usage);
                        continue;
                    }
                }
            } else {
                let Some(target) = ConfigTarget::by_key(&key) else {
                    let hint = if STRUCT_OPTIONS.contains(&key.as_str()) {
                        format!("; `{key}(...)` goes on the struct, not on a field")
                    } else {
                        did_you_mean(&key, field_keys().chain(["scheme"]))
                    };
                    errors.spanned(
                        &name,
                        format!(
                            "unknown settings option `{key}`; expected one of: {}, or `scheme = Path` for a \
                             scheme of your own{hint}",
                            one_of(field_keys())
                        ),
                    );
                    continue;
                };
                match body {
                    OptionBody::Flag => {}
                    OptionBody::List(tokens, _) | OptionBody::Value(tokens) => {
                        errors.spanned(tokens, format!("`{key}` takes no arguments: write #[auth({key})]"));
                        continue;
                    }
                }
                target
            };
            if let Some(previous) = &bound {
                errors.spanned(
                    &name,
                    format!(
                        "field `{member}` already configures `{previous}`; a field configures one \
                         scheme or section"
                    ),
                );
                continue;
            }
            bound = Some(name.clone());
            if let Some(other) = configs.iter().find(|c| c.target == target) {
                let what = match &target {
                    ConfigTarget::Scheme(scheme) => format!("scheme `{}`", scheme.name),
                    ConfigTarget::Custom(path) => format!("scheme `{}`", SchemeRef::Custom(path.clone()).text()),
                    ConfigTarget::Section(section) => format!("`{}` (`auth_runtime::{}`)", section.key, section.ty),
                };
                errors.spanned(&name, format!("{what} is already configured by field `{}`", other.member));
                continue;
            }
            configs.push(ConfigField { target, member: member.clone(), ty: field.ty.clone() });
        }
    }
}
