"""The Python peer's send-email, written plainly. Comparison only (see docs/benchmark.md): it
makes the same AWS calls as the Rust function, in the same order, but one message after another,
as plain Python does (the Rust function handles a batch's messages concurrently).
"""

import base64
import hashlib
import hmac
import html
import json
import os
import time
import uuid

import boto3
import jwt
from botocore.exceptions import ClientError

TABLE = os.environ["USERS_TABLE"]
EMAIL_FROM = os.environ["EMAIL_FROM"]
CONFIGURATION_SET = os.environ.get("EMAIL_CONFIGURATION_SET")
CAP = int(os.environ.get("EMAILS_PER_ADDRESS_PER_HOUR", "3"))
TTL = int(float(os.environ.get("VERIFY_TOKEN_TTL_HOURS", "24")) * 3600)
URL_BASE = os.environ["VERIFY_URL_BASE"]
ISSUER = os.environ.get("JWT_ISSUER", "user-signup")
LEASE_SECONDS = 30
RETENTION_SECONDS = 14 * 24 * 3600

# Clients at module level: built once per execution environment, like the Rust function's init.
dynamodb = boto3.client("dynamodb")
ses = boto3.client("ses")


def _key():
    if os.environ.get("VERIFY_TOKEN_SECRET"):
        return os.environ["VERIFY_TOKEN_SECRET"].encode()
    ssm = boto3.client("ssm")
    name = os.environ["VERIFY_TOKEN_SECRET_PARAM"]
    return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"].encode()


KEY = _key()
EMAILED = ("user.created", "user.verification_requested", "user.sign_up_attempted")


def _decode(body):
    value = json.loads(body)
    if value.get("Type") == "Notification":
        value = json.loads(value["Message"])
    if value.get("event_type") not in EMAILED or value.get("version") != 1:
        raise ValueError("not an email event of version 1")
    return value


def _admit(email_key, event_id, kind):
    """The address's log of the last hour, as the Rust function keeps it: read, decide, write
    back if unchanged."""
    log_key = {"pk": {"S": f"MAIL_LOG#{email_key}"}}
    item = dynamodb.get_item(TableName=TABLE, Key=log_key, ConsistentRead=True).get("Item", {})
    now_ms = int(time.time() * 1000)
    sent = [e["M"] for e in item.get("sent", {}).get("L", []) if now_ms - int(e["M"]["at"]["N"]) < 3600_000]
    if any(e["event_id"]["S"] == event_id for e in sent):
        return True
    if len(sent) >= CAP or (kind == "notice" and any(e["kind"]["S"] == "notice" for e in sent)):
        return False
    sent.append({"event_id": {"S": event_id}, "kind": {"S": kind}, "at": {"N": str(now_ms)}})
    version = int(item.get("version", {}).get("N", "0"))
    condition = {"ConditionExpression": "attribute_not_exists(pk)"} if not item else {
        "ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": {"N": str(version)}}}
    dynamodb.put_item(TableName=TABLE, Item={**log_key, "sent": {"L": [{"M": e} for e in sent]},
                                             "version": {"N": str(version + 1)},
                                             "expires_at": {"N": str(now_ms // 1000 + 3660)}}, **condition)
    return True


def _link(user_id, credential_id, email_key):
    now = int(time.time())
    adr = base64.urlsafe_b64encode(hmac.new(KEY, f"address:{email_key}".encode(), hashlib.sha256).digest()[:16])
    token = jwt.encode({"sub": user_id, "cred": credential_id, "adr": adr.decode().rstrip("="),
                        "pur": "verify_email", "iss": ISSUER, "aud": "verify-email", "iat": now,
                        "exp": now + TTL, "jti": str(uuid.uuid4())}, KEY, algorithm="HS256")
    return f"{URL_BASE}?token={token}"


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
    email = user["email"]
    notice = created["event_type"] == "user.sign_up_attempted"
    try:
        if not _admit(email.lower(), created["event_id"], "notice" if notice else "verification"):
            return  # over the address's cap (the claim is left to expire; a retry is rare)
        if notice:
            subject, text = ("Someone tried to sign up with your email address",
                             f"Someone tried to create an account with {email}, which already has one.\n")
        else:
            link = _link(user["id"], created.get("credential_id", user["id"]), email.lower())
            subject, text = ("Confirm your email address",
                             f"Confirm that {email} is your address to finish signing up:\n\n{link}\n")
        sent = ses.send_email(
            Source=EMAIL_FROM,
            Destination={"ToAddresses": [email]},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": text, "Charset": "UTF-8"},
                    "Html": {"Data": f"<p>{html.escape(text)}</p>", "Charset": "UTF-8"},
                },
            },
            **({"ConfigurationSetName": CONFIGURATION_SET} if CONFIGURATION_SET else {}),
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
