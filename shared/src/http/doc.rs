//! What the OpenAPI document says once for every operation instead of in each annotation: the
//! errors that the extractors and layers answer before a handler runs. scripts/api-fuzz.sh
//! checks the whole document against the server.

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ArrayItems, KnownFormat, ObjectBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::{ContentBuilder, OpenApi, PathItem, Ref, RefOr, ResponseBuilder};
use utoipa::Number;

/// The finishing touches of the generated document.
pub(super) fn complete(doc: &mut OpenApi) {
    add_common_responses(doc);
    unsigned_integers(doc);
    logout_needs_a_token(doc);
}

/// The operations with a body that hash a password, which wait for a hashing slot
/// (`security::passwords`). Every visitor route of a share link ([`VISITOR_PATHS`]) may hash
/// the link's password too, which a header carries.
const HASHING_PATHS: [&str; 8] = [
    "/api/auth/register",
    "/api/auth/login",
    "/api/auth/change-password",
    "/api/auth/delete-account",
    "/api/users",
    "/api/users/{id}/reset-password",
    "/api/shares",
    "/api/shares/{id}",
];

/// Where share links are visited.
const VISITOR_PATHS: &str = "/api/s/";

/// Adds to each operation the answers it can give but its annotation need not repeat.
fn add_common_responses(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let visitor = path.starts_with(VISITOR_PATHS);
        for op in operations(item) {
            let json_body = op
                .request_body
                .as_ref()
                .is_some_and(|b| b.content.contains_key("application/json"));
            let parameters = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            if json_body || parameters {
                add(
                    op,
                    "400",
                    "Invalid input: `validation_error` (`details`: field → message), \
                     `invalid_json`, `invalid_query`, `invalid_path`",
                );
            }
            if secured {
                add(
                    op,
                    "401",
                    "`not_authenticated`, `invalid_token`: no, invalid, expired or revoked \
                     credentials",
                );
            }
            if op.request_body.is_some() {
                add(
                    op,
                    "408",
                    "`request_timeout`: the body stopped arriving (local server)",
                );
            }
            if visitor {
                add_visitor_responses(op);
            }
            let hashes = HASHING_PATHS.contains(&path.as_str()) && op.request_body.is_some();
            if hashes || visitor {
                add(
                    op,
                    "503",
                    "`busy`: every core is hashing a password and the queue is full \
                     (`Retry-After`); `service_unavailable`: a backing store is unreachable",
                );
            }
            if json_body {
                add(op, "413", "`payload_too_large`: the body is over 64 KiB");
                add(
                    op,
                    "415",
                    "`unsupported_media_type`: the body is not `application/json`",
                );
            }
        }
    }
}

/// What every route of a share link can answer, whatever it does.
fn add_visitor_responses(op: &mut Operation) {
    add(
        op,
        "401",
        "`share_password_required`, `invalid_share_password`, `invalid_share_token`",
    );
    add(op, "410", "`share_expired`: the link expired or is used up");
    add(
        op,
        "429",
        "`throttled`: too many wrong passwords, unknown links or visitor requests from this \
         address (`Retry-After`)",
    );
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// An `ErrorBody` answer with `status`, unless the operation documents that status already.
fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
                .into()
        });
}

/// utoipa writes `u32`, `u64` and `usize` as signed `int32`/`int64` (or no format) with
/// `minimum: 0` and no upper bound; the server takes up to `u32::MAX` / `u64::MAX`.
fn unsigned_integers(doc: &mut OpenApi) {
    if let Some(components) = doc.components.as_mut() {
        for schema in components.schemas.values_mut() {
            if let RefOr::T(schema) = schema {
                unsigned(schema);
            }
        }
    }
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            for parameter in op.parameters.iter_mut().flatten() {
                if let Some(RefOr::T(schema)) = parameter.schema.as_mut() {
                    unsigned(schema);
                }
            }
        }
    }
}

fn unsigned(schema: &mut Schema) {
    let is_zero = |n: &Number| match n {
        Number::Int(i) => *i == 0,
        Number::UInt(u) => *u == 0,
        Number::Float(f) => *f == 0.0,
    };
    let non_negative = |n: &Number| match n {
        Number::Int(i) => *i >= 0,
        Number::UInt(_) => true,
        Number::Float(f) => *f >= 0.0,
    };
    let children: Vec<&mut RefOr<Schema>> = match schema {
        Schema::Object(o) => {
            let integer = match &o.schema_type {
                SchemaType::Type(t) => *t == Type::Integer,
                SchemaType::Array(types) => types.contains(&Type::Integer),
                SchemaType::AnyValue => false,
            };
            let bits = match &o.format {
                Some(SchemaFormat::KnownFormat(KnownFormat::Int32)) => Some(32),
                Some(SchemaFormat::KnownFormat(KnownFormat::Int64)) => Some(64),
                None => None,
                Some(_) => Some(0),
            };
            let unsigned = match (bits, o.minimum.as_ref()) {
                (Some(32 | 64), Some(min)) => is_zero(min),
                (None, Some(min)) => non_negative(min),
                _ => false,
            };
            if integer && unsigned && o.maximum.is_none() {
                let (format, max) = match bits {
                    Some(32) => ("uint32", u32::MAX as usize),
                    _ => ("uint64", u64::MAX as usize),
                };
                o.format = Some(SchemaFormat::Custom(format.to_owned()));
                o.maximum = Some(Number::UInt(max));
            }
            o.properties.values_mut().collect()
        }
        Schema::Array(a) => match &mut a.items {
            ArrayItems::RefOrSchema(item) => vec![item.as_mut()],
            ArrayItems::False => vec![],
        },
        Schema::AllOf(c) => c.items.iter_mut().collect(),
        Schema::AnyOf(c) => c.items.iter_mut().collect(),
        Schema::OneOf(c) => c.items.iter_mut().collect(),
        _ => vec![],
    };
    for child in children {
        if let RefOr::T(schema) = child {
            unsigned(schema);
        }
    }
}

/// `POST /api/auth/logout` needs `refresh_token` or its alias `refresh`: at least one of them.
fn logout_needs_a_token(doc: &mut OpenApi) {
    let Some(schema) = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("LogoutInput"))
    else {
        return;
    };
    let either = AnyOfBuilder::new()
        .item(ObjectBuilder::new().required("refresh_token"))
        .item(ObjectBuilder::new().required("refresh"));
    let object = std::mem::replace(schema, RefOr::T(Schema::default()));
    *schema = AllOfBuilder::new().item(object).item(either).into();
}
