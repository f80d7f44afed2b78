use auth_runtime::authentication;

#[authentication(Basic::new(), "Token", auth_runtime::schemes::Token, 42)]
async fn handler() -> &'static str {
    ""
}

fn main() {}
