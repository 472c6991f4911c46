//! TLS and mTLS end to end: certificates made here with rcgen, the server on rustls, the client verifying it
//! against the CA, and an agency system authenticating by its client certificate instead of a token.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tonic::{
    Code,
    transport::{Certificate, ClientTlsConfig, Endpoint, Identity},
};
use xinfang_client::Client;
use xinfang_proto::v1::{
    Letter, LetterChannel, ListOrgUnitsRequest, MatterInput, RegisterLetterRequest,
};
use xinfang_server::{
    auth::Role,
    tls::{Tls, TlsFiles},
};
use xinfang_tests::{now_secs, request_id, spawn_tls_app};

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A leaf certificate for `names` signed by `issuer`: (cert PEM, key PEM).
fn leaf(issuer: &CertifiedIssuer<'static, KeyPair>, names: &[&str]) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    fn new() -> (Pki, CertifiedIssuer<'static, KeyPair>) {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca("xinfang test CA");
        let (cert, key) = leaf(&ca, &["localhost", "127.0.0.1"]);
        std::fs::write(dir.path().join("server.pem"), cert).unwrap();
        std::fs::write(dir.path().join("server.key"), key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        let ca_pem = ca.pem();
        (Pki { dir, ca_pem }, ca)
    }

    fn server(&self, mtls: bool) -> Tls {
        Tls::load(TlsFiles {
            cert: self.dir.path().join("server.pem"),
            key: self.dir.path().join("server.key"),
            client_ca: mtls.then(|| self.dir.path().join("ca.pem")),
        })
        .unwrap()
    }

    fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .domain_name("localhost")
    }
}

async fn connect(
    address: &str,
    config: ClientTlsConfig,
    token: Option<&str>,
) -> Result<Client, tonic::transport::Error> {
    let channel = Endpoint::from_shared(address.to_owned())
        .unwrap()
        .tls_config(config)?
        .connect()
        .await?;
    Ok(Client::from_channel(channel, token).unwrap())
}

#[tokio::test]
async fn a_tls_server_is_verified_and_plain_clients_are_turned_away() {
    let (pki, _ca) = Pki::new();
    let app = spawn_tls_app(pki.server(false), pki.client()).await;
    let units = app
        .client
        .clone()
        .org
        .list_org_units(ListOrgUnitsRequest::default())
        .await
        .expect("a verified TLS call")
        .into_inner();
    assert!(!units.org_units.is_empty());

    // A client that trusts another CA does not get through the handshake.
    let other = ca("someone else");
    let untrusting = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(other.pem()))
        .domain_name("localhost");
    let refused = match connect(&app.address, untrusting, Some(&app.admin_token)).await {
        Err(_) => true,
        Ok(mut c) => c
            .org
            .list_org_units(ListOrgUnitsRequest::default())
            .await
            .is_err(),
    };
    assert!(
        refused,
        "a server certificate from an unknown CA must not be accepted"
    );

    // Plain HTTP/2 to the TLS port fails instead of being served.
    let plain = app.address.replace("https://", "http://");
    let plain = match Client::connect(&plain, Some(&app.admin_token)).await {
        Err(_) => true,
        Ok(mut c) => c
            .org
            .list_org_units(ListOrgUnitsRequest::default())
            .await
            .is_err(),
    };
    assert!(plain);
}

#[tokio::test]
async fn an_agency_system_authenticates_by_its_client_certificate() {
    let (pki, ca) = Pki::new();
    let app = spawn_tls_app(pki.server(true), pki.client()).await;
    // The agency principal, bound to its certificate's subject.
    let mut conn = app.pool.acquire().await.unwrap();
    let (agency, _) =
        xinfang_server::auth::issue_token(&mut conn, Role::Agency, "510422XF", "12345 hotline")
            .await
            .unwrap();
    xinfang_server::auth::bind_certificate(&mut conn, &agency, "hotline.panzhihua.gov.cn")
        .await
        .unwrap();
    drop(conn);

    let (cert, key) = leaf(&ca, &["hotline.panzhihua.gov.cn"]);
    let with_cert = pki.client().identity(Identity::from_pem(cert, key));
    let mut hotline = connect(&app.address, with_cert, None).await.unwrap();
    let letter = hotline
        .visits
        .register_letter(RegisterLetterRequest {
            request_id: request_id(),
            letter: Some(Letter {
                channel: LetterChannel::Phone as i32,
                received_at: Some(prost_types::Timestamp {
                    seconds: now_secs() - 60,
                    nanos: 0,
                }),
                matter: Some(MatterInput {
                    content: "噪音扰民".into(),
                    demands: "整改".into(),
                    category: "environment".into(),
                    problem_org_code: "510422100".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .expect("the certificate names the agency principal")
        .into_inner();
    assert_eq!(letter.registered_by, agency.id.to_string());

    // A certificate of the right CA but bound to nobody, and no certificate at all: unauthenticated.
    let (cert, key) = leaf(&ca, &["unknown.example.org"]);
    let mut stranger = connect(
        &app.address,
        pki.client().identity(Identity::from_pem(cert, key)),
        None,
    )
    .await
    .unwrap();
    let status = stranger
        .org
        .list_org_units(ListOrgUnitsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let mut anonymous = connect(&app.address, pki.client(), None).await.unwrap();
    let status = anonymous
        .org
        .list_org_units(ListOrgUnitsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // Token callers still work over the same mTLS port.
    app.client
        .clone()
        .org
        .list_org_units(ListOrgUnitsRequest::default())
        .await
        .unwrap();
}

/// The Python that runs `deploy/smoke_check.py`: `XINFANG_TEST_PYTHON` (set by `scripts/test`), else the
/// project's venv that `scripts/test` makes; never the system's `python3`, whose packages would hide a
/// missing step of the README's test command. Without either, the test fails with one line naming it.
fn test_python() -> std::path::PathBuf {
    if let Some(python) = std::env::var_os("XINFANG_TEST_PYTHON") {
        return python.into();
    }
    let venv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/test-env/venv/bin/python"
    );
    assert!(
        std::path::Path::new(venv).exists(),
        "Python grpcio for the cross-client check is missing: run the tests with `scripts/test`, which \
         installs tests/requirements.txt into target/test-env/venv"
    );
    venv.into()
}

/// `deploy/smoke_check.py` (Python grpcio, descriptors from reflection) against `address`; its exit status
/// and its output.
async fn python_check(address: &str, pki: &Pki, extra: &[&str]) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/smoke_check.py");
    let python = test_python();
    let host_port = address.trim_start_matches("https://");
    let ca = pki.dir.path().join("ca.pem");
    let output = tokio::process::Command::new(&python)
        .arg(script)
        .arg(host_port)
        .arg("--ca")
        .arg(&ca)
        .args(["--server-name", "localhost"])
        .args(extra)
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{} does not run ({e}): run `scripts/test`",
                python.display()
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !text.contains("smoke_check.py needs"),
        "Python grpcio is missing in {}: run `scripts/test`, which installs tests/requirements.txt into \
         target/test-env/venv ({})",
        python.display(),
        text.trim()
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn a_python_grpcio_client_calls_over_tls_and_mtls() {
    test_python(); // before anything starts, when the venv is missing
    let (pki, ca) = Pki::new();
    let app = spawn_tls_app(pki.server(true), pki.client()).await;
    let mut conn = app.pool.acquire().await.unwrap();
    let (agency, _) =
        xinfang_server::auth::issue_token(&mut conn, Role::Agency, "510422XF", "12345 hotline")
            .await
            .unwrap();
    xinfang_server::auth::bind_certificate(&mut conn, &agency, "hotline.panzhihua.gov.cn")
        .await
        .unwrap();
    drop(conn);
    let (cert, key) = leaf(&ca, &["hotline.panzhihua.gov.cn"]);
    let (cert_file, key_file) = (
        pki.dir.path().join("agency.pem"),
        pki.dir.path().join("agency.key"),
    );
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();

    // A token over TLS, the server verified against the bureau's CA.
    let (ok, out) = python_check(&app.address, &pki, &["--token", &app.admin_token]).await;
    assert!(ok, "{out}");
    assert!(out.contains("ok: health: SERVING"), "{out}");
    assert!(out.contains("ok: ListOrgUnits: OK"), "{out}");
    // An agency system by its client certificate alone.
    let (ok, out) = python_check(
        &app.address,
        &pki,
        &[
            "--cert",
            cert_file.to_str().unwrap(),
            "--key",
            key_file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "{out}");
    // Neither: UNAUTHENTICATED, and the checker reports it when it expected success.
    let (ok, out) = python_check(&app.address, &pki, &["--expect", "UNAUTHENTICATED"]).await;
    assert!(ok, "{out}");
    let (ok, out) = python_check(&app.address, &pki, &[]).await;
    assert!(
        !ok && out.contains("FAILED: ListOrgUnits: UNAUTHENTICATED"),
        "{out}"
    );
}

/// A browser that offers only HTTP/1.1 over TLS (ALPN `http/1.1`) gets the workbench and gRPC-Web alike; the
/// server offers `h2` first, so gRPC clients keep HTTP/2.
#[tokio::test]
async fn a_browser_on_http1_over_tls_gets_the_workbench_and_grpc_web() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;
    use prost::Message;

    let (pki, _ca) = Pki::new();
    let app = spawn_tls_app(pki.server(false), pki.client()).await;
    let mut roots = rustls::RootCertStore::empty();
    let ca_der = rustls_pki_types::pem::PemObject::from_pem_slice(pki.ca_pem.as_bytes()).unwrap();
    roots.add(ca_der).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let port = app.address.rsplit(':').next().unwrap().to_owned();

    let send = |request: http::Request<Full<bytes::Bytes>>| {
        let connector = connector.clone();
        let port = port.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
                .await
                .unwrap();
            let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
            let tls = connector.connect(name, tcp).await.expect("TLS handshake");
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .unwrap();
            tokio::spawn(connection);
            let (mut parts, body) = request.into_parts();
            parts
                .headers
                .insert(http::header::HOST, "localhost".parse().unwrap());
            let response = sender
                .send_request(http::Request::from_parts(parts, body))
                .await
                .unwrap();
            let (parts, body) = response.into_parts();
            (parts, body.collect().await.unwrap().to_bytes())
        }
    };

    let (page, body) = send(
        http::Request::get("/")
            .body(Full::new(bytes::Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, http::StatusCode::OK);
    assert_eq!(
        page.headers[http::header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    assert!(!body.is_empty());

    let message = xinfang_proto::v1::GetCallerRequest {}.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let (call, body) = send(
        http::Request::post("/xinfang.v1.SessionService/GetCaller")
            .header(http::header::CONTENT_TYPE, "application/grpc-web+proto")
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", app.admin_token),
            )
            .body(Full::new(bytes::Bytes::from(frame)))
            .unwrap(),
    )
    .await;
    assert_eq!(call.status, http::StatusCode::OK);
    // A message frame (flag 0) and then the trailer frame with grpc-status 0.
    assert_eq!(body[0], 0);
    let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
    let caller = xinfang_proto::v1::Caller::decode(&body[5..5 + len]).unwrap();
    assert_eq!(caller.role(), xinfang_proto::v1::Role::Admin);
    let trailers = String::from_utf8_lossy(&body[5 + len + 5..]).to_lowercase();
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
}
