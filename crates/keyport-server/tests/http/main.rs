//! Integration tests over real HTTP on loopback, against a real SQLite file.

mod common;

mod api;
mod gateway;
mod hygiene;
mod verify;
