use auth_runtime::authentication;

#[authentication(Basic, Tokn, basic)]
async fn handler() -> &'static str {
    ""
}

fn main() {
    // The function is still emitted: no "cannot find function" cascade.
    let _ = handler;
}
