"""What every stage runs on: precision, devices, progress and logs, safe files, provenance."""
