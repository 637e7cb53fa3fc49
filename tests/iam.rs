//! Every AWS call each function makes is allowed by its policy in `infra/template.yaml`, and
//! every permission a policy grants was used by some call (least privilege both ways). The
//! emulators do not enforce IAM; the behaviour suite records the calls instead
//! (`tests/api/deployed.rs`) and scripts/test.sh runs this check after it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_norway::Value;
use shared::aws::iam::permissions;
use shared::aws::{Call, CallLog, Resource};

/// The functions of the template, by the name their calls are recorded under.
const FUNCTIONS: [(&str, &str); 5] = [
    ("auth", "AuthFunction"),
    ("users", "UsersFunction"),
    ("files", "FilesFunction"),
    ("zip", "ZipFunction"),
    ("shares", "SharesFunction"),
];

/// Grants that no test exercises, on purpose: (function, action, resource, why).
const UNEXERCISED: &[(&str, &str, &str, &str)] = &[
    (
        "zip",
        "s3:AbortMultipartUpload",
        "object:archives/*",
        "an archive that fails after its first 8 MiB part is aborted; the suite's failing jobs \
         fail before any part is written (the abort itself is proven on the store in \
         tests/api/objects.rs)",
    ),
    (
        "shares",
        "s3:AbortMultipartUpload",
        "object:archives/*",
        "a visitor's archive built within the request, as the zip function's: aborted only when \
         it fails after its first 8 MiB part",
    ),
];

/// One grant of a policy: an action on a resource pattern (`*` matches anything).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    sid: String,
    action: String,
    resource: String,
}

/// A resource as the template names it, in the same terms as [`recorded_resource`].
fn template_resource(value: &Value) -> String {
    let Value::Tagged(tagged) = value else {
        panic!("resource is not !GetAtt or !Sub: {value:?}");
    };
    let text = tagged.value.as_str().expect("resource text");
    match (tagged.tag.to_string().as_str(), text) {
        ("!GetAtt", "Table.Arn") => "table".into(),
        ("!GetAtt", "Bucket.Arn") => "bucket".into(),
        ("!Sub", text) => {
            if let Some(rest) = text.strip_prefix("${Table.Arn}/") {
                format!("table/{rest}")
            } else if let Some(rest) = text.strip_prefix("${Bucket.Arn}/") {
                format!("object:{rest}")
            } else if text.ends_with(":parameter${JwtSecretParameterName}") {
                "parameter:jwt-secret".into()
            } else if let Some((_, name)) = text.split_once(":function:vertexcloud-${StageName}-") {
                format!("function:{name}")
            } else {
                panic!("unknown resource in the template: {text}")
            }
        }
        (tag, text) => panic!("unknown resource in the template: {tag} {text}"),
    }
}

/// Whether `name` is a table or bucket the suite made: the stack's own, in the template's terms.
fn ours(name: &str) -> bool {
    name.starts_with("vc-test-")
}

/// A resource a call touched, in the template's terms. A table or bucket the suite did not make
/// stays named, and so matches no grant.
fn recorded_resource(resource: &Resource) -> String {
    match resource {
        Resource::Table(name) if ours(name) => "table".into(),
        Resource::Index(name) if ours(name) => {
            format!("table/{}", name.split_once('/').expect("index").1)
        }
        Resource::Bucket(name) if ours(name) => "bucket".into(),
        Resource::Object { bucket, key } if ours(bucket) => format!("object:{key}"),
        Resource::Function(name) => match name.strip_prefix("vertexcloud-test-") {
            Some(function) => format!("function:{function}"),
            None => format!("function:{name}?"),
        },
        Resource::Parameter(name) if name == "/vertexcloud/test/jwt-secret" => {
            "parameter:jwt-secret".into()
        }
        other => format!("{other:?}"),
    }
}

fn matches(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| matches(tail, &rest[i..]))
        }
    }
}

fn one_or_many(value: &Value) -> Vec<&Value> {
    match value {
        Value::Sequence(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// The Allow grants of each function's inline policies.
fn template_grants() -> BTreeMap<&'static str, Vec<Grant>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml");
    let template: Value =
        serde_norway::from_str(&std::fs::read_to_string(path).expect("template")).expect("yaml");
    FUNCTIONS
        .iter()
        .map(|(function, resource)| {
            let policies = &template["Resources"][*resource]["Properties"]["Policies"];
            let mut grants = Vec::new();
            for policy in policies.as_sequence().expect("Policies") {
                for statement in policy["Statement"].as_sequence().expect("Statement") {
                    assert_eq!(statement["Effect"], "Allow", "{resource}: {statement:?}");
                    // What this check cannot evaluate must not slip through it.
                    for unchecked in ["Condition", "NotAction", "NotResource"] {
                        assert!(
                            statement.get(unchecked).is_none(),
                            "{resource}: the IAM check does not evaluate {unchecked}"
                        );
                    }
                    let sid = statement["Sid"].as_str().unwrap_or_default().to_owned();
                    for action in one_or_many(&statement["Action"]) {
                        for target in one_or_many(&statement["Resource"]) {
                            grants.push(Grant {
                                sid: sid.clone(),
                                action: action.as_str().expect("action").to_owned(),
                                resource: template_resource(target),
                            });
                        }
                    }
                }
            }
            (*function, grants)
        })
        .collect()
}

/// What is wrong with the policies, given the calls: calls no grant allows, grants no call
/// used (less the listed exceptions).
fn problems(calls: &[Call]) -> Vec<String> {
    let grants = template_grants();
    let mut problems = BTreeSet::new();
    let mut used = BTreeSet::new();
    for call in calls
        .iter()
        .filter(|c| grants.contains_key(c.function.as_str()))
    {
        let needed = match permissions(call) {
            Ok(needed) => needed,
            Err(e) => {
                problems.insert(format!("{}: {e}", call.function));
                continue;
            }
        };
        for permission in needed {
            let resource = recorded_resource(&permission.resource);
            let allowing: Vec<_> = grants[call.function.as_str()]
                .iter()
                .filter(|g| g.action == permission.action && matches(&g.resource, &resource))
                .collect();
            if allowing.is_empty() {
                problems.insert(format!(
                    "{}: {} on {resource} (by {}:{}) is not allowed by its policy",
                    call.function, permission.action, call.service, call.operation
                ));
            }
            used.extend(
                allowing
                    .into_iter()
                    .map(|g| (call.function.clone(), g.clone())),
            );
        }
    }
    for (function, grants) in &grants {
        for grant in grants {
            let excepted = UNEXERCISED.iter().any(|(f, action, resource, _)| {
                f == function && *action == grant.action && *resource == grant.resource
            });
            if !excepted && !used.contains(&(function.to_string(), grant.clone())) {
                problems.insert(format!(
                    "{function}: {} on {} (statement {}) is granted but no test used it",
                    grant.action, grant.resource, grant.sid
                ));
            }
        }
    }
    problems.into_iter().collect()
}

#[test]
#[ignore = "needs the AWS calls the behaviour suite recorded: scripts/test.sh runs it after the suite"]
fn every_recorded_call_is_allowed_and_every_grant_is_used() {
    let path = std::env::var("VERTEX_TEST_AWS_CALLS")
        .expect("VERTEX_TEST_AWS_CALLS names the file of recorded calls (scripts/test.sh)");
    let calls = CallLog::read_file(Path::new(&path)).expect("recorded calls");
    for (function, _) in FUNCTIONS {
        assert!(
            calls.iter().any(|c| c.function == function),
            "no call of {function} was recorded: did the AWS-backend suite run?"
        );
    }
    let problems = problems(&calls);
    assert!(
        problems.is_empty(),
        "the template's policies and the code's AWS calls disagree:\n  {}",
        problems.join("\n  ")
    );
}

/// The check itself can fail, both ways.
#[test]
fn a_missing_grant_and_an_unused_grant_are_both_reported() {
    let call = |function: &str, service: &str, operation: &str, resource: Resource| Call {
        function: function.into(),
        service: service.into(),
        operation: operation.into(),
        targets: vec![shared::aws::Target {
            role: String::new(),
            resource,
        }],
    };
    let calls = [
        call(
            "files",
            "DynamoDB",
            "DeleteTable",
            Resource::Table("vc-test-t".into()),
        ),
        call(
            "files",
            "S3",
            "PutObject",
            Resource::Object {
                bucket: "vc-test-b".into(),
                key: "archives/u/j.zip".into(),
            },
        ),
        // A table the stack does not have.
        call(
            "auth",
            "DynamoDB",
            "GetItem",
            Resource::Table("prod".into()),
        ),
    ];
    let found = problems(&calls);
    let has = |text: &str| found.iter().any(|p| p.contains(text));
    assert!(
        has("files: no IAM action known for DynamoDB:DeleteTable"),
        "{found:#?}"
    );
    assert!(
        has("files: s3:PutObject on object:archives/u/j.zip"),
        "{found:#?}"
    );
    assert!(
        has("zip: lambda:InvokeFunction on function:zip"),
        "{found:#?}"
    );
    assert!(
        has("auth: dynamodb:GetItem on Table(\"prod\")"),
        "{found:#?}"
    );
    assert!(matches("object:users/*", "object:users/u/a*b"));
    assert!(!matches("object:users/*", "object:staging/u"));
}
