//! Records every AWS operation a function performs, with the resources it touches, so a test
//! can hold the calls the code really makes against the IAM policies of `infra/template.yaml`
//! (no emulator enforces IAM). An SDK interceptor sees each request after signing, presigned
//! URLs included, and never changes it.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::{Deserialize, Serialize};

/// One operation as a function performed it: `service` and `operation` as the SDK names them
/// (`S3`/`PutObject`), and what it touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub function: String,
    pub service: String,
    pub operation: String,
    pub targets: Vec<Target>,
}

/// A resource an operation touches, and in what role: the item kind of a transaction
/// (`Put`, `Update`, `Delete`, `ConditionCheck`, `Get`), `source` for the object a copy reads,
/// or empty.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    pub role: String,
    pub resource: Resource,
}

/// What IAM policies name, without account, region or generated names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Resource {
    /// A DynamoDB table, by name.
    Table(String),
    /// An index of a table: `table/index/name`.
    Index(String),
    /// An S3 bucket (listing).
    Bucket(String),
    /// An S3 object of a bucket.
    Object { bucket: String, key: String },
    /// A Lambda function, by name.
    Function(String),
    /// An SSM parameter, by name.
    Parameter(String),
    /// Something this recorder does not know how to name.
    Unknown(String),
}

/// Where recorded calls go: appended as JSON lines to a file (several processes and test
/// binaries can share it), or kept in memory.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    calls: Arc<Mutex<Vec<Call>>>,
    file: Option<PathBuf>,
}

impl CallLog {
    pub fn in_memory() -> Self {
        Self::default()
    }

    pub fn to_file(path: impl Into<PathBuf>) -> Self {
        Self {
            calls: Default::default(),
            file: Some(path.into()),
        }
    }

    /// The calls recorded in memory so far (none when recording to a file).
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("call log").clone()
    }

    fn push(&self, call: Call) {
        if let Some(path) = &self.file {
            // One write per line, so lines of concurrent writers do not interleave.
            let mut line = serde_json::to_vec(&call).unwrap_or_default();
            line.push(b'\n');
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(&line));
            if let Err(e) = written {
                tracing::warn!(error = %e, path = %path.display(), "could not record an AWS call");
            }
            return;
        }
        self.calls.lock().expect("call log").push(call);
    }

    /// The interceptor recording calls of `function` into this log.
    pub fn recorder(&self, function: &str) -> CallRecorder {
        CallRecorder {
            function: function.to_owned(),
            log: self.clone(),
        }
    }

    /// Reads every call recorded into `path`.
    pub fn read_file(path: &std::path::Path) -> std::io::Result<Vec<Call>> {
        let text = std::fs::read_to_string(path)?;
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).map_err(std::io::Error::other))
            .collect()
    }
}

/// The SDK interceptor: installed on every client built for a function when a log is
/// configured.
#[derive(Clone)]
pub struct CallRecorder {
    function: String,
    log: CallLog,
}

impl fmt::Debug for CallRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallRecorder")
            .field("function", &self.function)
            .finish()
    }
}

impl Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "VertexCallRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let request = context.request();
        let body = request.body().bytes().unwrap_or_default();
        let headers = |name: &str| request.headers().get(name).map(str::to_owned);
        let mut targets = targets(
            metadata.service(),
            metadata.name(),
            request.uri(),
            body,
            &headers,
        );
        // Features that need IAM actions of their own get a role the action table does not
        // know, so the check fails until the table (and the policy) say what they need.
        let query = request
            .uri()
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default();
        let extra = [
            query
                .split('&')
                .any(|p| p.starts_with("versionId="))
                .then_some("version"),
            headers("x-amz-tagging").map(|_| "tagging"),
            headers("x-amz-acl").map(|_| "acl"),
            headers("x-amz-copy-source")
                .filter(|s| s.contains("versionId="))
                .map(|_| "source-version"),
        ];
        for role in extra.into_iter().flatten() {
            for target in &mut targets {
                target.role = role.to_owned();
            }
        }
        self.log.push(Call {
            function: self.function.clone(),
            service: metadata.service().to_owned(),
            operation: metadata.name().to_owned(),
            targets,
        });
        Ok(())
    }
}

/// What one request touches, read from the request as it goes on the wire.
fn targets(
    service: &str,
    operation: &str,
    uri: &str,
    body: &[u8],
    header: &dyn Fn(&str) -> Option<String>,
) -> Vec<Target> {
    match service {
        "DynamoDB" => dynamodb_targets(operation, body),
        "S3" => s3_targets(operation, uri, body, header),
        "Lambda" => {
            // /2015-03-31/functions/<name>/invocations
            let path = uri_path(uri);
            let name = path.split('/').nth(3).unwrap_or_default();
            vec![plain(Resource::Function(decode(name)))]
        }
        "SSM" => {
            let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let name = json["Name"].as_str().unwrap_or_default().to_owned();
            vec![plain(Resource::Parameter(name))]
        }
        _ => vec![plain(Resource::Unknown(uri.to_owned()))],
    }
}

fn plain(resource: Resource) -> Target {
    Target {
        role: String::new(),
        resource,
    }
}

fn dynamodb_targets(operation: &str, body: &[u8]) -> Vec<Target> {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let table = |item: &serde_json::Value| {
        let name = item["TableName"].as_str().unwrap_or_default().to_owned();
        match item["IndexName"].as_str() {
            Some(index) => Resource::Index(format!("{name}/index/{index}")),
            None => Resource::Table(name),
        }
    };
    match operation {
        // Each item of a transaction is authorised as its own action.
        "TransactWriteItems" | "TransactGetItems" => json["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_object())
            .flat_map(|item| {
                item.iter().map(|(kind, inner)| Target {
                    role: kind.clone(),
                    resource: table(inner),
                })
            })
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => json["RequestItems"]
            .as_object()
            .into_iter()
            .flat_map(|items| items.keys())
            .map(|name| plain(Resource::Table(name.clone())))
            .collect(),
        _ => vec![plain(table(&json))],
    }
}

fn s3_targets(
    operation: &str,
    uri: &str,
    body: &[u8],
    header: &dyn Fn(&str) -> Option<String>,
) -> Vec<Target> {
    // Path style (`/<bucket>/<key>`, as against emulators) or virtual-hosted
    // (`<bucket>.s3…/<key>`).
    let path = uri_path(uri);
    let host = uri
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or_default();
    let (bucket, key) = match host.split_once(".s3") {
        Some((bucket, _)) if !bucket.is_empty() => {
            (bucket.to_owned(), path.trim_start_matches('/'))
        }
        _ => {
            let rest = path.trim_start_matches('/');
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            (bucket.to_owned(), key)
        }
    };
    match operation {
        "ListObjectsV2" | "ListObjects" | "HeadBucket" | "ListMultipartUploads" => {
            vec![plain(Resource::Bucket(bucket))]
        }
        "DeleteObjects" => xml_values(body, "Key")
            .into_iter()
            .map(|key| plain(object(&bucket, key)))
            .collect(),
        "CopyObject" | "UploadPartCopy" => {
            let source = header("x-amz-copy-source").unwrap_or_default();
            let source = decode(source.trim_start_matches('/'));
            let source = source.split("?versionId=").next().unwrap_or_default();
            let (source_bucket, source_key) = source.split_once('/').unwrap_or((source, ""));
            vec![
                Target {
                    role: "source".into(),
                    resource: object(source_bucket, source_key.to_owned()),
                },
                plain(object(&bucket, decode(key))),
            ]
        }
        _ => vec![plain(object(&bucket, decode(key)))],
    }
}

fn object(bucket: &str, key: String) -> Resource {
    Resource::Object {
        bucket: bucket.to_owned(),
        key,
    }
}

fn uri_path(uri: &str) -> &str {
    let without_scheme = uri.split_once("://").map(|(_, rest)| rest).unwrap_or(uri);
    let path = without_scheme
        .find('/')
        .map(|i| &without_scheme[i..])
        .unwrap_or("/");
    path.split('?').next().unwrap_or(path)
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// The text of every `<name>…</name>` element (DeleteObjects' keys), unescaped.
fn xml_values(body: &[u8], name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    text.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split(&close).next())
        .map(|value| {
            value
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_header(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn transactions_expand_to_their_items() {
        let body = br#"{"TransactItems":[{"Put":{"TableName":"t"}},{"ConditionCheck":{"TableName":"t"}},{"Update":{"TableName":"t"}}]}"#;
        let roles: Vec<_> = targets(
            "DynamoDB",
            "TransactWriteItems",
            "http://x/",
            body,
            &no_header,
        )
        .into_iter()
        .map(|t| t.role)
        .collect();
        assert_eq!(roles, ["Put", "ConditionCheck", "Update"]);
    }

    #[test]
    fn queries_name_their_index() {
        let body = br#"{"TableName":"t","IndexName":"gsi1"}"#;
        assert_eq!(
            targets("DynamoDB", "Query", "http://x/", body, &no_header),
            [plain(Resource::Index("t/index/gsi1".into()))]
        );
    }

    #[test]
    fn s3_keys_in_both_addressing_styles() {
        let path_style = targets(
            "S3",
            "PutObject",
            "http://127.0.0.1:4566/b/users/u1/a%20b.txt?x-id=PutObject",
            b"",
            &no_header,
        );
        let virtual_host = targets(
            "S3",
            "PutObject",
            "https://b.s3.us-east-1.amazonaws.com/users/u1/a%20b.txt",
            b"",
            &no_header,
        );
        let expected = [plain(object("b", "users/u1/a b.txt".into()))];
        assert_eq!(path_style, expected);
        assert_eq!(virtual_host, expected);
    }

    #[test]
    fn copies_read_their_source_and_deletes_name_every_key() {
        let copy = targets("S3", "CopyObject", "http://h/b/users/u/new", b"", &|name| {
            (name == "x-amz-copy-source").then(|| "b/users/u/old%3F".to_owned())
        });
        assert_eq!(copy[0].role, "source");
        assert_eq!(copy[0].resource, object("b", "users/u/old?".into()));
        let delete = targets(
            "S3",
            "DeleteObjects",
            "http://h/b?delete",
            b"<Delete><Object><Key>users/a&amp;b</Key></Object><Object><Key>archives/c</Key></Object></Delete>",
            &no_header,
        );
        assert_eq!(
            delete,
            [
                plain(object("b", "users/a&b".into())),
                plain(object("b", "archives/c".into()))
            ]
        );
    }
}
