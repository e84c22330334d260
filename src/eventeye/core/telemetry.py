"""Optional OpenTelemetry traces: HTTP requests and SQL statements, exported over OTLP/HTTP.

Off unless ``EVENTEYE_OTEL_ENDPOINT`` is set (e.g. ``http://collector:4318``);
needs the ``otel`` extra (``pip install 'eventeye[otel]'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.errors import EventeyeError

UNTRACED_URLS = "healthz,readyz,metrics"


class TelemetryUnavailable(EventeyeError):
    """Tracing is configured but OpenTelemetry is not installed."""


@dataclass
class Tracing:
    """A tracer provider wired to the app; ``instrument_engine`` once the engine exists."""

    provider: Any

    def instrument_engine(self, engine: AsyncEngine) -> None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # The instrumentation declares SQLAlchemy < 2.1, but only hooks the engine's cursor
        # events, which 2.1 keeps; the tracing test checks that statements are still traced.
        SQLAlchemyInstrumentor().instrument(
            engine=engine.sync_engine, tracer_provider=self.provider, skip_dep_check=True
        )

    def shutdown(self) -> None:
        """Flush pending spans and detach from the engine."""
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        SQLAlchemyInstrumentor().uninstrument()
        self.provider.shutdown()


def setup_tracing(app: FastAPI, settings: Settings) -> Tracing | None:
    """Instrument ``app`` when an OTLP endpoint is configured; None otherwise."""
    if not settings.otel_endpoint:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise TelemetryUnavailable(
            "EVENTEYE_OTEL_ENDPOINT is set but OpenTelemetry is not installed: pip install 'eventeye[otel]'"
        ) from exc
    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    exporter = OTLPSpanExporter(endpoint=settings.otel_endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED_URLS)
    return Tracing(provider=provider)
