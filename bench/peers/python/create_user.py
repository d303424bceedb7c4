"""The Python peer's create-user, written plainly. Comparison only (see docs/benchmark.md): it
makes the same AWS calls as the Rust function, in the same order, so the benchmark compares runtimes.
"""

import base64
import json
import os
import re
import time
import uuid
from datetime import datetime, timezone

import bcrypt
import boto3
from botocore.exceptions import ClientError

TABLE = os.environ["USERS_TABLE"]
TOPIC_ARN = os.environ["USER_EVENTS_TOPIC_ARN"]
BCRYPT_COST = int(os.environ.get("BCRYPT_COST", "12"))
PENDING_TTL = int(float(os.environ.get("PENDING_TTL_HOURS", "24")) * 3600)
LIMIT_PER_IP = int(os.environ.get("SIGNUP_LIMIT_PER_IP", "30"))
LIMIT_WINDOW = int(os.environ.get("SIGNUP_LIMIT_WINDOW_SECONDS", "300"))

# Clients at module level: built once per execution environment, like the Rust function's init.
dynamodb = boto3.client("dynamodb")
sns = boto3.client("sns")

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
ACCEPTED = {"status": "accepted",
            "message": "If this address can be used, a message is on its way to it: follow it to continue."}


def _reply(status, body, headers=None):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body),
    }


def _iso(at):
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _validate(body):
    problems = {}
    name = body.get("name")
    email = body.get("email")
    password = body.get("password")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        problems["name"] = "required, 1 to 100 characters"
    if not isinstance(email, str) or len(email) > 254 or not EMAIL_RE.match(email.strip()):
        problems["email"] = "must be a valid email address"
    if not isinstance(password, str) or not 8 <= len(password.encode()) <= 72:
        problems["password"] = "8 to 72 bytes"
    return problems


def _event(event_type, now, user, **extra):
    return {"event_id": str(uuid.uuid4()), "event_type": event_type, "version": 1,
            "occurred_at": _iso(now), "user": user, **extra}


def _outbox_put(event, now):
    return {"Put": {"TableName": TABLE, "ConditionExpression": "attribute_not_exists(pk)", "Item": {
        "pk": {"S": f"OUTBOX#{event['event_id']}"}, "outbox_state": {"S": "pending"},
        "outbox_at": {"N": str(int(now.timestamp() * 1000))}, "event": {"S": json.dumps(event)}}}}


def _write(name, email, key, password_hash, guard, now):
    """The transaction the address's state asks for, and its event."""
    now_s, expires = str(int(now.timestamp())), str(int(now.timestamp()) + PENDING_TTL)
    item = guard.get("Item")
    pending = item is not None and item.get("verified", {}).get("BOOL") is False
    if item is not None and pending and int(item["expires_at"]["N"]) <= int(now_s):
        item, pending = None, False
    if item is None:
        user_id = str(uuid.uuid4())
        user = {"id": user_id, "name": name, "email": email, "created_at": _iso(now)}
        event = _event("user.created", now, user)
        common = {"verified": {"BOOL": False}, "expires_at": {"N": expires},
                  "credential_id": {"S": user_id}, "created_at": {"S": user["created_at"]}}
        items = [
            {"Put": {"TableName": TABLE, "ConditionExpression": "attribute_not_exists(pk)", "Item": {
                "pk": {"S": f"USER#{user_id}"}, "id": {"S": user_id}, "name": {"S": name}, "email": {"S": email},
                "email_key": {"S": key}, "password_hash": {"S": password_hash}, **common}}},
            {"Put": {"TableName": TABLE,
                     "ConditionExpression": "attribute_not_exists(pk) OR (verified = :false AND expires_at <= :now)",
                     "ExpressionAttributeValues": {":false": {"BOOL": False}, ":now": {"N": now_s}},
                     "Item": {"pk": {"S": f"EMAIL#{key}"}, "user_id": {"S": user_id}, **common}}},
        ]
    elif pending:
        user_id, credential = item["user_id"]["S"], str(uuid.uuid4())
        event = _event("user.verification_requested", now, {"id": user_id, "email": email},
                       credential_id=credential, reason="sign_up_again")
        values = {":false": {"BOOL": False}, ":now": {"N": now_s}, ":c": {"S": credential}, ":e": {"N": expires}}
        items = [
            {"Update": {"TableName": TABLE, "Key": {"pk": {"S": f"USER#{user_id}"}},
                        "UpdateExpression": "SET #n = :n, email = :m, password_hash = :h, credential_id = :c, expires_at = :e",
                        "ConditionExpression": "verified = :false AND expires_at > :now",
                        "ExpressionAttributeNames": {"#n": "name"},
                        "ExpressionAttributeValues": {**values, ":n": {"S": name}, ":m": {"S": email},
                                                      ":h": {"S": password_hash}}}},
            {"Update": {"TableName": TABLE, "Key": {"pk": {"S": f"EMAIL#{key}"}},
                        "UpdateExpression": "SET credential_id = :c, expires_at = :e",
                        "ConditionExpression": "user_id = :u AND verified = :false AND expires_at > :now",
                        "ExpressionAttributeValues": {**values, ":u": {"S": user_id}}}},
        ]
    else:
        user_id = item["user_id"]["S"]
        event = _event("user.sign_up_attempted", now, {"id": user_id, "email": email})
        items = [{"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": f"EMAIL#{key}"}},
                                     "ConditionExpression": "user_id = :u",
                                     "ExpressionAttributeValues": {":u": {"S": user_id}}}}]
    dynamodb.transact_write_items(TransactItems=items + [_outbox_put(event, now)])
    return event


def handler(event, context):
    started = time.perf_counter()
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    try:
        body = json.loads(raw)
    except ValueError:
        return _reply(400, {"error": "invalid_json"})
    if not isinstance(body, dict):
        return _reply(400, {"error": "invalid_json"})
    problems = _validate(body)
    if problems:
        return _reply(400, {"error": "validation", "fields": problems})

    name, email = body["name"].strip(), body["email"].strip()
    key, now = email.lower(), datetime.now(timezone.utc)
    # As the Rust function does: the client's count, the guard, the hash whatever the guard
    # says, then one transaction.
    t = time.perf_counter()
    ip = event.get("requestContext", {}).get("http", {}).get("sourceIp")
    if ip:
        window = int(now.timestamp()) // LIMIT_WINDOW * LIMIT_WINDOW
        hits = dynamodb.update_item(
            TableName=TABLE, Key={"pk": {"S": f"LIMIT#sign-up#{window}#{ip}"}},
            UpdateExpression="ADD hits :one SET expires_at = if_not_exists(expires_at, :e)",
            ExpressionAttributeValues={":one": {"N": "1"}, ":e": {"N": str(window + LIMIT_WINDOW + 60)}},
            ReturnValues="UPDATED_NEW")["Attributes"]["hits"]["N"]
        if int(hits) > LIMIT_PER_IP:
            return _reply(429, {"error": "too_many_requests"}, {"retry-after": "1"})
    guard = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"EMAIL#{key}"}}, ConsistentRead=True,
                              ProjectionExpression="user_id, credential_id, verified, expires_at")
    guard_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    password_hash = bcrypt.hashpw(body["password"].encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
    hash_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    try:
        stored = _write(name, email, key, password_hash, guard, now)
    except ClientError:
        return _reply(503, {"error": "service_unavailable", "retryable": True})
    store_ms = guard_ms + (time.perf_counter() - t) * 1000

    t = time.perf_counter()
    sns.publish(
        TopicArn=TOPIC_ARN,
        Message=json.dumps(stored),
        MessageAttributes={
            "event_type": {"DataType": "String", "StringValue": stored["event_type"]},
            "version": {"DataType": "Number", "StringValue": "1"},
        },
    )
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": f"OUTBOX#{stored['event_id']}"}})
    publish_ms = (time.perf_counter() - t) * 1000

    reply = _reply(202, ACCEPTED, {"cache-control": "no-store"})
    print(json.dumps({"message": "create-user", "status": 202, "hash_ms": hash_ms, "store_ms": store_ms,
                      "publish_ms": publish_ms, "latency_ms": (time.perf_counter() - started) * 1000}))
    return reply
