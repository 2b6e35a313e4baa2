"""The Apache Spark engine: session set-up (imported only when --engine spark is chosen)."""
