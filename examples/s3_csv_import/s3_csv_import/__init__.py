"""Import users from CSV files uploaded to S3, once per upload, with idemlock.

The layers, each calling only the next one down:

- :mod:`~s3_csv_import.handler`: the Lambda handler; idempotency per S3 object
  (``@idempotent_records``) and the key choice (``IMPORT_KEY``).
- :mod:`~s3_csv_import.action`: reads one notification record, calls the service, reports.
- :mod:`~s3_csv_import.service`: fetches the object from S3 and parses the CSV into users.
- :mod:`~s3_csv_import.dao`: writes the users to DynamoDB, safely re-runnable.
"""
