//! Quickstart: see README.md.
fn main() {}
