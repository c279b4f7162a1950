//! An API Gateway Lambda authorizer that asks an RFC 7662 introspection
//! endpoint (this project's token service, django-oauth-toolkit, or any other)
//! whether a bearer token is active, and answers with cache-safe policies.
//!
//! Plain Rust, leaves first, no module importing one that imports it back:
//! [`token`] (the bearer token and its introspection answer), [`cache`],
//! [`rules`], [`policy`], [`introspection`] (the RFC 7662 client), [`jwt`]
//! (JWT access tokens verified here),
//! [`secret`] (the credentials from Secrets Manager), [`config`], and
//! [`decision`], whose [`Authorizer::decide`] is the whole decision. Only
//! [`handler`] knows API Gateway's events; `main` does the cold start's I/O.

pub mod cache;
pub mod config;
pub mod decision;
pub mod handler;
pub mod introspection;
pub mod jwt;
pub mod policy;
pub mod rules;
pub mod secret;
pub mod token;

pub use config::AuthorizerConfig;
pub use decision::{Authorizer, Decision};
pub use handler::{handle, Answer, AuthorizerEvent, Context, Refusal};
