//! The API through `Router::oneshot` on SQLite and the in-process broker, and over a
//! real socket on PostgreSQL and RabbitMQ (`production`).

mod bad_requests;
mod definitions;
mod domain_bad_requests;
mod domain_fixtures;
mod domain_isolation;
mod domains;
mod dry_run;
mod events;
mod fixtures;
mod isolation;
mod leads;
mod limits;
mod logs;
mod missions;
mod openapi;
mod production;
mod rls;
mod unsubscribe;
