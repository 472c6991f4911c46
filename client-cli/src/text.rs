//! Reading and writing what people type: times in the bureau's zone (Asia/Shanghai), enum values by short
//! names (`national`, `campaign-transfer`, `basically-satisfied`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use xinfang_proto::v1::{
    AssignmentMode, BacklogResolution, BacklogState, CapFormula, CaseState, DeclineGround,
    FundPurpose, FundRequestState, LetterChannel, Level, PaymentMethod, Rating, ReviewOutcome,
    SupervisionMethod, TargetDirection, Timeliness, TrendDirection, TripOutcome,
};

/// The bureau's clock (UTC+8), as the server keeps it.
pub use xinfang_proto::calendar::bureau_offset as shanghai;

/// `now`, an RFC 3339 time (`2025-06-01T09:30:00+08:00`), or a Shanghai wall-clock time
/// (`2025-06-01 09:30`, `2025-06-01 09:30:15`, `2025-06-01T09:30`, or a date for its midnight).
pub fn parse_time(input: &str, now: DateTime<Utc>) -> Result<prost_types::Timestamp, String> {
    let s = input.trim();
    let at: DateTime<Utc> = if s.eq_ignore_ascii_case("now") {
        now
    } else if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.with_timezone(&Utc)
    } else {
        let naive = [
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(|| {
            format!(
                "{s:?} is not a time: use 2025-06-01 09:30 (Beijing time), an RFC 3339 time or now"
            )
        })?;
        shanghai()
            .from_local_datetime(&naive)
            .single()
            .ok_or_else(|| format!("{s:?} is not a time"))?
            .with_timezone(&Utc)
    };
    Ok(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    })
}

/// `today` or a date of the bureau's calendar (`2025-06-01`).
pub fn parse_date(input: &str, now: DateTime<Utc>) -> Result<xinfang_proto::v1::Date, String> {
    use chrono::Datelike;
    let s = input.trim();
    let day = if s.eq_ignore_ascii_case("today") {
        xinfang_proto::calendar::local_date(now)
    } else {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| format!("{s:?} is not a date: use 2025-06-01 or today"))?
    };
    Ok(xinfang_proto::v1::Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

/// A timestamp as Beijing time, `2025-06-01 09:30`; empty when unset.
pub fn format_time(ts: Option<&prost_types::Timestamp>) -> String {
    ts.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| {
            t.with_timezone(&shanghai())
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// The enums people name on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnumKind {
    Level,
    LetterChannel,
    TripOutcome,
    DeclineGround,
    Rating,
    CaseState,
    AssignmentMode,
    SupervisionMethod,
    ReviewOutcome,
    BacklogState,
    BacklogResolution,
    FundPurpose,
    PaymentMethod,
    FundRequestState,
    Timeliness,
    TargetDirection,
    CapFormula,
    TrendDirection,
}

impl EnumKind {
    fn prefix(self) -> &'static str {
        match self {
            EnumKind::Level => "LEVEL_",
            EnumKind::LetterChannel => "LETTER_CHANNEL_",
            EnumKind::TripOutcome => "TRIP_OUTCOME_",
            EnumKind::DeclineGround => "DECLINE_GROUND_",
            EnumKind::Rating => "RATING_",
            EnumKind::CaseState => "CASE_STATE_",
            EnumKind::AssignmentMode => "ASSIGNMENT_MODE_",
            EnumKind::SupervisionMethod => "SUPERVISION_METHOD_",
            EnumKind::ReviewOutcome => "REVIEW_OUTCOME_",
            EnumKind::BacklogState => "BACKLOG_STATE_",
            EnumKind::BacklogResolution => "BACKLOG_RESOLUTION_",
            EnumKind::FundPurpose => "FUND_PURPOSE_",
            EnumKind::PaymentMethod => "PAYMENT_METHOD_",
            EnumKind::FundRequestState => "FUND_REQUEST_STATE_",
            EnumKind::Timeliness => "TIMELINESS_",
            EnumKind::TargetDirection => "TARGET_DIRECTION_",
            EnumKind::CapFormula => "CAP_FORMULA_",
            EnumKind::TrendDirection => "TREND_DIRECTION_",
        }
    }

    fn value_of(self, name: &str) -> Option<i32> {
        match self {
            EnumKind::Level => Level::from_str_name(name).map(|v| v as i32),
            EnumKind::LetterChannel => LetterChannel::from_str_name(name).map(|v| v as i32),
            EnumKind::TripOutcome => TripOutcome::from_str_name(name).map(|v| v as i32),
            EnumKind::DeclineGround => DeclineGround::from_str_name(name).map(|v| v as i32),
            EnumKind::Rating => Rating::from_str_name(name).map(|v| v as i32),
            EnumKind::CaseState => CaseState::from_str_name(name).map(|v| v as i32),
            EnumKind::AssignmentMode => AssignmentMode::from_str_name(name).map(|v| v as i32),
            EnumKind::SupervisionMethod => SupervisionMethod::from_str_name(name).map(|v| v as i32),
            EnumKind::ReviewOutcome => ReviewOutcome::from_str_name(name).map(|v| v as i32),
            EnumKind::BacklogState => BacklogState::from_str_name(name).map(|v| v as i32),
            EnumKind::BacklogResolution => BacklogResolution::from_str_name(name).map(|v| v as i32),
            EnumKind::FundPurpose => FundPurpose::from_str_name(name).map(|v| v as i32),
            EnumKind::PaymentMethod => PaymentMethod::from_str_name(name).map(|v| v as i32),
            EnumKind::FundRequestState => FundRequestState::from_str_name(name).map(|v| v as i32),
            EnumKind::Timeliness => Timeliness::from_str_name(name).map(|v| v as i32),
            EnumKind::TargetDirection => TargetDirection::from_str_name(name).map(|v| v as i32),
            EnumKind::CapFormula => CapFormula::from_str_name(name).map(|v| v as i32),
            EnumKind::TrendDirection => TrendDirection::from_str_name(name).map(|v| v as i32),
        }
    }

    fn to_name(self, value: i32) -> Option<&'static str> {
        match self {
            EnumKind::Level => Level::try_from(value).ok().map(|v| v.as_str_name()),
            EnumKind::LetterChannel => LetterChannel::try_from(value).ok().map(|v| v.as_str_name()),
            EnumKind::TripOutcome => TripOutcome::try_from(value).ok().map(|v| v.as_str_name()),
            EnumKind::DeclineGround => DeclineGround::try_from(value).ok().map(|v| v.as_str_name()),
            EnumKind::Rating => Rating::try_from(value).ok().map(|v| v.as_str_name()),
            EnumKind::CaseState => CaseState::try_from(value).ok().map(|v| v.as_str_name()),
            EnumKind::AssignmentMode => AssignmentMode::try_from(value)
                .ok()
                .map(|v| v.as_str_name()),
            EnumKind::SupervisionMethod => SupervisionMethod::try_from(value)
                .ok()
                .map(|v| v.as_str_name()),
            EnumKind::ReviewOutcome => ReviewOutcome::try_from(value).ok().map(|v| v.as_str_name()),
            EnumKind::BacklogState => BacklogState::try_from(value).ok().map(|v| v.as_str_name()),
            EnumKind::BacklogResolution => BacklogResolution::try_from(value)
                .ok()
                .map(|v| v.as_str_name()),
            EnumKind::FundPurpose => FundPurpose::try_from(value).ok().map(|v| v.as_str_name()),
            EnumKind::PaymentMethod => PaymentMethod::try_from(value).ok().map(|v| v.as_str_name()),
            EnumKind::FundRequestState => FundRequestState::try_from(value)
                .ok()
                .map(|v| v.as_str_name()),
            EnumKind::Timeliness => Timeliness::try_from(value).ok().map(|v| v.as_str_name()),
            EnumKind::TargetDirection => TargetDirection::try_from(value)
                .ok()
                .map(|v| v.as_str_name()),
            EnumKind::CapFormula => CapFormula::try_from(value).ok().map(|v| v.as_str_name()),
            EnumKind::TrendDirection => TrendDirection::try_from(value)
                .ok()
                .map(|v| v.as_str_name()),
        }
    }

    /// The enum's full proto name, as `Dictionaries.enum_labels` names it.
    pub fn proto_name(self) -> &'static str {
        match self {
            EnumKind::Level => "xinfang.v1.Level",
            EnumKind::LetterChannel => "xinfang.v1.LetterChannel",
            EnumKind::TripOutcome => "xinfang.v1.TripOutcome",
            EnumKind::DeclineGround => "xinfang.v1.DeclineGround",
            EnumKind::Rating => "xinfang.v1.Rating",
            EnumKind::CaseState => "xinfang.v1.CaseState",
            EnumKind::AssignmentMode => "xinfang.v1.AssignmentMode",
            EnumKind::SupervisionMethod => "xinfang.v1.SupervisionMethod",
            EnumKind::ReviewOutcome => "xinfang.v1.ReviewOutcome",
            EnumKind::BacklogState => "xinfang.v1.BacklogState",
            EnumKind::BacklogResolution => "xinfang.v1.BacklogResolution",
            EnumKind::FundPurpose => "xinfang.v1.FundPurpose",
            EnumKind::PaymentMethod => "xinfang.v1.PaymentMethod",
            EnumKind::FundRequestState => "xinfang.v1.FundRequestState",
            EnumKind::Timeliness => "xinfang.v1.Timeliness",
            EnumKind::TargetDirection => "xinfang.v1.TargetDirection",
            EnumKind::CapFormula => "xinfang.v1.CapFormula",
            EnumKind::TrendDirection => "xinfang.v1.TrendDirection",
        }
    }

    /// The Chinese name of a value: the server's, from the cached dictionaries (so a renamed value shows
    /// without a new `xf`), else the proto's `label` this `xf` was built with; empty for 0 and unknown values.
    pub fn label(self, value: i32) -> &'static str {
        if value == 0 {
            return "";
        }
        crate::labels::enum_label(self.proto_name(), value, self.builtin_label(value))
    }

    /// The proto's `label` of a value, compiled in: what [`EnumKind::label`] shows before the first fetch.
    pub fn builtin_label(self, value: i32) -> &'static str {
        if value == 0 {
            return "";
        }
        match self {
            EnumKind::Level => Level::try_from(value).map(|v| v.label()).unwrap_or(""),
            EnumKind::LetterChannel => LetterChannel::try_from(value)
                .map(|v| v.label())
                .unwrap_or(""),
            EnumKind::TripOutcome => TripOutcome::try_from(value)
                .map(|v| v.label())
                .unwrap_or(""),
            EnumKind::DeclineGround => DeclineGround::try_from(value)
                .map(|v| v.label())
                .unwrap_or(""),
            EnumKind::Rating => Rating::try_from(value).map(|v| v.label()).unwrap_or(""),
            EnumKind::CaseState => CaseState::try_from(value).map(|v| v.label()).unwrap_or(""),
            EnumKind::AssignmentMode => AssignmentMode::try_from(value)
                .map(|v| v.label())
                .unwrap_or(""),
            EnumKind::SupervisionMethod => SupervisionMethod::try_from(value)
                .map(|v| v.label())
                .unwrap_or(""),
            EnumKind::ReviewOutcome => ReviewOutcome::try_from(value)
                .map(|v| v.label())
                .unwrap_or(""),
            EnumKind::BacklogState => BacklogState::try_from(value)
                .map(|v| v.label())
                .unwrap_or(""),
            EnumKind::BacklogResolution => BacklogResolution::try_from(value)
                .map(|v| v.label())
                .unwrap_or(""),
            EnumKind::FundPurpose => FundPurpose::try_from(value)
                .map(|v| v.label())
                .unwrap_or(""),
            EnumKind::PaymentMethod => PaymentMethod::try_from(value)
                .map(|v| v.label())
                .unwrap_or(""),
            EnumKind::FundRequestState => FundRequestState::try_from(value)
                .map(|v| v.label())
                .unwrap_or(""),
            EnumKind::Timeliness => Timeliness::try_from(value).map(|v| v.label()).unwrap_or(""),
            EnumKind::TargetDirection => TargetDirection::try_from(value)
                .map(|v| v.label())
                .unwrap_or(""),
            EnumKind::CapFormula => CapFormula::try_from(value).map(|v| v.label()).unwrap_or(""),
            EnumKind::TrendDirection => TrendDirection::try_from(value)
                .map(|v| v.label())
                .unwrap_or(""),
        }
    }

    /// `short-name 中文名`, as pick lists and errors show a value.
    pub fn describe(self, value: i32) -> String {
        format!("{} {}", self.format(value), self.label(value))
            .trim()
            .to_owned()
    }

    /// Every accepted short name, e.g. `county, city, province, national`.
    pub fn names(self) -> Vec<String> {
        (1..32)
            .filter_map(|v| self.to_name(v))
            .map(|n| short(self, n))
            .collect()
    }

    /// The value of a short name (`national`, `campaign-transfer`) or of the full proto name.
    pub fn parse(self, input: &str) -> Result<i32, String> {
        let s = input.trim();
        let full = format!("{}{}", self.prefix(), s.to_uppercase().replace('-', "_"));
        self.value_of(&full)
            .or_else(|| self.value_of(s))
            .filter(|v| *v != 0)
            .ok_or_else(|| format!("{s:?} is not one of: {}", self.names().join(", ")))
    }

    /// The short name of a value (`national`); empty for 0, the number for unknown values.
    pub fn format(self, value: i32) -> String {
        if value == 0 {
            return String::new();
        }
        match self.to_name(value) {
            Some(name) => short(self, name),
            None => value.to_string(),
        }
    }
}

fn short(kind: EnumKind, name: &str) -> String {
    name.strip_prefix(kind.prefix())
        .unwrap_or(name)
        .to_lowercase()
        .replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_beijing_time_unless_they_say_otherwise() {
        let now = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let t = parse_time("2025-06-01 09:30", now).unwrap();
        assert_eq!(t.seconds, 1_748_741_400);
        assert_eq!(parse_time("2025-06-01T01:30:00Z", now).unwrap(), t);
        assert_eq!(parse_time("2025-06-01T09:30", now).unwrap(), t);
        assert_eq!(parse_time("now", now).unwrap().seconds, now.timestamp());
        assert_eq!(
            parse_time("2025-06-01", now).unwrap().seconds,
            1_748_707_200
        );
        assert!(parse_time("yesterday", now).is_err());
        assert_eq!(format_time(Some(&t)), "2025-06-01 09:30");
        assert_eq!(format_time(None), "");
    }

    #[test]
    fn enums_by_short_name() {
        assert_eq!(
            EnumKind::Level.parse("national"),
            Ok(Level::National as i32)
        );
        assert_eq!(EnumKind::Level.parse("LEVEL_CITY"), Ok(Level::City as i32));
        assert_eq!(
            EnumKind::LetterChannel.parse("campaign-transfer"),
            Ok(LetterChannel::CampaignTransfer as i32)
        );
        assert_eq!(
            EnumKind::Rating.parse("Basically_Satisfied"),
            Ok(Rating::BasicallySatisfied as i32)
        );
        let err = EnumKind::Level.parse("unspecified").unwrap_err();
        assert!(
            err.contains("township, county, city, province, national"),
            "{err}"
        );
        assert_eq!(
            EnumKind::TripOutcome.format(TripOutcome::UnderWay as i32),
            "under-way"
        );
        assert_eq!(EnumKind::Level.format(0), "");
    }

    #[test]
    fn labels_are_the_servers_cached_ones_first_then_the_built_in_ones() {
        crate::labels::install_for_tests();
        let leapfrog = DeclineGround::Leapfrog as i32;
        assert_eq!(
            EnumKind::DeclineGround.label(leapfrog),
            "越级走访（服务器改名）"
        );
        assert_eq!(
            EnumKind::DeclineGround.describe(leapfrog),
            "leapfrog 越级走访（服务器改名）"
        );
        assert_eq!(EnumKind::DeclineGround.builtin_label(leapfrog), "越级走访");
        // What the cache lacks keeps the proto's label.
        let other = DeclineGround::AlreadyHandling as i32;
        assert_eq!(EnumKind::DeclineGround.label(other), "已受理或正在办理");
    }

    #[test]
    fn every_kind_names_its_proto_enum() {
        use xinfang_proto::labels::LABELS;
        for kind in [
            EnumKind::Level,
            EnumKind::LetterChannel,
            EnumKind::TripOutcome,
            EnumKind::DeclineGround,
            EnumKind::Rating,
            EnumKind::CaseState,
            EnumKind::AssignmentMode,
            EnumKind::SupervisionMethod,
            EnumKind::ReviewOutcome,
            EnumKind::BacklogState,
            EnumKind::BacklogResolution,
            EnumKind::FundPurpose,
            EnumKind::PaymentMethod,
            EnumKind::FundRequestState,
            EnumKind::Timeliness,
            EnumKind::TargetDirection,
            EnumKind::CapFormula,
            EnumKind::TrendDirection,
        ] {
            // The generated table names the enum as the server's `enum_labels` do: a typo here would
            // silently keep the built-in labels forever.
            assert!(
                LABELS.iter().any(|(e, _, _, _)| *e == kind.proto_name()),
                "{kind:?}"
            );
        }
    }
}
