use auth_runtime::{authentication, permission};

#[permission()]
async fn handler() -> &'static str {
    ""
}

#[authentication(Basic)]
#[permission]
async fn sibling() -> &'static str {
    ""
}

#[permission(IsAuthenticated & ())]
async fn parens() -> &'static str {
    ""
}

fn main() {}
