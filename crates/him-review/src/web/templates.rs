//! Server-rendered HTML: minijinja templates compiled into the binary, HTML auto-escaped.

use std::sync::Arc;

use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

use crate::error::Error;
use crate::web::AppError;

const TEMPLATES: [(&str, &str); 13] = [
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("queue.html", include_str!("../templates/queue.html")),
    ("document.html", include_str!("../templates/document.html")),
    ("audit.html", include_str!("../templates/audit.html")),
    ("users.html", include_str!("../templates/users.html")),
    ("sign.html", include_str!("../templates/sign.html")),
    (
        "patient_search.html",
        include_str!("../templates/patient_search.html"),
    ),
    ("lockouts.html", include_str!("../templates/lockouts.html")),
    ("patient.html", include_str!("../templates/patient.html")),
    (
        "dashboard.html",
        include_str!("../templates/dashboard.html"),
    ),
    (
        "deficiencies.html",
        include_str!("../templates/deficiencies.html"),
    ),
    (
        "physicians.html",
        include_str!("../templates/physicians.html"),
    ),
];

/// The compiled templates. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Templates {
    environment: Arc<Environment<'static>>,
}

impl Templates {
    pub fn new() -> Self {
        let mut environment = Environment::new();
        // A name the handler did not give is an error when printed or iterated, never an empty string on a
        // clerk's screen; `{% if x %}` still reads an absent optional value as false (semi-strict).
        environment.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
        for (name, source) in TEMPLATES {
            environment
                .add_template(name, source)
                .expect("embedded templates are valid");
        }
        Templates {
            environment: Arc::new(environment),
        }
    }

    /// Renders a page.
    pub fn render(&self, name: &str, context: impl Serialize) -> Result<Response, AppError> {
        let template = self.environment.get_template(name).map_err(|_| {
            AppError::Internal(Error::InvalidInput {
                detail: format!("unknown template {name}"),
            })
        })?;
        let html = template.render(context).map_err(|error| {
            // Template errors name template lines, never values.
            tracing::error!(template = name, line = error.line(), kind = ?error.kind(), "template failed");
            AppError::Internal(Error::Unreadable {
                key: name.to_string(),
            })
        })?;
        Ok(Html(html).into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_template_compiles() {
        let templates = Templates::new();
        for (name, _) in TEMPLATES {
            assert!(templates.environment.get_template(name).is_ok(), "{name}");
        }
    }
}
