//! Lambda function serving the `zip` endpoint group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_lambda(shared::http::Group::Zip).await
}
