"""Event sources: parse AWS events and build idempotency keys from them.

- :mod:`idemlock.sources.s3`: S3 notifications by any path (direct, through SQS, SNS or both, or
  EventBridge), keyed per object name, per version or per notification.
- :mod:`idemlock.sources.s3_batch`: S3 Batch Operations invocations and the response S3 expects.
- :mod:`idemlock.sources.dynamodb_streams`: DynamoDB Streams records, images deserialized.
- :mod:`idemlock.sources.sqs`: SQS messages, standard and FIFO.
- :mod:`idemlock.sources.sns`: SNS notifications.
- :mod:`idemlock.sources.eventbridge`: EventBridge events, scheduled runs included.
- :mod:`idemlock.sources.kinesis`: Kinesis Data Streams records.
- :mod:`idemlock.sources.kafka`: Amazon MSK and self-managed Kafka records.
- :mod:`idemlock.sources.http`: API Gateway and Lambda function URL requests.
- :mod:`idemlock.sources.batches`: which source a batch event is, its records and ordering.

Each key function takes a whole single-record event or one record, so the same function keys a
``handler(event, context)`` and each record of a batch. This package parses and keys events
only; it knows nothing of locks. A malformed event raises :class:`~idemlock.errors.EventError`
naming the path of what is missing.

This file imports nothing: a handler that imports one source (``from idemlock.sources import
s3``) loads that source alone, not every other one.
"""
