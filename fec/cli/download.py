"""`fec-data download` (filled in by the download work; see issue 6)."""
