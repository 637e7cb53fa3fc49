//! What an AWS SDK error means to the services: the one classifier both AWS adapters
//! (`store::dynamo`, `objects::s3`) use, so `SdkError` never travels past them.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::error::operation::BuildError;

use crate::store::StoreError;

/// Error codes of AWS services that mean "busy or down right now", not "this request is wrong".
const UNAVAILABLE: &[&str] = &[
    "ResourceNotFoundException",
    "NoSuchBucket",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalError",
    "SlowDown",
    "ServiceUnavailable",
];

/// DynamoDB's answer when a write's condition does not hold.
pub(crate) const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

/// The service's error code (`NoSuchUpload`, `ConditionalCheckFailedException`), if it sent one.
pub(crate) fn code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    err.as_service_error().and_then(ProvideErrorMetadata::code)
}

/// True when the service refused with this code.
pub(crate) fn is<E, R>(err: &SdkError<E, R>, wanted: &str) -> bool
where
    E: ProvideErrorMetadata,
{
    code(err) == Some(wanted)
}

/// Unreachable, throttled or missing resources are [`StoreError::Unavailable`] (503); the rest
/// is [`StoreError::Other`] (500).
pub(crate) fn classify<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let unavailable = matches!(
        err,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
    ) || code(&err).is_some_and(|c| UNAVAILABLE.contains(&c));
    let err = anyhow::Error::new(err);
    if unavailable {
        StoreError::Unavailable(err)
    } else {
        StoreError::Other(err)
    }
}

/// Lets `?` classify an SDK error where a [`StoreError`] is expected.
impl<E, R> From<SdkError<E, R>> for StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn from(err: SdkError<E, R>) -> Self {
        classify(err)
    }
}

/// A request missing a required field is the adapter's bug, not the service's answer.
impl From<BuildError> for StoreError {
    fn from(err: BuildError) -> Self {
        StoreError::other(err)
    }
}

/// The outcome of a conditional write: `Some` with its output when it was written, `None`
/// when DynamoDB refused it for its condition; any other error classified.
pub(crate) fn written<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<Option<T>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e) if is(&e, CONDITION_FAILED) => Ok(None),
        Err(e) => Err(classify(e)),
    }
}

/// [`classify`] for a health check: any failure means the backend is not serving.
pub(crate) fn unavailable<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match classify(err) {
        StoreError::Other(e) => StoreError::Unavailable(e),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(code: &str) -> SdkError<GetItemError, ()> {
        let meta = ErrorMetadata::builder().code(code).build();
        SdkError::service_error(GetItemError::generic(meta), ())
    }

    #[test]
    fn busy_or_missing_resources_are_unavailable() {
        for c in [
            "ThrottlingException",
            "ResourceNotFoundException",
            "SlowDown",
        ] {
            assert!(
                matches!(classify(service_error(c)), StoreError::Unavailable(_)),
                "{c}"
            );
        }
        let timeout: SdkError<GetItemError, ()> = SdkError::timeout_error("slow");
        assert!(matches!(classify(timeout), StoreError::Unavailable(_)));
    }

    #[test]
    fn other_refusals_are_errors_with_their_code() {
        let err = service_error("ValidationException");
        assert!(is(&err, "ValidationException"));
        assert!(!is(&err, CONDITION_FAILED));
        assert!(matches!(classify(err), StoreError::Other(_)));
        let refused: Result<(), _> = Err(service_error(CONDITION_FAILED));
        assert!(matches!(written(refused), Ok(None)));
        let failed: Result<(), _> = Err(service_error("ValidationException"));
        assert!(matches!(written(failed), Err(StoreError::Other(_))));
        assert!(matches!(
            unavailable(service_error("AccessDenied")),
            StoreError::Unavailable(_)
        ));
    }
}
