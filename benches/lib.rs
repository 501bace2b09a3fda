//! The benches are the `[[bench]]` targets of this crate; see `Cargo.toml` beside this file.
