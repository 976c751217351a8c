"""The function's API as pydantic models: one module per XR kind, and the function input.

- types.py: what the kinds share (constrained types, patterns, the `Model` base, schema extras);
- environment.py: the UpboundEnvironment XR's spec and status;
- input.py: the function input (the Composition pipeline step's defaults).

hack/generate.py writes the XRDs, the input CRD and docs/reference.md from these models; the
logic that reads them is in function/validate.py and function/resolve.py.
"""
