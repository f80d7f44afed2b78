use auth_runtime::authentication;

#[authentication(Basic, Token, Basic)]
async fn handler() -> &'static str {
    ""
}

fn main() {}
