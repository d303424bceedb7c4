"""The Python peer's send-email, written plainly. Comparison only (see README.md): it makes the
same AWS calls as the Rust function, in the same order, but one message after another, as plain
Python does (the Rust function handles a batch's messages concurrently).
"""

import html
import json
import os
import time

import boto3
from botocore.exceptions import ClientError

TABLE = os.environ["USERS_TABLE"]
EMAIL_FROM = os.environ["EMAIL_FROM"]
LEASE_SECONDS = 30
RETENTION_SECONDS = 14 * 24 * 3600

# Clients at module level: built once per execution environment, like the Rust function's init.
dynamodb = boto3.client("dynamodb")
ses = boto3.client("ses")


def _decode(body):
    value = json.loads(body)
    if value.get("Type") == "Notification":
        value = json.loads(value["Message"])
    if value.get("event_type") != "user.created" or value.get("version") != 1:
        raise ValueError("not a user.created v1 event")
    return value


def _send_one(record):
    created = _decode(record["body"])
    key = {"pk": {"S": f"EMAIL_SENT#{created['event_id']}"}}
    now = int(time.time())
    try:
        dynamodb.put_item(
            TableName=TABLE,
            Item={**key, "status": {"S": "sending"}, "lease_until": {"N": str(now + LEASE_SECONDS)},
                  "expires_at": {"N": str(now + RETENTION_SECONDS)}},
            ConditionExpression="attribute_not_exists(pk) OR (#status = :sending AND lease_until < :now)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":sending": {"S": "sending"}, ":now": {"N": str(now)}},
        )
    except ClientError as e:
        if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return  # sent already, or being sent by another instance
        raise
    user = created["user"]
    name = user["name"]
    try:
        sent = ses.send_email(
            Source=EMAIL_FROM,
            Destination={"ToAddresses": [user["email"]]},
            Message={
                "Subject": {"Data": "Welcome! Your account is ready", "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": f"Hi {name},\n\nWelcome aboard: your account for {user['email']} is ready.\n",
                             "Charset": "UTF-8"},
                    "Html": {"Data": f"<p>Hi {html.escape(name)},</p><p>Welcome aboard.</p>", "Charset": "UTF-8"},
                },
            },
        )
    except Exception:
        dynamodb.delete_item(TableName=TABLE, Key=key)
        raise
    dynamodb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET #status = :sent, message_id = :id, sent_at = :now REMOVE lease_until",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":sent": {"S": "sent"}, ":id": {"S": sent["MessageId"]},
                                   ":now": {"N": str(int(time.time()))}},
    )


def handler(event, context):
    failures = []
    for record in event.get("Records", []):
        try:
            _send_one(record)
        except Exception as e:  # one bad message must not sink the batch
            print(json.dumps({"message": "send failed", "message_id": record.get("messageId"), "error": str(e)}))
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
