"""Headless training of every model of the three jobs (the ``train`` extra: PyTorch Lightning).

The core and the command line never import this package. ``python Training/train.py --config …`` is the
entry point; :mod:`condswin.training.config` holds the typed configuration.
"""
