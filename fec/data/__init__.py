"""FEC data: triplet records, the official CSV format, the face store and the synthetic generator."""
