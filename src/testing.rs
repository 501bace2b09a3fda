//! Deterministic time for tests (feature `testing`).
