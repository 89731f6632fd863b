"""The tests' one look into the platform's bucket: what DELETE and expiry promise to
remove is not visible through the API."""

from __future__ import annotations

import aioboto3

from deploy.platform import RunningPlatform


async def object_keys(platform: RunningPlatform, prefix: str) -> set[str]:
    """The keys under ``prefix`` in the platform's bucket, every page of them."""
    env = platform.env
    async with aioboto3.Session().client(
        "s3",
        endpoint_url=env["S3_ENDPOINT_URL"],
        region_name=env.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "test"),
    ) as s3:
        keys: set[str] = set()
        paginator = s3.get_paginator("list_objects_v2")
        bucket = env.get("INGEST_BUCKET", "quarry-files")
        async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys.update(item["Key"] for item in page.get("Contents", []))
        return keys
