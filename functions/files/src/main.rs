//! Lambda function serving the `files` endpoint group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_lambda(shared::http::Group::Files).await
}
