"""The signer's pure core: no I/O, no environment, no clock of its own."""
