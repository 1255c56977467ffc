//! Durations written the way Go writes them (`"30s"`, `"2m"`, `"1h30m"`, `"500ms"`), because
//! the config file is shared with the Go MCPProxy.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const NANOS_PER: [(&str, i128); 7] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// A signed duration with nanosecond precision, parsed from and written as a Go duration string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration {
    nanos: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration; write it like \"30s\", \"2m\", \"1h30m\" or \"500ms\"")]
pub struct DurationError(pub String);

impl GoDuration {
    pub const ZERO: GoDuration = GoDuration { nanos: 0 };

    pub const fn from_secs(secs: i64) -> Self {
        Self {
            nanos: secs * 1_000_000_000,
        }
    }

    pub const fn from_millis(ms: i64) -> Self {
        Self {
            nanos: ms * 1_000_000,
        }
    }

    pub fn nanos(self) -> i64 {
        self.nanos
    }

    /// The duration as a `std::time::Duration`; a negative duration counts as zero.
    pub fn to_std(self) -> Duration {
        Duration::from_nanos(u64::try_from(self.nanos).unwrap_or(0))
    }

    pub fn is_positive(self) -> bool {
        self.nanos > 0
    }

    /// Parses the syntax of Go's `time.ParseDuration`: an optional sign, then one or more
    /// decimal numbers (with an optional fraction), each followed by a unit.
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let err = || DurationError(text.to_owned());
        let (negative, mut rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if rest == "0" {
            return Ok(Self::ZERO);
        }
        if rest.is_empty() {
            return Err(err());
        }
        let mut total: i128 = 0;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(err)?;
            let number = &rest[..number_len];
            rest = &rest[number_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let per = NANOS_PER
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, n)| *n)
                .ok_or_else(err)?;
            let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
            if whole.is_empty() && frac.is_empty() {
                return Err(err());
            }
            let whole: i128 = if whole.is_empty() {
                0
            } else {
                whole.parse().map_err(|_| err())?
            };
            let mut part = whole.checked_mul(per).ok_or_else(err)?;
            let mut scale = per;
            for digit in frac.bytes() {
                if !digit.is_ascii_digit() {
                    return Err(err());
                }
                scale /= 10;
                part += i128::from(digit - b'0') * scale;
            }
            total = total.checked_add(part).ok_or_else(err)?;
        }
        let total = if negative { -total } else { total };
        let nanos = i64::try_from(total).map_err(|_| err())?;
        Ok(Self { nanos })
    }
}

/// In the API a duration is its Go string.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for GoDuration {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A duration in Go's notation, like \"30s\", \"2m\" or \"1h30m\"",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for GoDuration {}

impl From<Duration> for GoDuration {
    fn from(d: Duration) -> Self {
        Self {
            nanos: i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        }
    }
}

/// The shortest text Go reads back as the same duration: `2m`, `1h30m`, `1.5s`, `500ms`.
impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0s");
        }
        if self.nanos < 0 {
            f.write_str("-")?;
        }
        let mut n = self.nanos.unsigned_abs();
        if n < 1_000_000_000 {
            // Below a second Go uses the largest sub-second unit that keeps it exact-ish.
            let (unit, per) = if n.is_multiple_of(1_000_000) {
                ("ms", 1_000_000)
            } else if n.is_multiple_of(1_000) {
                ("us", 1_000)
            } else {
                ("ns", 1)
            };
            return write!(f, "{}{unit}", n / per);
        }
        let hours = n / 3_600_000_000_000;
        n %= 3_600_000_000_000;
        let minutes = n / 60_000_000_000;
        n %= 60_000_000_000;
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        if n > 0 {
            let secs = n / 1_000_000_000;
            let frac = n % 1_000_000_000;
            if frac == 0 {
                write!(f, "{secs}s")?;
            } else {
                let digits = format!("{frac:09}");
                write!(f, "{secs}.{}s", digits.trim_end_matches('0'))?;
            }
        }
        Ok(())
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Go's own time.Duration marshals as integer nanoseconds; MCPProxy writes strings.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Nanos(i64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) => GoDuration::parse(&t).map_err(serde::de::Error::custom),
            Raw::Nanos(n) => Ok(GoDuration { nanos: n }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> i64 {
        GoDuration::parse(s).unwrap().nanos()
    }

    #[test]
    fn parses_go_syntax() {
        assert_eq!(p("30s"), 30_000_000_000);
        assert_eq!(p("2m"), 120_000_000_000);
        assert_eq!(p("2m0s"), 120_000_000_000);
        assert_eq!(p("1h30m"), 5_400_000_000_000);
        assert_eq!(p("500ms"), 500_000_000);
        assert_eq!(p("1.5s"), 1_500_000_000);
        assert_eq!(p(".5s"), 500_000_000);
        assert_eq!(p("10us"), 10_000);
        assert_eq!(p("10µs"), 10_000);
        assert_eq!(p("0"), 0);
        assert_eq!(p("-1s"), -1_000_000_000);
    }

    #[test]
    fn refuses_what_go_refuses() {
        for bad in ["", "30", "s", "1x", "1.2.3s", "-", ".s", "1h 2m"] {
            assert!(GoDuration::parse(bad).is_err(), "{bad:?} accepted");
        }
        let msg = GoDuration::parse("soon").unwrap_err().to_string();
        assert!(msg.contains("\"2m\""), "{msg}");
    }

    #[test]
    fn writes_shortest_go_form() {
        for (text, want) in [
            ("2m", "2m"),
            ("2m0s", "2m"),
            ("90s", "1m30s"),
            ("1h", "1h"),
            ("1h0m5s", "1h5s"),
            ("1.5s", "1.5s"),
            ("500ms", "500ms"),
            ("0s", "0s"),
            ("-30s", "-30s"),
        ] {
            assert_eq!(GoDuration::parse(text).unwrap().to_string(), want);
        }
    }

    #[test]
    fn every_written_form_parses_back() {
        for nanos in [
            1,
            999,
            1_000,
            1_500_000,
            1_000_000_000,
            61_500_000_000,
            3_600_000_000_001,
        ] {
            let d = GoDuration { nanos };
            assert_eq!(GoDuration::parse(&d.to_string()).unwrap(), d);
        }
    }

    #[test]
    fn json_accepts_strings_and_nanoseconds() {
        let d: GoDuration = serde_json::from_str("\"2m\"").unwrap();
        assert_eq!(d, GoDuration::from_secs(120));
        let d: GoDuration = serde_json::from_str("120000000000").unwrap();
        assert_eq!(d, GoDuration::from_secs(120));
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"2m\"");
    }
}
