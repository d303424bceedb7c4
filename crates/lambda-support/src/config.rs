//! One reader of a function's configuration, for every function and the crates they configure
//! (`tokens`' keys and sessions): read once at init from the environment, where anything
//! missing or out of range stops the function from starting with a message that names the
//! variable; in tests from pairs.
//!
//! An empty variable is an unset one: a template's empty parameter default (`""`) then means
//! "use the default", as it does in the template's own conditions.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

/// Why a function's configuration cannot start it, naming the variable.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where the variables come from: the process environment, or pairs in a test.
pub struct Vars<'a> {
    get: Lookup<'a>,
}

type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

impl Vars<'static> {
    /// The process environment.
    pub fn env() -> Self {
        Self {
            get: Box::new(|key| std::env::var(key).ok()),
        }
    }

    /// `pairs` as the environment; a later pair of the same name overrides an earlier one (a
    /// test's base set, then what it changes).
    pub fn pairs(pairs: &[(&str, &str)]) -> Self {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self {
            get: Box::new(move |key| pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone())),
        }
    }
}

impl Vars<'_> {
    /// The variable's value; `None` when unset or empty.
    pub fn get(&self, key: &str) -> Option<String> {
        (self.get)(key).filter(|v| !v.is_empty())
    }

    pub fn required(&self, key: &str) -> Result<String, ConfigError> {
        self.get(key).ok_or_else(|| ConfigError(format!("{key} is not set")))
    }

    /// A number in `range`, or `default` when unset.
    pub fn number<T>(&self, key: &str, default: T, range: RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Display,
    {
        let value = match self.get(key) {
            None => default,
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| ConfigError(format!("{key}={v:?} is not a valid number")))?,
        };
        if !range.contains(&value) {
            return Err(ConfigError(format!(
                "{key} must be {}-{}, got {value}",
                range.start(),
                range.end()
            )));
        }
        Ok(value)
    }

    /// A whole number of seconds in `range`, or `default` seconds when unset.
    pub fn seconds(&self, key: &str, default: u64, range: RangeInclusive<u64>) -> Result<Duration, ConfigError> {
        self.number(key, default, range).map(Duration::from_secs)
    }

    /// A decimal number of hours between `range`'s ends, or `default` hours when unset: tests
    /// set a fraction (`0.001`, 3.6 s) where production sets hours.
    pub fn hours(&self, key: &str, default: f64, range: RangeInclusive<Duration>) -> Result<Duration, ConfigError> {
        let hours: f64 = self.number(key, default, f64::MIN..=f64::MAX)?;
        Duration::try_from_secs_f64(hours * 3600.0)
            .ok()
            .filter(|d| range.contains(d))
            .ok_or_else(|| {
                ConfigError(format!(
                    "{key} must be {} s to {} h, got {hours}",
                    range.start().as_secs_f64(),
                    range.end().as_secs_f64() / 3600.0
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_unset_and_later_pairs_override() {
        let vars = Vars::pairs(&[("A", "1"), ("B", ""), ("A", "2")]);
        assert_eq!(vars.get("A").as_deref(), Some("2"));
        assert_eq!(vars.get("B"), None);
        assert!(vars.required("B").unwrap_err().0.contains("B is not set"));
    }

    #[test]
    fn numbers_have_defaults_and_bounds_and_name_their_variable() {
        let vars = Vars::pairs(&[("N", " 7 "), ("BAD", "x"), ("BIG", "11")]);
        assert_eq!(vars.number("N", 1, 1..=10), Ok(7));
        assert_eq!(vars.number("UNSET", 3, 1..=10), Ok(3));
        assert_eq!(vars.seconds("N", 1, 1..=10), Ok(Duration::from_secs(7)));
        for key in ["BAD", "BIG"] {
            assert!(vars.number(key, 1, 1..=10).unwrap_err().0.starts_with(key));
        }
    }

    #[test]
    fn hours_take_fractions_within_bounds() {
        let range = Duration::from_secs(1)..=Duration::from_secs(168 * 3600);
        let hours = |v: &str| Vars::pairs(&[("H", v)]).hours("H", 24.0, range.clone());
        assert_eq!(hours("0.001"), Ok(Duration::from_secs_f64(3.6)));
        assert_eq!(
            Vars::pairs(&[]).hours("H", 24.0, range.clone()),
            Ok(Duration::from_secs(24 * 3600))
        );
        for bad in ["0", "169", "-1", "NaN", "x"] {
            assert!(hours(bad).unwrap_err().0.starts_with('H'), "{bad}");
        }
    }
}
