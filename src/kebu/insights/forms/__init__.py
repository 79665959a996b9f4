"""HTML forms of the insights area, one module per analysis: shape only; the services hold the rules."""
