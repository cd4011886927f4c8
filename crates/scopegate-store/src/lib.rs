//! scopegate's storage layer (issue 3): one async `Store` trait with SQLite and
//! PostgreSQL implementations on sqlx, and one conformance suite run against both.
//!
//! Not built yet: the policy core and commands that need no storage come first.
//! This crate holds its place in the workspace so that the dependency direction
//! (core <- store <- server <- binary) is fixed from the start.
