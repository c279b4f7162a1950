//! `oauthctl table create` (the harness uses the same code) makes the table
//! template.yaml defines.

use integration_tests::{dynamo, fresh_table};

/// The `Table` resource's block in template.yaml.
fn template_table_block() -> String {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let mut lines = template.lines().skip_while(|l| *l != "  Table:");
    assert!(lines.next().is_some(), "a Table resource in template.yaml");
    // Its properties are indented deeper than the next resource's name.
    lines
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
#[ignore = "needs DynamoDB Local: scripts/test runs it"]
async fn created_table_matches_template_yaml() {
    let dynamo = dynamo().await;
    let table = fresh_table(&dynamo).await;
    let described = dynamo
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let template = template_table_block();
    let squashed: String = template.split_whitespace().collect::<Vec<_>>().join(" ");

    let keys = described.key_schema();
    assert_eq!(keys.len(), 1);
    assert!(
        squashed.contains(&format!(
            "- AttributeName: {} KeyType: {}",
            keys[0].attribute_name(),
            keys[0].key_type().as_str()
        )),
        "{template}"
    );
    for attribute in described.attribute_definitions() {
        let wanted = format!(
            "- AttributeName: {} AttributeType: {}",
            attribute.attribute_name(),
            attribute.attribute_type().as_str()
        );
        assert!(squashed.contains(&wanted), "{wanted} not in\n{template}");
    }
    let billing = described
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .expect("billing mode");
    assert!(
        squashed.contains(&format!("BillingMode: {}", billing.as_str())),
        "{template}"
    );

    let ttl = dynamo
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.time_to_live_status().map(|s| s.as_str()), Some("ENABLED"));
    let wanted = format!(
        "TimeToLiveSpecification: AttributeName: {} Enabled: true",
        ttl.attribute_name().unwrap()
    );
    assert!(squashed.contains(&wanted), "{wanted} not in\n{template}");
}
