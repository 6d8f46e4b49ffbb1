"""MWAA calls made with boto3, the real AWS client, against a local endpoint.

Reads {"endpoint", "region", "accessKeyId", "secretAccessKey", "calls": [[method, params], ...]}
as JSON on stdin and writes one answer per call as JSON: {"ok": response} or
{"error": code, "message", "httpStatus", "fields": the error's other members}.
"""
import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

request = json.load(sys.stdin)
client = boto3.client(
    "mwaa",
    endpoint_url=request["endpoint"],
    region_name=request["region"],
    aws_access_key_id=request["accessKeyId"],
    aws_secret_access_key=request["secretAccessKey"],
    aws_session_token=request.get("sessionToken"),
    # botocore puts api. or env. in front of the endpoint's host (the model's hostPrefix); a
    # loopback endpoint has no such names.
    config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1}),
)
answers = []
for method, params in request["calls"]:
    try:
        response = getattr(client, method)(**params)
        response.pop("ResponseMetadata", None)
        answers.append({"ok": response})
    except ClientError as error:
        fields = {k: v for k, v in error.response.items() if k not in ("Error", "ResponseMetadata")}
        answers.append(
            {
                "error": error.response["Error"]["Code"],
                "message": error.response["Error"].get("Message", ""),
                "httpStatus": error.response["ResponseMetadata"]["HTTPStatusCode"],
                "fields": fields,
            }
        )
json.dump(answers, sys.stdout, default=lambda value: value.isoformat())
