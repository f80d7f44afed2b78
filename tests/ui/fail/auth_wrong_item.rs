use auth_runtime::{authentication, permission};

#[authentication(Basic)]
pub struct Handler {
    field: u8,
}

#[permission(IsAuthenticated)]
impl Handler {
    fn get(&self) -> u8 {
        self.field
    }
}

fn main() {
    let _ = Handler { field: 1 }.get();
}
