"""Koprade: a real-time co-creation whiteboard server for public-sector innovation labs."""

__version__ = "0.1.0"
