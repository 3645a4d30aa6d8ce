"""sqs_orders: an SQS consumer that charges each order once, with partial batch responses.

The Lambda handler is :data:`sqs_orders.handler.handler`; see the example's README.
"""
