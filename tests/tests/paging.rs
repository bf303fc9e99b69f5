//! Paged lists on the command line (see README, "Paged lists"): a page at a time in
//! key order, a `next:` line that continues, `--all`, prefix search, and the limits.

use crate::harness::TestDaemon;

/// The first column of every row of a human page (header and `next:` left out).
fn first_column(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("next: "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Runs `tessera ARGS`, then the command each page's `next:` line gives, until a page
/// has none; every page's first column, in order. `check` sees each page's output.
fn walk(d: &TestDaemon, args: &[&str], check: impl Fn(&str)) -> Vec<String> {
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let mut walked = Vec::new();
    for _ in 0..100 {
        let page = d.tessera(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(page.code, 0, "{}", page.stderr);
        check(&page.stdout);
        walked.extend(first_column(&page.stdout));
        let Some(next) = page
            .stdout
            .lines()
            .last()
            .and_then(|l| l.strip_prefix("next: tessera "))
        else {
            return walked;
        };
        args = next.split_whitespace().map(String::from).collect();
    }
    panic!("no end after 100 pages: {walked:?}")
}

#[tokio::test]
async fn user_list_walks_a_page_at_a_time_and_says_how_to_go_on() {
    let d = TestDaemon::start();
    for name in ["dora", "Carl", "bea", "amy", "eddy"] {
        d.register(name).await;
    }
    let every = ["amy", "bea", "Carl", "dora", "eddy"];

    // Two at a time, following each page's last line.
    let walked = walk(&d, &["user", "list", "--limit", "2"], |_| {});
    assert_eq!(walked, every);
    let first = d.tessera(&["user", "list", "--limit", "2"]).stdout;
    assert_eq!(
        first.lines().last(),
        Some("next: tessera user list --limit 2 --after bea")
    );

    // JSON: the page's array only; with --all, every user in one array.
    let page = d.tessera(&["user", "list", "--limit", "2", "--json"]).json();
    assert_eq!(page.as_array().unwrap().len(), 2);
    let all = d.tessera(&["user", "list", "--all", "--json"]).json();
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, every);
    assert_eq!(first_column(&d.tessera(&["user", "list", "--all"]).stdout), every);

    // Search: the start of the username or the email, any case.
    assert_eq!(
        first_column(&d.tessera(&["user", "list", "--search", "C"]).stdout),
        ["Carl"]
    );
    assert_eq!(
        first_column(&d.tessera(&["user", "list", "--search", "EDDY@EXAMPLE"]).stdout),
        ["eddy"]
    );
    let searched = d.tessera(&["user", "list", "--search", "d", "--limit", "1"]).stdout;
    assert_eq!(first_column(&searched), ["dora"]);
    assert!(!searched.contains("next:"), "nothing follows: {searched}");

    // Past the end: an empty page; out of bounds: a usage error.
    let past = d.tessera(&["user", "list", "--after", "zzz"]);
    assert_eq!((past.code, past.stdout.trim()), (0, "no users"));
    for limit in ["0", "1001"] {
        let refused = d.tessera(&["user", "list", "--limit", limit]);
        assert_eq!(refused.code, 2, "--limit {limit}: {}", refused.stderr);
    }
}

#[tokio::test]
async fn session_list_walks_a_page_at_a_time_shows_kind_and_client_and_searches_by_user() {
    let d = TestDaemon::start();
    for name in ["amy", "bob"] {
        d.register(name).await;
        d.login(name).await;
    }
    let every: Vec<String> = d
        .tessera(&["session", "list", "--all", "--json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(every.len(), 4);
    assert!(every.windows(2).all(|w| w[0] < w[1]), "in id order: {every:?}");

    let walked = walk(&d, &["session", "list", "--limit", "3"], |page| {
        let header = page.lines().next().unwrap();
        assert!(
            header.starts_with("ID") && header.contains("KIND") && header.contains("CLIENT"),
            "{header}"
        );
    });
    assert_eq!(walked, every);

    let bobs = d.tessera(&["session", "list", "--search", "B", "--json"]).json();
    let owners: Vec<&str> = bobs
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["username"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["bob", "bob"]);
    let amys = d.tessera(&["session", "list", "amy", "--limit", "1"]).stdout;
    assert_eq!(first_column(&amys).len(), 1);
    assert!(
        amys.lines()
            .last()
            .unwrap()
            .starts_with("next: tessera session list amy --limit 1 --after ")
    );
}

#[tokio::test]
async fn token_list_walks_a_page_at_a_time_of_everyone_one_user_or_a_search() {
    let d = TestDaemon::start();
    for name in ["amy", "bob"] {
        let bearer = crate::harness::s(&d.register(name).await, "accessToken");
        for label in ["ci", "backup"] {
            let made = d
                .create_api_token(&bearer, serde_json::json!({ "name": label, "scopes": ["read"] }))
                .await;
            assert_eq!(made.status, 201, "{}", made.text);
        }
    }
    let ids = |args: &[&str]| -> Vec<String> {
        d.tessera(args)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let every = ids(&["token", "list", "--all", "--json"]);
    assert_eq!(every.len(), 4);
    assert!(every.windows(2).all(|w| w[0] < w[1]), "in id order: {every:?}");
    let walked = walk(&d, &["token", "list", "--limit", "3"], |_| {});
    assert_eq!(walked, every);
    let amys = ids(&["token", "list", "amy", "--limit", "1", "--json"]);
    assert_eq!(amys.len(), 1);
    let rest = ids(&["token", "list", "amy", "--after", &amys[0], "--json"]);
    assert_eq!(rest.len(), 1);
    assert!(rest[0] > amys[0]);
    // Search by the owner's username prefix, any case, a page at a time.
    let bobs = ids(&["token", "list", "--search", "B", "--all", "--json"]);
    assert_eq!(bobs.len(), 2);
    assert!(
        bobs.iter().all(|id| !amys.contains(id) && !rest.contains(id)),
        "{bobs:?}"
    );
    assert_eq!(
        walk(&d, &["token", "list", "--search", "b", "--limit", "1"], |_| {}),
        bobs
    );
    assert!(ids(&["token", "list", "--search", "zed", "--json"]).is_empty());
}

#[tokio::test]
async fn audit_walks_newest_first_a_page_at_a_time() {
    let d = TestDaemon::start();
    for name in ["amy", "bob", "cyd"] {
        d.register(name).await;
    }
    let seqs = |args: &[&str]| -> Vec<u64> {
        d.tessera(args)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect()
    };
    let every = seqs(&["audit", "--all", "--json"]);
    assert!(every.len() >= 3, "{every:?}");
    assert!(every.windows(2).all(|w| w[0] > w[1]), "newest first: {every:?}");
    let first = d.tessera(&["audit", "--limit", "2"]).stdout;
    assert_eq!(first.lines().count(), 3, "two entries and the next line: {first}");
    let next = first.lines().last().unwrap();
    assert_eq!(next, format!("next: tessera audit --limit 2 --after {}", every[1]));
    assert_eq!(
        seqs(&["audit", "--limit", "2", "--after", &every[1].to_string(), "--json"]),
        every[2..every.len().min(4)]
    );
    let oldest = every.last().unwrap().to_string();
    assert_eq!(
        d.tessera(&["audit", "--after", &oldest]).stdout.trim(),
        "no audit entries"
    );
    let refused = d.tessera(&["audit", "--follow", "--after", "3"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
}
