//! Integration tests over real HTTP on loopback, against a real SQLite file
//! or a fresh PostgreSQL database (`KEYPORT_TEST_DATABASE`, see `db`).

mod common;
mod db;

mod analytics;
mod api;
mod attacks;
mod cluster;
mod gateway;
mod hygiene;
mod leaks;
mod operator;
mod policies;
mod postgres;
mod ratelimit_headers;
mod restrictions;
mod scan;
mod verify;
mod webhooks;
