//! The parsed form of the macros' input: small plain types that `parse` builds,
//! `check` validates and `expand` turns into tokens, with the tables of the
//! built-in schemes, permissions, throttles and settings sections.

use proc_macro2::{Group, Ident, Span, TokenStream};
use syn::{Generics, Type};

/// Every authentication scheme the macros know, as `(name, settings key)`.
///
/// `name` is what users write in `#[authentication(..)]` and `#[auth(chain(..))]`
/// and what expands to `::auth_runtime::schemes::NAME`; the settings key is the
/// field option of `#[derive(AuthSettings)]` (`#[auth(basic)]`). The scheme's
/// configuration type is `<::auth_runtime::schemes::NAME as ::auth_runtime::Scheme>::Config`
/// (conventionally `auth_runtime::NAMEConfig`). Adding a scheme means adding
/// one row here and nothing else.
pub(crate) const SCHEMES: &[(&str, &str)] =
    &[("Basic", "basic"), ("Token", "token"), ("Jwt", "jwt"), ("Session", "session"), ("OAuth2", "oauth2")];

/// Permissions provided by `auth_runtime::permissions` that may be named with
/// a bare identifier in `#[permission(..)]`.
pub(crate) const BUILTIN_PERMISSIONS: &[&str] =
    &["AllowAny", "IsAuthenticated", "IsAdminUser", "IsAuthenticatedOrReadOnly", "DefaultPermission"];

/// The options allowed in a struct-level `#[auth(..)]` of `#[derive(AuthSettings)]`.
pub(crate) const STRUCT_OPTIONS: &[&str] = &["chain", "permission"];

/// Settings sections that are not a scheme's configuration, as `(settings key,
/// type name in auth_runtime)`: `#[auth(throttle)]` binds a field to
/// `::auth_runtime::ThrottleConfig`. Adding a section means adding one row here.
pub(crate) const CONFIG_KEYS: &[(&str, &str)] = &[
    ("throttle", "ThrottleConfig"),
    ("cache", "CacheConfig"),
    ("hosts", "HostsConfig"),
    ("endpoints", "EndpointsConfig"),
];

/// Throttles provided by `auth_runtime::throttling` that may be named with a bare
/// identifier in `#[throttle(..)]`, as `(name, rate)`: the settings key of the
/// rate a throttle without arguments uses (`anon`, `user`), or `None` for
/// `Scoped`, which takes the scope's name and uses that scope's rate.
pub(crate) const BUILTIN_THROTTLES: &[(&str, Option<&str>)] =
    &[("AnonRate", Some("anon")), ("UserRate", Some("user")), ("Scoped", None)];

/// How many throttles one handler may list (`Throttles` is implemented for
/// tuples of up to this many).
pub(crate) const MAX_THROTTLES: usize = 4;

/// The names of all schemes, for messages and suggestions.
pub(crate) fn scheme_names() -> impl Iterator<Item = &'static str> {
    SCHEMES.iter().map(|(name, _)| *name)
}

/// One entry of a comma-separated list (schemes, throttles), as parsed: the
/// tokens as written and what they parse to, or the syntax error found in them.
///
/// Lists keep their entries in source order, so that the check pass reports the
/// syntax errors and its own in that order.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    /// The entry's tokens as written (the span of errors about the entry).
    pub tokens: TokenStream,
    /// What the entry parses to.
    pub parsed: syn::Result<T>,
}

impl<T> Entry<T> {
    /// The entry as written, for messages and duplicate checks, without the
    /// spaces that `TokenStream::to_string` puts inside paths and calls: `Scoped("a")`.
    pub fn text(&self) -> String {
        self.tokens.to_string().replace(" :: ", "::").replace(":: ", "::").replace(" (", "(")
    }
}

/// One row of [`SCHEMES`], chosen by the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scheme {
    /// The type name in `auth_runtime::schemes`, e.g. `Basic`.
    pub name: &'static str,
    /// The settings key used by `#[auth(basic)]`, e.g. `basic`.
    pub key: &'static str,
}

impl Scheme {
    /// The scheme called `name` (the type name, e.g. `Basic`), if any.
    pub fn by_name(name: &str) -> Option<Scheme> {
        SCHEMES.iter().find(|(n, _)| *n == name).map(|&(name, key)| Scheme { name, key })
    }

    /// The scheme whose settings key is `key` (e.g. `basic`), if any.
    pub fn by_key(key: &str) -> Option<Scheme> {
        SCHEMES.iter().find(|(_, k)| *k == key).map(|&(name, key)| Scheme { name, key })
    }
}

/// A scheme named in a list.
#[derive(Debug, Clone)]
pub(crate) enum SchemeRef {
    /// A built-in scheme, by its bare name; the identifier as written gives the span of the
    /// expansion and errors.
    Builtin(Scheme, Ident),
    /// The user's own scheme type, by its path as written (`ApiKey`, `crate::auth::ApiKey`).
    Custom(syn::Path),
}

impl SchemeRef {
    /// The scheme as written, for messages and duplicate checks: `Token`, `crate::ApiKey`.
    pub fn text(&self) -> String {
        match self {
            SchemeRef::Builtin(scheme, _) => scheme.name.to_owned(),
            SchemeRef::Custom(path) => {
                quote::ToTokens::to_token_stream(path).to_string().replace(" :: ", "::").replace(":: ", "::")
            }
        }
    }
}

/// A permission expression, from `#[permission(..)]` or `#[auth(permission(..))]`.
#[derive(Debug, Clone)]
pub(crate) enum PermExpr {
    /// A permission of `auth_runtime::permissions` named by its bare identifier,
    /// with the parenthesised arguments if the user wrote any (then rustc reports
    /// that the built-in is not a function).
    Builtin(Ident, Option<TokenStream>),
    /// Any other path or call, emitted as written (e.g. `IsOwner`, `HasScope("write")`).
    Custom(TokenStream),
    /// `a & b`.
    And(Box<PermExpr>, Box<PermExpr>),
    /// `a | b`.
    Or(Box<PermExpr>, Box<PermExpr>),
    /// `!a`, with the span of the `!`.
    Not(Span, Box<PermExpr>),
}

/// One throttle of `#[throttle(..)]`.
#[derive(Debug, Clone)]
pub(crate) enum ThrottleExpr {
    /// A throttle of `auth_runtime::throttling` named by its bare identifier,
    /// with its (checked) arguments: `AnonRate`, `UserRate`, `Scoped("uploads")`.
    Builtin(Ident, Option<TokenStream>),
    /// Any other path or call, emitted as written (e.g. `PerTenant`, `Burst(3)`):
    /// the path and the parenthesised arguments, if any.
    Custom(syn::Path, Option<Group>),
}

/// What the handler attributes (`#[authentication]`, `#[permission]` and/or
/// `#[throttle]`) ask for.
#[derive(Debug, Clone, Default)]
pub(crate) struct HandlerSpec {
    /// The chain from `#[authentication(..)]`; `None` means the app's default chain.
    pub chain: Option<Vec<SchemeRef>>,
    /// The permission from `#[permission(..)]`; `None` means `DefaultPermission`.
    pub permission: Option<PermExpr>,
    /// The throttles from `#[throttle(..)]` (possibly none); `None` means the
    /// settings' defaults, `DefaultThrottles`.
    pub throttles: Option<Vec<ThrottleExpr>>,
}

/// What to do with a function carrying a handler attribute.
#[derive(Debug)]
pub(crate) enum Handler {
    /// Generate the wrapper.
    Wrap(HandlerSpec, Box<syn::ItemFn>),
    /// Emit the errors, if any, then the item (which may carry a sibling
    /// attribute that will generate the wrapper).
    PassThrough(Option<syn::Error>, TokenStream),
}

/// A settings section that is not a scheme's: one row of [`CONFIG_KEYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConfigKey {
    /// The settings key used by `#[auth(throttle)]`, e.g. `throttle`.
    pub key: &'static str,
    /// The type's name in `auth_runtime`, e.g. `ThrottleConfig`.
    pub ty: &'static str,
}

impl ConfigKey {
    /// The section whose settings key is `key`, if any.
    pub fn by_key(key: &str) -> Option<ConfigKey> {
        CONFIG_KEYS.iter().find(|(k, _)| *k == key).map(|&(key, ty)| ConfigKey { key, ty })
    }
}

/// What a field bound with `#[auth(key)]` configures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConfigTarget {
    /// A scheme (`#[auth(basic)]`); the type is the scheme's `Config`.
    Scheme(Scheme),
    /// The user's own scheme (`#[auth(scheme = ApiKey)]`); the type is its `Config`.
    Custom(syn::Path),
    /// Another section (`#[auth(throttle)]`); the type is `::auth_runtime::TYPE`.
    Section(ConfigKey),
}

impl ConfigTarget {
    /// The target whose settings key is `key` (a scheme's or a section's), if any.
    pub fn by_key(key: &str) -> Option<ConfigTarget> {
        Scheme::by_key(key).map(ConfigTarget::Scheme).or_else(|| ConfigKey::by_key(key).map(ConfigTarget::Section))
    }
}

/// A field of the settings struct bound to a scheme or a section with `#[auth(key)]`.
#[derive(Debug, Clone)]
pub(crate) struct ConfigField {
    /// What it configures.
    pub target: ConfigTarget,
    /// The field's name.
    pub member: Ident,
    /// The field's type (its span points `with_config` errors at the field).
    pub ty: Type,
}

/// One option of a field's `#[auth(..)]`, as parsed: it binds field number
/// `field` to `target`. The check pass turns these into [`ConfigField`]s.
#[derive(Debug, Clone)]
pub(crate) struct FieldBinding {
    /// The field's position in the struct.
    pub field: usize,
    /// The field's name.
    pub member: Ident,
    /// The field's type.
    pub ty: Type,
    /// The option as written (`basic`, `scheme`).
    pub name: Ident,
    /// What the option binds the field to.
    pub target: ConfigTarget,
}

/// The input of `#[derive(AuthSettings)]` as parsed, before the check pass.
#[derive(Debug)]
pub(crate) struct ParsedSettings {
    /// The struct's name.
    pub ident: Ident,
    /// The struct's generics.
    pub generics: Generics,
    /// The default chain from `#[auth(chain(..))]`, if given.
    pub chain: Option<Vec<SchemeRef>>,
    /// The default permission from `#[auth(permission(..))]`, if given and valid.
    pub permission: Option<PermExpr>,
    /// The fields' `#[auth(..)]` options in source order, each parsed or its
    /// syntax error; `None` if the input is not a struct with named fields.
    pub bindings: Option<Vec<syn::Result<FieldBinding>>>,
}

/// Everything `#[derive(AuthSettings)]` needs to generate its impl.
#[derive(Debug, Clone)]
pub(crate) struct SettingsSpec {
    /// The struct's name.
    pub ident: Ident,
    /// The struct's generics.
    pub generics: Generics,
    /// The default chain from `#[auth(chain(..))]`.
    pub chain: Vec<SchemeRef>,
    /// The default permission from `#[auth(permission(..))]`; `None` means `IsAuthenticated`.
    pub permission: Option<PermExpr>,
    /// The fields that configure a scheme or a section, in declaration order.
    pub configs: Vec<ConfigField>,
}

/// Which of the handler attributes is being expanded (the others are its siblings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandlerAttr {
    /// `#[authentication(..)]`.
    Authentication,
    /// `#[permission(..)]`.
    Permission,
    /// `#[throttle(..)]`.
    Throttle,
}

impl HandlerAttr {
    /// The attribute's name, as matched against the last segment of an attribute path.
    pub fn name(self) -> &'static str {
        match self {
            HandlerAttr::Authentication => "authentication",
            HandlerAttr::Permission => "permission",
            HandlerAttr::Throttle => "throttle",
        }
    }

    /// The handler attribute named `name`, if any.
    pub fn from_name(name: &str) -> Option<HandlerAttr> {
        match name {
            "authentication" => Some(HandlerAttr::Authentication),
            "permission" => Some(HandlerAttr::Permission),
            "throttle" => Some(HandlerAttr::Throttle),
            _ => None,
        }
    }
}
