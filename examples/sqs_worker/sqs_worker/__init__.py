"""A long-lived SQS consumer (no Lambda) whose jobs take minutes and run once each."""
