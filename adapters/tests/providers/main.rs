//! Every provider client against a local HTTP server (wiremock on loopback)
//! that checks the exact request and answers in the provider's real shapes.
//! No test reaches the network.

mod fixtures;
mod scenarios;

mod apollo;
mod calendly;
mod hunter;
mod llm;
mod secrets;
mod sendgrid;
mod twilio;
mod waterfall;
