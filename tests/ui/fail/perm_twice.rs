use auth_runtime::{authentication, permission};

#[authentication(Basic)]
#[permission(IsAuthenticated)]
#[permission(IsAdminUser)]
async fn handler() -> &'static str {
    ""
}

fn main() {}
