//! The IAM actions each AWS operation needs: the one table that turns recorded calls into what
//! a function's policy must allow. From AWS's service authorization reference; an operation
//! missing here is an error of the check, not a silent pass.

use super::calls::{Call, Resource};

/// One permission a call needs: an IAM action on a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    pub action: &'static str,
    pub resource: Resource,
}

/// The IAM actions of `operation` of `service` (SDK names), for a target in `role` (an item
/// kind of a transaction, `source` of a copy, or empty). `None`: not in the table.
pub fn actions(service: &str, operation: &str, role: &str) -> Option<&'static [&'static str]> {
    Some(match (service, operation, role) {
        // DynamoDB: a transaction is authorised item by item.
        ("DynamoDB", "TransactWriteItems", "Put") => &["dynamodb:PutItem"],
        ("DynamoDB", "TransactWriteItems", "Update") => &["dynamodb:UpdateItem"],
        ("DynamoDB", "TransactWriteItems", "Delete") => &["dynamodb:DeleteItem"],
        ("DynamoDB", "TransactWriteItems", "ConditionCheck") => &["dynamodb:ConditionCheckItem"],
        ("DynamoDB", "TransactGetItems", "Get") => &["dynamodb:GetItem"],
        ("DynamoDB", "GetItem", _) => &["dynamodb:GetItem"],
        ("DynamoDB", "PutItem", _) => &["dynamodb:PutItem"],
        ("DynamoDB", "UpdateItem", _) => &["dynamodb:UpdateItem"],
        ("DynamoDB", "DeleteItem", _) => &["dynamodb:DeleteItem"],
        ("DynamoDB", "Query", _) => &["dynamodb:Query"],
        ("DynamoDB", "Scan", _) => &["dynamodb:Scan"],
        ("DynamoDB", "BatchGetItem", _) => &["dynamodb:BatchGetItem"],
        ("DynamoDB", "BatchWriteItem", _) => &["dynamodb:BatchWriteItem"],
        ("DynamoDB", "DescribeTable", _) => &["dynamodb:DescribeTable"],
        ("DynamoDB", "CreateTable", _) => &["dynamodb:CreateTable"],
        // S3: multipart uploads are authorised as PutObject, reads of metadata as GetObject.
        ("S3", "PutObject", _) => &["s3:PutObject"],
        ("S3", "GetObject", _) => &["s3:GetObject"],
        ("S3", "HeadObject", _) => &["s3:GetObject"],
        ("S3", "DeleteObject", _) => &["s3:DeleteObject"],
        ("S3", "DeleteObjects", _) => &["s3:DeleteObject"],
        ("S3", "CopyObject" | "UploadPartCopy", "source") => &["s3:GetObject"],
        ("S3", "CopyObject" | "UploadPartCopy", _) => &["s3:PutObject"],
        ("S3", "CreateMultipartUpload", _) => &["s3:PutObject"],
        ("S3", "UploadPart", _) => &["s3:PutObject"],
        ("S3", "CompleteMultipartUpload", _) => &["s3:PutObject"],
        ("S3", "AbortMultipartUpload", _) => &["s3:AbortMultipartUpload"],
        ("S3", "ListParts", _) => &["s3:ListMultipartUploadParts"],
        ("S3", "ListObjectsV2" | "ListObjects", _) => &["s3:ListBucket"],
        ("S3", "HeadBucket", _) => &["s3:ListBucket"],
        ("S3", "ListMultipartUploads", _) => &["s3:ListBucketMultipartUploads"],
        ("S3", "CreateBucket", _) => &["s3:CreateBucket"],
        ("Lambda", "Invoke", _) => &["lambda:InvokeFunction"],
        ("SSM", "GetParameter", _) => &["ssm:GetParameter"],
        _ => return None,
    })
}

/// Every permission `call` needs, or the operation the table lacks.
pub fn permissions(call: &Call) -> Result<Vec<Permission>, String> {
    let mut needed = Vec::new();
    for target in &call.targets {
        let actions = actions(&call.service, &call.operation, &target.role).ok_or_else(|| {
            format!(
                "no IAM action known for {}:{} ({})",
                call.service, call.operation, target.role
            )
        })?;
        needed.extend(actions.iter().map(|action| Permission {
            action,
            resource: target.resource.clone(),
        }));
    }
    Ok(needed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::calls::Target;

    fn object(key: &str) -> Resource {
        Resource::Object {
            bucket: "b".into(),
            key: key.into(),
        }
    }

    #[test]
    fn a_copy_reads_its_source_and_writes_its_target() {
        let call = Call {
            function: "files".into(),
            service: "S3".into(),
            operation: "CopyObject".into(),
            targets: vec![
                Target {
                    role: "source".into(),
                    resource: object("users/u/a"),
                },
                Target {
                    role: String::new(),
                    resource: object("users/u/b"),
                },
            ],
        };
        let actions: Vec<_> = permissions(&call)
            .unwrap()
            .into_iter()
            .map(|p| p.action)
            .collect();
        assert_eq!(actions, ["s3:GetObject", "s3:PutObject"]);
    }

    #[test]
    fn an_unknown_operation_is_an_error() {
        let call = Call {
            function: "files".into(),
            service: "S3".into(),
            operation: "PutBucketPolicy".into(),
            targets: vec![Target {
                role: String::new(),
                resource: Resource::Bucket("b".into()),
            }],
        };
        assert!(permissions(&call).is_err());
    }
}
