//! Lambda function serving the `shares` endpoint group: owners' share links and their visitors.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_lambda(shared::http::Group::Shares).await
}
