//! Micro-benchmarks of the pure-CPU parts of the request path (`cargo bench -p auth-runtime`):
//! header parsing, the chain when no scheme finds credentials, JWT verification, the CSRF
//! token check, permission evaluation and a principal-cache hit. The end-to-end figures
//! come from `bench/run.sh`.

use std::hint::black_box;

use actix_web::test::TestRequest;
use auth_runtime::cache::{GenCache, PrincipalCache};
use auth_runtime::header::Authorization;
use auth_runtime::permissions::{And, Context, HasScope, IsAdminUser, IsAuthenticated, IsOAuth2, Or, Permission};
use auth_runtime::schemes::jwt::{self, TokenKind};
use auth_runtime::schemes::session::{mask, unmask};
use auth_runtime::schemes::{Basic, Jwt, Token};
use auth_runtime::{Auth, CacheConfig, Chain, Principal, SchemeData, SecretKey, User};
use criterion::{Criterion, criterion_group, criterion_main};
use subtle::ConstantTimeEq;

fn user() -> User {
    User {
        id: 1,
        username: "alice".into(),
        email: String::new(),
        is_staff: false,
        is_active: true,
        is_superuser: false,
        fields: Default::default(),
    }
}

fn state(rt: &tokio::runtime::Runtime) -> Auth {
    rt.block_on(async {
        let db = sea_orm::Database::connect("sqlite::memory:").await.expect("sqlite");
        Auth::builder(db, SecretKey::new(vec![7u8; 64]).expect("secret")).build().expect("state")
    })
}

fn header_parsing(c: &mut Criterion) {
    let value = b"Token 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    c.bench_function("header/parse_token", |b| {
        b.iter(|| {
            let h = Authorization::parse(black_box(value)).expect("parses");
            black_box(h.is("token"))
        })
    });
}

fn chain_without_credentials(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let auth = state(&rt);
    let req = TestRequest::default().insert_header(("Accept", "application/json")).to_http_request();
    c.bench_function("chain/no_credentials(Basic,Token,Jwt)", |b| {
        b.iter(|| rt.block_on(async { black_box(<(Basic, Token, Jwt)>::authenticate(&req, &auth).await.is_ok()) }))
    });
}

fn jwt_verification(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let auth = state(&rt);
    let token = rt.block_on(async {
        use sea_orm_migration::MigratorTrait;
        struct M;
        impl MigratorTrait for M {
            fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
                auth_runtime::migrations::migrations()
            }
        }
        M::up(auth.db(), None).await.expect("migrate");
        jwt::issue_access(&auth, &user()).await.expect("token")
    });
    c.bench_function("jwt/verify_hs256_access", |b| {
        b.iter(|| black_box(jwt::verify(&auth, black_box(&token), &[TokenKind::Access], true).is_ok()))
    });
}

fn csrf_check(c: &mut Criterion) {
    let secret = [9u8; 32];
    let token = mask(&secret);
    c.bench_function("csrf/unmask_and_compare", |b| {
        b.iter(|| black_box(unmask(black_box(&token)).is_some_and(|s| bool::from(s.ct_eq(&secret)))))
    });
}

/// The output of a future that is ready at its first poll (the built-in permissions never
/// await), without a runtime.
fn ready_now<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("a built-in permission awaited"),
    }
}

fn permission_evaluation(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let auth = state(&rt);
    let req = TestRequest::default().to_http_request();
    let principal = Principal::for_user(
        user(),
        "oauth2",
        SchemeData::OAuth2 { client_id: "c".into(), scopes: vec!["read".into(), "write".into()], token_id: 1 },
    );
    let permission = And(IsAuthenticated, And(HasScope("write"), Or(IsOAuth2, IsAdminUser)));
    c.bench_function("permission/IsAuthenticated&HasScope&(IsOAuth2|IsAdminUser)", |b| {
        b.iter(|| {
            let cx = Context::new(&auth, &req, Some(black_box(&principal)));
            black_box(ready_now(permission.has_permission(&cx)).is_ok_and(|allowed| allowed))
        })
    });
}

fn cache_hit(c: &mut Criterion) {
    let cache = PrincipalCache::new(&CacheConfig::default());
    let principals = cache.principals();
    let key = GenCache::<Principal>::key("token", b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    let principal = Principal::for_user(user(), "token", SchemeData::Token { token_id: 1, prefix: "01234567".into() });
    principals.insert(key, principals.snapshot(), principal, Some(1), None, None);
    c.bench_function("cache/principal_hit", |b| {
        b.iter(|| {
            let key = GenCache::<Principal>::key(
                "token",
                black_box(b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            );
            black_box(principals.get(&key).is_some())
        })
    });
}

criterion_group!(
    benches,
    header_parsing,
    chain_without_credentials,
    jwt_verification,
    csrf_check,
    permission_evaluation,
    cache_hit
);
criterion_main!(benches);
