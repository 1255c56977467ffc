//! `/mcp/p/<slug>`: the retrieve-mode endpoint under a profile. The endpoint only says which
//! profile a request is in; the application adds that profile's grant to the caller
//! (`ProfileService::scoped`) and the admission rule does the rest, so its listings, search
//! and calls are those of the profile's servers. An unknown slug is answered 404 with the
//! profiles there are (the Go proxy's body), and a token pinned to another profile 403.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use mcpproxy_application::ProfileError;
use mcpproxy_domain::Caller;
use rmcp::transport::StreamableHttpService;
use serde_json::json;
use tower::ServiceExt;

use crate::handler::ProxyHandler;
use crate::notify::Notifier;
use crate::sessions::{BookedSessions, SessionBook};
use crate::{Access, Mode, Services};

type Service = StreamableHttpService<ProxyHandler, BookedSessions>;

/// The endpoint of each profile, made on first use.
pub(crate) struct ProfileEndpoints {
    services: Arc<Services>,
    access: Access,
    notifier: Arc<Notifier>,
    book: Arc<SessionBook>,
    made: Mutex<HashMap<String, Service>>,
}

impl ProfileEndpoints {
    pub(crate) fn new(
        services: Arc<Services>,
        access: Access,
        notifier: Arc<Notifier>,
        book: Arc<SessionBook>,
    ) -> Self {
        Self {
            services,
            access,
            notifier,
            book,
            made: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, slug: &str) -> Service {
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        made.entry(slug.to_owned())
            .or_insert_with(|| {
                let handler = ProxyHandler {
                    services: self.services.clone(),
                    mode: Mode::Retrieve,
                    // The retrieve endpoints' tool lists change together.
                    notifier: self.notifier.clone(),
                    caller: Caller::agent(),
                    identity: None,
                    profile: Some(slug.to_owned()),
                    book: self.book.clone(),
                };
                StreamableHttpService::new(
                    move || Ok(handler.clone()),
                    Arc::new(BookedSessions::new(self.book.clone())),
                    crate::http_config(&self.access),
                )
            })
            .clone()
    }
}

/// Why a request cannot be served at this profile's endpoint, as the Go proxy answers it.
fn refused(e: &ProfileError) -> Response {
    let (status, body) = match e {
        ProfileError::NoProfiles => (
            StatusCode::NOT_FOUND,
            json!({"error": "no profiles configured"}),
        ),
        ProfileError::Unknown { slug, available } => (
            StatusCode::NOT_FOUND,
            json!({"error": format!("unknown profile '{slug}'"), "available": available}),
        ),
        ProfileError::Pinned { .. } | ProfileError::NoSession => {
            (StatusCode::FORBIDDEN, json!({"error": e.to_string()}))
        }
    };
    (status, axum::Json(body)).into_response()
}

pub(crate) async fn serve(
    State(endpoints): State<Arc<ProfileEndpoints>>,
    Path(slug): Path<String>,
    request: Request,
) -> Response {
    let pin = request
        .extensions()
        .get::<mcpproxy_application::tokens::Authenticated>()
        .and_then(|a| a.profile_pin().map(str::to_owned));
    if let Err(e) = endpoints
        .services
        .profiles
        .check_endpoint(&slug, pin.as_deref())
    {
        return refused(&e);
    }
    match endpoints.get(&slug).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}
