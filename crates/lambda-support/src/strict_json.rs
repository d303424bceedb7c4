//! JSON read strictly: an object with a key twice, at any depth, is an error rather than its
//! last value. General, not about HTTP: [`crate::http::json_body`] reads every request body
//! with it, and any other text from outside can be read the same way.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Like `serde_json::from_str::<Value>`, but an object that has a key twice, at any depth, is
/// an error rather than its last value: parsers disagree on which one wins (first, last, or an
/// error), so a proxy, a WAF or a log reader could see another sign-up than we store. Keys
/// are compared as decoded, so `"name"` and `"n\u0061me"` are one key. serde_json's nesting
/// limit (128) still applies.
pub fn parse(text: &str) -> serde_json::Result<Value> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let Unique(value) = Unique::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// A JSON value whose objects have no duplicate keys.
struct Unique(Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // As serde_json's own Value: JSON text has no NaN or infinity to reach this with.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                // Cut, so that a huge key sent twice does not make a huge error body.
                let shown: String = key.chars().take(64).collect();
                return Err(de::Error::custom(format_args!("duplicate key {shown:?}")));
            }
            let Unique(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_key_twice_is_an_error_at_any_depth_and_one_key_in_two_objects_is_not() {
        for text in [r#"{"a":1,"a":2}"#, r#"{"a":1,"\u0061":2}"#, r#"[{"x":{"a":1,"a":1}}]"#] {
            let error = parse(text).expect_err(text);
            assert_eq!(error.classify(), serde_json::error::Category::Data, "{text}");
            assert!(error.to_string().contains(r#"duplicate key "a""#), "{text}: {error}");
        }
        assert_eq!(
            parse(r#"{"a":{"a":1},"b":[{"a":1}]}"#).unwrap(),
            json!({"a": {"a": 1}, "b": [{"a": 1}]})
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            ".*".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(".{0,6}", inner, 0..6).prop_map(|m| json!(m)),
            ]
        })
    }

    proptest! {
        /// Where no key repeats, the strict parser reads what serde_json reads.
        #[test]
        fn parses_like_serde_json_without_duplicates(value in any_json(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&value).unwrap() } else { value.to_string() };
            prop_assert_eq!(parse(&text).unwrap(), serde_json::from_str::<Value>(&text).unwrap());
        }

        /// On any text: what it accepts, serde_json accepts and reads the same.
        #[test]
        fn accepts_nothing_serde_json_refuses(text in r#"[\[\]{}":,0-9a-z\\ .eE+-]{0,40}"#) {
            if let Ok(value) = parse(&text) {
                prop_assert_eq!(Ok(value), serde_json::from_str::<Value>(&text).map_err(|e| e.to_string()));
            }
        }
    }
}
