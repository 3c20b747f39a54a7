"""Embedding backends, one module per model library; chosen by ``search_svc.embedding``."""
