//! The HTTP face with arbitrary bodies and content types on every body-taking route:
//! an answer from the contract's list, never a 500 or a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use tesserad::config::Config;
use tesserad::service::Service;
use tesserad::store::Store;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    routes: warp::filters::BoxedFilter<(warp::reply::Response,)>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let config = Arc::new(Config::for_test(dir.path()));
        let routes = runtime.block_on(async {
            let store = Store::open(&config.data_dir).expect("store");
            let clock = Arc::new(tesserad::clock::SystemClock);
            let service = Service::open(config, store, clock, "http://fuzz.test".into())
                .await
                .expect("service");
            tesserad::http::routes(Arc::new(service))
        });
        Fixture {
            runtime,
            routes,
            _dir: dir,
        }
    })
}

const PATHS: [&str; 6] = [
    "/api/auth/register",
    "/api/auth/token",
    "/api/auth/token/refresh",
    "/oauth/token",
    "/oauth/introspect",
    "/oauth/revoke",
];
const TYPES: [&str; 4] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/json; charset=utf-8",
];

fuzz_target!(|input: (u8, u8, &[u8])| {
    let (path, kind, body) = input;
    let f = fixture();
    let response = f.runtime.block_on(
        warp::test::request()
            .method("POST")
            .path(PATHS[usize::from(path) % PATHS.len()])
            .header("content-type", TYPES[usize::from(kind) % TYPES.len()])
            .body(body.to_vec())
            .reply(&f.routes),
    );
    assert!(response.status().as_u16() < 500, "{} for {body:?}", response.status());
});
