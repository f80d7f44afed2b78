// A scheme of the user's own that does not exist is reported by rustc where it is named.
use auth_runtime::authentication;

#[authentication(Token, crate::auth::ApiKey)]
async fn handler() -> &'static str {
    ""
}

fn main() {}
