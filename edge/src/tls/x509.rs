//! Just enough DER to name a certificate in a log line: its serial number and its expiry.
//!
//! rustls exposes no X.509 parser and the workspace adds none, so this walks the first fields
//! of `TBSCertificate` (RFC 5280 §4.1) and nothing else. It never decides whether a certificate
//! is acceptable (rustls and webpki do that); a certificate it cannot read is still served, only
//! logged as "unknown". Inputs are untrusted: every length is checked, nothing panics.

/// What a reload log line says about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Summary {
    /// Serial number in upper-case hex without leading zero bytes, the way
    /// `openssl x509 -noout -serial` prints it, so operators can compare the two.
    pub(super) serial: String,
    /// `notAfter` in unix seconds.
    pub(super) not_after: i64,
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT Version`: absent in v1 certificates.
const VERSION_TAG: u8 = 0xa0;

/// Reads the serial number and `notAfter` of a DER certificate.
pub(super) fn summarize(der: &[u8]) -> Option<Summary> {
    let (tag, certificate, _) = read_tlv(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = read_tlv(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let (mut tag, mut value, mut rest) = read_tlv(tbs)?;
    if tag == VERSION_TAG {
        (tag, value, rest) = read_tlv(rest)?;
    }
    if tag != INTEGER || value.is_empty() {
        return None;
    }
    let serial = serial_hex(value);
    // signature AlgorithmIdentifier, then issuer Name: skipped.
    let (_, _, rest) = read_tlv(rest)?;
    let (_, _, rest) = read_tlv(rest)?;
    let (tag, validity, _) = read_tlv(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    let (_, _, after_not_before) = read_tlv(validity)?;
    let (tag, not_after, _) = read_tlv(after_not_before)?;
    let not_after = parse_time(tag, not_after)?;
    Some(Summary { serial, not_after })
}

/// Splits one DER element off `input`: `(tag, contents, rest)`. Single-byte tags only, which
/// is all a certificate's first fields use.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        // Long form: the low bits say how many length bytes follow. Four is plenty for any
        // certificate and keeps the arithmetic far from overflow.
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || input.len() < count {
            return None;
        }
        let (bytes, remainder) = input.split_at(count);
        input = remainder;
        bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b))
    };
    if input.len() < len {
        return None;
    }
    let (contents, rest) = input.split_at(len);
    Some((tag, contents, rest))
}

fn serial_hex(value: &[u8]) -> String {
    // DER prepends a zero byte to keep a positive INTEGER's top bit clear; openssl hides it.
    let start = value
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(value.len() - 1);
    value[start..].iter().map(|b| format!("{b:02X}")).collect()
}

/// `UTCTime` (`YYMMDDHHMMSSZ`) or `GeneralizedTime` (`YYYYMMDDHHMMSSZ`), the only forms
/// RFC 5280 §4.1.2.5 allows, to unix seconds.
fn parse_time(tag: u8, value: &[u8]) -> Option<i64> {
    let digits = value.strip_suffix(b"Z")?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        digits
            .get(range)?
            .iter()
            .try_fold(0i64, |n, &d| Some(n * 10 + i64::from(d - b'0')))
    };
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = number(0..2)?;
            // RFC 5280: YY >= 50 is 19YY, otherwise 20YY.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (number(0..4)?, 4),
        _ => return None,
    };
    let month = number(rest..rest + 2)?;
    let day = number(rest + 2..rest + 4)?;
    let hour = number(rest + 4..rest + 6)?;
    let minute = number(rest + 6..rest + 8)?;
    let second = number(rest + 8..rest + 10)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Leap seconds (60) are allowed by the grammar; they just roll into the next minute.
    if second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats unix seconds as RFC 3339 UTC (`2027-05-01T12:00:00Z`) for log lines.
pub(super) fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Inverse of `days_from_civil` (H. Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_the_calendar() {
        assert_eq!(parse_time(UTC_TIME, b"700101000000Z"), Some(0));
        assert_eq!(parse_time(UTC_TIME, b"000229120000Z"), Some(951_825_600));
        assert_eq!(
            parse_time(GENERALIZED_TIME, b"20380119031408Z"),
            Some(2_147_483_648)
        );
        assert_eq!(parse_time(UTC_TIME, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(rfc3339(951_825_600), "2000-02-29T12:00:00Z");
        assert_eq!(rfc3339(2_524_607_999), "2049-12-31T23:59:59Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn refuses_malformed_times() {
        assert_eq!(parse_time(UTC_TIME, b"700101000000"), None);
        assert_eq!(parse_time(UTC_TIME, b"20380119031408Z"), None);
        assert_eq!(parse_time(GENERALIZED_TIME, b"2038011903140xZ"), None);
        assert_eq!(parse_time(UTC_TIME, b"701301000000Z"), None);
    }

    #[test]
    fn serials_drop_the_sign_byte() {
        assert_eq!(serial_hex(&[0x00, 0x9f, 0x01]), "9F01");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[0x01, 0x23, 0xab]), "0123AB");
    }

    #[test]
    fn truncated_or_hostile_der_is_refused_without_panicking() {
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[0x30]), None);
        assert_eq!(summarize(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(summarize(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(summarize(&[0x30, 0x02, 0x30, 0x00]), None);
        assert_eq!(summarize(b"not der at all"), None);
    }
}
