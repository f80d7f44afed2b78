// A value that is not a permission is reported where it is named.
use auth_runtime::permission;

struct NotAPermission;

#[permission(IsAuthenticated | NotAPermission)]
async fn handler() -> &'static str {
    ""
}

fn main() {}
