use auth_runtime::authentication;

#[authentication()]
async fn handler() -> &'static str {
    ""
}

#[authentication]
async fn other() -> &'static str {
    ""
}

fn main() {
    let _ = (handler, other);
}
