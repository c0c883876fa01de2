//! RFC 9457 problem details: the body of every error answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An `application/problem+json` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "urn:pollpush:problem:validation")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// For validation problems: the offending body field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    /// A problem of the given kind (the last part of its `urn:pollpush:problem:` URI).
    pub fn new(kind: &str, title: &str, status: u16, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:pollpush:problem:{kind}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            field: None,
        }
    }

    /// Names the body field at fault.
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_json_shape_is_pinned() {
        let p = Problem::new("validation", "Invalid body", 422, "name: must not be empty")
            .with_field("name");
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"type":"urn:pollpush:problem:validation","title":"Invalid body","status":422,"detail":"name: must not be empty","field":"name"}"#
        );
        assert_eq!(serde_json::from_str::<Problem>(&json).unwrap(), p);
    }
}
