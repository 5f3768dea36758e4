"""The weekly digest: its content, rendering and sending."""
