//! Loom models of the executor core's hand-off and room tokens (filled in below).
