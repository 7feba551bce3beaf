//! Job parameters: `${name}` placeholders in job files.

use std::collections::BTreeMap;

/// Replaces every `${name}` in `text` with the parameter's value. Names that
/// are not declared are reported in `problems` with `context`.
pub fn substitute(
    text: &str,
    params: &BTreeMap<String, String>,
    context: &str,
    problems: &mut Vec<String>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match params.get(name) {
                    Some(v) => out.push_str(v),
                    None => problems.push(format!(
                        "{context}: parameter '${{{name}}}' is not declared in [parameters]"
                    )),
                }
                rest = &after[end + 1..];
            }
            None => {
                problems.push(format!("{context}: unclosed '${{' in \"{text}\""));
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_declared_and_reports_undeclared() {
        let mut p = BTreeMap::new();
        p.insert("input".to_owned(), "/data".to_owned());
        let mut problems = Vec::new();
        assert_eq!(
            substitute("${input}/x-${nope}", &p, "source 'a'", &mut problems),
            "/data/x-"
        );
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("'${nope}'"), "{problems:?}");
    }
}
