//! docs/openapi.yaml stays true: its operations are exactly the routes the daemon
//! documents (`/// METHOD /path` on every route function), and each one is served.

use crate::harness::TestDaemon;
use std::collections::BTreeSet;
use std::path::Path;
use yaml_rust2::YamlLoader;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// (METHOD, path) of every operation in the spec.
fn spec_operations() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(root().join("docs/openapi.yaml")).unwrap();
    let docs = YamlLoader::load_from_str(&text).expect("docs/openapi.yaml is valid YAML");
    let spec = &docs[0];
    assert_eq!(spec["openapi"].as_str(), Some("3.1.0"));
    let mut ops = BTreeSet::new();
    for (path, item) in spec["paths"].as_hash().expect("paths") {
        for (method, _) in item.as_hash().expect("path item") {
            let method = method.as_str().unwrap().to_uppercase();
            if METHODS.contains(&method.as_str()) {
                ops.insert((method, path.as_str().unwrap().to_owned()));
            }
        }
    }
    ops
}

/// (METHOD, path) of every `/// METHOD /path` doc line in daemon/src/http.
fn routed_operations() -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("daemon/src/http")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines().filter_map(|l| l.trim().strip_prefix("///")) {
            let words: Vec<&str> = line.split_whitespace().map(|w| w.trim_end_matches(')')).collect();
            for pair in words.windows(2) {
                if METHODS.contains(&pair[0]) && pair[1].starts_with('/') {
                    ops.insert((pair[0].to_owned(), pair[1].to_owned()));
                }
            }
        }
    }
    ops
}

#[tokio::test]
async fn the_spec_lists_exactly_the_routes_and_each_is_served() {
    let spec = spec_operations();
    let routed = routed_operations();
    let missing: Vec<_> = routed.difference(&spec).collect();
    let extra: Vec<_> = spec.difference(&routed).collect();
    assert!(missing.is_empty(), "routes the spec lacks: {missing:?}");
    assert!(extra.is_empty(), "spec operations with no route: {extra:?}");
    assert!(spec.len() >= 17, "{spec:?}");

    let d = TestDaemon::start();
    for (method, path) in &spec {
        let url = d.url(&path.replace("{id}", "some-id"));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = d.send(d.client().request(method.clone(), url)).await;
        assert_ne!(resp.status, 405, "{method} {path} is not served");
        assert!(!resp.text.contains("no such endpoint"), "{method} {path} is not routed");
    }
}
