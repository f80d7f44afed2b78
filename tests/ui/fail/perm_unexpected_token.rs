use auth_runtime::permission;

#[permission(IsAuthenticated, IsAdminUser)]
async fn comma() -> &'static str {
    ""
}

#[permission(IsAuthenticated == IsAdminUser)]
async fn eq() -> &'static str {
    ""
}

#[permission(IsAuthenticated IsAdminUser)]
async fn juxtaposed() -> &'static str {
    ""
}

#[permission(IsAuthenticated & + IsAdminUser)]
async fn plus() -> &'static str {
    ""
}

fn main() {}
