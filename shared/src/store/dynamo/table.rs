//! The table this adapter expects, created for emulators and tests (on AWS the SAM template
//! creates it).

use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, GlobalSecondaryIndex};
use aws_sdk_dynamodb::types::{KeySchemaElement, KeyType, Projection, ProjectionType};
use aws_sdk_dynamodb::types::{ScalarAttributeType, TimeToLiveSpecification};
use aws_sdk_dynamodb::Client;

use super::{DynamoStore, GSI1};

/// A key schema of two string attributes: `hash` and `range`.
fn key_schema(hash: &str, range: &str) -> anyhow::Result<Vec<KeySchemaElement>> {
    let element = |name, key_type| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
    };
    Ok(vec![
        element(hash, KeyType::Hash).build()?,
        element(range, KeyType::Range).build()?,
    ])
}

impl DynamoStore {
    /// Creates the table with the keys, index and TTL this adapter uses. For emulators and
    /// tests; on AWS the SAM template creates it.
    pub async fn create_table(client: &Client, table: &str) -> anyhow::Result<()> {
        let attributes = ["pk", "sk", "gsi1pk", "gsi1sk"].map(|name| {
            let attribute = AttributeDefinition::builder().attribute_name(name);
            attribute.attribute_type(ScalarAttributeType::S).build()
        });
        let index = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .set_key_schema(Some(key_schema("gsi1pk", "gsi1sk")?))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()?;
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(attributes.into_iter().collect::<Result<_, _>>()?))
            .set_key_schema(Some(key_schema("pk", "sk")?))
            .global_secondary_indexes(index)
            .send()
            .await
            .context("CreateTable")?;
        let ttl = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name("ttl");
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(ttl.build()?)
            .send()
            .await
            .context("UpdateTimeToLive")?;
        Ok(())
    }
}
