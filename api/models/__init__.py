"""Request and response models. The OpenAPI document is generated from these same classes."""
