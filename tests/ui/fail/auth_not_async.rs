use auth_runtime::authentication;

#[authentication(Basic)]
fn handler() -> &'static str {
    ""
}

fn main() {
    let _ = handler;
}
