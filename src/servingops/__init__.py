"""servingops: declarative GitOps reconciler for Databricks Model Serving endpoints."""

__version__ = "0.1.0"
