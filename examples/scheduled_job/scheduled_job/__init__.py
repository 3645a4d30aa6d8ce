"""scheduled_job: an hourly EventBridge schedule whose job runs once per scheduled time.

The Lambda handler is :func:`scheduled_job.handler.handler`; see the example's README.
"""
