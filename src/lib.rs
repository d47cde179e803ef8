//! Holder package for the cross-crate tests, benches and examples of signoff.
