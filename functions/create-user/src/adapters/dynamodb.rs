//! Users in DynamoDB: one transaction writes the user (`USER#<id>`) and its email guard
//! (`EMAIL#<lower-cased email>`), each only if absent, so of two concurrent sign-ups with one
//! email exactly one commits.

use crate::domain::signup::{NewUser, StoreError, UserStore};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use user_events::UserCreated;

pub struct DynamoUserStore {
    client: Client,
    table: String,
}

impl DynamoUserStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn put_if_absent(&self, item: HashMap<String, AttributeValue>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

pub fn user_key(id: &uuid::Uuid) -> String {
    format!("USER#{id}")
}

pub fn email_key(email_key: &str) -> String {
    format!("EMAIL#{email_key}")
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

impl UserStore for DynamoUserStore {
    async fn create(&self, user: &NewUser, _event: &UserCreated) -> Result<(), StoreError> {
        let created_at = user
            .created_at
            .format(&Rfc3339)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let user_item = HashMap::from([
            ("pk".to_owned(), s(user_key(&user.id))),
            ("id".to_owned(), s(user.id.to_string())),
            ("name".to_owned(), s(&user.name)),
            ("email".to_owned(), s(&user.email)),
            ("email_key".to_owned(), s(&user.email_key)),
            ("password_hash".to_owned(), s(user.password_hash.expose())),
            ("created_at".to_owned(), s(&created_at)),
        ]);
        let guard_item = HashMap::from([
            ("pk".to_owned(), s(email_key(&user.email_key))),
            ("user_id".to_owned(), s(user.id.to_string())),
            ("created_at".to_owned(), s(created_at)),
        ]);
        let result = self
            .client
            .transact_write_items()
            .transact_items(self.put_if_absent(user_item)?)
            .transact_items(self.put_if_absent(guard_item)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if email_guard_exists(e.err()) => Err(StoreError::EmailTaken),
            Err(e) => Err(StoreError::Unavailable(DisplayErrorContext(&e).to_string())),
        }
    }
}

/// The transaction was cancelled because the email guard (the second item) already exists.
/// A colliding random user id would cancel the first item instead and is reported as an
/// error, not as a taken email.
fn email_guard_exists(error: &TransactWriteItemsError) -> bool {
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = error else {
        return false;
    };
    cancelled.cancellation_reasons().get(1).and_then(|r| r.code()) == Some("ConditionalCheckFailed")
}
