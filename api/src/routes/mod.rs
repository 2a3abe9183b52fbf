//! The routes, one file per resource; [`crate::router`] assembles them.

pub(crate) mod agents;
pub(crate) mod audit;
pub(crate) mod campaigns;
pub(crate) mod definitions;
pub(crate) mod domains;
pub(crate) mod dry_run;
pub(crate) mod events;
pub(crate) mod leads;
pub(crate) mod missions;
pub(crate) mod ops;
pub(crate) mod privacy;
pub(crate) mod secrets;
pub(crate) mod unsubscribe;
pub(crate) mod webhooks;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::{Principal, Scope};
use crate::error::ApiError;

/// A caller whose key has a given scope; extracted before the body is read, so a key
/// without the scope gets 403 whatever it sent.
macro_rules! scoped {
    ($(#[$doc:meta])* $name:ident, $scope:expr) => {
        $(#[$doc])*
        pub(crate) struct $name(pub(crate) Principal);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
                let principal = Principal::from_request_parts(parts, state).await?;
                principal.require($scope)?;
                Ok($name(principal))
            }
        }
    };
}

scoped!(
    /// A key with the `read` scope.
    Reader,
    Scope::Read
);
scoped!(
    /// A key with the `write` scope.
    Writer,
    Scope::Write
);
scoped!(
    /// A key with the `admin` scope.
    Admin,
    Scope::Admin
);
