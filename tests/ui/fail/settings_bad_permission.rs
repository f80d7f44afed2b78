use auth_runtime::AuthSettings;

struct NotAPermission;

#[derive(AuthSettings)]
#[auth(chain(Basic), permission(IsAuthenticated && IsAdminUser))]
pub struct Grammar {
    #[auth(basic)]
    pub basic: auth_runtime::BasicConfig,
}

#[derive(AuthSettings)]
#[auth(chain(Basic), permission(!NotAPermission))]
pub struct NotPermission {
    #[auth(basic)]
    pub basic: auth_runtime::BasicConfig,
}

#[derive(AuthSettings)]
#[auth(chain(Basic), permission(IsAuthenticated))]
#[auth(chain(Token), permission)]
pub struct Twice {
    #[auth(basic)]
    pub basic: auth_runtime::BasicConfig,
}

fn main() {}
