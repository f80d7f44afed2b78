use auth_runtime::authentication;

#[authentication(Basic)]
#[authentication(Token)]
async fn handler() -> &'static str {
    ""
}

fn main() {}
