// `Scoped` takes exactly one string literal.
use auth_runtime::throttle;

const SCOPE: &str = "uploads";

#[throttle(Scoped)]
async fn bare() -> &'static str {
    ""
}

#[throttle(Scoped())]
async fn empty() -> &'static str {
    ""
}

#[throttle(Scoped(uploads))]
async fn ident() -> &'static str {
    ""
}

#[throttle(Scoped(SCOPE))]
async fn constant() -> &'static str {
    ""
}

#[throttle(Scoped("uploads", "downloads"))]
async fn two() -> &'static str {
    ""
}

fn main() {
    let _ = SCOPE;
}
