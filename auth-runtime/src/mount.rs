//! Setting up in two calls: [`AuthBuilder::start`] validates the configuration and connects
//! the stores at start-up (a misconfiguration fails the start, not the first request), and
//! [`app`] mounts the framework on an actix-web `App`: the state, the extractor
//! configurations, the endpoints under the settings' prefixes ([`EndpointsConfig`]), JSON
//! errors for everything (404 included), the session middleware and the HTTP edge (host
//! check, security headers, HEAD).
//!
//! ```no_run
//! # async fn run(db: sea_orm::DatabaseConnection, secret: auth_runtime::SecretKey) -> Result<(), Box<dyn std::error::Error>> {
//! use actix_web::{HttpServer, web};
//! use auth_runtime::{Auth, Principal};
//!
//! async fn whoami(p: Principal) -> String {
//!     p.username().unwrap_or_default().to_owned()
//! }
//! fn routes(cfg: &mut web::ServiceConfig) {
//!     cfg.route("/whoami", web::get().to(whoami));
//! }
//!
//! let framework = Auth::builder(db, secret).start().await?;
//! HttpServer::new(move || auth_runtime::mount::app(&framework, routes)).bind("127.0.0.1:8000")?.run().await?;
//! # Ok(()) }
//! ```
//!
//! [`EndpointsConfig`]: crate::endpoints::EndpointsConfig

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};

use crate::endpoints;
use crate::error::SetupError;
use crate::http;
use crate::schemes::session::store::Sessions;
use crate::schemes::{jwt, oauth2, session, token};
use crate::setup::AuthBuilder;
use crate::state::Auth;

/// The framework, started: its state and its session middleware, both cheap to clone.
#[derive(Clone)]
pub struct Framework {
    /// The framework state (handlers may extract it).
    pub auth: Auth,
    /// The session middleware, its store connected.
    pub sessions: Sessions,
}

impl AuthBuilder {
    /// [`AuthBuilder::build`] (settings made twice, JWT keys), then connects everything
    /// before the first request: the session store
    /// ([`Sessions::new`]), and the revocation bus that applies other instances'
    /// revocations to this one's principal cache ([`Auth::start_revocation_bus`]). Call it
    /// once per process, inside the actix runtime.
    ///
    /// # Errors
    /// [`SetupError`] naming what is misconfigured or unreachable.
    pub async fn start(self) -> Result<Framework, SetupError> {
        let auth = self.build()?;
        auth.start_revocation_bus().await.map_err(SetupError::RevocationBus)?;
        let sessions = Sessions::new(&auth).await.map_err(SetupError::Sessions)?;
        Ok(Framework { auth, sessions })
    }
}

/// An `App` with the framework mounted and `routes` (the app's own) registered after its
/// endpoints: the state
/// and extractor configurations (JSON bodies up to [`http::DEFAULT_BODY_LIMIT`], JSON
/// errors for bad paths and queries), the endpoint groups of the settings'
/// [`endpoints::EndpointsConfig`] (the JSON API, the HTML login page, the OAuth2
/// authorization server with its metadata), a JSON 404 for every other path, and the
/// middleware: sessions, JSON errors, the HTTP edge ([`http::edge`]).
///
/// Add your own `.wrap(...)` and `.app_data(...)` to the result as usual.
pub fn app<F>(
    framework: &Framework,
    routes: F,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody + use<F>>,
        Error = actix_web::Error,
        InitError = (),
    > + use<F>,
>
where
    F: FnOnce(&mut web::ServiceConfig),
{
    let mounts = endpoints::mounts(&framework.auth).into_owned();
    let mut app = App::new()
        .app_data(framework.auth.clone())
        .app_data(http::json_config(http::DEFAULT_BODY_LIMIT))
        .app_data(http::path_config())
        .app_data(http::query_config());
    if let Some(api) = &mounts.api {
        app = app.service(
            web::scope(api.trim_end_matches('/'))
                .configure(token::token_routes)
                .configure(jwt::jwt_routes)
                .configure(session::session_routes),
        );
    }
    if let Some(page) = &mounts.login_page {
        app = app.service(web::scope(page.trim_end_matches('/')).configure(session::login_page_routes));
    }
    if let Some(oauth2) = &mounts.oauth2 {
        app = app
            .service(web::scope(oauth2.trim_end_matches('/')).configure(endpoints::oauth2_routes))
            .configure(oauth2::endpoints::metadata_routes);
    }
    app.configure(routes)
        .default_service(web::to(http::not_found))
        .wrap(framework.sessions.clone())
        .wrap(http::json_errors())
        .wrap(actix_web::middleware::from_fn(http::edge))
}
