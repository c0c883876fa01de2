//! Turning what a watched service sent into a [`Payload`]: JSON when it
//! parses (or says so), text otherwise, and the `--time-field` read from it.

use chrono::{DateTime, Utc};

use crate::event::{Body, ItemVersion, Payload};

/// JSON pointers (RFC 6901) into each update, from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    /// `--time-field`: when the update was made, by the service's clock.
    pub time: Option<String>,
    /// `--id-field` and `--version-field`: what matches an item across lanes.
    pub item: Option<(String, String)>,
}

/// A payload of `bytes`, named `name`, as the service's `Date` saw it.
pub fn payload(
    bytes: &[u8],
    content_type: &str,
    name: Option<String>,
    server_date: Option<DateTime<Utc>>,
    fields: &Fields,
) -> Payload {
    let body = body(bytes, content_type);
    let stamp = fields.time.as_deref().map(|pointer| stamp(&body, pointer));
    let items = fields
        .item
        .as_ref()
        .map(|(id, version)| items(&body, id, version));
    Payload {
        size: bytes.len() as u64,
        body,
        name,
        server_date,
        stamp,
        redirects: 0,
        pollpush: false,
        items,
    }
}

/// The id and version of the update, or of each item of a list.
fn items(body: &Body, id: &str, version: &str) -> Result<Vec<ItemVersion>, String> {
    let Body::Json(json) = body else {
        return Err(format!(
            "the update is not JSON, so --id-field {id} cannot be read"
        ));
    };
    let text = |value: &serde_json::Value| match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let one = |item: &serde_json::Value| {
        Some(ItemVersion {
            id: text(item.pointer(id)?),
            version: text(item.pointer(version)?),
        })
    };
    let found: Vec<ItemVersion> = match (json.pointer(id), json.as_array()) {
        (None, Some(list)) => list.iter().filter_map(one).collect(),
        _ => one(json).into_iter().collect(),
    };
    if found.is_empty() {
        return Err(format!(
            "--id-field {id} and --version-field {version} are not in the update"
        ));
    }
    Ok(found)
}

/// JSON when the content type says so or the bytes parse as JSON.
fn body(bytes: &[u8], content_type: &str) -> Body {
    match serde_json::from_slice(bytes) {
        Ok(value) => Body::Json(value),
        Err(_) => Body::Text {
            content_type: content_type.to_owned(),
            text: String::from_utf8_lossy(bytes).into_owned(),
        },
    }
}

/// The time at `pointer`: an RFC 3339 string, or Unix seconds or milliseconds.
/// In a list (a top-level array without it), the newest of its items' times:
/// the list is as fresh as its newest change.
fn stamp(body: &Body, pointer: &str) -> Result<DateTime<Utc>, String> {
    let Body::Json(json) = body else {
        return Err(format!(
            "the update is not JSON, so --time-field {pointer} cannot be read"
        ));
    };
    let missing = || format!("--time-field {pointer} is not in the update");
    if let (None, Some(items)) = (json.pointer(pointer), json.as_array()) {
        return items
            .iter()
            .filter_map(|item| item.pointer(pointer))
            .map(|value| time(value, pointer))
            .reduce(|a, b| Ok(a?.max(b?)))
            .unwrap_or_else(|| Err(missing()));
    }
    time(json.pointer(pointer).ok_or_else(missing)?, pointer)
}

/// The time at `pointer` in one item, if it has one that reads as a time.
pub fn item_time(item: &serde_json::Value, pointer: &str) -> Option<DateTime<Utc>> {
    time(item.pointer(pointer)?, pointer).ok()
}

/// The newest time at `pointer` (`--time-field`, when given) among `items`.
pub fn newest_item_time<'a>(
    pointer: Option<&str>,
    items: impl IntoIterator<Item = &'a serde_json::Value>,
) -> Option<DateTime<Utc>> {
    let pointer = pointer?;
    items
        .into_iter()
        .filter_map(|item| item_time(item, pointer))
        .max()
}

fn time(value: &serde_json::Value, pointer: &str) -> Result<DateTime<Utc>, String> {
    let parsed = match value {
        serde_json::Value::String(text) => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        serde_json::Value::Number(n) => n.as_f64().and_then(|n| {
            // Milliseconds past 2001-09-09 are larger than any plausible seconds value.
            let ms = if n > 1e12 { n } else { n * 1000.0 };
            DateTime::from_timestamp_millis(ms as i64)
        }),
        _ => None,
    };
    parsed.ok_or_else(|| format!("--time-field {pointer} is {value}, not a time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(time: &str) -> Fields {
        Fields {
            time: Some(time.to_owned()),
            item: None,
        }
    }

    #[test]
    fn items_are_read_from_the_update_or_each_element_of_a_list() {
        let fields = Fields {
            time: None,
            item: Some(("/id".to_owned(), "/v".to_owned())),
        };
        let read = |json: &str| payload(json.as_bytes(), "", None, None, &fields).items;
        let item = |id: &str, version: &str| ItemVersion {
            id: id.to_owned(),
            version: version.to_owned(),
        };
        assert_eq!(read(r#"{"id":1,"v":"a"}"#), Some(Ok(vec![item("1", "a")])));
        let list = read(r#"[{"id":1,"v":2},{"id":"x","v":3},{"other":1}]"#);
        assert_eq!(list, Some(Ok(vec![item("1", "2"), item("x", "3")])));
        assert!(matches!(read("text"), Some(Err(e)) if e.contains("not JSON")));
    }

    #[test]
    fn json_bodies_parse_and_others_stay_text() {
        let p = payload(
            br#"[{"id":1}]"#,
            "application/json",
            None,
            None,
            &Fields::default(),
        );
        assert_eq!(p.body, Body::Json(serde_json::json!([{"id": 1}])));
        assert_eq!((p.size, p.stamp), (10, None));
        let p = payload(b"hello", "text/plain", None, None, &Fields::default());
        assert!(matches!(p.body, Body::Text { ref text, .. } if text == "hello"));
    }

    #[test]
    fn the_time_field_reads_rfc3339_or_unix_times_and_says_why_not() {
        let at = |json: &str| payload(json.as_bytes(), "", None, None, &fields("/t")).stamp;
        let expected = DateTime::from_timestamp_millis(1_700_000_000_000);
        assert_eq!(at(r#"{"t":"2023-11-14T22:13:20Z"}"#), expected.map(Ok));
        assert_eq!(at(r#"{"t":1700000000}"#), expected.map(Ok));
        assert_eq!(at(r#"{"t":1700000000000}"#), expected.map(Ok));
        let newest = at(r#"[{"t":1600000000},{"t":1700000000}]"#);
        assert_eq!(
            newest,
            expected.map(Ok),
            "a list is as fresh as its newest item"
        );
        let no = at(r#"{"u":1}"#).and_then(Result::err).expect("an error");
        assert!(no.contains("not in the update"), "{no}");
        let text = at("plain").and_then(Result::err).expect("an error");
        assert!(text.contains("not JSON"), "{text}");
    }
}
