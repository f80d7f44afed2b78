// The wrapped handler's own mistakes (an argument that is not an extractor, a
// return type that is not a responder) are reported by rustc on the handler.
use auth_runtime::authentication;

struct NotAnExtractor;
struct NotAResponder;

#[authentication(Basic)]
async fn bad_argument(_x: NotAnExtractor) -> &'static str {
    ""
}

#[authentication(Token)]
async fn bad_return() -> NotAResponder {
    NotAResponder
}

fn main() {}
