//! `xinfang.v1.SyncService`: offline clients push outbox operations and pull the feed of their scope. A pushed
//! operation runs the same adapter as the same call made online (`IntakeApi::register_visit`,
//! `CaseApi::step`, …), in a savepoint of the push's transaction, so it is judged, scoped, audited and made
//! idempotent exactly as online; a pulled record is read by the same adapters as `Get*`.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sqlx::{Connection, PgConnection, PgPool};
use tonic::{Request, Response, Status};
use xinfang_proto::{
    push::rejected,
    v1::{
        CaseChange, Change, GetCaseRequest, GetLetterRequest, GetReturnTripRequest,
        GetVisitRequest, ListCaseEventsRequest, OpOutcome, OpResult, Operation, PullRequest,
        PullResponse, PushRequest, PushResponse, Tombstone, change, op_result, operation,
        sync_service_server::SyncService,
    },
    validate,
};

use super::store::{self, FeedScope};
use crate::{
    auth::{self, Principal, Role},
    cases::CaseApi,
    db,
    error::AppError,
    intake::IntakeApi,
};

/// Most operations one Push takes.
pub const MAX_PUSH: usize = 500;
/// Operations committed together. Each runs in a savepoint (a subtransaction); beyond 64 in one transaction
/// PostgreSQL's per-backend subtransaction cache overflows and every snapshot in the cluster gets slower.
const OPS_PER_TRANSACTION: usize = 50;
const DEFAULT_PULL: u32 = 100;
/// How long a pull waits, at most, for committed changes behind a running transaction.
const HORIZON_WAIT: std::time::Duration = std::time::Duration::from_millis(20);
const HORIZON_WAITS: u32 = 100;
const MAX_PULL: u32 = 500;

pub struct SyncApi {
    pool: PgPool,
    intake: Arc<IntakeApi>,
    cases: Arc<CaseApi>,
}

impl SyncApi {
    pub fn new(pool: PgPool, intake: Arc<IntakeApi>, cases: Arc<CaseApi>) -> Self {
        Self {
            pool,
            intake,
            cases,
        }
    }
}

/// The wrapped request with the op id as its `request_id`; a different non-empty one is a client bug.
macro_rules! with_op_id {
    ($req:expr, $op_id:expr) => {{
        let mut req = $req;
        if !req.request_id.is_empty() && req.request_id != $op_id {
            Err(AppError::invalid(
                "request_id",
                "must be empty or equal to op_id",
            ))
        } else {
            req.request_id = $op_id.to_owned();
            Ok(req)
        }
    }};
}

impl SyncApi {
    /// Applies operations in one transaction, in order: an operation may depend on an earlier one of the
    /// same push (a trip naming a case a visit of the push opened). When an operation or the commit (where
    /// the deferred rollup triggers run) loses a race, a deadlock or a serialization failure, the chunk is
    /// rolled back and applied again from the start (`db::transaction`): the locks its earlier operations
    /// hold were part of the race, and nothing of the attempt remains, so every operation is still applied
    /// once. A chunk that keeps losing fails the push with ABORTED, which the client sends again.
    async fn apply_chunk(
        &self,
        principal: &Principal,
        ops: &[Operation],
    ) -> Result<Vec<OpResult>, AppError> {
        db::transaction(&self.pool, |mut tx| async move {
            let mut results = Vec::with_capacity(ops.len());
            let mut rest = ops;
            while let Some(op) = rest.first() {
                // A run of registered visits is written set-based (`intake::batch`), with the same
                // results as one by one.
                let run = rest.iter().take_while(|op| registers_visit(op)).count();
                if run > 1 {
                    results.extend(self.apply_visits(principal, &mut tx, &rest[..run]).await?);
                    rest = &rest[run..];
                } else {
                    results.push(self.apply(principal, &mut tx, op).await?);
                    rest = &rest[1..];
                }
            }
            Ok((results, tx))
        })
        .await
    }

    /// A run of RegisterVisit operations: each checked as [`Self::apply`] checks it, then all registered
    /// together by `IntakeApi::register_visits`.
    async fn apply_visits(
        &self,
        principal: &Principal,
        tx: &mut PgConnection,
        ops: &[Operation],
    ) -> Result<Vec<OpResult>, AppError> {
        let mut results: Vec<Option<OpResult>> = Vec::with_capacity(ops.len());
        let mut requests = Vec::new();
        for op in ops {
            let checked = admit(principal, op).and_then(|(_, kind)| match kind {
                operation::Op::RegisterVisit(r) => with_op_id!(r.clone(), op.op_id.as_str()),
                _ => Err(AppError::invalid("op", "not a RegisterVisit")),
            });
            match checked {
                Ok(request) => {
                    results.push(None);
                    requests.push(request);
                }
                Err(refused) => results.push(Some(rejected(&op.op_id, &Status::from(refused)))),
            }
        }
        let items: Vec<crate::intake::batch::Item<'_>> = requests
            .iter()
            .map(|request| crate::intake::batch::Item { principal, request })
            .collect();
        let mut answers = self.intake.register_visits(&items, tx).await?.into_iter();
        Ok(ops
            .iter()
            .zip(results)
            .map(|(op, result)| {
                result.unwrap_or_else(|| match answers.next() {
                    Some(answer) => match answer.result {
                        Ok(visit) => OpResult {
                            op_id: op.op_id.clone(),
                            outcome: if answer.duplicate {
                                OpOutcome::Duplicate
                            } else {
                                OpOutcome::Applied
                            } as i32,
                            result: Some(op_result::Result::Visit(visit)),
                            ..OpResult::default()
                        },
                        Err(refused) => rejected(&op.op_id, &Status::from(refused)),
                    },
                    None => rejected(
                        &op.op_id,
                        &Status::internal("a registration of the push was left unanswered"),
                    ),
                })
            })
            .collect())
    }

    /// One operation in a savepoint of the push: kept when applied, undone alone when refused. Only a lost
    /// race fails it, for the whole chunk to run again.
    async fn apply(
        &self,
        principal: &Principal,
        tx: &mut PgConnection,
        op: &Operation,
    ) -> Result<OpResult, AppError> {
        let op_id = op.op_id.as_str();
        let (id, kind) = match admit(principal, op) {
            Ok(admitted) => admitted,
            Err(refused) => return Ok(rejected(op_id, &Status::from(refused))),
        };
        let existed = store::applied_before(tx, principal.id, id).await?;
        let kind = kind.clone();
        let mut sp = tx.begin().await?;
        let outcome = self.run(principal, &mut sp, kind, op_id).await;
        match outcome {
            Ok(result) => {
                sp.commit().await?;
                Ok(OpResult {
                    op_id: op_id.to_owned(),
                    outcome: if existed {
                        OpOutcome::Duplicate
                    } else {
                        OpOutcome::Applied
                    } as i32,
                    result: Some(result),
                    ..OpResult::default()
                })
            }
            Err(AppError::LostRace) => Err(AppError::LostRace),
            Err(refused) => {
                sp.rollback().await?;
                Ok(rejected(op_id, &Status::from(refused)))
            }
        }
    }

    /// The operation by the online method's adapter, in `tx`.
    async fn run(
        &self,
        p: &Principal,
        tx: &mut PgConnection,
        kind: operation::Op,
        op_id: &str,
    ) -> Result<op_result::Result, AppError> {
        use op_result::Result as Out;
        use operation::Op;
        let (i, c) = (&self.intake, &self.cases);
        Ok(match kind {
            Op::RegisterVisit(r) => {
                Out::Visit(i.register_visit(p, &with_op_id!(r, op_id)?, tx).await?)
            }
            Op::RegisterLetter(r) => {
                Out::Letter(i.register_letter(p, &with_op_id!(r, op_id)?, tx).await?)
            }
            Op::RecordReturnTrip(r) => {
                Out::Trip(i.record_trip(p, &with_op_id!(r, op_id)?, tx).await?)
            }
            Op::AcceptCase(r) => Out::Case(c.step(p, &with_op_id!(r, op_id)?, tx).await?),
            Op::DeclineCase(r) => Out::Case(c.step(p, &with_op_id!(r, op_id)?, tx).await?),
            Op::ObjectToAssignment(r) => Out::Case(c.step(p, &with_op_id!(r, op_id)?, tx).await?),
            Op::ExtendCase(r) => Out::Case(c.step(p, &with_op_id!(r, op_id)?, tx).await?),
            Op::ReplyCase(r) => Out::Case(c.step(p, &with_op_id!(r, op_id)?, tx).await?),
            Op::RecordEvaluation(r) => Out::Case(c.step(p, &with_op_id!(r, op_id)?, tx).await?),
            Op::ReplySupervision(r) => Out::Case(c.step(p, &with_op_id!(r, op_id)?, tx).await?),
        })
    }

    /// The current form of a feed row's record for this principal; `None` when it is out of its scope now
    /// (a later row says what happened).
    async fn item(
        &self,
        principal: &Principal,
        row: &store::FeedRow,
        conn: &mut PgConnection,
    ) -> Result<Option<change::Item>, AppError> {
        let id = row.entity_id.to_string();
        let got = match row.kind.as_str() {
            "case" => self.case_with_history(principal, &id, conn).await,
            "visit" => self
                .intake
                .get_visit(principal, &GetVisitRequest { id }, conn)
                .await
                .map(change::Item::Visit),
            "letter" => self
                .intake
                .get_letter(principal, &GetLetterRequest { id }, conn)
                .await
                .map(change::Item::Letter),
            _ => self
                .intake
                .get_trip(principal, &GetReturnTripRequest { id }, conn)
                .await
                .map(change::Item::Trip),
        };
        match got {
            Ok(item) => Ok(Some(item)),
            Err(AppError::PermissionDenied(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn case_with_history(
        &self,
        principal: &Principal,
        id: &str,
        conn: &mut PgConnection,
    ) -> Result<change::Item, AppError> {
        let case = self
            .cases
            .get(principal, &GetCaseRequest { id: id.to_owned() }, conn)
            .await?;
        let mut history = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .cases
                .events(
                    principal,
                    &ListCaseEventsRequest {
                        case_id: id.to_owned(),
                        page_size: 500,
                        page_token,
                    },
                    conn,
                )
                .await?;
            history.extend(page.events);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        Ok(change::Item::Case(CaseChange {
            case: Some(case),
            history,
        }))
    }
}

/// What every pushed operation passes before it runs: an op id that is a request id, an operation, and a
/// method the role table lets the principal call (judged as the same call made online; one it may not make
/// is refused alone, and the rest of the push goes on).
fn admit<'o>(
    principal: &Principal,
    op: &'o Operation,
) -> Result<(uuid::Uuid, &'o operation::Op), AppError> {
    let id = validate::request_id("op_id", &op.op_id)?;
    let kind = op
        .op
        .as_ref()
        .ok_or_else(|| AppError::invalid("op", "required"))?;
    let method = op_method(kind);
    if !crate::auth::access::permits(method, principal.role) {
        return Err(AppError::PermissionDenied(format!(
            "role {} may not call {}",
            principal.role,
            method.rsplit('/').next().unwrap_or_default()
        )));
    }
    Ok((id, kind))
}

/// Whether `op` registers a visit (and could join a set-based run).
fn registers_visit(op: &Operation) -> bool {
    matches!(op.op, Some(operation::Op::RegisterVisit(_)))
}

/// The method a pushed operation stands for, as the role table names it.
fn op_method(op: &operation::Op) -> &'static str {
    use operation::Op;
    match op {
        Op::RegisterVisit(_) => "/xinfang.v1.VisitService/RegisterVisit",
        Op::RegisterLetter(_) => "/xinfang.v1.VisitService/RegisterLetter",
        Op::RecordReturnTrip(_) => "/xinfang.v1.VisitService/RecordReturnTrip",
        Op::AcceptCase(_) => "/xinfang.v1.CaseService/AcceptCase",
        Op::DeclineCase(_) => "/xinfang.v1.CaseService/DeclineCase",
        Op::ObjectToAssignment(_) => "/xinfang.v1.CaseService/ObjectToAssignment",
        Op::ExtendCase(_) => "/xinfang.v1.CaseService/ExtendCase",
        Op::ReplyCase(_) => "/xinfang.v1.CaseService/ReplyCase",
        Op::RecordEvaluation(_) => "/xinfang.v1.CaseService/RecordEvaluation",
        Op::ReplySupervision(_) => "/xinfang.v1.CaseService/ReplySupervision",
    }
}

fn encode_cursor(xid: i64, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("f1:{xid}:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, i64), AppError> {
    if cursor.is_empty() {
        return Ok((0, 0));
    }
    let bad = || {
        AppError::invalid(
            "cursor",
            "not a cursor of this feed; start again without one",
        )
    };
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let mut parts = text.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("f1"), Some(xid), Some(id), None) => {
            let xid: i64 = xid.parse().map_err(|_| bad())?;
            let id: i64 = id.parse().map_err(|_| bad())?;
            if xid < 0 || id < 0 {
                return Err(bad());
            }
            Ok((xid, id))
        }
        _ => Err(bad()),
    }
}

impl SyncApi {
    /// One page of the changes the principal may read after the request's cursor.
    async fn pull_page(
        &self,
        principal: &Principal,
        req: PullRequest,
    ) -> Result<PullResponse, AppError> {
        let after = decode_cursor(&req.cursor)?;
        let page_size = match u32::try_from(req.page_size) {
            Ok(0) => DEFAULT_PULL,
            Ok(n) => n.min(MAX_PULL),
            Err(_) => return Err(AppError::invalid("page_size", "must not be negative")),
        };
        let scope = match principal.role {
            Role::Admin | Role::CountyClerk | Role::Leader | Role::Auditor => FeedScope::All,
            Role::TownshipClerk => FeedScope::Unit(principal.org_code.clone()),
            Role::FieldOfficer => FeedScope::Officer(principal.id),
            Role::Agency => {
                return Err(AppError::PermissionDenied(
                    "agency systems do not sync".into(),
                ));
            }
        };
        let mut conn = self.pool.acquire().await?;
        let mut rows = store::page(&mut conn, &scope, after, i64::from(page_size) + 1).await?;
        // Committed changes held back only by an older transaction still running (anywhere in the cluster)
        // are worth a short wait, so that a pull right after a change sees it.
        let mut waited = 0;
        while rows.len() <= page_size as usize
            && waited < HORIZON_WAITS
            && store::waiting(
                &mut conn,
                &scope,
                rows.last().map_or(after, |r| (r.xid, r.id)),
            )
            .await?
        {
            tokio::time::sleep(HORIZON_WAIT).await;
            waited += 1;
            rows = store::page(&mut conn, &scope, after, i64::from(page_size) + 1).await?;
        }
        let more = rows.len() > page_size as usize;
        rows.truncate(page_size as usize);
        let next = rows.last().map_or(after, |last| (last.xid, last.id));
        // One change per record per page, at the place of its last row: the record is sent as it is now.
        let mut changes = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let later = rows[i + 1..]
                .iter()
                .any(|r| r.entity_id == row.entity_id && r.kind == row.kind);
            if later {
                continue;
            }
            let left = match &scope {
                FeedScope::Unit(unit) => {
                    row.kind == "case"
                        && row.previous_org_code.as_deref() == Some(unit.as_str())
                        && row.org_code.as_deref() != Some(unit.as_str())
                }
                _ => false,
            };
            if left {
                changes.push(Change {
                    item: Some(change::Item::Tombstone(Tombstone {
                        kind: row.kind.clone(),
                        id: row.entity_id.to_string(),
                        reason: row.reason.clone(),
                    })),
                });
                continue;
            }
            if let Some(item) = self.item(principal, row, &mut conn).await? {
                changes.push(Change { item: Some(item) });
            }
        }
        Ok(PullResponse {
            changes,
            next_cursor: encode_cursor(next.0, next.1),
            more,
        })
    }
}

#[tonic::async_trait]
impl SyncService for SyncApi {
    async fn push(&self, request: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        let operations = request.into_inner().operations;
        if operations.len() > MAX_PUSH {
            return Err(AppError::invalid(
                "operations",
                format!("at most {MAX_PUSH} operations per push; send the rest in the next one"),
            )
            .into());
        }
        let mut results = Vec::with_capacity(operations.len());
        for chunk in operations.chunks(OPS_PER_TRANSACTION) {
            results.extend(self.apply_chunk(&principal, chunk).await?);
        }
        let applied = results
            .iter()
            .filter(|r| r.outcome == OpOutcome::Applied as i32)
            .count();
        tracing::info!(principal = %principal.id, ops = results.len(), applied, "push");
        Ok(Response::new(PushResponse { results }))
    }

    async fn pull(&self, request: Request<PullRequest>) -> Result<Response<PullResponse>, Status> {
        let principal = auth::principal(&request)?.clone();
        let page = self.pull_page(&principal, request.into_inner()).await?;
        Ok(Response::new(page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        assert_eq!(decode_cursor("").unwrap(), (0, 0));
        assert_eq!(decode_cursor(&encode_cursor(812, 40)).unwrap(), (812, 40));
        assert!(decode_cursor("garbage").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("f1:-1:3")).is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("f2:1:3")).is_err());
    }

    #[test]
    fn a_foreign_request_id_is_refused() {
        let req = xinfang_proto::v1::AcceptCaseRequest {
            request_id: "other".into(),
            ..Default::default()
        };
        let r: Result<_, AppError> = with_op_id!(req, "op");
        assert!(r.is_err());
        let req = xinfang_proto::v1::AcceptCaseRequest::default();
        let r: Result<_, AppError> = with_op_id!(req, "op");
        assert_eq!(r.unwrap().request_id, "op");
    }

    /// Every operation names a method of the role table.
    #[test]
    fn every_operation_is_a_method_of_the_table() {
        use operation::Op;
        let ops = [
            Op::RegisterVisit(Default::default()),
            Op::RegisterLetter(Default::default()),
            Op::RecordReturnTrip(Default::default()),
            Op::AcceptCase(Default::default()),
            Op::DeclineCase(Default::default()),
            Op::ObjectToAssignment(Default::default()),
            Op::ExtendCase(Default::default()),
            Op::ReplyCase(Default::default()),
            Op::RecordEvaluation(Default::default()),
            Op::ReplySupervision(Default::default()),
        ];
        for op in &ops {
            assert!(
                crate::auth::access::allowed(op_method(op), Role::Admin).is_some(),
                "{}",
                op_method(op)
            );
        }
    }

    #[test]
    fn ids_are_uuids() {
        assert!(validate::request_id("op_id", &uuid::Uuid::now_v7().to_string()).is_ok());
    }
}
