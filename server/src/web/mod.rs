//! The browser's way in, on the gRPC listen address: gRPC-Web (HTTP/1.1 or HTTP/2, translated by
//! `tonic-web` into the same gRPC calls, so the same authentication layer and role table decide) and the
//! workbench's static files, embedded in the binary ([`assets`]).
//!
//! [`WebLayer`] sits outside every other layer and splits requests by content type: `application/grpc…`
//! (gRPC and gRPC-Web alike) goes on to the services, anything else is a request for a file. The split is by
//! content type rather than by path so that no request without a gRPC content type can reach a service, and
//! a gRPC call to an unknown method still gets `UNIMPLEMENTED` rather than a page.

pub mod assets;

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use http::{Request, Response};
use tonic::body::Body;
use tonic_web::{GrpcWebLayer, GrpcWebService};
use tower::{Layer, Service};

/// Whether a request is a gRPC or gRPC-Web call (`application/grpc`, `application/grpc+proto`,
/// `application/grpc-web`, `application/grpc-web-text+proto`, …).
pub fn is_grpc<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// gRPC-Web translation in front of the services, and the static files beside them.
#[derive(Clone, Default)]
pub struct WebLayer;

impl<S> Layer<S> for WebLayer {
    type Service = WebService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WebService {
            grpc: GrpcWebLayer::new().layer(inner),
            files: assets::Files::new(),
        }
    }
}

#[derive(Clone)]
pub struct WebService<S> {
    grpc: GrpcWebService<S>,
    files: assets::Files,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ResBody> Service<Request<Body>> for WebService<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>> + std::fmt::Display,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        <GrpcWebService<S> as Service<Request<Body>>>::poll_ready(&mut self.grpc, cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if is_grpc(&request) {
            // The clone that was driven to readiness serves this call; a fresh clone waits for the next.
            let clone = self.grpc.clone();
            let mut grpc = std::mem::replace(&mut self.grpc, clone);
            return Box::pin(async move { grpc.call(request).await });
        }
        let files = self.files.clone();
        Box::pin(async move { Ok(files.serve(request).await) })
    }
}
