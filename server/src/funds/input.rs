//! What a well-formed fund request is: proto → the inputs of [`super::commands`], every violation of a message
//! reported at once. These are the rules `xinfang_proto::input` holds for intake and the case steps
//! (docs/architecture.md); the fund's stay with the server because only the server takes fund requests (the
//! offline client `xf` captures none). What only the database knows (a category, a unit, a budget, what the
//! caller reads) is judged by the commands.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;
use xinfang_proto::{
    input::uuid_field,
    money,
    v1::{
        ApproveFundRequestRequest, CreateBudgetRequest, DisburseFundRequestRequest, FundPurpose,
        FundRequestState, GetFundRequestRequest, ListBudgetsRequest, ListFundRequestsRequest,
        RecordBureauDecisionRequest, RejectFundRequestRequest, SubmitFundRequestRequest,
    },
    validate::{self, FieldViolation, Violations},
};

use super::model;
use crate::{
    auth::Principal,
    error::AppError,
    kernel::{Clock, time},
    paging,
};

/// The clock a caller dates its steps by: only the county office loads history.
pub fn clock(principal: &Principal) -> Clock {
    Clock {
        now: Utc::now(),
        history: principal.role.loads_history(),
    }
}

/// A page of a list: how many rows, and the filter its page token is bound to. Queries read one row more,
/// which tells whether another page follows without a count.
pub struct Page {
    pub size: u32,
    pub filter: String,
}

impl Page {
    pub fn limit(&self) -> i64 {
        i64::from(self.size) + 1
    }
}

/// `CreateBudget`: one signed entry of an approval document, or a reallocation from `from`.
pub struct NewBudget {
    pub request_id: Uuid,
    pub year: i32,
    pub category: String,
    pub document: String,
    pub amount: Decimal,
    pub from: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

pub fn new_budget(req: &CreateBudgetRequest, clock: Clock) -> Result<NewBudget, AppError> {
    let mut v = Violations::new();
    let request_id = v.check(validate::request_id("request_id", &req.request_id));
    let year = v.check(year("year", req.year));
    let category = v.check(validate::dictionary_code("category", &req.category));
    let document = v.check(validate::required_text("document", &req.document, 100));
    let amount = v.check(model::signed_amount("amount", &req.amount));
    let from = if req.from_category.is_empty() {
        Some(None)
    } else {
        v.check(validate::dictionary_code(
            "from_category",
            &req.from_category,
        ))
        .map(Some)
    };
    if let (Some(Some(from)), Some(to)) = (&from, &category)
        && from == to
    {
        v.add(
            "from_category",
            "a reallocation moves money between two categories",
        );
    }
    if matches!(from, Some(Some(_))) && amount.is_some_and(|a| a.is_sign_negative()) {
        v.add("amount", "a reallocation moves a positive amount");
    }
    let occurred_at = clock.occurred(&mut v, "occurred_at", req.occurred_at.as_ref());
    Ok(v.finish(|| {
        Some(NewBudget {
            request_id: request_id?,
            year: year?,
            category: category?,
            document: document?,
            amount: amount?,
            from: from?,
            occurred_at: occurred_at?,
        })
    })?)
}

/// `ListBudgets`: a year or all, in (year, category) order.
pub struct BudgetQuery {
    pub year: Option<i32>,
    pub after: Option<(i32, String)>,
}

pub fn budget_query(req: &ListBudgetsRequest) -> Result<(BudgetQuery, Page), AppError> {
    let mut v = Violations::new();
    let year_filter = if req.year == 0 {
        Some(None)
    } else {
        v.check(year("year", req.year)).map(Some)
    };
    let page_size = v.check(validate::page_size("page_size", req.page_size));
    let filter = req.year.to_string();
    let after = v
        .check(paging::decode(&req.page_token, &filter))
        .map(|key| {
            key.and_then(|k| {
                let (y, c) = k.split_once('|')?;
                Some((y.parse::<i32>().ok()?, c.to_owned()))
            })
        });
    Ok(v.finish(|| {
        Some((
            BudgetQuery {
                year: year_filter?,
                after: after?,
            },
            Page {
                size: page_size?,
                filter,
            },
        ))
    })?)
}

/// `SubmitFundRequest`. `unit` is `None` when the caller submits for its own unit.
pub struct NewRequest {
    pub request_id: Uuid,
    pub year: i32,
    pub category: String,
    pub purpose: FundPurpose,
    pub unit: Option<String>,
    pub description: String,
    pub amount: Decimal,
    pub payee: String,
    pub case_id: Option<Uuid>,
    pub petitioner_id: Option<Uuid>,
    pub trip_id: Option<Uuid>,
    /// `[{"name": …, "sha256": …}]`, as stored.
    pub attachments: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

pub fn new_request(req: &SubmitFundRequestRequest, clock: Clock) -> Result<NewRequest, AppError> {
    let mut v = Violations::new();
    let request_id = v.check(validate::request_id("request_id", &req.request_id));
    let year = v.check(year("year", req.year));
    let category = v.check(validate::dictionary_code("category", &req.category));
    let purpose = v.check(validate::required_enum::<FundPurpose>(
        "purpose",
        req.purpose,
    ));
    let unit = if req.unit_code.is_empty() {
        Some(None)
    } else {
        v.check(validate::org_code("unit_code", &req.unit_code))
            .map(Some)
    };
    let description = v.check(validate::required_multiline(
        "description",
        &req.description,
        2000,
    ));
    let amount = v.check(money::positive_amount("amount", &req.amount));
    let payee = v.check(validate::required_text("payee", &req.payee, 100));
    let case_id = optional_uuid(&mut v, "case_id", &req.case_id);
    let petitioner_id = optional_uuid(&mut v, "petitioner_id", &req.petitioner_id);
    let trip_id = optional_uuid(&mut v, "trip_id", &req.trip_id);
    if let Some(p) = purpose {
        let (needs_case, needs_trip) = model::purpose_needs(p);
        if needs_case && matches!(case_id, Some(None)) {
            v.add("case_id", "relief names the special difficult backlog case");
        }
        if needs_case && matches!(petitioner_id, Some(None)) {
            v.add("petitioner_id", "relief names the petitioner it is paid to");
        }
        if needs_trip && matches!(trip_id, Some(None)) {
            v.add("trip_id", "return-trip costs name the trip");
        }
    }
    if req.attachments.len() > 20 {
        v.add("attachments", "at most 20");
    }
    let mut attachments = Vec::new();
    for (i, a) in req.attachments.iter().enumerate() {
        let name = v.check(validate::required_text(
            &format!("attachments[{i}].name"),
            &a.name,
            200,
        ));
        let hash = v.check(model::sha256_hex(
            &format!("attachments[{i}].sha256"),
            &a.sha256,
        ));
        if let (Some(name), Some(hash)) = (name, hash) {
            attachments.push(serde_json::json!({ "name": name, "sha256": hash }));
        }
    }
    let occurred_at = clock.occurred(&mut v, "occurred_at", req.occurred_at.as_ref());
    Ok(v.finish(|| {
        Some(NewRequest {
            request_id: request_id?,
            year: year?,
            category: category?,
            purpose: purpose?,
            unit: unit?,
            description: description?,
            amount: amount?,
            payee: payee?,
            case_id: case_id?,
            petitioner_id: petitioner_id?,
            trip_id: trip_id?,
            attachments: serde_json::Value::Array(attachments),
            occurred_at: occurred_at?,
        })
    })?)
}

/// One step of a request's chain: what every step carries, and the step's own `change`.
pub struct StepInput<C> {
    pub request_id: Uuid,
    pub fund_request_id: Uuid,
    /// The version the caller read, when it names one.
    pub etag: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub comment: String,
    pub change: C,
}

/// The bureau meeting's decision (`RecordBureauDecision`).
pub struct Decision {
    pub approve: bool,
    /// The meeting's plan may lower the amount.
    pub adjusted: Option<Decimal>,
    pub meeting_reference: String,
    pub meeting_date: NaiveDate,
}

/// A disbursement (`DisburseFundRequest`).
pub struct Payment {
    pub method: i16,
    pub voucher: String,
}

pub fn decision(
    req: &RecordBureauDecisionRequest,
    clock: Clock,
) -> Result<StepInput<Decision>, AppError> {
    let mut v = Violations::new();
    let common = Common::parse(
        &mut v,
        (&req.request_id, &req.fund_request_id, &req.etag),
        req.occurred_at.as_ref(),
        clock,
    );
    let adjusted = if req.adjusted_amount.is_empty() {
        Some(None)
    } else {
        v.check(money::positive_amount(
            "adjusted_amount",
            &req.adjusted_amount,
        ))
        .map(Some)
    };
    let reference = v.check(validate::required_text(
        "meeting_reference",
        &req.meeting_reference,
        100,
    ));
    let date = v.check(date_from_proto("meeting_date", req.meeting_date.as_ref()));
    let comment = optional_comment(&mut v, &req.comment);
    Ok(v.finish(|| {
        let change = Decision {
            approve: req.approve,
            adjusted: adjusted?,
            meeting_reference: reference?,
            meeting_date: date?,
        };
        common?.with(comment?, change)
    })?)
}

pub fn approval(req: &ApproveFundRequestRequest, clock: Clock) -> Result<StepInput<()>, AppError> {
    let mut v = Violations::new();
    let common = Common::parse(
        &mut v,
        (&req.request_id, &req.fund_request_id, &req.etag),
        req.occurred_at.as_ref(),
        clock,
    );
    let comment = optional_comment(&mut v, &req.comment);
    Ok(v.finish(|| common?.with(comment?, ()))?)
}

pub fn rejection(req: &RejectFundRequestRequest, clock: Clock) -> Result<StepInput<()>, AppError> {
    let mut v = Violations::new();
    let common = Common::parse(
        &mut v,
        (&req.request_id, &req.fund_request_id, &req.etag),
        req.occurred_at.as_ref(),
        clock,
    );
    // A refusal says why.
    let comment = v.check(validate::required_multiline("comment", &req.comment, 2000));
    Ok(v.finish(|| common?.with(comment?, ()))?)
}

pub fn payment(
    req: &DisburseFundRequestRequest,
    clock: Clock,
) -> Result<StepInput<Payment>, AppError> {
    let mut v = Violations::new();
    let common = Common::parse(
        &mut v,
        (&req.request_id, &req.fund_request_id, &req.etag),
        req.occurred_at.as_ref(),
        clock,
    );
    let method = v.check(model::payment_method(req.method));
    let voucher = v.check(validate::required_text(
        "voucher_number",
        &req.voucher_number,
        100,
    ));
    let comment = optional_comment(&mut v, &req.comment);
    Ok(v.finish(|| {
        let change = Payment {
            method: method? as i16,
            voucher: voucher?,
        };
        common?.with(comment?, change)
    })?)
}

/// The fields every step message carries, checked first so that their violations come first.
struct Common {
    request_id: Uuid,
    fund_request_id: Uuid,
    etag: Option<String>,
    occurred_at: DateTime<Utc>,
}

impl Common {
    fn parse(
        v: &mut Violations,
        (request_id, id, etag): (&str, &str, &str),
        occurred_at: Option<&prost_types::Timestamp>,
        clock: Clock,
    ) -> Option<Common> {
        let request_id = v.check(validate::request_id("request_id", request_id));
        let id = v.check(uuid_field("fund_request_id", id));
        let occurred_at = clock.occurred(v, "occurred_at", occurred_at);
        Some(Common {
            request_id: request_id?,
            fund_request_id: id?,
            etag: (!etag.is_empty()).then(|| etag.to_owned()),
            occurred_at: occurred_at?,
        })
    }

    fn with<C>(self, comment: String, change: C) -> Option<StepInput<C>> {
        Some(StepInput {
            request_id: self.request_id,
            fund_request_id: self.fund_request_id,
            etag: self.etag,
            occurred_at: self.occurred_at,
            comment,
            change,
        })
    }
}

/// `ListFundRequests`: the filters of the message, newest first.
pub struct RequestQuery {
    /// The stored state name.
    pub state: Option<String>,
    pub unit: Option<String>,
    pub category: Option<String>,
    pub case_id: Option<Uuid>,
    pub year: Option<i32>,
    /// Submitted in `[from, until)`.
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

pub fn request_query(req: &ListFundRequestsRequest) -> Result<(RequestQuery, Page), AppError> {
    let mut v = Violations::new();
    let page_size = v.check(validate::page_size("page_size", req.page_size));
    let state = v
        .check(validate::optional_enum::<FundRequestState>(
            "state", req.state,
        ))
        .flatten()
        .map(|s| model::state_to_db(s).to_owned());
    let unit = if req.unit_code.is_empty() {
        Some(None)
    } else {
        v.check(validate::org_code("unit_code", &req.unit_code))
            .map(Some)
    };
    let category = if req.category.is_empty() {
        Some(None)
    } else {
        v.check(validate::dictionary_code("category", &req.category))
            .map(Some)
    };
    let case_id = optional_uuid(&mut v, "case_id", &req.case_id);
    let year_filter = if req.year == 0 {
        Some(None)
    } else {
        v.check(year("year", req.year)).map(Some)
    };
    let period = match &req.period {
        Some(p) => v.check(time::period_bounds("period", p)).map(Some),
        None => Some(None),
    };
    let filter = format!(
        "{state:?}|{}|{}|{}|{}|{:?}",
        req.unit_code, req.category, req.case_id, req.year, req.period
    );
    let after = match v.check(paging::decode(&req.page_token, &filter)) {
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
    Ok(v.finish(|| {
        Some((
            RequestQuery {
                state,
                unit: unit?,
                category: category?,
                case_id: case_id?,
                year: year_filter?,
                period: period?,
                after: after?,
            },
            Page {
                size: page_size?,
                filter,
            },
        ))
    })?)
}

fn year(field: &str, value: i32) -> Result<i32, FieldViolation> {
    if (1990..=2200).contains(&value) {
        Ok(value)
    } else {
        Err(FieldViolation::new(field, "a year between 1990 and 2200"))
    }
}

fn optional_uuid(v: &mut Violations, field: &str, value: &str) -> Option<Option<Uuid>> {
    if value.is_empty() {
        return Some(None);
    }
    v.check(uuid_field(field, value)).map(Some)
}

fn optional_comment(v: &mut Violations, value: &str) -> Option<String> {
    if value.trim().is_empty() {
        return Some(String::new());
    }
    v.check(validate::required_multiline("comment", value, 2000))
}

fn date_from_proto(
    field: &str,
    d: Option<&xinfang_proto::v1::Date>,
) -> Result<NaiveDate, FieldViolation> {
    let d = d.ok_or_else(|| FieldViolation::new(field, "required"))?;
    u32::try_from(d.month)
        .ok()
        .zip(u32::try_from(d.day).ok())
        .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day))
        .filter(|date| (1990..=2200).contains(&date.year()))
        .ok_or_else(|| FieldViolation::new(field, "not a calendar date"))
}

/// `GetFundRequest`'s id.
pub fn fund_request_id(req: &GetFundRequestRequest) -> Result<Uuid, AppError> {
    Ok(uuid_field("id", &req.id)?)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use xinfang_proto::v1::Date;

    use super::*;

    fn clock() -> Clock {
        Clock {
            now: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
            history: false,
        }
    }

    fn fields(err: AppError) -> Vec<String> {
        match err {
            AppError::InvalidArgument(v) => v.into_vec().into_iter().map(|f| f.field).collect(),
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    /// The fields every step carries come first, then the step's own, all in one answer.
    #[test]
    fn a_step_names_every_bad_field_at_once() {
        let req = RecordBureauDecisionRequest {
            request_id: "nope".into(),
            fund_request_id: "nope".into(),
            adjusted_amount: "-1".into(),
            meeting_date: Some(Date {
                year: 2026,
                month: 2,
                day: 30,
            }),
            ..Default::default()
        };
        assert_eq!(
            fields(decision(&req, clock()).err().unwrap()),
            [
                "request_id",
                "fund_request_id",
                "adjusted_amount",
                "meeting_reference",
                "meeting_date"
            ]
        );
    }

    #[test]
    fn a_refusal_says_why_and_an_approval_need_not() {
        let id = "0192e6b4-7c1a-7cc2-9a57-2f1f0b3c4d5e";
        let reject = RejectFundRequestRequest {
            request_id: id.into(),
            fund_request_id: id.into(),
            etag: "3".into(),
            ..Default::default()
        };
        assert_eq!(
            fields(rejection(&reject, clock()).err().unwrap()),
            ["comment"]
        );
        let approve = ApproveFundRequestRequest {
            request_id: id.into(),
            fund_request_id: id.into(),
            ..Default::default()
        };
        let step = approval(&approve, clock()).unwrap();
        assert_eq!((step.etag, step.comment.as_str()), (None, ""));
        assert_eq!(step.occurred_at, clock().now, "undated steps happen now");
    }

    #[test]
    fn a_reallocation_moves_a_positive_amount_between_two_categories() {
        let req = CreateBudgetRequest {
            request_id: "0192e6b4-7c1a-7cc2-9a57-2f1f0b3c4d5e".into(),
            year: 2020,
            category: "other".into(),
            from_category: "other".into(),
            document: "盐财资行〔2020〕1号".into(),
            amount: "-5".into(),
            ..Default::default()
        };
        assert_eq!(
            fields(new_budget(&req, clock()).err().unwrap()),
            ["from_category", "amount"]
        );
    }
}
