"""function-upbound-environment: compose an Upbound environment from one XR."""
