//! The tower layer in front of every service: one span per request (method, principal, status, latency),
//! and authentication by bearer token, session token or client certificate. Health and reflection stay open
//! so that any gRPC tool can discover the API before it has a token, and signing in
//! (`access::PUBLIC`) is how a person gets one.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use http::{Request, Response};
use sqlx::PgPool;
use tonic::{
    Status,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};
use tower::{Layer, Service};
use tracing::Instrument;

use super::{
    limits::{Limiter, Limits, Permit, Refused},
    model,
    sessions::{self, Session, SessionPolicy},
    store,
};
use crate::error::AppError;

const OPEN_PREFIXES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

#[derive(Clone)]
pub struct AuthLayer {
    pool: PgPool,
    limiter: Limiter,
    sessions: SessionPolicy,
}

impl AuthLayer {
    pub fn new(pool: PgPool, limits: Limits) -> Self {
        Self {
            pool,
            limiter: Limiter::new(limits),
            sessions: SessionPolicy::default(),
        }
    }

    /// How long people's sessions live.
    pub fn with_sessions(mut self, sessions: SessionPolicy) -> Self {
        self.sessions = sessions;
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            pool: self.pool.clone(),
            limiter: self.limiter.clone(),
            sessions: self.sessions,
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    pool: PgPool,
    limiter: Limiter,
    sessions: SessionPolicy,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone that was driven to readiness serves this call; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let pool = self.pool.clone();
        let limiter = self.limiter.clone();
        let policy = self.sessions;
        let method = request.uri().path().to_owned();
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().map(str::to_owned));
        // Without a token, a verified client certificate (mTLS) may name the caller.
        let cert_subjects: Vec<String> = if authorization.is_none() {
            request
                .extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|info| info.peer_certs())
                .and_then(|certs| {
                    certs
                        .first()
                        .map(|c| crate::tls::certificate_subjects(c.as_ref()))
                })
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let span = tracing::info_span!(
            "rpc",
            method = %method,
            principal = tracing::field::Empty,
            role = tracing::field::Empty,
        );
        Box::pin(
            async move {
                let started = Instant::now();
                let open = OPEN_PREFIXES.iter().any(|p| method.starts_with(p))
                    || super::access::PUBLIC.contains(&method.as_str());
                // Held until the response is produced: the credential's slot, then the principal's.
                let mut _permit: Option<Permit> = None;
                let mut _principal_permit: Option<Permit> = None;
                if !open {
                    // The share is taken before the credential is looked up, keyed by the credential
                    // itself: a flood must not reach the pool even for the lookups that identify it.
                    let admitted = match credential_key(authorization.as_ref(), &cert_subjects) {
                        Some(key) => match limiter.admit_credential(key).await {
                            Ok(permit) => Ok(Some(permit)),
                            Err(refused) => Err(refusal(refused)),
                        },
                        None => Ok(None),
                    };
                    let checked = match admitted {
                        Ok(permit) => {
                            _permit = permit;
                            authenticate(&pool, &policy, authorization, cert_subjects).await
                        }
                        Err(e) => Err(e),
                    }
                    .and_then(|(principal, session)| {
                        if let Some(session) = session {
                            request.extensions_mut().insert(session);
                        }
                        // Deny by default: a method the table does not name is refused too.
                        if super::access::permits(&method, principal.role) {
                            Ok(principal)
                        } else {
                            Err(AppError::PermissionDenied(format!(
                                "role {} may not call {}",
                                principal.role,
                                method.rsplit('/').next().unwrap_or_default()
                            )))
                        }
                    });
                    // The principal's share: what its credentials together may hold in flight, its one
                    // numbered write among them.
                    let checked = match checked {
                        Ok(principal) => match limiter.admit(principal.id, &method).await {
                            Ok(permit) => {
                                _principal_permit = Some(permit);
                                Ok(principal)
                            }
                            Err(refused) => Err(refusal(refused)),
                        },
                        Err(e) => Err(e),
                    };
                    match checked {
                        Ok(principal) => {
                            let span = tracing::Span::current();
                            span.record("principal", tracing::field::display(principal.id));
                            span.record("role", principal.role.as_str());
                            request.extensions_mut().insert(principal);
                        }
                        Err(err) => {
                            let status = Status::from(err);
                            tracing::info!(code = ?status.code(), "rpc rejected");
                            crate::telemetry::record_request(
                                &method,
                                status.code(),
                                started.elapsed().as_secs_f64(),
                            );
                            return Ok(status.into_http());
                        }
                    }
                }
                let response = inner.call(request).await?;
                // Errors of unary calls come back trailers-only, so the status is in the headers; a
                // response without it is a success whose status follows in the trailers.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map_or(tonic::Code::Ok, tonic::Code::from_i32);
                let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
                crate::telemetry::record_request(&method, code, elapsed_ms / 1000.0);
                if open {
                    tracing::debug!(?code, elapsed_ms, "rpc finished");
                } else {
                    tracing::info!(?code, elapsed_ms, "rpc finished");
                }
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// The key of a caller's fair share: its bearer or session token, or its client certificate's subjects,
/// hashed (a principal is one token; a person signed in is one session). `None` when the call carries no
/// credential, which authentication refuses without a lookup.
fn credential_key(
    authorization: Option<&Result<String, http::header::ToStrError>>,
    cert_subjects: &[String],
) -> Option<uuid::Uuid> {
    let digest = match authorization {
        Some(Ok(header)) => model::token_hash(model::parse_bearer(header)?),
        Some(Err(_)) => return None,
        None if cert_subjects.is_empty() => return None,
        None => model::token_hash(&cert_subjects.join("\n")),
    };
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    Some(uuid::Uuid::from_bytes(key))
}

/// The answer to a call its share turned away.
fn refusal(refused: Refused) -> AppError {
    match refused {
        Refused::InFlight { retry_after } => AppError::ResourceExhausted {
            message: "this principal has its fair share of the service in flight; retry after \
                      the delay given"
                .into(),
            retry_after,
        },
        Refused::Rate { retry_after } => AppError::ResourceExhausted {
            message: "request rate limit of this principal reached; slow down".into(),
            retry_after,
        },
    }
}

/// `authorization` is the header: absent, not ASCII, or its text. The session, when the caller came with a
/// session token.
async fn authenticate(
    pool: &PgPool,
    policy: &SessionPolicy,
    authorization: Option<Result<String, http::header::ToStrError>>,
    cert_subjects: Vec<String>,
) -> Result<(model::Principal, Option<Session>), AppError> {
    let Some(header) = authorization else {
        if !cert_subjects.is_empty() {
            let mut conn = pool.acquire().await?;
            return store::principal_by_certificate(&mut conn, &cert_subjects)
                .await?
                .map(|principal| (principal, None))
                .ok_or_else(|| {
                    AppError::Unauthenticated("client certificate not bound to a principal".into())
                });
        }
        return Err(AppError::Unauthenticated(
            "missing authorization: Bearer <token> header".into(),
        ));
    };
    let token = header
        .ok()
        .and_then(|h| model::parse_bearer(&h).map(str::to_owned))
        .ok_or_else(|| AppError::Unauthenticated("malformed bearer token".into()))?;
    let hash = model::token_hash(&token);
    let mut conn = pool.acquire().await?;
    if token.starts_with(model::SESSION_PREFIX) {
        let (principal, session) = sessions::resolve(&mut conn, &hash, policy).await?;
        return Ok((principal, Some(session)));
    }
    store::principal_by_token(&mut conn, &hash)
        .await?
        .map(|principal| (principal, None))
        .ok_or_else(|| AppError::Unauthenticated("unknown or revoked token".into()))
}
