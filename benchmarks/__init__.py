"""Benchmarks of idemlock side by side with Powertools for AWS Lambda's idempotency utility.

Run ``python -m benchmarks`` (or ``--quick``) from the repository root; see
``benchmarks/README.md``.
"""
