"""Credential rotation: ``minio-stack rotate-root`` and ``minio-stack rotate-signer-key``.

Both commands follow one shape: check what works now, write a journal (a 0600 state file
next to .env) *before* each step that changes something, apply, restart, verify real
behaviour, and undo everything when a check fails. A re-run after a crash reads the journal
and finishes or rolls back, so two half-applied credential sets never stay behind.
"""
