"""stream_audit: an audit log of a DynamoDB table, written from its stream, one entry per change.

The Lambda handler is :data:`stream_audit.handler.handler`; see the example's README.
"""
