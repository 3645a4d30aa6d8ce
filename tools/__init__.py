"""Build tooling of this checkout: what AWS Lambda deploys, and the docs site (not in the wheel).

- ``python -m tools.build_layer``: the Lambda layer zips, ``python/`` inside, per Python version
  and architecture, with their SAM template;
- ``python -m tools.package_example``: an example's deployment package, laid out as ``sam build``
  lays it out;
- ``tools/docs_site.py``: the mkdocs hook that serves the repository's pages at their paths.

Both install idemlock from a wheel built from this checkout (no release needs to exist) and
fetch everything else as binary wheels for Lambda's platform, never the host's.
"""
