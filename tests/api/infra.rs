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

/// The files function's schedule sends what the code takes for a sweep of stalled jobs, as often
/// as the local server sweeps.
#[test]
fn the_files_function_is_swept_on_a_schedule_the_code_understands() {
    let t = template();
    let event = &t["Resources"]["FilesFunction"]["Properties"]["Events"]["SweepJobs"];
    assert_eq!(event["Type"].as_str(), Some("Schedule"), "{event:?}");
    let input = event["Properties"]["Input"].as_str().expect("Input");
    let input: serde_json::Value = serde_json::from_str(input).expect("Input is JSON");
    assert!(shared::services::sweep_event(&input), "{input}");
    assert_eq!(shared::services::job_event(&input), None);
    let minutes = shared::services::SWEEP_PERIOD.as_secs() / 60;
    assert_eq!(
        event["Properties"]["Schedule"].as_str(),
        Some(format!("rate({minutes} minutes)").as_str())
    );
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/jobs/sweep.json"
    ))
    .expect("events/jobs/sweep.json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&fixture).unwrap(),
        input
    );
}

// The web app on AWS (issue 16): a private bucket behind CloudFront, CORS for its origin, and
// scripts/deploy-web.sh that fills it.

fn template() -> serde_norway::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml"))
        .expect("infra/template.yaml");
    serde_norway::from_str(&text).expect("yaml")
}

/// `value` as `!tag text`, or a failure.
fn tagged<'a>(value: &'a serde_norway::Value, tag: &str) -> &'a str {
    match value {
        serde_norway::Value::Tagged(t) if t.tag == tag => t.value.as_str().expect("tagged text"),
        other => panic!("expected {tag}: {other:?}"),
    }
}

/// The directives of a Content-Security-Policy: name → sources.
fn csp_directives(csp: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    csp.split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace().map(str::to_owned);
            Some((words.next()?, words.collect()))
        })
        .collect()
}

/// A `const NAME: &str = "..."` of src/web.rs, its line continuations joined as rustc does.
fn web_rs_const(name: &str) -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web.rs"))
        .expect("src/web.rs");
    // However rustfmt lays it out: `const NAME: &str =` then, on this line or the next, the literal.
    let start = format!("const {name}: &str =");
    let rest = text.split(&start).nth(1).expect("the constant");
    let rest = rest
        .trim_start()
        .strip_prefix('"')
        .expect("a string literal");
    let literal = rest.split("\";").next().unwrap();
    let mut joined = String::new();
    let mut pieces = literal.split("\\\n");
    joined.push_str(pieces.next().unwrap());
    for piece in pieces {
        joined.push_str(piece.trim_start());
    }
    joined
}

#[test]
fn the_web_bucket_is_private_and_only_its_distribution_reads_it() {
    let t = template();
    let r = &t["Resources"];
    let bucket = &r["WebBucket"]["Properties"];
    for block in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][block], true,
            "{block}"
        );
    }
    assert_eq!(
        bucket["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
        "BucketOwnerEnforced"
    );
    assert!(bucket["BucketEncryption"].is_mapping());
    assert!(
        bucket.get("WebsiteConfiguration").is_none(),
        "S3 website hosting is public"
    );
    let statements = &r["WebBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"];
    let statements = statements.as_sequence().unwrap();
    let deny = statements
        .iter()
        .find(|s| s["Effect"] == "Deny")
        .expect("TLS only");
    assert_eq!(deny["Condition"]["Bool"]["aws:SecureTransport"], "false");
    let allows: Vec<_> = statements
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .collect();
    assert_eq!(allows.len(), 1, "{allows:?}");
    let allow = allows[0];
    assert_eq!(allow["Principal"]["Service"], "cloudfront.amazonaws.com");
    let actions: Vec<_> = allow["Action"].as_sequence().unwrap().iter().collect();
    assert!(actions
        .iter()
        .all(|a| *a == "s3:GetObject" || *a == "s3:ListBucket"));
    let source = tagged(&allow["Condition"]["StringEquals"]["AWS:SourceArn"], "!Sub");
    assert!(
        source.ends_with(":distribution/${WebDistribution}"),
        "{source}"
    );
    let oac = &r["WebOriginAccessControl"]["Properties"]["OriginAccessControlConfig"];
    assert_eq!(oac["OriginAccessControlOriginType"], "s3");
    assert_eq!(oac["SigningProtocol"], "sigv4");
    assert_eq!(oac["SigningBehavior"], "always");
    let origin = &r["WebDistribution"]["Properties"]["DistributionConfig"]["Origins"][0];
    assert_eq!(
        tagged(&origin["OriginAccessControlId"], "!GetAtt"),
        "WebOriginAccessControl.Id"
    );
    assert_eq!(
        tagged(&origin["DomainName"], "!GetAtt"),
        "WebBucket.RegionalDomainName"
    );
    // Every resource of the app goes with the WebApp parameter, and says where it is
    for (name, resource) in r.as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        if name.starts_with("Web") {
            assert_eq!(resource["Condition"], "HasWebApp", "{name}");
        }
    }
    for output in ["WebUrl", "WebBucketName", "WebDistributionId"] {
        assert_eq!(t["Outputs"][output]["Condition"], "HasWebApp", "{output}");
    }
}

#[test]
fn the_distribution_serves_the_app_over_https_with_the_local_servers_headers() {
    let t = template();
    let r = &t["Resources"];
    let config = &r["WebDistribution"]["Properties"]["DistributionConfig"];
    assert_eq!(config["DefaultRootObject"], "index.html");
    let default = &config["DefaultCacheBehavior"];
    let docs = config["CacheBehaviors"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|b| b["PathPattern"] == "/api/docs*")
        .expect("a behavior for the API reference");
    for behavior in [default, docs] {
        assert_eq!(behavior["ViewerProtocolPolicy"], "redirect-to-https");
        assert_eq!(behavior["Compress"], true);
        let function = &behavior["FunctionAssociations"][0];
        assert_eq!(function["EventType"], "viewer-request");
        assert_eq!(
            tagged(&function["FunctionARN"], "!GetAtt"),
            "WebRoutesFunction.FunctionMetadata.FunctionARN"
        );
        assert_eq!(tagged(&behavior["CachePolicyId"], "!Ref"), "WebCachePolicy");
    }
    // Each policy is src/web.rs's, connect-src widened to the API and the bucket
    for (behavior, constant) in [(default, "CSP"), (docs, "DOCS_CSP")] {
        let policy = tagged(&behavior["ResponseHeadersPolicyId"], "!Ref");
        let headers =
            &r[policy]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"];
        let csp = &headers["ContentSecurityPolicy"];
        assert_eq!(csp["Override"], true);
        let mut aws = csp_directives(tagged(&csp["ContentSecurityPolicy"], "!Sub"));
        let mut local = csp_directives(&web_rs_const(constant));
        let connect = aws.remove("connect-src").expect("connect-src");
        let local_connect = local.remove("connect-src").unwrap();
        assert_eq!(aws, local, "{policy} differs from src/web.rs's {constant}");
        assert_eq!(connect[..local_connect.len()], local_connect[..]);
        for host in &connect[local_connect.len()..] {
            let known = [
                ".execute-api.${AWS::Region}.",
                ".s3.${AWS::Region}.",
                ".s3.",
            ];
            assert!(
                host.starts_with("https://*.") && known.iter().any(|k| host.contains(k)),
                "{policy}: connect-src {host}"
            );
        }
        assert!(
            connect.iter().any(|h| h.contains("execute-api")),
            "{policy}"
        );
        assert_eq!(headers["ContentTypeOptions"]["Override"], true);
        assert_eq!(headers["FrameOptions"]["FrameOption"], "DENY");
        assert_eq!(headers["ReferrerPolicy"]["ReferrerPolicy"], "no-referrer");
    }
    // Only GET and HEAD reach the bucket
    assert_eq!(
        default["AllowedMethods"],
        serde_norway::from_str::<serde_norway::Value>("[GET, HEAD]").unwrap()
    );
}

#[test]
fn cors_is_the_apps_origin_and_allows_what_the_api_reads_and_answers() {
    let t = template();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml"))
        .unwrap();
    let cors = &t["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"];
    let origins = serde_norway::to_string(cors).unwrap();
    assert!(
        origins.contains("https://${WebDistribution.DomainName}")
            && origins.contains("CorsAllowedOrigins"),
        "{origins}"
    );
    assert!(
        !origins.contains("'*'") && !origins.contains("\"*\""),
        "{origins}"
    );
    // The branch for a stack with CORS: its headers
    let on = match cors {
        serde_norway::Value::Tagged(t) => &t.value[1],
        other => panic!("{other:?}"),
    };
    let list = |key: &str| -> BTreeSet<String> {
        on[key]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let (allowed, exposed) = (list("AllowHeaders"), list("ExposeHeaders"));
    // Every request header and answer header the API documents
    let doc = serde_json::to_value(shared::http::openapi()).unwrap();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "header" {
                    let name = p["name"].as_str().unwrap().to_lowercase();
                    assert!(allowed.contains(&name), "AllowHeaders lacks {name}");
                }
            }
            for answer in op["responses"].as_object().unwrap().values() {
                for name in answer["headers"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|h| h.0)
                {
                    let name = name.to_lowercase();
                    assert!(exposed.contains(&name), "ExposeHeaders lacks {name}");
                }
            }
        }
    }
    for name in [
        "authorization",
        "content-type",
        "x-share-password",
        "x-share-token",
    ] {
        assert!(allowed.contains(name), "{name}");
    }
    for name in [
        "etag",
        "location",
        "retry-after",
        "content-disposition",
        "x-request-id",
    ] {
        assert!(exposed.contains(name), "{name}");
    }
    // The files bucket: direct uploads from the app, whose ETag it reads
    let bucket = serde_norway::to_string(&t["Resources"]["Bucket"]["Properties"]).unwrap();
    assert!(bucket.contains("https://${WebDistribution.DomainName}"));
    let rule = match &t["Resources"]["Bucket"]["Properties"]["CorsConfiguration"] {
        serde_norway::Value::Tagged(t) => &t.value[1]["CorsRules"][0],
        other => panic!("{other:?}"),
    };
    let has = |key: &str, item: &str| rule[key].as_sequence().unwrap().iter().any(|v| v == item);
    assert!(
        has("ExposedHeaders", "ETag") && has("AllowedMethods", "PUT"),
        "{rule:?}"
    );
    // The functions link shares to the app's pages
    let web_url = &t["Globals"]["Function"]["Environment"]["Variables"]["VERTEX_WEB_URL"];
    let web_url = serde_norway::to_string(web_url).unwrap();
    assert!(
        web_url.contains("HasWebApp") && web_url.contains("https://${WebDistribution.DomainName}"),
        "{web_url}"
    );
    assert!(text.contains("  WebApp:\n    Type: String\n    Default: enabled"));
}

#[test]
fn deploy_web_syncs_the_app_writes_its_config_and_invalidates() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs.json");
    let api = "https://abc123.execute-api.eu-west-1.amazonaws.com/";
    let stack = serde_json::json!([
        {"OutputKey": "ApiUrl", "OutputValue": api},
        {"OutputKey": "WebUrl", "OutputValue": "https://d111111abcdef8.cloudfront.net"},
        {"OutputKey": "WebBucketName", "OutputValue": "vc-web-bucket"},
        {"OutputKey": "WebDistributionId", "OutputValue": "E2EXAMPLE"},
    ]);
    std::fs::write(&outputs, stack.to_string()).unwrap();
    let run = |outputs: &std::path::Path| {
        std::process::Command::new(format!("{root}/scripts/deploy-web.sh"))
            .args(["--dry-run", "--outputs"])
            .arg(outputs)
            .arg("vertexcloud-test")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("bash")
    };
    let out = run(&outputs);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // config.json names the stack's API
    assert!(
        stdout.contains(&format!(r#"config.json: {{"api": "{api}api"}}"#)),
        "{stdout}"
    );
    let commands: Vec<&str> = stdout.lines().filter(|l| l.starts_with("+ aws ")).collect();
    let syncs: Vec<&&str> = commands
        .iter()
        .filter(|c| c.starts_with("+ aws s3 sync "))
        .collect();
    // Everything to the bucket, revalidated on each use, scripts and pages with their types,
    // pages last but for the final pass that deletes what web/app no longer has
    assert!(syncs
        .iter()
        .all(|c| c.contains(" s3://vc-web-bucket/ ") && c.contains("--cache-control no-cache")));
    for (ext, kind) in [
        ("js", "text/javascript"),
        ("css", "text/css"),
        ("html", "text/html"),
    ] {
        assert!(
            syncs
                .iter()
                .any(|c| c.contains(&format!("--include \\*.{ext} "))
                    && c.contains(&format!("--content-type {kind}"))),
            "{ext}: {syncs:?}"
        );
    }
    let last = syncs.last().unwrap();
    assert!(
        last.contains(" --delete ") && !last.contains("--include"),
        "{last}"
    );
    assert!(syncs[syncs.len() - 2].contains("*.html"), "{syncs:?}");
    assert_eq!(
        commands.last().unwrap(),
        &"+ aws cloudfront create-invalidation --distribution-id E2EXAMPLE --paths /\\* --query Invalidation.Id --output text"
    );
    // A stack without the app: a clear refusal, nothing run
    std::fs::write(&outputs, r#"[{"OutputKey": "ApiUrl", "OutputValue": "x"}]"#).unwrap();
    let out = run(&outputs);
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("+ aws"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WebApp=enabled"));
}

/// scripts/deploy-web.sh for real against S3 (LocalStack): every file of web/app with its type
/// and `no-cache`, config.json naming the API, a file no longer in web/app removed. CloudFront
/// has no emulator: an `aws` on PATH before the real one records the invalidation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the emulators: scripts/test.sh runs it"]
async fn deploy_web_publishes_the_app_to_its_bucket() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    let root = env!("CARGO_MANIFEST_DIR");
    let endpoint = std::env::var("VERTEX_TEST_S3_ENDPOINT").expect("scripts/test.sh sets it");
    let s3 = crate::helpers::s3_client().await;
    let bucket = format!("vc-test-web-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let stale = b"from an older deploy".to_vec();
    s3.put_object()
        .bucket(&bucket)
        .key("js/stale.js")
        .body(stale.into())
        .send()
        .await
        .unwrap();
    // The real CLI (the project installs it when missing), behind a stand-in for CloudFront
    let found = Command::new("bash")
        .args([
            "-c",
            "source scripts/lib/common.sh && use_awscli >&2 && command -v aws",
        ])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{}",
        String::from_utf8_lossy(&found.stderr)
    );
    let real = String::from_utf8(found.stdout).unwrap().trim().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("cloudfront.log");
    let shim = dir.path().join("aws");
    std::fs::write(
        &shim,
        format!(
            "#!/usr/bin/env bash\nif [ \"$1\" = cloudfront ]; then echo \"$*\" >> '{}'; echo I1; \
             exit 0; fi\nexec '{real}' \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let outputs = dir.path().join("outputs.json");
    let api = "https://abc123.execute-api.us-east-1.amazonaws.com/";
    let stack = serde_json::json!([
        {"OutputKey": "ApiUrl", "OutputValue": api},
        {"OutputKey": "WebUrl", "OutputValue": "https://d111111abcdef8.cloudfront.net"},
        {"OutputKey": "WebBucketName", "OutputValue": bucket},
        {"OutputKey": "WebDistributionId", "OutputValue": "E2TEST"},
    ]);
    std::fs::write(&outputs, stack.to_string()).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap()
    );
    let out = Command::new(format!("{root}/scripts/deploy-web.sh"))
        .arg("--outputs")
        .arg(&outputs)
        .env("PATH", path)
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // THEN the bucket holds exactly web/app's files
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let keys: BTreeSet<String> = listed
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_owned())
        .collect();
    fn walk(dir: &std::path::Path, base: &std::path::Path, into: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, into);
            } else {
                let rel = path.strip_prefix(base).unwrap().to_str().unwrap();
                into.insert(rel.to_owned());
            }
        }
    }
    let app = std::path::Path::new(root).join("web/app");
    let mut files = BTreeSet::new();
    walk(&app, &app, &mut files);
    assert_eq!(keys, files);
    // ...each with its type, revalidated on each use
    for (key, kind) in [
        ("index.html", "text/html"),
        ("js/main.js", "text/javascript"),
        ("app.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
        ("api-docs/swagger-ui-bundle.js", "text/javascript"),
    ] {
        let head = s3
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert!(
            head.content_type().unwrap().starts_with(kind),
            "{key}: {:?}",
            head.content_type()
        );
        assert_eq!(head.cache_control(), Some("no-cache"), "{key}");
    }
    let main = s3
        .get_object()
        .bucket(&bucket)
        .key("js/main.js")
        .send()
        .await
        .unwrap();
    let main = main.body.collect().await.unwrap().into_bytes();
    assert_eq!(
        main.as_ref(),
        std::fs::read(app.join("js/main.js")).unwrap()
    );
    // ...config.json names the stack's API (web/app's own is left as it is)
    let config = s3
        .get_object()
        .bucket(&bucket)
        .key("config.json")
        .send()
        .await
        .unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&config.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(config["api"], format!("{api}api"));
    let local: serde_json::Value =
        serde_json::from_slice(&std::fs::read(app.join("config.json")).unwrap()).unwrap();
    assert_eq!(local["api"], "/api");
    // AND the distribution was invalidated, once, whole
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls.trim(),
        "cloudfront create-invalidation --distribution-id E2TEST --paths /* --query \
         Invalidation.Id --output text"
    );
    for key in keys {
        s3.delete_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
}
