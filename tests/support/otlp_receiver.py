"""A real OTLP receiver (gRPC and HTTP/protobuf) for wire-level tests, decoding with opentelemetry-proto.

It stores every decoded export request, and can be stopped, restarted on the same port, or told
to hang (accept and never answer) so tests can exercise a collector that is down or stuck. Given
server credentials (gRPC) or an SSL context (HTTP) it serves TLS, like a collector with a certificate.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Received:
    """Everything a receiver got, decoded, with flattening helpers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.traces: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metrics: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.logs: list[logs_service_pb2.ExportLogsServiceRequest] = []
        self.headers: list[dict[str, str]] = []

    def add(self, kind: str, message: Any, headers: dict[str, str]) -> None:
        with self.lock:
            getattr(self, kind).append(message)
            self.headers.append(headers)

    def spans(self) -> list[tuple[Any, Any]]:
        """(resource, span) pairs."""
        with self.lock:
            return [
                (rs.resource, span)
                for req in self.traces
                for rs in req.resource_spans
                for ss in rs.scope_spans
                for span in ss.spans
            ]

    def metric_names(self) -> set[str]:
        with self.lock:
            return {m.name for req in self.metrics for rm in req.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}

    def metric(self, name: str) -> list[Any]:
        with self.lock:
            return [
                m
                for req in self.metrics
                for rm in req.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
                if m.name == name
            ]

    def log_records(self) -> list[Any]:
        with self.lock:
            return [r for req in self.logs for rl in req.resource_logs for sl in rl.scope_logs for r in sl.log_records]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()


class _Hang:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.event.set()

    def wait(self) -> None:
        self.event.wait()


class GrpcReceiver:
    def __init__(
        self,
        received: Received | None = None,
        port: int = 0,
        hang: _Hang | None = None,
        server_credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self.received = received or Received()
        self.hang = hang or _Hang()
        self.port = port
        self.server_credentials = server_credentials
        self._server: grpc.Server | None = None

    def start(self) -> GrpcReceiver:
        received, hang = self.received, self.hang

        def meta(context: grpc.ServicerContext) -> dict[str, str]:
            return dict(context.invocation_metadata())

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                hang.wait()
                received.add("traces", request, meta(context))
                return trace_service_pb2.ExportTraceServiceResponse()

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                hang.wait()
                received.add("metrics", request, meta(context))
                return metrics_service_pb2.ExportMetricsServiceResponse()

        class Logs(logs_service_pb2_grpc.LogsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                hang.wait()
                received.add("logs", request, meta(context))
                return logs_service_pb2.ExportLogsServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
        address = f"127.0.0.1:{self.port}"
        if self.server_credentials is None:
            self.port = server.add_insecure_port(address)
        else:
            self.port = server.add_secure_port(address, self.server_credentials)
        server.start()
        self._server = server
        return self

    @property
    def endpoint(self) -> str:
        return f"{'http' if self.server_credentials is None else 'https'}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self.hang.event.set()
            self._server.stop(grace=0).wait()
            self._server = None


_PATHS = {
    "/v1/traces": ("traces", trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
    "/v1/metrics": ("metrics", metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse),
    "/v1/logs": ("logs", logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
}


class HttpReceiver:
    def __init__(
        self,
        received: Received | None = None,
        port: int = 0,
        hang: _Hang | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.received = received or Received()
        self.hang = hang or _Hang()
        self.port = port
        self.ssl_context = ssl_context
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> HttpReceiver:
        received, hang = self.received, self.hang

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                route = _PATHS.get(self.path)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                hang.wait()
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                kind, request_type, response_type = route
                if self.headers.get("content-encoding") == "gzip":
                    import gzip

                    body = gzip.decompress(body)
                received.add(kind, request_type.FromString(body), {k.lower(): v for k, v in self.headers.items()})
                payload = response_type().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        if self.ssl_context is not None:
            self._server.socket = self.ssl_context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def endpoint(self) -> str:
        return f"{'http' if self.ssl_context is None else 'https'}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self.hang.event.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None
