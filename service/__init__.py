"""Credit-risk prediction service: an ONNX model behind FastAPI, observable with OpenTelemetry."""

__version__ = "0.1.0"
