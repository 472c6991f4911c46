//! The Prometheus endpoint counts requests by method and code and reports the pool. A test binary of its
//! own: the metrics recorder is global to the process.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use xinfang_proto::v1::{GetOrgUnitRequest, ListOrgUnitsRequest};
use xinfang_tests::spawn_app;

async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    body
}

#[tokio::test]
async fn requests_are_counted_by_method_and_code() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    xinfang_server::telemetry::serve_metrics(addr).unwrap();
    let app = spawn_app().await;
    let mut client = app.client.clone();
    for _ in 0..3 {
        client
            .org
            .list_org_units(ListOrgUnitsRequest::default())
            .await
            .unwrap();
    }
    client
        .org
        .get_org_unit(GetOrgUnitRequest {
            code: "999999".into(),
        })
        .await
        .unwrap_err();
    app.client_with(None)
        .org
        .list_org_units(ListOrgUnitsRequest::default())
        .await
        .unwrap_err();
    // The pool gauges are set by the database watchdog, once a second.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let text = scrape(addr).await;
    for line in [
        r#"xinfang_requests_total{method="ListOrgUnits",code="Ok"} 3"#,
        r#"xinfang_requests_total{method="GetOrgUnit",code="NotFound"} 1"#,
        r#"xinfang_requests_total{method="ListOrgUnits",code="Unauthenticated"} 1"#,
        "xinfang_request_duration_seconds",
        "xinfang_db_reachable 1",
        "xinfang_db_pool_connections",
        // The bundled calendar (server/data/cn-holidays.csv) ends with 2026.
        "xinfang_holiday_calendar_last_year 2026",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
}
