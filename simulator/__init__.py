"""A local simulator of four third-party APIs: CustomerGauge Stream, ClientToolbox,
Talon.One Integration and ExpertSender CDP."""

__version__ = "0.1.0"
