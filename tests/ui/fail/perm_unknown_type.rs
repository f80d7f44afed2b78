// A user permission that does not exist is reported by rustc where it is named.
use auth_runtime::permission;

#[permission(IsAuthenticated & IsOwnr)]
async fn handler() -> &'static str {
    ""
}

fn main() {}
