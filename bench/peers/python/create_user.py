"""The Python peer's create-user, written plainly. Comparison only (see README.md): it makes the
same AWS calls as the Rust function, in the same order, so the benchmark compares runtimes.
"""

import base64
import json
import os
import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import bcrypt
import boto3
import jwt
from botocore.exceptions import ClientError

TABLE = os.environ["USERS_TABLE"]
TOPIC_ARN = os.environ["USER_EVENTS_TOPIC_ARN"]
BCRYPT_COST = int(os.environ.get("BCRYPT_COST", "12"))
JWT_ISSUER = os.environ.get("JWT_ISSUER", "user-signup")
JWT_AUDIENCE = os.environ.get("JWT_AUDIENCE", "user-signup")
JWT_TTL = int(os.environ.get("JWT_TTL_SECONDS", "3600"))

# Clients at module level: built once per execution environment, like the Rust function's init.
dynamodb = boto3.client("dynamodb")
sns = boto3.client("sns")


def _jwt_secret():
    if os.environ.get("JWT_SECRET"):
        return os.environ["JWT_SECRET"]
    ssm = boto3.client("ssm")
    return ssm.get_parameter(Name=os.environ["JWT_SECRET_PARAM"], WithDecryption=True)["Parameter"]["Value"]


JWT_SECRET = _jwt_secret()
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def _reply(status, body, headers=None):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body),
    }


def _now():
    return datetime.now(timezone.utc)


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
    # As the Rust function does: a taken email costs one consistent read, not a bcrypt hash.
    t = time.perf_counter()
    guard = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": f"EMAIL#{email.lower()}"}},
                              ConsistentRead=True, ProjectionExpression="pk")
    guard_ms = (time.perf_counter() - t) * 1000
    if "Item" in guard:
        return _reply(409, {"error": "email_taken"})
    t = time.perf_counter()
    password_hash = bcrypt.hashpw(body["password"].encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
    hash_ms = (time.perf_counter() - t) * 1000

    user_id, event_id, now = str(uuid.uuid4()), str(uuid.uuid4()), _now()
    user = {"id": user_id, "name": name, "email": email, "created_at": _iso(now)}
    created = {
        "event_id": event_id,
        "event_type": "user.created",
        "version": 1,
        "occurred_at": _iso(now),
        "user": user,
    }
    message = json.dumps(created)
    guarded = "attribute_not_exists(pk)"
    t = time.perf_counter()
    try:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "ConditionExpression": guarded, "Item": {
                    "pk": {"S": f"USER#{user_id}"}, "id": {"S": user_id}, "name": {"S": name},
                    "email": {"S": email}, "email_key": {"S": email.lower()},
                    "password_hash": {"S": password_hash}, "created_at": {"S": user["created_at"]}}}},
                {"Put": {"TableName": TABLE, "ConditionExpression": guarded, "Item": {
                    "pk": {"S": f"EMAIL#{email.lower()}"}, "user_id": {"S": user_id},
                    "created_at": {"S": user["created_at"]}}}},
                {"Put": {"TableName": TABLE, "ConditionExpression": guarded, "Item": {
                    "pk": {"S": f"OUTBOX#{event_id}"}, "outbox_state": {"S": "pending"},
                    "outbox_at": {"N": str(int(now.timestamp() * 1000))}, "event": {"S": message}}}},
            ]
        )
    except ClientError as e:
        reasons = e.response.get("CancellationReasons") or []
        if len(reasons) > 1 and reasons[1].get("Code") == "ConditionalCheckFailed":
            return _reply(409, {"error": "email_taken"})
        return _reply(503, {"error": "service_unavailable", "retryable": True})
    store_ms = guard_ms + (time.perf_counter() - t) * 1000

    t = time.perf_counter()
    sns.publish(
        TopicArn=TOPIC_ARN,
        Message=message,
        MessageAttributes={
            "event_type": {"DataType": "String", "StringValue": "user.created"},
            "version": {"DataType": "Number", "StringValue": "1"},
        },
    )
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": f"OUTBOX#{event_id}"}})
    publish_ms = (time.perf_counter() - t) * 1000

    token = jwt.encode(
        {"sub": user_id, "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "iat": now,
         "exp": now + timedelta(seconds=JWT_TTL), "jti": str(uuid.uuid4())},
        JWT_SECRET,
        algorithm="HS256",
    )
    reply = _reply(201, {"user": user, "token": token}, {"location": f"/users/{user_id}"})
    print(json.dumps({"message": "create-user", "status": 201, "hash_ms": hash_ms, "store_ms": store_ms,
                      "publish_ms": publish_ms, "latency_ms": (time.perf_counter() - started) * 1000}))
    return reply
