//! The browser's side of the listen address: gRPC-Web over HTTP/1.1 (what the workbench's connect-web
//! transport sends), decided by the same authentication and role table as gRPC, and the workbench's files.
//! A plain HTTP/1.1 client, no gRPC library: the frames are built and read here by hand.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use prost::Message;
use xinfang_proto::v1::{
    Caller, CreateOrgUnitRequest, GetCallerRequest, Role as RoleProto, SignInRequest,
    SignInResponse, SignOutRequest,
};
use xinfang_server::{auth::Role, people};
use xinfang_tests::spawn_app;

/// One HTTP/1.1 exchange on a new connection: status, headers, whole body.
pub async fn http1(address: &str, request: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, Bytes) {
    let authority = address
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .expect("connecting");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let (mut parts, body) = request.into_parts();
    parts
        .headers
        .insert(header::HOST, authority.parse().unwrap());
    let response = sender
        .send_request(Request::from_parts(parts, body))
        .await
        .expect("HTTP/1.1 response");
    assert_eq!(response.version(), http::Version::HTTP_11);
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("response body").to_bytes();
    (parts.status, parts.headers, body)
}

/// The outcome of a gRPC-Web call: the message (if any) and the status, from the trailer frame or, for a
/// trailers-only answer, from the headers.
#[derive(Debug)]
pub struct WebCall {
    pub message: Option<Bytes>,
    pub grpc_status: i32,
    pub grpc_message: String,
}

/// Calls `method` (`/xinfang.v1.Service/Method`) with `request` as gRPC-Web over HTTP/1.1.
pub async fn grpc_web(
    address: &str,
    method: &str,
    request: &impl Message,
    token: Option<&str>,
) -> WebCall {
    let message = request.encode_to_vec();
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(0);
    frame.put_u32(message.len() as u32);
    frame.put_slice(&message);
    let mut builder = Request::post(method)
        .header(header::CONTENT_TYPE, "application/grpc-web+proto")
        .header("x-grpc-web", "1");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let (status, headers, mut body) =
        http1(address, builder.body(Full::new(frame.freeze())).unwrap()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "gRPC-Web answers 200 and puts the status in trailers"
    );
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/grpc-web"),
        "{headers:?}"
    );
    let header_text = |name: &str, from: &HeaderMap| {
        from.get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let mut call = WebCall {
        message: None,
        grpc_status: header_text("grpc-status", &headers).parse().unwrap_or(-1),
        grpc_message: header_text("grpc-message", &headers),
    };
    while body.has_remaining() {
        let flag = body.get_u8();
        let len = body.get_u32() as usize;
        let payload = body.split_to(len);
        if flag & 0x80 == 0 {
            call.message = Some(payload);
            continue;
        }
        // The trailer frame: `name: value` lines.
        for line in std::str::from_utf8(&payload).unwrap().split("\r\n") {
            if let Some((name, value)) = line.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "grpc-status" => call.grpc_status = value.trim().parse().unwrap(),
                    "grpc-message" => call.grpc_message = value.trim().to_owned(),
                    _ => {}
                }
            }
        }
    }
    call
}

#[tokio::test]
async fn a_grpc_web_call_over_http1_passes_the_same_authentication_and_role_table() {
    let app = spawn_app().await;

    let call = grpc_web(
        &app.address,
        "/xinfang.v1.SessionService/GetCaller",
        &GetCallerRequest {},
        Some(&app.admin_token),
    )
    .await;
    assert_eq!(call.grpc_status, 0, "{call:?}");
    let caller = Caller::decode(call.message.expect("a Caller")).unwrap();
    assert_eq!(caller.role(), RoleProto::Admin);

    // No token: refused as over gRPC.
    let call = grpc_web(
        &app.address,
        "/xinfang.v1.SessionService/GetCaller",
        &GetCallerRequest {},
        None,
    )
    .await;
    assert_eq!(
        call.grpc_status,
        tonic::Code::Unauthenticated as i32,
        "{call:?}"
    );
    assert!(call.message.is_none());

    // A township clerk may not create org units, in a browser as anywhere.
    let clerk = app.token(Role::TownshipClerk, "510422100").await;
    let call = grpc_web(
        &app.address,
        "/xinfang.v1.OrgService/CreateOrgUnit",
        &CreateOrgUnitRequest::default(),
        Some(&clerk),
    )
    .await;
    assert_eq!(
        call.grpc_status,
        tonic::Code::PermissionDenied as i32,
        "{call:?}"
    );

    // gRPC over HTTP/2 on the same address is unchanged (the harness's client).
    let caller = app
        .client
        .session
        .clone()
        .get_caller(GetCallerRequest {})
        .await
        .expect("gRPC over HTTP/2")
        .into_inner();
    assert_eq!(caller.role(), RoleProto::Admin);
}

/// The workbench's own path: sign in without a token, call with the session token, sign out; all gRPC-Web.
#[tokio::test]
async fn a_person_signs_in_calls_and_signs_out_over_grpc_web() {
    let app = spawn_app().await;
    let password = "一个足够长的密码 for the web";
    people::add(
        &app.pool,
        "he.town",
        Role::TownshipClerk,
        "510422100",
        None,
        password,
    )
    .await
    .expect("adding a person");

    let call = grpc_web(
        &app.address,
        "/xinfang.v1.SessionService/SignIn",
        &SignInRequest {
            user_name: "he.town".into(),
            password: password.into(),
        },
        None,
    )
    .await;
    assert_eq!(call.grpc_status, 0, "{call:?}");
    let signed_in = SignInResponse::decode(call.message.expect("a SignInResponse")).unwrap();
    let token = signed_in.session_token;

    let call = grpc_web(
        &app.address,
        "/xinfang.v1.SessionService/GetCaller",
        &GetCallerRequest {},
        Some(&token),
    )
    .await;
    assert_eq!(call.grpc_status, 0, "{call:?}");
    let caller = Caller::decode(call.message.unwrap()).unwrap();
    assert_eq!(caller.role(), RoleProto::TownshipClerk);

    let call = grpc_web(
        &app.address,
        "/xinfang.v1.SessionService/SignOut",
        &SignOutRequest {},
        Some(&token),
    )
    .await;
    assert_eq!(call.grpc_status, 0, "{call:?}");
    let call = grpc_web(
        &app.address,
        "/xinfang.v1.SessionService/GetCaller",
        &GetCallerRequest {},
        Some(&token),
    )
    .await;
    assert_eq!(call.grpc_status, tonic::Code::Unauthenticated as i32);

    // A wrong password, as the browser sees it.
    let call = grpc_web(
        &app.address,
        "/xinfang.v1.SessionService/SignIn",
        &SignInRequest {
            user_name: "he.town".into(),
            password: "wrong".into(),
        },
        None,
    )
    .await;
    assert_eq!(call.grpc_status, tonic::Code::Unauthenticated as i32);
    // grpc-message is percent-encoded on the wire.
    assert_eq!(
        call.grpc_message.replace("%20", " "),
        "wrong user name or password"
    );
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::new(Bytes::new())).unwrap()
}

#[tokio::test]
async fn the_workbench_is_served_at_the_root_with_a_fallback_for_its_routes() {
    let app = spawn_app().await;
    let index = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../web/dist/index.html"
    ))
    .expect("web/dist/index.html");

    let (status, headers, body) = http1(&app.address, get("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    assert_eq!(body, index, "the embedded index.html is web/dist's");

    // A route of the app (no such file, no extension): the same page.
    let (status, headers, body) = http1(&app.address, get("/cases/2026-0001")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(body, index);

    // A missing file is missing, not a page.
    let (status, _, _) = http1(&app.address, get("/assets/index-00000000.js")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Revalidation by ETag.
    let etag = headers[header::ETAG].clone();
    let mut again = get("/");
    again.headers_mut().insert(header::IF_NONE_MATCH, etag);
    let (status, _, body) = http1(&app.address, again).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());

    // Compressed when the browser accepts it.
    let mut gzip = get("/");
    gzip.headers_mut()
        .insert(header::ACCEPT_ENCODING, "gzip".parse().unwrap());
    let (status, headers, _) = http1(&app.address, gzip).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");

    // Only reads: a POST without a gRPC content type reaches no service, nor does a cross-origin preflight.
    let post = Request::post("/xinfang.v1.OrgService/CreateOrgUnit")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let (status, _, _) = http1(&app.address, post).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let preflight = Request::options("/xinfang.v1.SessionService/GetCaller")
        .header(header::ORIGIN, "https://elsewhere.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, headers, _) = http1(&app.address, preflight).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}
