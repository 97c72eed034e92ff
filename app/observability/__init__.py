"""What operators watch: health and readiness, Prometheus metrics, OpenTelemetry traces."""
