//! `ScheduleExpression`: a cron expression read in an IANA time zone (croner, chrono-tz), and
//! the ticks it gives between two instants. Times are epoch milliseconds like everywhere else;
//! ticks have whole-second resolution.

use crate::{Error, Result};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;

pub(crate) struct ScheduleExpression {
    cron: Cron,
    tz: Tz,
}

impl ScheduleExpression {
    /// Parses and checks both parts, with errors that name the part at fault.
    pub fn parse(cron: &str, time_zone: &str) -> Result<ScheduleExpression> {
        let tz: Tz = time_zone.parse().map_err(|_| {
            Error::InvalidSchedule(format!(
                "unknown time zone '{time_zone}' (an IANA name such as UTC or Europe/Paris)"
            ))
        })?;
        let parsed = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(cron)
            .map_err(|e| Error::InvalidSchedule(format!("cron expression '{cron}': {e}")))?;
        Ok(ScheduleExpression { cron: parsed, tz })
    }

    fn at(&self, ms: i64) -> Result<DateTime<Tz>> {
        Utc.timestamp_millis_opt(ms)
            .single()
            .map(|t| t.with_timezone(&self.tz))
            .ok_or_else(|| Error::InvalidSchedule(format!("time {ms} ms is out of range")))
    }

    /// The first tick strictly after `ms`; an expression that never fires again (a date
    /// that does not exist) is an error.
    pub fn next_after(&self, ms: i64) -> Result<i64> {
        let t = self
            .cron
            .find_next_occurrence(&self.at(ms)?, false)
            .map_err(|e| Error::InvalidSchedule(format!("no next tick after {ms}: {e}")))?;
        Ok(t.timestamp_millis())
    }

    /// The ticks from `first` to `now` (both included) that fire: the latest `bound` of them,
    /// oldest first (the older ones are skipped), and the first tick after `now`.
    pub fn due(&self, first: i64, now: i64, bound: u32) -> Result<(Vec<i64>, i64)> {
        // Walk back from `now`, so a long downtime costs `bound` steps, not one per tick.
        let mut fire = Vec::new();
        let mut at = self.at(now)?;
        let mut inclusive = true;
        while fire.len() < bound as usize {
            let Ok(t) = self.cron.find_previous_occurrence(&at, inclusive) else {
                break;
            };
            if t.timestamp_millis() < first {
                break;
            }
            fire.push(t.timestamp_millis());
            at = t;
            inclusive = false;
        }
        fire.reverse();
        Ok((fire, self.next_after(now)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn every_second_with_a_bound() {
        let e = ScheduleExpression::parse("* * * * * *", "UTC").unwrap();
        assert_eq!(e.next_after(T).unwrap(), T + 1_000);
        assert_eq!(e.next_after(T + 1).unwrap(), T + 1_000);
        let (fire, next) = e.due(T + 1_000, T + 10_500, 3).unwrap();
        assert_eq!(fire, vec![T + 8_000, T + 9_000, T + 10_000]);
        assert_eq!(next, T + 11_000);
        let (fire, _) = e.due(T + 1_000, T + 2_000, 10).unwrap();
        assert_eq!(fire, vec![T + 1_000, T + 2_000]);
        let (fire, next) = e.due(T + 3_000, T + 2_999, 10).unwrap();
        assert!(fire.is_empty());
        assert_eq!(next, T + 3_000);
    }

    #[test]
    fn five_fields_in_a_time_zone() {
        // 09:00 in Paris is 08:00 UTC in winter.
        let e = ScheduleExpression::parse("0 9 * * *", "Europe/Paris").unwrap();
        assert_eq!(e.next_after(T).unwrap(), T + 8 * 3_600_000);
    }

    #[test]
    fn errors_name_the_part_at_fault() {
        let e = ScheduleExpression::parse("61 * * * *", "UTC")
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("cron expression '61 * * * *'"),
            "{e}"
        );
        let e = ScheduleExpression::parse("* * * * *", "Mars/Olympus")
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("unknown time zone 'Mars/Olympus'"),
            "{e}"
        );
    }
}
