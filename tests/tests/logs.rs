//! No personal data in logs: a run of intake, reads, errors and sync with the service's own log filter is
//! captured, and none of the ID numbers, phones or addresses used appears in it. A test binary of its own, so
//! that its subscriber is the process's only one and sees every log line of the run.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use tracing_subscriber::{EnvFilter, fmt::MakeWriter};
use xinfang_proto::v1::{
    GetVisitRequest, Level, MatterInput, Operation, Petitioner, PushRequest, RegisterVisitRequest,
    Visit, operation,
};
use xinfang_server::auth::Role;
use xinfang_tests::{now_secs, request_id, spawn_app};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const ID: &str = "11010519491231002X";
const BAD_ID: &str = "110101199003077777";
const PHONE: &str = "13812345678";
const ADDRESS: &str = "盐边县桐子林镇金沙路88号";

fn visit(id_number: &str) -> RegisterVisitRequest {
    RegisterVisitRequest {
        request_id: request_id(),
        visit: Some(Visit {
            visited_at: Some(prost_types::Timestamp {
                seconds: now_secs() - 3_600,
                nanos: 0,
            }),
            level: Level::County as i32,
            place_name: "接待大厅".into(),
            headcount: 1,
            petitioners: vec![Petitioner {
                name: "张三".into(),
                id_number: id_number.into(),
                phone: PHONE.into(),
                address: ADDRESS.into(),
                ..Default::default()
            }],
            matter: Some(MatterInput {
                content: "工资".into(),
                demands: "支付".into(),
                category: "labor".into(),
                problem_org_code: "510422100".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_logs_no_personal_data() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("info,sqlx=warn,h2=warn,tower=warn"))
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber)
        .expect("the only subscriber of this binary");

    let app = spawn_app().await;
    let clerk = app.token(Role::CountyClerk, "510422XF").await;
    let mut clerk = app.client_with(Some(&clerk));
    let registered = clerk
        .visits
        .register_visit(visit(ID))
        .await
        .unwrap()
        .into_inner();
    // A read in full (audited), a refused registration, and a pushed bad operation.
    clerk
        .visits
        .get_visit(GetVisitRequest {
            id: registered.id.clone(),
        })
        .await
        .unwrap();
    clerk
        .visits
        .register_visit(visit(BAD_ID))
        .await
        .unwrap_err();
    clerk
        .sync
        .push(PushRequest {
            operations: vec![Operation {
                op_id: uuid::Uuid::now_v7().to_string(),
                op: Some(operation::Op::RegisterVisit(RegisterVisitRequest {
                    request_id: String::new(),
                    ..visit(BAD_ID)
                })),
            }],
        })
        .await
        .unwrap();
    drop(app);
    tokio::task::yield_now().await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("visit registered"),
        "the logs were captured:\n{text}"
    );
    assert!(text.contains("rpc finished"));
    for secret in [ID, BAD_ID, PHONE, ADDRESS, "1231002X", "金沙路"] {
        assert!(!text.contains(secret), "{secret} in the logs:\n{text}");
    }
}
