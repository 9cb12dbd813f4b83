//! The one place where protocol errors become HTTP responses: status, `WWW-Authenticate`, `Allow`,
//! `Cache-Control: no-store` and the RFC 6749 §5.2 JSON body.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::error::{Challenge, ErrorCode, OAuthError};

/// The realm named in `WWW-Authenticate` challenges.
pub const REALM: &str = "uma-cedar";

fn quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "'")
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Pragma", "no-cache"));
        match &self.challenge {
            Some(Challenge::Basic) => {
                response.insert_header(("WWW-Authenticate", format!("Basic realm=\"{REALM}\"")));
            }
            Some(Challenge::Bearer { scope }) => {
                let mut value =
                    format!("Bearer realm=\"{REALM}\", error=\"{}\"", self.code.as_str());
                if let Some(description) = &self.description {
                    value.push_str(&format!(", error_description=\"{}\"", quote(description)));
                }
                if let Some(scope) = scope {
                    value.push_str(&format!(", scope=\"{}\"", quote(scope)));
                }
                response.insert_header(("WWW-Authenticate", value));
            }
            Some(Challenge::BearerMissing) => {
                // RFC 6750 §3.1: a request with no credentials gets no error code in the challenge.
                response.insert_header(("WWW-Authenticate", format!("Bearer realm=\"{REALM}\"")));
            }
            None => {}
        }
        if let (ErrorCode::UnsupportedMethodType, Some(allow)) = (&self.code, self.allow) {
            response.insert_header(("Allow", allow));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        response.json(self.body())
    }
}
