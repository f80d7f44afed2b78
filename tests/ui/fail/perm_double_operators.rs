use auth_runtime::permission;

#[permission(IsAuthenticated && IsAdminUser || AllowAny)]
async fn handler() -> &'static str {
    ""
}

fn main() {}
