//! The SAM template routes exactly the API the code serves, each path to its own function.

use std::collections::BTreeSet;

use shared::http::{openapi_for, Group};

type Routes = BTreeSet<(String, String)>;

/// Each endpoint group and the template resource of its function.
pub(crate) const FUNCTIONS: [(Group, &str); 5] = [
    (Group::Auth, "AuthFunction"),
    (Group::Users, "UsersFunction"),
    (Group::Files, "FilesFunction"),
    (Group::Zip, "ZipFunction"),
    (Group::Shares, "SharesFunction"),
];

/// (METHOD, path) of every `HttpApi` event of `resource` in infra/template.yaml. The template
/// writes each event's properties on one line: `{ApiId: ..., Method: GET, Path: /api/...}`.
/// AuthFunction's catch-all `ANY /{proxy+}` must be there, and is left out.
pub(crate) fn template_routes(resource: &str) -> Routes {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml"))
        .expect("infra/template.yaml");
    let mut current = String::new();
    let mut routes = Routes::new();
    for line in text.lines() {
        // A resource starts at two spaces of indentation: `  AuthFunction:`
        if line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':') {
            current = line.trim().trim_end_matches(':').to_owned();
        }
        if current != resource || !line.contains("ApiId:") {
            continue;
        }
        let field = |name: &str| {
            let rest = line.split(&format!("{name}: ")).nth(1)?;
            // A quoted value ends at its quote (paths hold braces); a plain one at `,` or `}`.
            let value: String = match rest.strip_prefix('"') {
                Some(quoted) => quoted.chars().take_while(|c| *c != '"').collect(),
                None => rest
                    .chars()
                    .take_while(|c| !matches!(c, ',' | '}'))
                    .collect(),
            };
            Some(value.trim().to_owned())
        };
        let (Some(method), Some(path)) = (field("Method"), field("Path")) else {
            panic!("unparsed event line in {resource}: {line}");
        };
        routes.insert((method.to_uppercase(), path));
    }
    // The catch-all that sends unrouted requests to the app's JSON 404/405 is not an API route.
    if resource == "AuthFunction" {
        assert!(
            routes.remove(&("ANY".to_owned(), "/{proxy+}".to_owned())),
            "no fallback route"
        );
    }
    routes
}

fn code_routes(group: Group) -> Routes {
    let doc = serde_json::to_value(openapi_for(group)).unwrap();
    let mut routes = Routes::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

#[test]
fn every_route_is_in_the_template_with_its_function_and_nothing_else() {
    let mut total = 0;
    for (group, resource) in FUNCTIONS {
        let in_code = code_routes(group);
        let in_template = template_routes(resource);
        // An HTTP API route cannot end in a slash (SAM drops such an event's route without a
        // word): `/api/files/list/` reaches a function through the catch-all, and the routers
        // answer it (seed_clients.rs: `seed_examples_through_api_gateway`).
        let slashed: Vec<_> = in_template
            .iter()
            .filter(|(_, p)| p.ends_with('/'))
            .collect();
        assert!(
            slashed.is_empty(),
            "{resource} routes slash paths: {slashed:?}"
        );
        let missing: Vec<_> = in_code.difference(&in_template).collect();
        let extra: Vec<_> = in_template.difference(&in_code).collect();
        assert!(
            missing.is_empty(),
            "{resource} lacks routes the code serves: {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "{resource} routes what the code does not serve: {extra:?}"
        );
        total += in_code.len();
    }
    let whole: usize = serde_json::to_value(shared::http::openapi()).unwrap()["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(
        total, whole,
        "every documented route belongs to exactly one function"
    );
}

/// `[workspace.metadata.lambda.watch.router]` of Cargo.toml: (path, function), for `cargo lambda
/// watch`.
fn cargo_lambda_router() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let mut in_router = false;
    let mut mapped = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with('[') {
            in_router = line.trim() == "[workspace.metadata.lambda.watch.router]";
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if let (true, Some((path, function))) = (in_router, line.split_once(" = ")) {
            mapped.insert((
                path.trim_matches('"').to_owned(),
                function.trim_matches('"').to_owned(),
            ));
        }
    }
    mapped
}

/// Every served path maps to its function, and so does its twin with a trailing slash: cargo
/// lambda's router matches paths exactly (matchit). Nothing else is mapped.
#[test]
fn the_cargo_lambda_router_maps_every_path_and_its_slash_twin_to_its_function() {
    let mut served = BTreeSet::new();
    for group in Group::ALL {
        for (_, path) in code_routes(group) {
            served.insert((format!("{path}/"), group.name().to_owned()));
            served.insert((path, group.name().to_owned()));
        }
    }
    assert_eq!(cargo_lambda_router(), served);
}

/// The table routes as cargo lambda's matchit router does (axum routes with matchit 0.8 too): it
/// has no conflicting paths, and a request with and without the slash reaches the same function.
#[tokio::test]
async fn the_cargo_lambda_router_sends_both_forms_of_a_path_to_one_function() {
    use axum::routing::any;
    use tower::ServiceExt;
    let table = cargo_lambda_router()
        .into_iter()
        .fold(axum::Router::new(), |router, (path, function)| {
            router.route(&path, any(move || async move { function }))
        });
    for group in Group::ALL {
        for (_, template) in code_routes(group) {
            let path = instance(&template);
            for uri in [path.clone(), format!("{path}/")] {
                let request = http::Request::get(&uri)
                    .body(axum::body::Body::empty())
                    .unwrap();
                let response = table.clone().oneshot(request).await.unwrap();
                let body = axum::body::to_bytes(response.into_body(), 1024)
                    .await
                    .unwrap();
                assert_eq!(body, group.name(), "{uri}");
            }
        }
    }
}

/// One path the route `template` takes: each `{parameter}` becomes `p1`.
pub(crate) fn instance(template: &str) -> String {
    template
        .split('/')
        .map(|s| if s.starts_with('{') { "p1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// The bucket's lifecycle rules expire exactly the key roots the layout says are short-lived
/// (the local store's sweeper reads the same list).
#[test]
fn the_bucket_expires_exactly_the_layouts_short_lived_roots() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml"))
        .expect("infra/template.yaml");
    let expiring: BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Prefix: "))
        .collect();
    let layout: BTreeSet<&str> = shared::layout::EXPIRING_ROOTS.into_iter().collect();
    assert_eq!(expiring, layout);
}
