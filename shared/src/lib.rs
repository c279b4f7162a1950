//! The OAuth 2.0 core of the token service.
//!
//! Everything here is plain Rust: the OAuth rules ([`service`]), what is
//! stored ([`model`]), redirect URIs as browsers parse them
//! ([`redirect_uri`]), the storage traits ([`store`]: what requests need,
//! and what administration needs besides) with their DynamoDB implementation
//! (`dynamo`, behind the default `dynamodb` feature) and one in memory
//! ([`memory`]), and administration over any store ([`admin`]). Nothing
//! here knows about Lambda; the binaries in `functions/` adapt their events to
//! [`service::TokenService::handle`] (the token service) or use the scope and
//! hashing rules directly (the authorizer). Both log the same way ([`logging`]).

#[cfg(feature = "service")]
pub mod admin;
pub mod clock;
pub mod config;
pub mod credentials;
#[cfg(feature = "dynamodb")]
pub mod dynamo;
#[cfg(feature = "service")]
pub mod fetch;
pub mod form;
#[cfg(feature = "service")]
pub mod issue;
#[cfg(feature = "service")]
pub mod jose;
#[cfg(feature = "service")]
pub mod keys;
pub mod logging;
pub mod memory;
pub mod model;
pub mod origin;
pub mod password;
pub mod redirect_uri;
pub mod resource;
pub mod scope;
pub mod secret;
#[cfg(feature = "service")]
pub mod service;
pub mod store;
pub mod successor;
pub mod user_code;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use config::{ConfigError, ServiceConfig};
#[cfg(feature = "dynamodb")]
pub use dynamo::DynamoStore;
pub use memory::MemoryStore;
pub use model::{Client, ClientAuth, GrantType, Token};
#[cfg(feature = "service")]
pub use service::{HttpRequest, HttpResponse, TokenService, MAX_BODY_BYTES};
pub use store::{AdminStore, Store, StoreError};
