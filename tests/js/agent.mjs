// A Node.js agent using the official OpenTelemetry JavaScript SDK: it sends spans and metrics over OTLP/HTTP
// (JSON) to the endpoint in OTEL_EXPORTER_OTLP_ENDPOINT, then flushes and exits.
import { metrics, trace } from "@opentelemetry/api";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";

const calls = Number(process.env.JS_AGENT_CALLS || "5");
const resource = resourceFromAttributes({ "service.name": "js-agent", "service.instance.id": "js-1" });
const tracerProvider = new BasicTracerProvider({
  resource,
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
});
const reader = new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter(), exportIntervalMillis: 60000 });
const meterProvider = new MeterProvider({ resource, readers: [reader] });
trace.setGlobalTracerProvider(tracerProvider);
metrics.setGlobalMeterProvider(meterProvider);

const tracer = trace.getTracer("js-agent");
const counter = metrics.getMeter("js-agent").createCounter("js.requests", { unit: "{request}" });
for (let i = 0; i < calls; i++) {
  tracer.startActiveSpan("js.plan", (span) => {
    span.setAttribute("gen_ai.request.model", "m-js");
    counter.add(1, { route: "/plan" });
    span.end();
  });
}
await tracerProvider.forceFlush();
await meterProvider.forceFlush();
await tracerProvider.shutdown();
await meterProvider.shutdown();
