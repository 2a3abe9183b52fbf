//! The API through `Router::oneshot` on SQLite and the in-process broker, and over a
//! real socket on PostgreSQL and RabbitMQ (`production`).

mod bad_requests;
mod definitions;
mod events;
mod fixtures;
mod isolation;
mod limits;
mod logs;
mod missions;
mod openapi;
mod production;
mod rls;
mod webhooks;
