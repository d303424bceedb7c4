//! The template in CloudFormation's JSON form, where every intrinsic is in long form
//! (`{"Ref": "X"}`), whichever form its author wrote; and what a fragment of it refers to.

use anyhow::{Result, bail};
use saphyr::{ScalarOwned, YamlOwned};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// A YAML node in CloudFormation's JSON form: a short-form tag becomes its long form
/// (`!Ref X` -> `{"Ref": "X"}`, `!GetAtt A.B` -> `{"Fn::GetAtt": "A.B"}`, `!Condition C` ->
/// `{"Condition": "C"}`, every other `!Name` -> `{"Fn::Name": ...}`).
pub(super) fn to_json(node: &YamlOwned) -> Result<Value> {
    Ok(match node {
        YamlOwned::Value(scalar) => match scalar {
            ScalarOwned::Null => Value::Null,
            ScalarOwned::Boolean(b) => Value::Bool(*b),
            ScalarOwned::Integer(i) => Value::from(*i),
            ScalarOwned::FloatingPoint(f) => Value::from(f.into_inner()),
            ScalarOwned::String(s) => Value::String(s.clone()),
        },
        YamlOwned::Sequence(items) => Value::Array(items.iter().map(to_json).collect::<Result<_>>()?),
        YamlOwned::Mapping(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let name = match k {
                        YamlOwned::Value(ScalarOwned::String(s)) => s.clone(),
                        YamlOwned::Value(ScalarOwned::Integer(i)) => i.to_string(),
                        other => bail!("a mapping key that is not a string: {other:?}"),
                    };
                    Ok((name, to_json(v)?))
                })
                .collect::<Result<_>>()?,
        ),
        YamlOwned::Tagged(tag, inner) if tag.handle == "!" => {
            let function = match tag.suffix.as_str() {
                name @ ("Ref" | "Condition") => name.to_owned(),
                name => format!("Fn::{name}"),
            };
            let inner = to_json(inner)?;
            let inner = match (function.as_str(), inner) {
                // `!GetAtt A.B` is the only intrinsic whose short and long forms differ in shape.
                ("Fn::GetAtt", Value::String(path)) => match path.split_once('.') {
                    Some((id, attribute)) => Value::from(vec![id, attribute]),
                    None => Value::String(path),
                },
                (_, inner) => inner,
            };
            Value::Object(Map::from_iter([(function, inner)]))
        }
        other => bail!("unsupported YAML node {other:?} (anchors, aliases and core-schema tags are not used here)"),
    })
}

/// Logical ids and parameters a fragment refers to through Ref, GetAtt, Sub or DependsOn, in
/// short (`!Ref X`) or long (`{Ref: X}`) form. Pseudo parameters (`AWS::...`) are left out.
pub fn references(value: &Value) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    collect_references(value, &mut names);
    names.retain(|n| !n.starts_with("AWS::"));
    names
}

fn collect_references(value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match key.as_str() {
                    "Ref" | "Fn::GetAtt" | "Fn::Sub" | "DependsOn" => intrinsic(key, inner, names),
                    _ => {}
                }
                collect_references(inner, names);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, names)),
        _ => {}
    }
}

fn intrinsic(function: &str, arg: &Value, names: &mut BTreeSet<String>) {
    match (function, arg) {
        ("Ref" | "DependsOn", Value::String(name)) => {
            names.insert(name.clone());
        }
        ("Fn::GetAtt", Value::String(path)) => {
            names.insert(path.split('.').next().unwrap_or(path).to_owned());
        }
        ("Fn::GetAtt", Value::Array(parts)) => {
            if let Some(Value::String(name)) = parts.first() {
                names.insert(name.clone());
            }
        }
        ("Fn::Sub", Value::String(text)) => names.extend(sub_variables(text)),
        ("Fn::Sub", Value::Array(parts)) => {
            if let (Some(Value::String(text)), Some(Value::Object(vars))) = (parts.first(), parts.get(1)) {
                names.extend(sub_variables(text).into_iter().filter(|v| !vars.contains_key(v)));
            }
        }
        ("DependsOn", Value::Array(items)) => names.extend(items.iter().filter_map(|i| i.as_str().map(str::to_owned))),
        _ => {}
    }
}

/// `${Name}` and `${Name.Attr}` in a Sub string; `${!Literal}` is an escape, not a variable.
fn sub_variables(text: &str) -> Vec<String> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(var, _)| var))
        .filter(|var| !var.starts_with('!'))
        .map(|var| var.split('.').next().unwrap_or(var).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use saphyr::LoadableYamlNode;

    #[test]
    fn references_cover_short_long_and_sub_forms() {
        let fragment = YamlOwned::load_from_str(
            r#"{a: !Ref A, b: !GetAtt B.Arn, c: !Sub "${C}/${D.Arn}/${!E}/${AWS::Region}", d: {"Fn::GetAtt": [F, Arn]},
                e: !Sub ["${G}${H}", {H: !Ref I}], DependsOn: [J]}"#,
        )
        .unwrap();
        let fragment = to_json(&fragment[0]).unwrap();
        assert_eq!(
            references(&fragment),
            ["A", "B", "C", "D", "F", "G", "I", "J"].map(String::from).into()
        );
    }
}
