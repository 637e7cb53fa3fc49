//! Lambda function serving the `auth` endpoint group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_lambda(shared::http::Group::Auth).await
}
