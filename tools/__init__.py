"""Commands that turn this checkout into what AWS Lambda deploys (not shipped in the wheel).

- ``python -m tools.build_layer``: the Lambda layer zips, ``python/`` inside, per architecture;
- ``python -m tools.package_example``: an example's deployment package, laid out as ``sam build``
  lays it out.

Both install idemlock from a wheel built from this checkout (no release needs to exist) and
fetch everything else as binary wheels for Lambda's platform, never the host's.
"""
