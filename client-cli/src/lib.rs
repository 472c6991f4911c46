//! xinfang's client library: a typed gRPC client that carries the caller's bearer token on every call, and
//! the offline field client built on it:
//!
//! - [`store`]: the local SQLite store of a profile (settings, outbox, local copies, pull cursor);
//! - [`capture`]: validating and queueing operations with no network;
//! - [`sync`]: pushing the outbox and pulling the account's scope, exactly once;
//! - [`edit`] and [`text`]: fixing rejected operations field by field, and what people type;
//! - [`metrics`], [`export`] and [`chart`] (part of `metrics`): the indicators and the annual report read
//!   online, as tables for the terminal, CSV, JSON and XLSX, and the chart of visits by level and month.

pub mod capture;
pub mod edit;
pub mod export;
pub mod labels;
pub mod metrics;
pub mod store;
pub mod sync;
pub mod text;

pub use metrics::chart;
pub use rusqlite;

use std::str::FromStr;

use tonic::{
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
};
use xinfang_proto::v1::{
    case_service_client::CaseServiceClient, dictionary_service_client::DictionaryServiceClient,
    fund_service_client::FundServiceClient, metrics_service_client::MetricsServiceClient,
    org_service_client::OrgServiceClient, session_service_client::SessionServiceClient,
    sync_service_client::SyncServiceClient, visit_service_client::VisitServiceClient,
};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid server address {0:?}")]
    Address(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("token is not a valid header value")]
    Token,
    #[error("cannot reach {address}: {source}")]
    Transport {
        address: String,
        #[source]
        source: tonic::transport::Error,
    },
}

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Clone, Debug)]
pub struct BearerAuth(Option<MetadataValue<Ascii>>);

impl BearerAuth {
    pub fn new(token: Option<&str>) -> Result<Self, ConnectError> {
        token
            .map(|t| {
                MetadataValue::from_str(&format!("Bearer {t}")).map_err(|_| ConnectError::Token)
            })
            .transpose()
            .map(Self)
    }
}

impl Interceptor for BearerAuth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type AuthedChannel = InterceptedService<Channel, BearerAuth>;

/// One typed client per service, sharing one HTTP/2 connection.
#[derive(Clone, Debug)]
pub struct Client {
    pub org: OrgServiceClient<AuthedChannel>,
    pub visits: VisitServiceClient<AuthedChannel>,
    pub cases: CaseServiceClient<AuthedChannel>,
    pub funds: FundServiceClient<AuthedChannel>,
    pub metrics: MetricsServiceClient<AuthedChannel>,
    pub sync: SyncServiceClient<AuthedChannel>,
    pub session: SessionServiceClient<AuthedChannel>,
    pub dictionary: DictionaryServiceClient<AuthedChannel>,
    channel: Channel,
}

impl Client {
    /// Connects to `address` (`http://127.0.0.1:50051`).
    pub async fn connect(address: &str, token: Option<&str>) -> Result<Self, ConnectError> {
        let endpoint =
            Endpoint::from_str(address).map_err(|_| ConnectError::Address(address.to_owned()))?;
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| ConnectError::Transport {
                address: address.to_owned(),
                source,
            })?;
        Self::from_channel(channel, token)
    }

    /// Like [`Client::connect`], but the connection is made on the first call (and made again after it
    /// drops), so an unreachable server shows up as UNAVAILABLE on that call, which a sync retries.
    pub fn connect_lazy(address: &str, token: Option<&str>) -> Result<Self, ConnectError> {
        Self::connect_lazy_tls(address, token, None)
    }

    /// [`Client::connect_lazy`] over TLS, verifying the server against `ca_pem` (the bureau's CA
    /// certificate, PEM) when given; an `https://` address uses TLS.
    pub fn connect_lazy_tls(
        address: &str,
        token: Option<&str>,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, ConnectError> {
        let mut endpoint = Endpoint::from_str(address)
            .map_err(|_| ConnectError::Address(address.to_owned()))?
            .connect_timeout(std::time::Duration::from_secs(10));
        if let Some(pem) = ca_pem {
            let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| ConnectError::Tls(e.to_string()))?;
        }
        Self::from_channel(endpoint.connect_lazy(), token)
    }

    /// A lazily connected client for a profile's settings (server, token, CA file).
    pub fn for_settings(settings: &store::Settings) -> Result<Self, ConnectError> {
        let ca = match &settings.ca_path {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                ConnectError::Tls(format!("cannot read the CA file {}: {e}", path.display()))
            })?),
            None => None,
        };
        Self::connect_lazy_tls(&settings.server, Some(&settings.token), ca.as_deref())
    }

    pub fn from_channel(channel: Channel, token: Option<&str>) -> Result<Self, ConnectError> {
        let auth = BearerAuth::new(token)?;
        let authed = || InterceptedService::new(channel.clone(), auth.clone());
        Ok(Self {
            org: OrgServiceClient::new(authed()),
            visits: VisitServiceClient::new(authed()),
            cases: CaseServiceClient::new(authed()),
            funds: FundServiceClient::new(authed()),
            metrics: MetricsServiceClient::new(authed()),
            sync: SyncServiceClient::new(authed()),
            session: SessionServiceClient::new(authed()),
            dictionary: DictionaryServiceClient::new(authed()),
            channel,
        })
    }

    /// The same connection with another principal's token.
    pub fn with_token(&self, token: Option<&str>) -> Result<Self, ConnectError> {
        Self::from_channel(self.channel.clone(), token)
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }
}
