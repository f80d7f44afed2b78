use auth_runtime::authentication;

struct Api;

impl Api {
    #[authentication(Basic)]
    async fn handler(&self) -> &'static str {
        ""
    }
}

fn main() {
    let _ = Api.handler();
}
