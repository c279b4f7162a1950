//! The device authorization endpoint (RFC 8628 §3.1, DOT's
//! `/o/device-authorization/`): a device that cannot show a browser asks
//! for a device code, which it keeps and polls the token endpoint with,
//! and a user code, which it shows with where to enter it. The client
//! authenticates as at the token endpoint (a public client by its id).

use http::StatusCode;
use serde_json::json;

use super::{json_response, read_params, HttpRequest, HttpResponse, OAuthError, TokenService};
use crate::model::{DeviceAuthorization, DeviceStatus, GrantType};
use crate::secret::{generate_secret, sha256_hex};
use crate::store::{Store, StoreError};

/// How long after it can no longer be used a device authorization is kept,
/// so that a late poll is told `expired_token` rather than nothing.
const KEPT_AFTER_EXPIRY_SECONDS: u64 = 3600;

/// User codes drawn before giving up on finding a free one (each draw is
/// one in 20^8 or fewer to collide with a live one).
const USER_CODE_DRAWS: usize = 3;

impl<S: Store> TokenService<S> {
    /// `POST /o/device-authorization/`.
    pub(super) async fn device_authorization(
        &self,
        request: &HttpRequest,
    ) -> Result<HttpResponse, OAuthError> {
        let params = read_params(request)?;
        let client = self.authenticated_client(request, &params).await?;
        if !client.may_use(GrantType::DeviceCode) {
            return Err(OAuthError::unauthorized_client(
                "this client may not use the device authorization grant",
            ));
        }
        let audience = self.requested_audience(&client, &params)?;
        let scope = self.granted_scope(&client, params.get("scope")?, &audience)?;
        let now = self.clock.now();
        let lifetime = self.config.device_code_expire_seconds;
        let format = &self.config.user_code_format;
        let device_code = generate_secret()?;
        for _ in 0..USER_CODE_DRAWS {
            let user_code = format.generate()?;
            let normalised = format.normalise(&user_code).unwrap_or_default();
            let device = DeviceAuthorization {
                device_code_hash: sha256_hex(&device_code),
                user_code_hash: sha256_hex(&normalised),
                client_id: client.client_id.clone(),
                scope: scope.clone(),
                audience: audience.clone(),
                status: DeviceStatus::Pending,
                interval: self.config.device_flow_interval,
                next_poll_at: now,
                issued_at: now,
                usable_until: now + lifetime,
                expires_at: now + lifetime + KEPT_AFTER_EXPIRY_SECONDS,
            };
            match self.store.put_device_authorization(&device).await {
                Ok(()) => {}
                Err(StoreError::AlreadyExists) => continue,
                Err(e) => return Err(e.into()),
            }
            tracing::info!(client_id = %client.client_id, "device authorization started");
            let page = self.config.endpoint("/o/device/");
            let complete = format!("{page}?user_code={}", crate::form::encode(&user_code));
            return Ok(json_response(
                StatusCode::OK,
                &json!({
                    "device_code": device_code,
                    "user_code": user_code,
                    "verification_uri": page,
                    "verification_uri_complete": complete,
                    "expires_in": lifetime,
                    "interval": self.config.device_flow_interval,
                }),
            ));
        }
        Err(OAuthError::retry_shortly("no free user code was found; retry"))
    }
}
