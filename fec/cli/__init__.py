"""Command-line shells: parse options, call one library function, turn user errors into exit codes."""
