"""Scoring: SALT arithmetic (``salt``) and segmentation metrics (``metrics``).

Pure numpy; nothing here imports torch.
"""
