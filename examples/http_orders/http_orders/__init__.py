"""http_orders: an HTTP API that creates each order once, whatever the client retries.

The Lambda handler is :data:`http_orders.handler.handler`; see the example's README.
"""
