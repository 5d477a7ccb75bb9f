"""Cluster mode: several `koprade serve` processes on Redis Streams and PostgreSQL."""
