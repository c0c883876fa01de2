//! The part of the OpenAPI document that depends on `--write-token`: a server
//! without one accepts anonymous writes, so its document must not claim that
//! writes need a token (a conformance checker would rightly call that a lie);
//! a server with one declares the bearer scheme and the `401` on every write.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr, Type};

/// The name the write operations refer to the scheme by.
const SCHEME: &str = "bearer";

/// Declares the bearer scheme and puts it, with its `401`, on every write
/// (POST, PUT, DELETE); reads stay open.
pub fn require(doc: &mut OpenApi) {
    let scheme = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some(
            "The server's --write-token (POLLPUSH_WRITE_TOKEN), needed by POST, PUT and DELETE. \
             Reads never need it.",
        ))
        .build();
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(SCHEME, SecurityScheme::Http(scheme));
    for item in doc.paths.paths.values_mut() {
        for op in [&mut item.post, &mut item.put, &mut item.delete]
            .into_iter()
            .flatten()
        {
            guard(op);
        }
    }
}

fn guard(op: &mut Operation) {
    op.security = Some(vec![SecurityRequirement::new(SCHEME, Vec::<String>::new())]);
    let challenge = HeaderBuilder::new()
        .schema(utoipa::openapi::ObjectBuilder::new().schema_type(Type::String))
        .description(Some(
            "`Bearer realm=\"pollpush\"`, with `error=\"invalid_token\"` for a wrong token",
        ))
        .build();
    let problem = ContentBuilder::new()
        .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
        .build();
    let unauthorized = ResponseBuilder::new()
        .description("The request lacks the write token, or carries a wrong one")
        .content("application/problem+json", problem)
        .header("WWW-Authenticate", challenge)
        .build();
    op.responses
        .responses
        .insert("401".to_owned(), RefOr::T(unauthorized));
}
