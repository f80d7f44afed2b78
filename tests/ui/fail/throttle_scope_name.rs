// A scope name is a key of the settings' `throttle.scopes`: `[a-z0-9_-]+`.
use auth_runtime::throttle;

#[throttle(Scoped("Uploads"))]
async fn upper() -> &'static str {
    ""
}

#[throttle(UserRate, Scoped("file uploads"))]
async fn space() -> &'static str {
    ""
}

#[throttle(Scoped(""))]
async fn empty() -> &'static str {
    ""
}

fn main() {}
