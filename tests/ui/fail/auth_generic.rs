use auth_runtime::authentication;

#[authentication(Basic)]
async fn handler<T: Default>() -> String {
    let _ = T::default();
    String::new()
}

fn main() {}
