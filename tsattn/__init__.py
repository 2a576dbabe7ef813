"""tsattn: attention forecasters for multivariate time series, from the command line."""

__version__ = "0.1.0"
