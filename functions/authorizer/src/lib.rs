//! An API Gateway Lambda authorizer that asks an RFC 7662 introspection
//! endpoint (this project's token service, django-oauth-toolkit, or any other)
//! whether a bearer token is active, and answers with cache-safe policies.
//!
//! [`decision`], [`rules`], [`policy`], [`introspection`] and [`cache`] know
//! nothing of Lambda; [`handler`] adapts API Gateway's events to them.

pub mod cache;
pub mod config;
pub mod decision;
pub mod handler;
pub mod introspection;
pub mod policy;
pub mod rules;
pub mod secret;

pub use config::AuthorizerConfig;
pub use decision::Authorizer;
pub use handler::{handle, Refusal};
