"""Autoscaling Lab Kit: deploy, load and watch autoscalers on kind or on the embedded twin."""

__version__ = "0.1.0"
