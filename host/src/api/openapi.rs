//! The OpenAPI 3.1 document, generated from the route table and from the handlers' own
//! argument types: a handler that takes `JsonBody<InviteBody>` documents `InviteBody`'s JSON
//! Schema as its request body, one that takes `QueryParams<MemberQuery>` documents each of
//! `MemberQuery`'s fields as a query parameter. The schemas come from the same types serde
//! reads the request into (schemars, as the policy inputs' and settings' do), so what the
//! document says a request may carry is what the server accepts.
//!
//! The checked-in copy (`openapi.json` at the repository's root) is compared with this one
//! by a test, so a change to a request type shows in review.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::extract::{Auth, JsonBody, MaybeAuth, QueryParams};
use super::idempotency::Admitted;
use super::routes::{RouteDoc, table};

/// What a handler's arguments say of the request it takes.
#[derive(Debug, Default)]
pub struct RequestDoc {
    /// The schema of a JSON body.
    pub body: Option<Value>,
    /// Query parameters, as OpenAPI parameter objects.
    pub query: Vec<Value>,
}

/// An argument of a handler, and what it adds to the request's description.
pub trait DescribeArg {
    fn describe(_generator: &mut SchemaGenerator, _request: &mut RequestDoc) {}
}

impl<T: JsonSchema> DescribeArg for JsonBody<T> {
    fn describe(generator: &mut SchemaGenerator, request: &mut RequestDoc) {
        request.body = Some(generator.subschema_for::<T>().to_value());
    }
}

impl<T: JsonSchema> DescribeArg for QueryParams<T> {
    fn describe(generator: &mut SchemaGenerator, request: &mut RequestDoc) {
        let schema = T::json_schema(generator).to_value();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(properties) = schema["properties"].as_object() {
            for (name, property) in properties {
                // An `Option` field is a parameter that may be left out, never a `null`.
                let mut property = property.clone();
                if let Some(types) = property.get_mut("type").and_then(Value::as_array_mut) {
                    types.retain(|t| t != "null");
                    if let [only] = types.as_slice() {
                        property["type"] = only.clone();
                    }
                }
                if let Some(choices) = property.get_mut("anyOf").and_then(Value::as_array_mut) {
                    choices.retain(|c| c.get("type").is_none_or(|t| t != "null"));
                    if let [only] = choices.clone().as_slice() {
                        let description = property.get("description").cloned();
                        property = only.clone();
                        if let Some(description) = description {
                            property["description"] = description;
                        }
                    }
                }
                let mut parameter = json!({
                    "name": name,
                    "in": "query",
                    "required": required.contains(&name.as_str()),
                    "schema": property,
                });
                if let Some(description) = property.get("description") {
                    parameter["description"] = description.clone();
                }
                request.query.push(parameter);
            }
        }
    }
}

/// Arguments that describe nothing of the body or query: the state, the caller, the path
/// (its parameters are read from the route's path), headers, and bodies the handler reads
/// itself (their media type is in the route table).
macro_rules! describes_nothing {
    ($($ty:ty),* $(,)?) => {$(
        impl DescribeArg for $ty {}
    )*};
}

describes_nothing!(Auth, MaybeAuth, Admitted, HeaderMap, Bytes, String, Request);

impl<S> DescribeArg for State<S> {}
impl<T> DescribeArg for Path<T> {}

/// A handler whose arguments all describe themselves.
pub trait DescribeHandler<Args> {
    fn request(generator: &mut SchemaGenerator) -> RequestDoc;
}

macro_rules! describe_handler {
    ($($arg:ident),*) => {
        impl<F, Fut, $($arg,)*> DescribeHandler<($($arg,)*)> for F
        where
            F: FnOnce($($arg),*) -> Fut,
            $($arg: DescribeArg,)*
        {
            #[allow(unused_mut, unused_variables)]
            fn request(generator: &mut SchemaGenerator) -> RequestDoc {
                let mut request = RequestDoc::default();
                $($arg::describe(generator, &mut request);)*
                request
            }
        }
    };
}

describe_handler!();
describe_handler!(A);
describe_handler!(A, B);
describe_handler!(A, B, C);
describe_handler!(A, B, C, D);
describe_handler!(A, B, C, D, E);
describe_handler!(A, B, C, D, E, G);
describe_handler!(A, B, C, D, E, G, H);

/// The describer of `handler`'s request, for the route table.
pub fn describer<Args, H: DescribeHandler<Args>>(
    _handler: &H,
) -> fn(&mut SchemaGenerator) -> RequestDoc {
    H::request
}

/// The document, generated once per process: it depends only on the code, and the route is
/// open to anyone.
pub async fn openapi() -> Response {
    static DOCUMENT: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    let body = DOCUMENT.get_or_init(|| {
        let routes: Vec<RouteDoc> = table().into_iter().map(|(doc, _)| doc).collect();
        Bytes::from(document(&routes).to_string())
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.clone(),
    )
        .into_response()
}

/// Deletes answer 204, except these, which end a record that stays listable and answer its
/// final state (an unlinked link with its history).
const DELETES_ANSWERING_A_BODY: [&str; 1] = ["/v1/orgs/{org}/links/{link}"];

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let schema = match name {
                "hook" => {
                    json!({"type": "string", "enum": crate::policy::Hook::ALL.map(|h| h.name())})
                }
                "kind" => {
                    json!({"type": "string", "enum": crate::mail::MailKind::ALL.map(|k| k.name())})
                }
                "sha256" => json!({"type": "string", "pattern": "^[0-9a-f]{64}$"}),
                _ => json!({"type": "string", "format": "uuid"}),
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect()
}

fn operation(route: &RouteDoc, generator: &mut SchemaGenerator) -> Value {
    let request = (route.request)(generator);
    let mut parameters = path_parameters(route.path);
    parameters.extend(request.query);
    if route.creates {
        parameters.push(json!({"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255}}));
    }
    let success = if route.creates {
        "201"
    } else if route.method == "delete" && !DELETES_ANSWERING_A_BODY.contains(&route.path) {
        "204"
    } else {
        "200"
    };
    let mut op = json!({
        "summary": route.summary,
        "operationId": format!("{}_{}", route.method, route.path.trim_start_matches('/').replace(['/', '{', '}', '-'], "_")),
        "parameters": parameters,
        "responses": {
            success: if success == "204" {
                json!({"description": "done; no body"})
            } else {
                json!({"description": "success", "content": answer_content(route.path)})
            },
            "default": {"description": "problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
        },
    });
    let body = match (route.body, request.body) {
        (_, Some(schema)) => Some(("application/json", schema)),
        (Some("text/csv"), None) => Some(("text/csv", json!({"type": "string"}))),
        (Some("application/wasm"), None) => Some((
            "application/wasm",
            json!({"type": "string", "format": "binary"}),
        )),
        (Some(media), None) => Some((media, json!({"type": "string"}))),
        (None, None) => None,
    };
    if let Some((media, schema)) = body {
        op["requestBody"] = json!({"required": true, "content": {media: {"schema": schema}}});
    }
    if route.auth {
        op["security"] = json!([{"bearer": []}]);
    }
    op
}

/// What a successful answer carries: JSON objects, except the two routes that stream other
/// media.
fn answer_content(path: &str) -> Value {
    match path {
        "/metrics" => {
            json!({"application/openmetrics-text": {"schema": {"type": "string"}}})
        }
        "/v1/platform/backup" => {
            json!({"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}})
        }
        _ => json!({"application/json": {"schema": {"type": "object"}}}),
    }
}

pub fn document(routes: &[RouteDoc]) -> Value {
    let mut generator = SchemaGenerator::new(SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    }));
    let mut paths = Map::new();
    for route in routes {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method] = operation(route, &mut generator);
    }
    let mut schemas = generator.definitions().clone();
    schemas.insert(
        "Problem".into(),
        json!({"type": "object", "required": ["title", "status"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "reason": {"type": "string"}
            }}}
        }}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "tenantry", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        }
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn generated() -> Value {
        document(&table().into_iter().map(|(doc, _)| doc).collect::<Vec<_>>())
    }

    /// The checked-in document is what the handlers say: a change to a request type shows up
    /// as a change to `openapi.json` in review. `TENANTRY_BLESS=1` rewrites it.
    #[test]
    fn the_checked_in_document_is_what_the_handlers_say() {
        let generated = serde_json::to_string_pretty(&generated()).unwrap() + "\n";
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.json");
        if std::env::var_os("TENANTRY_BLESS").is_some() {
            std::fs::write(&file, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            checked_in == generated,
            "openapi.json differs from the handlers' types; if the change is meant, run \
             `TENANTRY_BLESS=1 cargo test -p tenantry --lib openapi` and review it"
        );
    }

    #[test]
    fn bodies_and_query_parameters_come_from_the_handlers_argument_types() {
        let doc = generated();
        let invite = &doc["paths"]["/v1/orgs/{org}/members"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        let name = invite["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
        let schema = &doc["components"]["schemas"][name];
        assert!(schema["properties"]["email"].is_object(), "{schema}");
        assert!(schema["properties"]["role"].is_object(), "{schema}");

        let list = &doc["paths"]["/v1/orgs/{org}/members"]["get"]["parameters"];
        let query: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for expected in [
            "role",
            "portal_access",
            "status",
            "team",
            "q",
            "limit",
            "cursor",
        ] {
            assert!(
                query.contains(&expected),
                "{expected} missing from {query:?}"
            );
        }
        // A route without a query type describes none.
        let get = &doc["paths"]["/v1/orgs/{org}"]["get"]["parameters"];
        assert!(get.as_array().unwrap().iter().all(|p| p["in"] == "path"));
        // Every reference resolves.
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"").skip(1) {
            let target = reference.split('"').next().unwrap();
            let name = target.trim_start_matches("#/components/schemas/");
            assert!(doc["components"]["schemas"][name].is_object(), "{target}");
        }
    }
}
