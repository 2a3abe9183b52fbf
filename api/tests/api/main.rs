//! The API through `Router::oneshot` on SQLite and the in-process broker, and over a
//! real socket on PostgreSQL and RabbitMQ (`production`).

mod agents;
mod audit;
mod bad_requests;
mod campaigns;
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
mod metrics;
mod missions;
mod openapi;
mod privacy;
mod production;
mod rls;
mod secrets;
mod ui;
mod unsubscribe;
mod webhook_keys;
mod webhooks;
