// `#[auth(scheme = X)]` binds a field to X's `Config`: a field of another type is reported
// on the field's type; a path that is not a scheme on the path.
use auth_runtime::{Auth, AuthError, AuthSettings, Outcome, Scheme};

struct ApiKey;

#[derive(Clone, Default)]
struct ApiKeyConfig;

impl Scheme for ApiKey {
    const NAME: &'static str = "api_key";
    type Config = ApiKeyConfig;
    async fn authenticate(_: &auth_runtime::Context<'_>) -> Outcome {
        Outcome::NoCredentials
    }
    fn challenge(_: &Auth, _: Option<&AuthError>) -> Option<String> {
        None
    }
}

struct NotAScheme;

#[derive(AuthSettings)]
#[auth(chain(ApiKey, Token))]
pub struct Settings {
    #[auth(token)]
    pub token: auth_runtime::TokenConfig,
    #[auth(scheme = ApiKey)]
    pub api_key: String,
    #[auth(scheme = NotAScheme)]
    pub other: String,
}

fn main() {}
