//! The OpenAPI 3.1 description of every JSON endpoint, served at `/openapi.json` and published in discovery
//! as `uma_cedar_openapi_uri` (an extension member).
//!
//! Schemas come from the types the code answers with where those exist ([`Description`], [`Permission`],
//! [`Decision`], [`RequestView`]); bodies the handlers build member by member (token and introspection
//! responses, error bodies, metadata) are described by the schema-only types below, each naming the code
//! that builds the body it mirrors. The paths are written here rather than on the handlers, so the handlers
//! stay plain actix-web functions; `tests/api/openapi.rs` walks the routes `configure` registers and fails
//! when one that answers JSON is missing here.
//!
//! Browser endpoints (`/authorize`, the claims interaction, the console) answer HTML and `/metrics` answers
//! Prometheus text; they are not described.

use actix_web::{HttpResponse, web};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, InfoBuilder, ObjectBuilder, OpenApi as Document, PathsBuilder,
    Ref, Required, ResponseBuilder, ServerBuilder, Type,
};
use utoipa::{OpenApi, ToSchema};

use super::ops::{HEALTHZ, READYZ};
use super::{AppState, get_only, paths};
use crate::error::OAuthError;
use crate::owner::decisions;
use crate::protocol::decisions::Decision;
use crate::protocol::types::{AuthMethod, GrantType};
use crate::protocol::uma::{Description, Permission};
use crate::uma::requests::RequestView;

const PATH: &str = paths::OPENAPI;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_only(PATH, serve));
}

async fn serve(state: web::Data<AppState>) -> Result<HttpResponse, OAuthError> {
    let body = document(
        &state.settings.issuer,
        state.settings.initial_access_token.is_some(),
    )
    .to_json()
    .map_err(|e| OAuthError::server_error(&e))?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=60"))
        .content_type("application/json")
        .body(body))
}

/// A grant type this server supports ([`GrantType::SUPPORTED`]).
fn grant_type() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(GrantType::SUPPORTED.iter().map(GrantType::as_str)))
}

fn grant_types() -> ArrayBuilder {
    ArrayBuilder::new().items(grant_type())
}

/// A client authentication method ([`AuthMethod::ALL`]).
fn auth_method() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(AuthMethod::ALL.map(AuthMethod::as_str)))
}

// ---- Request bodies -------------------------------------------------------------------------------------

/// A token request (RFC 6749 §4.1.3, §4.4.2, §6; UMA Grant §3.3.1), form-encoded. Which members apply
/// depends on `grant_type`; `client_id` and `client_secret` are for `client_secret_post` and public clients.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct TokenForm {
    #[schema(schema_with = grant_type)]
    grant_type: String,
    #[schema(required = false)]
    code: String,
    #[schema(required = false)]
    redirect_uri: String,
    #[schema(required = false)]
    code_verifier: String,
    #[schema(required = false)]
    refresh_token: String,
    /// Space-separated scopes.
    #[schema(required = false)]
    scope: String,
    /// UMA: the permission ticket.
    #[schema(required = false)]
    ticket: String,
    #[schema(required = false)]
    claim_token: String,
    #[schema(required = false)]
    claim_token_format: String,
    #[schema(required = false)]
    pct: String,
    #[schema(required = false)]
    rpt: String,
    #[schema(required = false)]
    client_id: String,
    #[schema(required = false)]
    client_secret: String,
}

/// A token to introspect (RFC 7662 §2.1), form-encoded.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct IntrospectionForm {
    token: String,
    #[schema(required = false)]
    token_type_hint: String,
    #[schema(required = false)]
    client_id: String,
    #[schema(required = false)]
    client_secret: String,
}

/// A token to revoke (RFC 7009 §2.1), form-encoded.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct RevocationForm {
    token: String,
    #[schema(required = false)]
    token_type_hint: String,
    #[schema(required = false)]
    client_id: String,
    #[schema(required = false)]
    client_secret: String,
}

/// Client metadata (RFC 7591 §2, with UMA Grant §2's `claims_redirect_uris`); other members are kept as
/// sent.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct ClientMetadata {
    #[schema(required = false)]
    redirect_uris: Vec<String>,
    #[schema(required = false)]
    claims_redirect_uris: Vec<String>,
    #[schema(schema_with = grant_types, required = false)]
    grant_types: Vec<String>,
    #[schema(schema_with = auth_method, required = false)]
    token_endpoint_auth_method: String,
    #[schema(required = false)]
    client_name: String,
    #[schema(required = false)]
    scope: String,
}

/// The permission endpoint takes one requested permission or an array of them (F §4.1).
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
pub enum PermissionRequest {
    One(Permission),
    Many(Vec<Permission>),
}

/// A policy sent as JSON; `text/plain` Cedar text is accepted too.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct PolicyText {
    /// Cedar policy text.
    text: String,
}

/// The optional body of an approval: when the permission ends.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct ApprovalBody {
    /// `2027-01-01` or `2027-01-01T00:00:00Z`.
    #[schema(required = false)]
    until: String,
}

// ---- Response bodies ------------------------------------------------------------------------------------

/// An error (RFC 6749 §5.2; `OAuthError`, answered by `http::error`): `error`, a human `error_description`,
/// and members some codes add.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct ErrorBody {
    #[schema(example = "invalid_request")]
    error: String,
    #[schema(required = false)]
    error_description: String,
}

/// A UMA grant refused or deferred (UMA Grant §3.3.6): `need_info` with a new `ticket`, `required_claims` and
/// `redirect_user`; `request_submitted` with `ticket` and `interval`; `request_denied`.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct UmaGrantError {
    #[schema(example = "need_info")]
    error: String,
    #[schema(required = false)]
    error_description: String,
    #[schema(required = false)]
    ticket: String,
    #[schema(required = false)]
    required_claims: Vec<serde_json::Map<String, serde_json::Value>>,
    #[schema(required = false)]
    redirect_user: String,
    #[schema(required = false)]
    interval: i64,
}

/// A policy that does not validate: the error and its located diagnostics (`http::policies`).
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct PolicyError {
    #[schema(example = "invalid_request")]
    error: String,
    #[schema(required = false)]
    error_description: String,
    #[schema(required = false)]
    diagnostics: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// A token response (RFC 6749 §5.1, built by `issue::Issued::response`); the UMA grant adds `pct` and
/// `upgraded` (UMA Grant §3.3.5).
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct TokenResponse {
    access_token: String,
    #[schema(example = "Bearer")]
    token_type: String,
    #[schema(required = false)]
    expires_in: i64,
    #[schema(required = false)]
    scope: String,
    #[schema(required = false)]
    refresh_token: String,
    #[schema(required = false)]
    id_token: String,
    #[schema(required = false)]
    pct: String,
    #[schema(required = false)]
    upgraded: bool,
}

/// A permission an RPT grants, as resource servers read it (`uma::wire`, F §5.1.1).
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct GrantedPermission {
    resource_id: String,
    resource_scopes: Vec<String>,
    #[schema(required = false)]
    exp: i64,
}

/// The introspection answer (RFC 7662 §2.2, F §5.1.1; built by `oauth::introspection::answer`). An inactive
/// or unknown token is `{"active": false}` alone.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct IntrospectionResponse {
    active: bool,
    #[schema(required = false)]
    scope: String,
    #[schema(required = false)]
    client_id: String,
    #[schema(required = false)]
    sub: String,
    #[schema(required = false)]
    username: String,
    #[schema(required = false)]
    token_type: String,
    #[schema(required = false)]
    exp: i64,
    #[schema(required = false)]
    iat: i64,
    #[schema(required = false)]
    iss: String,
    #[schema(value_type = Value, required = false)]
    aud: serde_json::Value,
    #[schema(required = false)]
    permissions: Vec<GrantedPermission>,
    #[schema(value_type = Value, required = false)]
    requesting_party: serde_json::Value,
}

/// The UserInfo answer (OpenID Connect Core §5.3.2, built by `http::userinfo`).
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct UserInfo {
    sub: String,
    #[schema(required = false)]
    email: String,
    #[schema(required = false)]
    email_verified: bool,
    #[schema(required = false)]
    name: String,
}

/// The registration response (RFC 7591 §3.2.1, `http::register::RegisteredClient`): the metadata as
/// registered, and the secret in clear this once.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct RegisteredClient {
    client_id: String,
    client_id_issued_at: i64,
    #[schema(required = false)]
    client_secret: String,
    #[schema(required = false)]
    client_secret_expires_at: i64,
    #[schema(schema_with = auth_method)]
    token_endpoint_auth_method: String,
    #[schema(schema_with = grant_types)]
    grant_types: Vec<String>,
    #[schema(required = false)]
    redirect_uris: Vec<String>,
    #[schema(required = false)]
    claims_redirect_uris: Vec<String>,
    #[schema(required = false)]
    client_name: String,
}

/// A registered resource: its description and the `_id` the server gave it (F §3.2.2).
#[derive(serde::Serialize, ToSchema)]
pub struct ResourceRepresentation {
    #[serde(rename = "_id")]
    id: String,
    #[serde(flatten)]
    description: Description,
}

/// The answer to a create or update (F §3.2.1, §3.2.3; `http::resources`).
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct ResourceRegistered {
    #[schema(rename = "_id")]
    id: String,
    /// The console's share page for this resource.
    user_access_policy_uri: String,
}

/// A permission ticket (F §4.2).
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct TicketResponse {
    ticket: String,
}

/// One of the owner's policies in the list (`http::policies`).
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct PolicySummary {
    name: String,
    updated_at: i64,
    size: i64,
}

/// One policy with its Cedar text (`http::policies`).
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct PolicyDocument {
    name: String,
    text: String,
    updated_at: i64,
}

/// What a PUT stored (`http::policies`).
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct PolicyStored {
    name: String,
    /// How many Cedar policies the text holds.
    policies: i64,
    replaced: bool,
    warnings: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The answer of a policy write with `?dry_run=impact` (`owner::impact::Preview::to_json`): nothing stored.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct PolicyImpact {
    #[schema(example = "impact")]
    dry_run: String,
    /// Always `false`.
    stored: bool,
    /// `no_change` (proved), `changed` (an example shows it) or `undecided`.
    #[schema(pattern = "^(no_change|changed|undecided)$")]
    impact: String,
    scopes: Vec<ScopeImpactDoc>,
    warnings: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Why nothing could be analysed (then `impact` is `undecided`).
    #[schema(required = false)]
    reason: String,
    #[schema(required = false)]
    diagnostics: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// What a change does to one scope (`policy::impact::ScopeImpact`); `scope` is null for every scope no
/// policy names.
#[derive(ToSchema)]
#[schema(as = ScopeImpact)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct ScopeImpactDoc {
    scope: Option<String>,
    newly_allows: FindingDoc,
    newly_denies: FindingDoc,
    newly_asks: FindingDoc,
}

/// One question's answer (`policy::impact::Finding`): `none` (proved), `example` (a request the authorizer
/// confirmed, the owner's resources it reaches and a sentence), or `undecided` with the reason.
#[derive(ToSchema)]
#[schema(as = Finding)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct FindingDoc {
    #[schema(pattern = "^(none|example|undecided)$")]
    result: String,
    #[schema(required = false)]
    example: serde_json::Map<String, serde_json::Value>,
    #[schema(required = false)]
    resources: Vec<serde_json::Map<String, serde_json::Value>>,
    #[schema(required = false)]
    more_resources: i64,
    #[schema(required = false)]
    summary: String,
    #[schema(required = false)]
    reason: String,
}

/// The server's metadata (UMA Grant §2, RFC 8414 §2, OpenID Connect Discovery §3); the members listed are
/// always present (`http::discovery::document`).
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    resource_registration_endpoint: String,
    permission_endpoint: String,
    claims_interaction_endpoint: String,
    #[schema(required = false)]
    registration_endpoint: String,
    uma_cedar_openapi_uri: String,
    grant_types_supported: Vec<String>,
    token_endpoint_auth_methods_supported: Vec<String>,
}

/// Health and readiness (`http::ops`): `ok`, or `unavailable` with the reason.
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct Health {
    #[schema(example = "ok")]
    status: String,
    #[schema(required = false)]
    reason: String,
}

/// A JWK Set (RFC 7517 §5).
#[derive(ToSchema)]
#[expect(dead_code, reason = "a schema: described, never built")]
pub struct JwkSet {
    keys: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(OpenApi)]
#[openapi(components(schemas(
    TokenForm,
    IntrospectionForm,
    RevocationForm,
    ClientMetadata,
    PermissionRequest,
    Permission,
    Description,
    PolicyText,
    ApprovalBody,
    ErrorBody,
    UmaGrantError,
    PolicyError,
    TokenResponse,
    GrantedPermission,
    IntrospectionResponse,
    UserInfo,
    RegisteredClient,
    ResourceRepresentation,
    ResourceRegistered,
    TicketResponse,
    PolicySummary,
    PolicyDocument,
    PolicyImpact,
    ScopeImpactDoc,
    FindingDoc,
    PolicyStored,
    Decision,
    RequestView,
    Metadata,
    JwkSet,
    Health,
)))]
struct Components;

// ---- Paths ----------------------------------------------------------------------------------------------

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// The security scheme names.
const BASIC: &str = "client_secret_basic";
const PAT: &str = "pat";
const OWNER: &str = "owner_token";
const OPENID: &str = "openid_token";
const INITIAL: &str = "initial_access_token";

fn schema_ref<T: ToSchema>() -> Ref {
    Ref::from_schema_name(T::name())
}

fn scheme(name: &str) -> SecurityRequirement {
    SecurityRequirement::new(name, Vec::<String>::new())
}

/// An operation under construction.
struct Op {
    method: HttpMethod,
    path: &'static str,
    builder: OperationBuilder,
}

impl Op {
    fn new(method: HttpMethod, path: &'static str, id: &str, tag: &str, summary: &str) -> Self {
        let builder = OperationBuilder::new()
            .operation_id(Some(id))
            .tag(tag)
            .summary(Some(summary));
        Self {
            method,
            path,
            builder,
        }
    }

    fn security(mut self, names: &[&str]) -> Self {
        for name in names {
            self.builder = self.builder.security(scheme(name));
        }
        self
    }

    /// Also callable without an `Authorization` header (a public client, or `client_secret_post`).
    fn or_in_body(mut self) -> Self {
        self.builder = self.builder.security(SecurityRequirement::default());
        self
    }

    fn body<T: ToSchema>(mut self, content_type: &str, required: bool) -> Self {
        let body = RequestBodyBuilder::new()
            .content(
                content_type,
                ContentBuilder::new()
                    .schema(Some(schema_ref::<T>()))
                    .build(),
            )
            .required(Some(if required {
                Required::True
            } else {
                Required::False
            }));
        self.builder = self.builder.request_body(Some(body.build()));
        self
    }

    fn path_param(mut self, name: &str, description: &str) -> Self {
        self.builder = self.builder.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(description))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        );
        self
    }

    fn query_param(mut self, name: &str, description: &str, schema: ObjectBuilder) -> Self {
        self.builder = self.builder.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(schema)),
        );
        self
    }

    /// `?dry_run=impact`: answer what the write would newly allow or deny, and store nothing.
    fn dry_run(self) -> Self {
        let only = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([crate::owner::impact::DRY_RUN]));
        self.query_param(
            "dry_run",
            "`impact`: answer the change's impact and store nothing (any other value is a 400)",
            only,
        )
    }

    /// A response at `status` that is one of two shapes.
    fn answer_either<A: ToSchema, B: ToSchema>(mut self, status: u16, description: &str) -> Self {
        let either = OneOfBuilder::new()
            .item(schema_ref::<A>())
            .item(schema_ref::<B>());
        let response = ResponseBuilder::new()
            .description(description)
            .content(JSON, ContentBuilder::new().schema(Some(either)).build());
        self.builder = self.builder.response(status.to_string(), response.build());
        self
    }

    fn answer<T: ToSchema>(self, status: u16, description: &str) -> Self {
        self.answer_as::<T>(status, description, JSON)
    }

    fn answer_as<T: ToSchema>(mut self, status: u16, description: &str, media: &str) -> Self {
        let response = ResponseBuilder::new().description(description).content(
            media,
            ContentBuilder::new()
                .schema(Some(schema_ref::<T>()))
                .build(),
        );
        self.builder = self.builder.response(status.to_string(), response.build());
        self
    }

    fn array<T: ToSchema>(mut self, status: u16, description: &str) -> Self {
        let items = ArrayBuilder::new().items(schema_ref::<T>());
        let response = ResponseBuilder::new()
            .description(description)
            .content(JSON, ContentBuilder::new().schema(Some(items)).build());
        self.builder = self.builder.response(status.to_string(), response.build());
        self
    }

    fn empty(mut self, status: u16, description: &str) -> Self {
        self.builder = self.builder.response(
            status.to_string(),
            ResponseBuilder::new().description(description).build(),
        );
        self
    }

    /// Error answers with the RFC 6749 §5.2 body, one per status.
    fn errors(mut self, statuses: &[u16]) -> Self {
        for status in statuses {
            let (description, challenge) = match status {
                400 => (
                    "`invalid_request` or the endpoint's own code for a bad request",
                    false,
                ),
                401 => ("`invalid_client` or `invalid_token`", true),
                403 => ("`insufficient_scope`", true),
                404 => ("`not_found`", false),
                405 => ("`unsupported_method_type`, with `Allow`", false),
                413 => ("`invalid_request`: the body is too large", false),
                415 => (
                    "`invalid_request`: the body's media type is not accepted",
                    false,
                ),
                429 => (
                    "`temporarily_unavailable`: too many failed authentications, with `Retry-After`",
                    false,
                ),
                _ => ("an error", false),
            };
            let mut response = ResponseBuilder::new().description(description).content(
                JSON,
                ContentBuilder::new()
                    .schema(Some(schema_ref::<ErrorBody>()))
                    .build(),
            );
            if challenge {
                response = response.header(
                    "WWW-Authenticate",
                    HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::String))
                        .description(Some("the challenge (RFC 6750 §3, RFC 6749 §5.2)"))
                        .build(),
                );
            }
            self.builder = self.builder.response(status.to_string(), response.build());
        }
        self
    }
}

/// Every operation described, in the order the routes are registered.
fn operations(registration: bool) -> Vec<Op> {
    use HttpMethod::{Delete, Get, Post, Put};
    let mut ops = Vec::new();
    for (path, id) in [
        (paths::UMA_CONFIGURATION, "umaConfiguration"),
        (paths::OAUTH_METADATA, "oauthMetadata"),
        (paths::OPENID_CONFIGURATION, "openidConfiguration"),
    ] {
        ops.push(
            Op::new(Get, path, id, "discovery", "The server's metadata")
                .answer::<Metadata>(200, "the metadata document"),
        );
    }
    ops.push(
        Op::new(Get, paths::JWKS, "jwks", "discovery", "The signing keys").answer_as::<JwkSet>(
            200,
            "the JWK Set",
            "application/jwk-set+json",
        ),
    );
    ops.push(Op::new(Get, PATH, "openapi", "discovery", "This document").empty(200, "OpenAPI 3.1"));
    ops.push(
        Op::new(
            Post,
            paths::TOKEN,
            "token",
            "oauth",
            "Token endpoint (RFC 6749 §3.2, UMA Grant §3.3.1)",
        )
        .security(&[BASIC])
        .or_in_body()
        .body::<TokenForm>(FORM, true)
        .answer::<TokenResponse>(200, "tokens")
        .errors(&[400, 401])
        .answer::<UmaGrantError>(
            403,
            "`need_info`, `request_submitted` or `request_denied` (UMA Grant §3.3.6)",
        )
        .errors(&[413, 415, 429]),
    );
    ops.push(
        Op::new(
            Post,
            paths::INTROSPECT,
            "introspect",
            "oauth",
            "Token introspection (RFC 7662, F §5)",
        )
        .security(&[BASIC, PAT])
        .or_in_body()
        .body::<IntrospectionForm>(FORM, true)
        .answer::<IntrospectionResponse>(200, "the token's state")
        .errors(&[400, 401, 403, 413, 415, 429]),
    );
    ops.push(
        Op::new(
            Post,
            paths::REVOKE,
            "revoke",
            "oauth",
            "Token revocation (RFC 7009)",
        )
        .security(&[BASIC])
        .or_in_body()
        .body::<RevocationForm>(FORM, true)
        .empty(200, "revoked, or not a token of this client")
        .errors(&[400, 401, 413, 415, 429]),
    );
    for method in [Get, Post] {
        let id = if method == Get {
            "userinfoGet"
        } else {
            "userinfoPost"
        };
        ops.push(
            Op::new(
                method,
                paths::USERINFO,
                id,
                "oauth",
                "UserInfo (OpenID Connect Core §5.3)",
            )
            .security(&[OPENID])
            .answer::<UserInfo>(200, "the account's claims")
            .errors(&[401, 403]),
        );
    }
    ops.push(
        Op::new(
            Get,
            paths::RESOURCES,
            "listResources",
            "protection",
            "Resources this PAT registered (F §3.2.4)",
        )
        .security(&[PAT])
        .array::<String>(200, "resource ids")
        .errors(&[401, 403]),
    );
    ops.push(
        Op::new(
            Post,
            paths::RESOURCES,
            "createResource",
            "protection",
            "Register a resource (F §3.2.1)",
        )
        .security(&[PAT])
        .body::<Description>(JSON, true)
        .answer::<ResourceRegistered>(201, "registered; `Location` names it")
        .errors(&[400, 401, 403, 413, 415]),
    );
    const RESOURCE: &str = "/uma/resources/{id}";
    ops.push(
        Op::new(
            Get,
            RESOURCE,
            "readResource",
            "protection",
            "Read a resource (F §3.2.2)",
        )
        .security(&[PAT])
        .path_param("id", "the resource's `_id`")
        .answer::<ResourceRepresentation>(200, "the resource")
        .errors(&[401, 403, 404]),
    );
    ops.push(
        Op::new(
            Put,
            RESOURCE,
            "updateResource",
            "protection",
            "Replace a resource's description (F §3.2.3)",
        )
        .security(&[PAT])
        .path_param("id", "the resource's `_id`")
        .body::<Description>(JSON, true)
        .answer::<ResourceRegistered>(200, "updated")
        .errors(&[400, 401, 403, 404, 413, 415]),
    );
    ops.push(
        Op::new(
            Delete,
            RESOURCE,
            "deleteResource",
            "protection",
            "Delete a resource (F §3.2.5)",
        )
        .security(&[PAT])
        .path_param("id", "the resource's `_id`")
        .empty(204, "deleted")
        .errors(&[401, 403, 404]),
    );
    ops.push(
        Op::new(
            Post,
            paths::PERMISSION,
            "permission",
            "protection",
            "Request a permission ticket (F §4)",
        )
        .security(&[PAT])
        .body::<PermissionRequest>(JSON, true)
        .answer::<TicketResponse>(201, "the ticket")
        .errors(&[400, 401, 403, 413, 415]),
    );
    ops.push(
        Op::new(
            Get,
            paths::DECISIONS,
            "decisions",
            "owner",
            "The owner's decision log, newest first",
        )
        .security(&[OWNER])
        .query_param(
            "limit",
            "how many entries, newest first",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(decisions::MAX_LIMIT as f64))
                .default(Some(decisions::DEFAULT_LIMIT.into())),
        )
        .array::<Decision>(200, "decisions")
        .errors(&[400, 401, 403]),
    );
    ops.push(
        Op::new(
            Get,
            paths::POLICIES,
            "listPolicies",
            "owner",
            "The owner's Cedar policies",
        )
        .security(&[OWNER])
        .array::<PolicySummary>(200, "policies")
        .errors(&[401, 403]),
    );
    const POLICY: &str = "/uma/policies/{name}";
    ops.push(
        Op::new(Get, POLICY, "readPolicy", "owner", "One policy")
            .security(&[OWNER])
            .path_param("name", "the policy's name")
            .answer::<PolicyDocument>(200, "the policy")
            .errors(&[401, 403, 404]),
    );
    let mut put = Op::new(
        Put,
        POLICY,
        "putPolicy",
        "owner",
        "Store a policy (Cedar text or JSON)",
    )
    .security(&[OWNER])
    .path_param("name", "the policy's name")
    .dry_run()
    .answer_either::<PolicyStored, PolicyImpact>(
        200,
        "replaced the policy of that name; with `dry_run=impact`, the impact, nothing stored",
    )
    .answer::<PolicyStored>(201, "stored a new policy")
    .answer::<PolicyError>(
        400,
        "`invalid_request`, with `diagnostics` when the policy does not validate",
    )
    .errors(&[401, 403, 413, 415]);
    put.builder = put.builder.request_body(Some(
        RequestBodyBuilder::new()
            .required(Some(Required::True))
            .content(
                "text/plain",
                ContentBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            )
            .content(
                JSON,
                ContentBuilder::new()
                    .schema(Some(schema_ref::<PolicyText>()))
                    .build(),
            )
            .build(),
    ));
    ops.push(put);
    ops.push(
        Op::new(Delete, POLICY, "deletePolicy", "owner", "Remove a policy")
            .security(&[OWNER])
            .path_param("name", "the policy's name")
            .dry_run()
            .answer::<PolicyImpact>(200, "with `dry_run=impact`: the impact, nothing removed")
            .empty(204, "removed")
            .errors(&[400, 401, 403, 404]),
    );
    ops.push(
        Op::new(
            Get,
            paths::REQUESTS,
            "listRequests",
            "owner",
            "Requests held for the owner's decision",
        )
        .security(&[OWNER])
        .array::<RequestView>(200, "requests, newest first")
        .errors(&[401, 403]),
    );
    ops.push(
        Op::new(
            Post,
            "/uma/requests/{id}/approve",
            "approveRequest",
            "owner",
            "Approve a held request",
        )
        .security(&[OWNER])
        .path_param("id", "the request's id")
        .body::<ApprovalBody>(JSON, false)
        .answer::<RequestView>(200, "the request, approved")
        .errors(&[400, 401, 403, 404, 413]),
    );
    ops.push(
        Op::new(
            Post,
            "/uma/requests/{id}/deny",
            "denyRequest",
            "owner",
            "Deny a held request",
        )
        .security(&[OWNER])
        .path_param("id", "the request's id")
        .answer::<RequestView>(200, "the request, denied")
        .errors(&[400, 401, 403, 404]),
    );
    ops.push(
        Op::new(Get, HEALTHZ, "healthz", "operations", "The process is up")
            .answer::<Health>(200, "`ok`"),
    );
    ops.push(
        Op::new(
            Get,
            READYZ,
            "readyz",
            "operations",
            "The database is writable and the keys are loaded",
        )
        .answer::<Health>(200, "`ok`")
        .answer::<Health>(503, "`unavailable`, with the reason"),
    );
    if registration {
        ops.push(
            Op::new(
                Post,
                paths::REGISTER,
                "register",
                "oauth",
                "Dynamic client registration (RFC 7591 §3)",
            )
            .security(&[INITIAL])
            .body::<ClientMetadata>(JSON, true)
            .answer::<RegisteredClient>(201, "the client, with its secret this once")
            .errors(&[400, 401, 413, 415]),
        );
    }
    ops
}

fn bearer(description: &str) -> SecurityScheme {
    let mut http = Http::new(HttpAuthScheme::Bearer);
    http.description = Some(description.to_owned());
    SecurityScheme::Http(http)
}

/// The document for a server at `issuer`; `registration` when dynamic client registration is routed.
pub fn document(issuer: &str, registration: bool) -> Document {
    let mut paths = PathsBuilder::new().build();
    for op in operations(registration) {
        paths.add_path_operation(op.path, vec![op.method], op.builder.build());
    }
    let mut doc = Components::openapi();
    doc.info = InfoBuilder::new()
        .title("uma-cedar")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "A UMA 2.0 authorization server whose sharing policies are written in Cedar. Every error \
             body carries `error` and `error_description` (RFC 6749 section 5.2).",
        ))
        .build();
    doc.servers = Some(vec![ServerBuilder::new().url(issuer).build()]);
    doc.paths = paths;
    if let Some(components) = doc.components.as_mut() {
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description = Some(
            "client_secret_basic (RFC 6749 section 2.3.1). Clients registered for client_secret_post \
             send `client_id` and `client_secret` in the form instead; public clients send `client_id`."
                .into(),
        );
        components.add_security_scheme(BASIC, SecurityScheme::Http(basic));
        components.add_security_scheme(
            PAT,
            bearer(
                "A protection API access token (PAT): an access token with scope `uma_protection`.",
            ),
        );
        components.add_security_scheme(
            OWNER,
            bearer("An owner's access token with scope `uma_policy`."),
        );
        components.add_security_scheme(
            OPENID,
            bearer("An access token with scope `openid` issued to a user."),
        );
        components.add_security_scheme(
            INITIAL,
            bearer("The initial access token the administrator configured (RFC 7591 section 3)."),
        );
    }
    doc
}
