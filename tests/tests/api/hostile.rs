//! Hostile input: every RPC receives random and malformed messages (random bytes, truncated fields, wrong wire
//! types, invalid UTF-8, huge lengths, and well-formed messages with extreme values). Never a panic, never
//! INTERNAL or UNKNOWN, and nothing written.

use bytes::{Buf, BufMut};
use prost::Message;
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use xinfang_proto::v1::{
    CreateBudgetRequest, Date, Letter, ListCasesRequest, Period, Petitioner, RegisterLetterRequest,
    RegisterVisitRequest, SubmitFundRequestRequest, Visit, YearMonth,
};
use xinfang_server::auth::access::ACCESS;
use xinfang_tests::spawn_app;

#[derive(Debug, Clone, Default)]
struct Raw;
#[derive(Debug, Clone, Default)]
struct RawCoder;

impl Encoder for RawCoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCoder;
    type Decoder = RawCoder;
    fn encoder(&mut self) -> RawCoder {
        RawCoder
    }
    fn decoder(&mut self) -> RawCoder {
        RawCoder
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Malformed payloads: random bytes, a field with a huge length, invalid UTF-8 in field 1 (a string in
/// every request), a wrong wire type, a truncated varint, and an empty message.
fn payloads(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = vec![
        Vec::new(),
        vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
        vec![0x0a, 0x02, 0xff, 0xfe],
        vec![0x0d, 0x01],
        vec![0x08, 0xff],
        vec![0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80],
    ];
    for len in [1, 7, 64, 1_000] {
        out.push(rng.bytes(len));
    }
    out
}

/// Well-formed messages with extreme values.
fn extreme() -> Vec<(&'static str, Vec<u8>)> {
    let huge = "字".repeat(100_000);
    let far = prost_types::Timestamp {
        seconds: i64::MAX / 2,
        nanos: 999_999_999,
    };
    vec![
        (
            "/xinfang.v1.VisitService/RegisterVisit",
            RegisterVisitRequest {
                request_id: uuid::Uuid::now_v7().to_string(),
                visit: Some(Visit {
                    visited_at: Some(far),
                    level: i32::MAX,
                    headcount: i32::MIN,
                    place_name: huge.clone(),
                    petitioners: vec![Petitioner {
                        name: huge.clone(),
                        id_number: "９９９９".into(),
                        phone: "-1".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            }
            .encode_to_vec(),
        ),
        (
            "/xinfang.v1.VisitService/RegisterLetter",
            RegisterLetterRequest {
                request_id: uuid::Uuid::now_v7().to_string(),
                letter: Some(Letter {
                    channel: -5,
                    received_at: Some(prost_types::Timestamp {
                        seconds: i64::MIN,
                        nanos: -1,
                    }),
                    source_reference: huge.clone(),
                    ..Default::default()
                }),
            }
            .encode_to_vec(),
        ),
        (
            "/xinfang.v1.FundService/CreateBudget",
            CreateBudgetRequest {
                request_id: uuid::Uuid::now_v7().to_string(),
                year: i32::MIN,
                category: "special_difficult".into(),
                document: huge.clone(),
                amount: "-99999999999999999999999999999.999".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "/xinfang.v1.FundService/SubmitFundRequest",
            SubmitFundRequestRequest {
                request_id: uuid::Uuid::now_v7().to_string(),
                year: 2020,
                amount: "1e308".into(),
                case_id: "'; DROP TABLE cases; --".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "/xinfang.v1.CaseService/ListCases",
            ListCasesRequest {
                page_size: i32::MIN,
                page_token: huge,
                due_within_days: i32::MAX,
                period: Some(Period {
                    start: Some(YearMonth {
                        year: i32::MAX,
                        month: i32::MIN,
                    }),
                    end: None,
                }),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        (
            "/xinfang.v1.CaseService/AssignCase",
            xinfang_proto::v1::AssignCaseRequest {
                request_id: uuid::Uuid::now_v7().to_string(),
                case_id: uuid::Uuid::now_v7().to_string(),
                mode: 2,
                responsible_org_code: "510422100".into(),
                handling_deadline: Some(Date {
                    year: i32::MAX,
                    month: 2,
                    day: 30,
                }),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
    ]
}

async fn counts(pool: &sqlx::PgPool) -> Vec<i64> {
    let mut out = Vec::new();
    for table in [
        "visits",
        "letters",
        "cases",
        "budgets",
        "fund_requests",
        "org_units",
        "idempotency_keys",
    ] {
        out.push(
            sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(pool)
                .await
                .unwrap(),
        );
    }
    out
}

#[tokio::test]
async fn malformed_and_extreme_messages_never_break_anything() {
    let app = spawn_app().await;
    let before = counts(&app.pool).await;
    let mut grpc = tonic::client::Grpc::new(app.client.channel());
    let token: tonic::metadata::MetadataValue<_> =
        format!("Bearer {}", app.admin_token).parse().unwrap();
    let mut rng = Rng(0x5EED);
    let mut calls = Vec::new();
    for (method, _) in ACCESS {
        for payload in payloads(&mut rng) {
            calls.push((*method, payload));
        }
    }
    calls.extend(extreme());
    for (method, payload) in calls {
        grpc.ready().await.unwrap();
        let mut request = tonic::Request::new(payload.clone());
        request
            .metadata_mut()
            .insert("authorization", token.clone());
        let result = grpc
            .unary(request, PathAndQuery::try_from(method).unwrap(), Raw)
            .await;
        if let Err(status) = result {
            assert!(
                !matches!(
                    status.code(),
                    Code::Internal | Code::Unknown | Code::Unimplemented
                ),
                "{method} with {:02x?}: {status:?}",
                &payload[..payload.len().min(16)]
            );
        }
    }
    assert_eq!(counts(&app.pool).await, before, "nothing was written");
    let health = HealthClient::new(app.client.channel())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving, "still serving");
}
