//! Conversions between protobuf timestamps and chrono.

use chrono::{DateTime, Utc};

pub fn to_proto(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// `None` for timestamps chrono cannot represent; validated input never is.
pub fn from_proto(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = DateTime::from_timestamp(1_600_000_000, 123_000).unwrap();
        assert_eq!(from_proto(&to_proto(t)), Some(t));
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(from_proto(&bad), None);
    }
}
