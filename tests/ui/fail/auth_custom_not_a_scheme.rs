// A path in #[authentication] that names a type which is not a scheme: the error points at
// the path and names the missing trait.
use auth_runtime::authentication;

struct NotAScheme;

#[authentication(Token, NotAScheme)]
async fn handler() -> &'static str {
    ""
}

fn main() {}
