use auth_runtime::permission;

#[permission(IsAuthenticated &)]
async fn trailing() -> &'static str {
    ""
}

#[permission(| IsAdminUser)]
async fn leading() -> &'static str {
    ""
}

#[permission(IsAuthenticated & !)]
async fn bang() -> &'static str {
    ""
}

fn main() {}
