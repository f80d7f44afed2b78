use auth_runtime::permission;

#[permission("IsAdminUser")]
async fn string() -> &'static str {
    ""
}

#[permission(IsAuthenticated & true)]
async fn boolean() -> &'static str {
    ""
}

fn main() {}
