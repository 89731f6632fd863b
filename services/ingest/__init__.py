"""The ingest service: uploads to S3, files, jobs, the SQS parse worker and its webhooks."""
