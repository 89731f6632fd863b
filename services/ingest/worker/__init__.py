"""The parse worker: long-polls the jobs queue (SQS) and dispatches each message by
its ``type`` to a handler. It holds no database credentials: it reads SQS and S3,
writes S3, and reports through signed webhooks.

``python -m services.ingest.worker``
"""
