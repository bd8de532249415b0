//! Integration tests over real HTTP on loopback, against a real SQLite file.

mod common;

mod analytics;
mod api;
mod attacks;
mod gateway;
mod hygiene;
mod verify;
