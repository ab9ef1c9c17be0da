//! The OpenAPI 3.1 document, generated from the route table and from the handlers' own
//! argument types: a handler that takes `JsonBody<InviteBody>` documents `InviteBody`'s JSON
//! Schema as its request body, one that takes `QueryParams<MemberQuery>` documents each of
//! `MemberQuery`'s fields as a query parameter. The schemas come from the same types serde
//! reads the request into (schemars, as the policy inputs' and settings' do), so what the
//! document says a request may carry is what the server accepts.
//!
//! The checked-in copy (`openapi.json` at the repository's root) is compared with this one
//! by a test, so a change to a request type shows in review.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use schemars::generate::{Contract, SchemaSettings};
use schemars::transform::ReplaceBoolSchemas;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::extract::{Anonymous, Auth, JsonBody, MaybeAuth, QueryParams};
use super::idempotency::Admitted;
use super::routes::{RouteDoc, table};
use crate::app::policies::VersionBody;

/// What a handler's types say of the request it takes and the answer it gives.
#[derive(Debug, Default)]
pub struct HandlerDoc {
    /// The schema of a JSON body.
    pub body: Option<Value>,
    /// Query parameters, as OpenAPI parameter objects.
    pub query: Vec<Value>,
    /// The schema of a successful JSON answer.
    pub answer: Option<Value>,
    /// The handler answers a bare status (`204 No Content`).
    pub no_body: bool,
}

/// What a handler answers as JSON: something serde writes and schemars describes. Handlers
/// say `Json<impl Answer>`; the document describes the concrete type behind it.
pub trait Answer: serde::Serialize + JsonSchema {}

impl<T: serde::Serialize + JsonSchema> Answer for T {}

/// A handler's answer, and the schema of its successful JSON body, if it has one.
pub trait DescribeAnswer {
    /// A bare status code, no body.
    const NO_BODY: bool = false;

    fn answer(_generator: &mut SchemaGenerator) -> Option<Value> {
        None
    }
}

impl<T: JsonSchema> DescribeAnswer for Json<T> {
    fn answer(generator: &mut SchemaGenerator) -> Option<Value> {
        let schema = generator.subschema_for::<T>().to_value();
        // `serde_json::Value` says "anything": the answer is still a JSON object.
        Some(if schema == Value::Bool(true) {
            json!({"type": "object"})
        } else {
            schema
        })
    }
}

impl<T: DescribeAnswer> DescribeAnswer for (StatusCode, T) {
    const NO_BODY: bool = T::NO_BODY;

    fn answer(generator: &mut SchemaGenerator) -> Option<Value> {
        T::answer(generator)
    }
}

impl<T: DescribeAnswer, E> DescribeAnswer for Result<T, E> {
    const NO_BODY: bool = T::NO_BODY;

    fn answer(generator: &mut SchemaGenerator) -> Option<Value> {
        T::answer(generator)
    }
}

/// A bare status: `204 No Content`.
impl DescribeAnswer for StatusCode {
    const NO_BODY: bool = true;
}

/// An answer in a medium other than JSON; `answer_content` names it.
impl DescribeAnswer for Response {}

/// An argument of a handler, and what it adds to the request's description.
pub trait DescribeArg {
    fn describe(_generator: &mut SchemaGenerator, _request: &mut HandlerDoc) {}
}

impl<T: JsonSchema + serde::de::DeserializeOwned> DescribeArg for JsonBody<T> {
    fn describe(generator: &mut SchemaGenerator, request: &mut HandlerDoc) {
        request.body = Some(body_schema::<T>(generator));
    }
}

/// The schema of a JSON body. Its examples (`#[schemars(example = …)]`) must be requests the
/// server reads: checked here, when the document is built (the tests build it).
fn body_schema<T: JsonSchema + serde::de::DeserializeOwned>(
    generator: &mut SchemaGenerator,
) -> Value {
    let own = T::json_schema(generator).to_value();
    for example in own["examples"].as_array().into_iter().flatten() {
        let read = serde_json::from_value::<T>(example.clone());
        debug_assert!(
            read.is_ok(),
            "the example of `{}` does not read: {}",
            T::schema_name(),
            read.err().map(|e| e.to_string()).unwrap_or_default()
        );
    }
    generator.subschema_for::<T>().to_value()
}

impl<T: JsonSchema> DescribeArg for QueryParams<T> {
    fn describe(generator: &mut SchemaGenerator, request: &mut HandlerDoc) {
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
                    "example": parameter_example(&property, generator),
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

/// An example for a query parameter: the field's own (`#[schemars(example = …)]`), else a value
/// its schema allows by construction (an enum's first value, a UUID, `true`, a range's low end).
/// `null` when neither exists, which the document's test refuses.
fn parameter_example(schema: &Value, generator: &SchemaGenerator) -> Value {
    if let Some(example) = schema["examples"].get(0) {
        return example.clone();
    }
    let schema = match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            generator
                .definitions()
                .get(name)
                .cloned()
                .unwrap_or_default()
        }
        None => schema.clone(),
    };
    if let Some(first) = schema["enum"].get(0) {
        return first.clone();
    }
    // An enum with documented variants: one choice per variant, a `const` or a one-value `enum`.
    if let Some(first) = schema["oneOf"].get(0)
        && let Some(value) = first.get("const").or_else(|| first["enum"].get(0))
    {
        return value.clone();
    }
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (_, Some("uuid")) => json!(EXAMPLE_ID),
        (Some("boolean"), _) => json!(true),
        (Some("integer"), _) => schema.get("minimum").cloned().unwrap_or(json!(1)),
        _ => Value::Null,
    }
}

/// The UUID the document's examples use for a record's id.
const EXAMPLE_ID: &str = "0192f1a4-7c3e-7b1a-9c55-2f0e8d6b4a10";

/// Arguments that describe nothing of the body or query: the state, the caller, the path
/// (its parameters are read from the route's path), headers, and bodies the handler reads
/// itself (their media type is in the route table).
macro_rules! describes_nothing {
    ($($ty:ty),* $(,)?) => {$(
        impl DescribeArg for $ty {}
    )*};
}

describes_nothing!(
    Auth, MaybeAuth, Anonymous, Admitted, HeaderMap, Bytes, String, Request
);

impl<S> DescribeArg for State<S> {}
impl<T> DescribeArg for Path<T> {}

/// A handler whose arguments all describe themselves.
pub trait DescribeHandler<Args> {
    /// `requests` generates what the server reads (serde's deserialize view of a type),
    /// `answers` what it writes (the serialize view: a field skipped when empty is optional).
    fn describe(requests: &mut SchemaGenerator, answers: &mut SchemaGenerator) -> HandlerDoc;
}

macro_rules! describe_handler {
    ($($arg:ident),*) => {
        impl<F, Fut, Answer, $($arg,)*> DescribeHandler<($($arg,)*)> for F
        where
            F: FnOnce($($arg),*) -> Fut,
            Fut: std::future::Future<Output = Answer>,
            Answer: DescribeAnswer,
            $($arg: DescribeArg,)*
        {
            #[allow(unused_mut, unused_variables)]
            fn describe(
                requests: &mut SchemaGenerator,
                answers: &mut SchemaGenerator,
            ) -> HandlerDoc {
                let mut doc = HandlerDoc::default();
                $($arg::describe(requests, &mut doc);)*
                doc.answer = Answer::answer(answers);
                doc.no_body = Answer::NO_BODY;
                doc
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
pub fn describer<Args, H: DescribeHandler<Args>>(_handler: &H) -> Describer {
    H::describe
}

/// What the route table keeps of a handler for the document.
pub type Describer = fn(&mut SchemaGenerator, &mut SchemaGenerator) -> HandlerDoc;

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

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let (schema, example) = match name {
                "hook" => (
                    json!({"type": "string", "enum": crate::policy::Hook::ALL.map(|h| h.name())}),
                    json!(crate::policy::Hook::Authorize.name()),
                ),
                "kind" => (
                    json!({"type": "string", "enum": crate::mail::MailKind::ALL.map(|k| k.name())}),
                    json!(crate::mail::MailKind::Invitation.name()),
                ),
                "sha256" => (
                    json!({"type": "string", "pattern": "^[0-9a-f]{64}$"}),
                    json!("9f2c".repeat(16)),
                ),
                _ => (json!({"type": "string", "format": "uuid"}), json!(EXAMPLE_ID)),
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema, "example": example})
        })
        .collect()
}

fn operation(
    route: &RouteDoc,
    requests: &mut SchemaGenerator,
    answers: &mut SchemaGenerator,
) -> Value {
    let request = (route.describe)(requests, answers);
    let mut parameters = path_parameters(route.path);
    parameters.extend(request.query);
    if route.creates {
        parameters.push(json!({"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255}}));
    }
    let success = if route.creates {
        "201"
    } else if request.no_body {
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
                json!({"description": "success", "content": answer_content(route.path, request.answer)})
            },
            "default": {"description": "problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
        },
    });
    let content = match (route.body, request.body) {
        (_, Some(schema)) => Some(json!({"application/json": {"schema": schema}})),
        // A policy version: the Rhai source as it is, or JSON with fixtures or a plugin.
        (Some("text/x-rhai"), None) => Some(json!({
            "text/x-rhai": {"schema": {"type": "string"}},
            "application/json": {"schema": body_schema::<VersionBody>(requests)},
        })),
        (Some("application/wasm"), None) => {
            Some(json!({"application/wasm": {"schema": {"type": "string", "format": "binary"}}}))
        }
        (Some(media), None) => Some(json!({media: {"schema": {"type": "string"}}})),
        (None, None) => None,
    };
    if let Some(content) = content {
        op["requestBody"] = json!({"required": true, "content": content});
    }
    if route.auth {
        op["security"] = json!([{"bearer": []}]);
    }
    op
}

/// What a successful answer carries: JSON as the handler's answer type says, except the
/// routes that answer other media (their handlers build the response themselves).
fn answer_content(path: &str, answer: Option<Value>) -> Value {
    let text = json!({"schema": {"type": "string"}});
    match path {
        "/metrics" => json!({"application/openmetrics-text": text}),
        "/v1/platform/backup" => {
            json!({"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}})
        }
        "/v1/orgs/{org}/members/import/sample.csv" => json!({"text/csv": text}),
        // One audit entry per line.
        "/v1/orgs/{org}/audit/export" => json!({"application/x-ndjson": text}),
        _ => {
            let schema = answer.unwrap_or_else(|| json!({"type": "object"}));
            let mut content = json!({"application/json": {"schema": schema}});
            if path == "/v1/orgs/{org}/members/import" {
                // With `Accept: application/x-ndjson`: progress lines, then the report's.
                content["application/x-ndjson"] = text;
            }
            content
        }
    }
}

pub fn document(routes: &[RouteDoc]) -> Value {
    let generator = |contract: Contract| {
        SchemaGenerator::new(
            SchemaSettings::draft2020_12()
                .with(|s| {
                    s.definitions_path = "/components/schemas".into();
                    s.meta_schema = None;
                    s.contract = contract;
                })
                // `true` ("anything") is valid JSON Schema, but client generators want `{}`.
                .with_transform({
                    let mut replace = ReplaceBoolSchemas::default();
                    replace.skip_additional_properties = true;
                    replace
                }),
        )
    };
    let (mut requests, mut answers) = (
        generator(Contract::Deserialize),
        generator(Contract::Serialize),
    );
    let mut paths = Map::new();
    for route in routes {
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method] = operation(route, &mut requests, &mut answers);
    }
    let mut schemas = requests.take_definitions(true);
    for (name, schema) in answers.take_definitions(true) {
        // A type both read and written (an enum, mostly) is one schema; one whose two views
        // differ would need two names (the tests run this with debug assertions).
        let kept = schemas
            .entry(name.clone())
            .or_insert_with(|| schema.clone());
        debug_assert_eq!(*kept, schema, "`{name}` reads and writes differently");
    }
    schemas.insert(
        "Problem".into(),
        json!({"type": "object", "required": ["title", "status"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "reason": {"type": "string"}
            }}}
        }, "examples": [{
            "type": "about:blank", "title": "request is invalid", "status": 422,
            "errors": [{"field": "email", "reason": "must be an e-mail address"}]
        }]}),
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

    /// What a client generator needs: every JSON answer typed, and an example for every
    /// parameter, every JSON body and the problem answer.
    #[test]
    fn every_answer_is_typed_and_every_request_part_has_an_example() {
        let doc = generated();
        let schemas = &doc["components"]["schemas"];
        let resolve = |schema: &Value| match schema["$ref"].as_str() {
            Some(r) => schemas[r.rsplit('/').next().unwrap()].clone(),
            None => schema.clone(),
        };
        // The two JSON answers that are any object by nature: a document and a JSON Schema.
        let open = ["/openapi.json", "/v1/policy-schemas/{hook}"];
        let mut missing = Vec::new();
        for (path, operations) in doc["paths"].as_object().unwrap() {
            for (method, op) in operations.as_object().unwrap() {
                let at = format!("{method} {path}");
                for parameter in op["parameters"].as_array().unwrap() {
                    if parameter["in"] != "header" && parameter["example"].is_null() {
                        missing.push(format!("{at}: parameter {}", parameter["name"]));
                    }
                }
                let body = &op["requestBody"]["content"]["application/json"]["schema"];
                if !body.is_null() && resolve(body)["examples"].get(0).is_none() {
                    missing.push(format!("{at}: body example"));
                }
                for (code, answer) in op["responses"].as_object().unwrap() {
                    let schema = &answer["content"]["application/json"]["schema"];
                    if code != "default"
                        && !open.contains(&path.as_str())
                        && *schema == json!({"type": "object"})
                    {
                        missing.push(format!("{at}: {code} answer untyped"));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "{missing:#?}");
        assert!(schemas["Problem"]["examples"][0]["status"].is_u64());
    }
}
