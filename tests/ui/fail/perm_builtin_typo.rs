// A bare name one typo away from a built-in permission or throttle: the error suggests it.
use auth_runtime::{permission, throttle};

#[permission(IsAuthenticated & IsAdmin)]
#[throttle(UserRte)]
async fn handler() -> &'static str {
    ""
}

fn main() {}
