//! The AWS SDK clients the shared crate builds, all in one place, and the recording of the calls
//! they make (for the IAM check of `infra/template.yaml`).

pub mod calls;
pub(crate) mod errors;
pub mod iam;
pub(crate) mod retry;

use aws_config::SdkConfig;

pub use calls::{Call, CallLog, CallRecorder, Resource, Target};

/// Every client a function may use. Building one is cheap and opens no connection.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub ssm: aws_sdk_ssm::Client,
}

impl AwsClients {
    /// Clients of `sdk`, each recording its calls when `recorder` is given.
    pub fn new(sdk: &SdkConfig, s3_path_style: bool, recorder: Option<&CallRecorder>) -> Self {
        Self {
            dynamodb: dynamodb(sdk, recorder),
            s3: s3(sdk, s3_path_style, recorder),
            lambda: lambda(sdk, recorder),
            ssm: ssm(sdk, recorder),
        }
    }
}

pub fn dynamodb(sdk: &SdkConfig, recorder: Option<&CallRecorder>) -> aws_sdk_dynamodb::Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(recorder) = recorder {
        builder = builder.interceptor(recorder.clone());
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

pub fn s3(
    sdk: &SdkConfig,
    path_style: bool,
    recorder: Option<&CallRecorder>,
) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style);
    if let Some(recorder) = recorder {
        builder = builder.interceptor(recorder.clone());
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

pub fn lambda(sdk: &SdkConfig, recorder: Option<&CallRecorder>) -> aws_sdk_lambda::Client {
    let mut builder = aws_sdk_lambda::config::Builder::from(sdk);
    if let Some(recorder) = recorder {
        builder = builder.interceptor(recorder.clone());
    }
    aws_sdk_lambda::Client::from_conf(builder.build())
}

pub fn ssm(sdk: &SdkConfig, recorder: Option<&CallRecorder>) -> aws_sdk_ssm::Client {
    let mut builder = aws_sdk_ssm::config::Builder::from(sdk);
    if let Some(recorder) = recorder {
        builder = builder.interceptor(recorder.clone());
    }
    aws_sdk_ssm::Client::from_conf(builder.build())
}
