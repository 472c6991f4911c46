//! `xinfang.v1.VisitService`: proto in, a command of `intake::commands` in a transaction, proto out. The three
//! registrations have an adapter each ([`IntakeApi::register_visit`], …) that `SyncService.Push` also calls
//! for a pushed operation, in the push's own transaction.

use std::sync::Arc;

use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;
use xinfang_proto::{
    input::{
        self,
        intake::{Detach, NewLetter, NewTrip, NewVisit},
    },
    v1::{
        DetachRegistrationRequest, DetachRegistrationResponse, GetLetterRequest,
        GetReturnTripRequest, GetVisitRequest, Letter, LetterChannel, Level, ListLettersRequest,
        ListLettersResponse, ListReturnTripsRequest, ListReturnTripsResponse, ListVisitsRequest,
        ListVisitsResponse, Period, RecordReturnTripRequest, RegisterLetterRequest,
        RegisterVisitRequest, ReturnTrip, TripOutcome, Visit, visit_service_server::VisitService,
    },
    validate::{self, Violations},
};

use super::{
    Ctx, IntakeConfig,
    commands::{self, Detached, Which},
    group::{Group, Registered, Registration},
    model::{self, parse},
    store::{self, ListScope},
    view,
};
use crate::{
    auth::{self, Principal},
    db,
    error::AppError,
    idempotency,
    kernel::time,
    paging,
    pii::PiiKeys,
    scope::Reader,
};

/// Cheap to clone: the writer of registration groups (`group.rs`) runs on a clone of its own.
#[derive(Clone)]
pub struct IntakeApi {
    pub(super) pool: PgPool,
    pub(super) ctx: Arc<Ctx>,
    pub(super) group: Arc<Group>,
}

impl IntakeApi {
    pub fn new(pool: PgPool, keys: Arc<PiiKeys>, config: IntakeConfig) -> Self {
        Self {
            pool,
            ctx: Arc::new(Ctx { keys, config }),
            group: Arc::default(),
        }
    }
}

/// Runs `$adapter` in a transaction of its own (run again when it loses a race).
macro_rules! in_transaction {
    ($self:ident, $request:ident, $adapter:ident) => {{
        let principal = auth::principal(&$request)?;
        let req = $request.get_ref();
        let out = db::transaction(&$self.pool, |mut tx| async move {
            let out = $self.$adapter(principal, req, &mut tx).await?;
            Ok((out, tx))
        })
        .await?;
        Ok(Response::new(out))
    }};
}

impl IntakeApi {
    pub(crate) async fn register_visit(
        &self,
        principal: &Principal,
        req: &RegisterVisitRequest,
        tx: &mut PgConnection,
    ) -> Result<Visit, AppError> {
        let clock = principal.role.clock();
        let (request_id, new) = parse(&req.request_id, |v| NewVisit::parse(v, req, clock))?;
        let key = idempotency::Key::new(principal.id, "RegisterVisit", request_id, req);
        if let Some(first) = idempotency::claim(tx, &key).await? {
            return Ok(first);
        }
        let w = commands::register_visit(&self.ctx, principal, &new, tx).await?;
        idempotency::save(tx, &key, &view::visit(&w.row, w.masked, &w.readable)).await?;
        Ok(view::visit(&w.row, w.shown, &w.readable))
    }

    pub(crate) async fn register_letter(
        &self,
        principal: &Principal,
        req: &RegisterLetterRequest,
        tx: &mut PgConnection,
    ) -> Result<Letter, AppError> {
        let clock = principal.role.clock();
        let (request_id, new) = parse(&req.request_id, |v| NewLetter::parse(v, req, clock))?;
        let key = idempotency::Key::new(principal.id, "RegisterLetter", request_id, req);
        if let Some(first) = idempotency::claim(tx, &key).await? {
            return Ok(first);
        }
        let w = commands::register_letter(&self.ctx, principal, &new, tx).await?;
        idempotency::save(tx, &key, &view::letter(&w.row, w.masked, &w.readable)).await?;
        Ok(view::letter(&w.row, w.shown, &w.readable))
    }

    pub(crate) async fn record_trip(
        &self,
        principal: &Principal,
        req: &RecordReturnTripRequest,
        tx: &mut PgConnection,
    ) -> Result<ReturnTrip, AppError> {
        let clock = principal.role.clock();
        let (request_id, new) = parse(&req.request_id, |v| NewTrip::parse(v, req, clock))?;
        let key = idempotency::Key::new(principal.id, "RecordReturnTrip", request_id, req);
        if let Some(first) = idempotency::claim(tx, &key).await? {
            return Ok(first);
        }
        let (w, cases) = commands::record_trip(&self.ctx, principal, &new, tx).await?;
        let cases: Vec<String> = cases.iter().map(Uuid::to_string).collect();
        idempotency::save(tx, &key, &view::trip(&w.row, w.masked, cases.clone())).await?;
        Ok(view::trip(&w.row, w.shown, cases))
    }

    async fn detach(
        &self,
        principal: &Principal,
        req: &DetachRegistrationRequest,
        tx: &mut PgConnection,
    ) -> Result<DetachRegistrationResponse, AppError> {
        let (request_id, detach) = parse(&req.request_id, |v| Detach::parse(v, req))?;
        let key = idempotency::Key::new(principal.id, "DetachRegistration", request_id, req);
        if let Some(first) = idempotency::claim(tx, &key).await? {
            return Ok(first);
        }
        let (stored, shown) = match commands::detach(&self.ctx, principal, &detach, tx).await? {
            Detached::Visit(w, previous) => (
                DetachRegistrationResponse {
                    visit: Some(view::visit(&w.row, w.masked, &w.readable)),
                    letter: None,
                    previous_case_id: previous.to_string(),
                },
                DetachRegistrationResponse {
                    visit: Some(view::visit(&w.row, w.shown, &w.readable)),
                    letter: None,
                    previous_case_id: previous.to_string(),
                },
            ),
            Detached::Letter(w, previous) => (
                DetachRegistrationResponse {
                    visit: None,
                    letter: Some(view::letter(&w.row, w.masked, &w.readable)),
                    previous_case_id: previous.to_string(),
                },
                DetachRegistrationResponse {
                    visit: None,
                    letter: Some(view::letter(&w.row, w.shown, &w.readable)),
                    previous_case_id: previous.to_string(),
                },
            ),
        };
        idempotency::save(tx, &key, &stored).await?;
        Ok(shown)
    }

    pub(crate) async fn get_visit(
        &self,
        principal: &Principal,
        req: &GetVisitRequest,
        conn: &mut PgConnection,
    ) -> Result<Visit, AppError> {
        let id = input::uuid_field("id", &req.id)?;
        let mut shown = commands::visits(&self.ctx, principal, Which::One(id), conn).await?;
        let row = shown
            .rows
            .pop()
            .ok_or_else(|| AppError::NotFound(format!("visit {id}")))?;
        let people = shown.people.remove(&id).unwrap_or_default();
        Ok(view::visit(&row, people, &shown.readable))
    }

    pub(crate) async fn get_letter(
        &self,
        principal: &Principal,
        req: &GetLetterRequest,
        conn: &mut PgConnection,
    ) -> Result<Letter, AppError> {
        let id = input::uuid_field("id", &req.id)?;
        let mut shown = commands::letters(&self.ctx, principal, Which::One(id), conn).await?;
        let row = shown
            .rows
            .pop()
            .ok_or_else(|| AppError::NotFound(format!("letter {id}")))?;
        let people = shown.people.remove(&id).unwrap_or_default();
        Ok(view::letter(&row, people, &shown.readable))
    }

    pub(crate) async fn get_trip(
        &self,
        principal: &Principal,
        req: &GetReturnTripRequest,
        conn: &mut PgConnection,
    ) -> Result<ReturnTrip, AppError> {
        let id = input::uuid_field("id", &req.id)?;
        let shown = commands::trips(&self.ctx, principal, Which::One(id), conn).await?;
        trips(shown)
            .pop()
            .ok_or_else(|| AppError::NotFound(format!("return trip {id}")))
    }

    async fn list_visits(
        &self,
        principal: &Principal,
        req: &ListVisitsRequest,
        conn: &mut PgConnection,
    ) -> Result<ListVisitsResponse, AppError> {
        let mut v = Violations::new();
        let level = v
            .check(validate::optional_enum::<Level>("level", req.level))
            .flatten()
            .map(|l| model::level_to_db(l).to_owned());
        let filter = store::VisitFilter {
            level,
            non_reception_place: req.non_reception_place,
            repeat: req.repeat,
            collective: req.collective,
            leapfrog: req.leapfrog,
        };
        let filter_key = format!("{:?}|{:?}|{}", filter, req.period, req.problem_org_code);
        let page = Page {
            page_size: req.page_size,
            page_token: &req.page_token,
            period: req.period.as_ref(),
            org_field: "problem_org_code",
            org: &req.problem_org_code,
            filter_key: &filter_key,
        };
        let (scope, page_size) = page.scope(&mut v, principal)?;
        let limit = i64::from(page_size) + 1;
        let mut shown = commands::visits(
            &self.ctx,
            principal,
            Which::Page(&scope, &filter, limit),
            conn,
        )
        .await?;
        let next_page_token = paging::next_page(&mut shown.rows, page_size, &filter_key, |r| {
            paging::time_key(r.visited_at, r.id)
        });
        let visits = shown
            .rows
            .iter()
            .map(|r| {
                let people = shown.people.remove(&r.id).unwrap_or_default();
                view::visit(r, people, &shown.readable)
            })
            .collect();
        Ok(ListVisitsResponse {
            visits,
            next_page_token,
        })
    }

    async fn list_letters(
        &self,
        principal: &Principal,
        req: &ListLettersRequest,
        conn: &mut PgConnection,
    ) -> Result<ListLettersResponse, AppError> {
        let mut v = Violations::new();
        let channel = v
            .check(validate::optional_enum::<LetterChannel>(
                "channel",
                req.channel,
            ))
            .flatten()
            .map(|c| model::channel_to_db(c).to_owned());
        let filter = store::LetterFilter {
            channel,
            repeat: req.repeat,
        };
        let filter_key = format!("{:?}|{:?}|{}", filter, req.period, req.problem_org_code);
        let page = Page {
            page_size: req.page_size,
            page_token: &req.page_token,
            period: req.period.as_ref(),
            org_field: "problem_org_code",
            org: &req.problem_org_code,
            filter_key: &filter_key,
        };
        let (scope, page_size) = page.scope(&mut v, principal)?;
        let limit = i64::from(page_size) + 1;
        let mut shown = commands::letters(
            &self.ctx,
            principal,
            Which::Page(&scope, &filter, limit),
            conn,
        )
        .await?;
        let next_page_token = paging::next_page(&mut shown.rows, page_size, &filter_key, |r| {
            paging::time_key(r.received_at, r.id)
        });
        let letters = shown
            .rows
            .iter()
            .map(|r| {
                let people = shown.people.remove(&r.id).unwrap_or_default();
                view::letter(r, people, &shown.readable)
            })
            .collect();
        Ok(ListLettersResponse {
            letters,
            next_page_token,
        })
    }

    async fn list_trips(
        &self,
        principal: &Principal,
        req: &ListReturnTripsRequest,
        conn: &mut PgConnection,
    ) -> Result<ListReturnTripsResponse, AppError> {
        let mut v = Violations::new();
        let level = v
            .check(validate::optional_enum::<Level>(
                "destination_level",
                req.destination_level,
            ))
            .flatten()
            .map(|l| model::level_to_db(l).to_owned());
        let recorded_by = if req.recorded_by.is_empty() {
            None
        } else {
            v.check(input::uuid_field("recorded_by", &req.recorded_by))
        };
        let outcome = match TripOutcome::try_from(req.outcome) {
            Ok(TripOutcome::Unspecified) => None,
            Ok(o) => Some(model::outcome_to_db(o).to_owned()),
            Err(_) => {
                v.add("outcome", format!("unknown value {}", req.outcome));
                None
            }
        };
        let filter = store::TripFilter {
            destination_level: level,
            recorded_by,
            outcome,
        };
        let filter_key = format!("{:?}|{:?}|{}", filter, req.period, req.responsible_org_code);
        let page = Page {
            page_size: req.page_size,
            page_token: &req.page_token,
            period: req.period.as_ref(),
            org_field: "responsible_org_code",
            org: &req.responsible_org_code,
            filter_key: &filter_key,
        };
        let (scope, page_size) = page.scope(&mut v, principal)?;
        let limit = i64::from(page_size) + 1;
        let mut shown = commands::trips(
            &self.ctx,
            principal,
            Which::Page(&scope, &filter, limit),
            conn,
        )
        .await?;
        let next_page_token = paging::next_page(&mut shown.rows, page_size, &filter_key, |r| {
            paging::time_key(r.sort_at, r.id)
        });
        Ok(ListReturnTripsResponse {
            trips: trips(shown),
            next_page_token,
        })
    }
}

fn trips(mut shown: commands::ShownTrips) -> Vec<ReturnTrip> {
    shown
        .rows
        .iter()
        .map(|r| {
            let people = shown.people.remove(&r.id).unwrap_or_default();
            let cases = shown
                .cases
                .remove(&r.id)
                .unwrap_or_default()
                .iter()
                .map(Uuid::to_string)
                .collect();
            view::trip(r, people, cases)
        })
        .collect()
}

/// The arguments the three lists share: page size and position, period, and an org filter.
struct Page<'a> {
    page_size: i32,
    page_token: &'a str,
    period: Option<&'a Period>,
    org_field: &'a str,
    org: &'a str,
    filter_key: &'a str,
}

impl Page<'_> {
    /// The list's scope for `principal` and the page size; `v` holds the violations of the request's own
    /// filters, reported with these.
    fn scope(
        &self,
        v: &mut Violations,
        principal: &Principal,
    ) -> Result<(ListScope, u32), AppError> {
        let page_size = v.check(validate::page_size("page_size", self.page_size));
        let bounds = match self.period {
            Some(p) => v.check(time::period_bounds("period", p)).map(Some),
            None => Some(None),
        };
        let org = if self.org.is_empty() {
            Some(None)
        } else {
            v.check(validate::org_code(self.org_field, self.org))
                .map(Some)
        };
        let after = match v.check(paging::decode(self.page_token, self.filter_key)) {
            Some(Some(key)) => match paging::parse_time_key(&key) {
                Some(pos) => Some(Some(pos)),
                None => {
                    v.add("page_token", "not a page token of this list");
                    None
                }
            },
            Some(None) => Some(None),
            None => None,
        };
        let (page_size, bounds, org, after) =
            std::mem::take(v).finish(|| Some((page_size?, bounds?, org?, after?)))?;
        Ok((
            ListScope {
                org,
                reader: Reader::of(principal),
                from: bounds.map(|b| b.0),
                until: bounds.map(|b| b.1),
                after,
            },
            page_size,
        ))
    }
}

/// Reads on a connection of the pool.
macro_rules! on_connection {
    ($self:ident, $request:ident, $adapter:ident) => {{
        let principal = auth::principal(&$request)?;
        let mut conn = crate::db::connection(&$self.pool).await?;
        let out = $self
            .$adapter(principal, $request.get_ref(), &mut conn)
            .await?;
        Ok(Response::new(out))
    }};
}

fn mismatch() -> AppError {
    AppError::Internal(anyhow::anyhow!(
        "a registration was answered with another kind of record"
    ))
}

/// Visits and letters are written in groups (`group.rs`); the other writes each in a transaction of its own.
#[tonic::async_trait]
impl VisitService for IntakeApi {
    async fn register_visit(
        &self,
        r: Request<RegisterVisitRequest>,
    ) -> Result<Response<Visit>, Status> {
        let principal = auth::principal(&r)?.clone();
        match self
            .register_grouped(principal, Registration::Visit(r.into_inner()))
            .await?
        {
            Registered::Visit(visit) => Ok(Response::new(visit)),
            Registered::Letter(_) => Err(mismatch().into()),
        }
    }

    async fn get_visit(&self, r: Request<GetVisitRequest>) -> Result<Response<Visit>, Status> {
        on_connection!(self, r, get_visit)
    }

    async fn list_visits(
        &self,
        r: Request<ListVisitsRequest>,
    ) -> Result<Response<ListVisitsResponse>, Status> {
        on_connection!(self, r, list_visits)
    }

    async fn register_letter(
        &self,
        r: Request<RegisterLetterRequest>,
    ) -> Result<Response<Letter>, Status> {
        let principal = auth::principal(&r)?.clone();
        match self
            .register_grouped(principal, Registration::Letter(r.into_inner()))
            .await?
        {
            Registered::Letter(letter) => Ok(Response::new(letter)),
            Registered::Visit(_) => Err(mismatch().into()),
        }
    }

    async fn get_letter(&self, r: Request<GetLetterRequest>) -> Result<Response<Letter>, Status> {
        on_connection!(self, r, get_letter)
    }

    async fn list_letters(
        &self,
        r: Request<ListLettersRequest>,
    ) -> Result<Response<ListLettersResponse>, Status> {
        on_connection!(self, r, list_letters)
    }

    async fn detach_registration(
        &self,
        r: Request<DetachRegistrationRequest>,
    ) -> Result<Response<DetachRegistrationResponse>, Status> {
        in_transaction!(self, r, detach)
    }

    async fn record_return_trip(
        &self,
        r: Request<RecordReturnTripRequest>,
    ) -> Result<Response<ReturnTrip>, Status> {
        in_transaction!(self, r, record_trip)
    }

    async fn get_return_trip(
        &self,
        r: Request<GetReturnTripRequest>,
    ) -> Result<Response<ReturnTrip>, Status> {
        on_connection!(self, r, get_trip)
    }

    async fn list_return_trips(
        &self,
        r: Request<ListReturnTripsRequest>,
    ) -> Result<Response<ListReturnTripsResponse>, Status> {
        on_connection!(self, r, list_trips)
    }
}
