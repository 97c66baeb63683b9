"""Resumable file uploads with checksums and the file-store interface."""
